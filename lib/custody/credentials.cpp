#include "custody/credentials.hpp"

#include <sys/stat.h>

#include <fmt/format.h>

#include "custody/s3.hpp"
#include "custody/xml.hpp"
#include "util/files.hpp"
#include "util/strings.hpp"

namespace ir::custody {

namespace {

constexpr std::size_t k_max_config = 1024 * 1024;
constexpr std::size_t k_max_token = 64 * 1024;

bool exists(const std::string& path) {
  struct stat st {};
  return !path.empty() && ::stat(path.c_str(), &st) == 0;
}

Result<IniFile> read_ini(const std::string& path) {
  if (!exists(path)) return IniFile{};
  IR_TRY(text, util::read_file(path, k_max_config));
  return parse_ini(text);
}

std::string profile_name(const CredentialInputs& in) {
  return in.profile.empty() ? "default" : in.profile;
}

std::string form_encode(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out;
  for (const auto& [k, v] : fields) {
    if (!out.empty()) out += '&';
    out += aws_uri_encode(k, false) + "=" + aws_uri_encode(v, false);
  }
  return out;
}

}  // namespace

IniFile parse_ini(std::string_view text) {
  IniFile out;
  std::string section;
  bool in_nested = false;
  for (const auto& raw : util::split(text, '\n')) {
    const std::string_view line = util::trim(raw);
    if (line.empty() || line.front() == '#' || line.front() == ';') continue;
    if (line.front() == '[' && line.back() == ']') {
      section = std::string(util::trim(line.substr(1, line.size() - 2)));
      out[section];
      in_nested = false;
      continue;
    }
    // "s3 =\n  max_concurrent_requests = 10": indented lines belong to a nested block.
    const bool indented = !raw.empty() && (raw.front() == ' ' || raw.front() == '\t');
    if (indented && in_nested) continue;
    const auto eq = line.find('=');
    if (eq == std::string_view::npos || section.empty()) continue;
    const std::string key = util::to_lower(util::trim(line.substr(0, eq)));
    const std::string value(util::trim(line.substr(eq + 1)));
    in_nested = value.empty();
    if (!in_nested) out[section][key] = value;
  }
  return out;
}

Result<std::map<std::string, std::string>> profile_config(const CredentialInputs& inputs) {
  IR_TRY_CTX(ini, read_ini(inputs.config_file), "AWS config file");
  const std::string name = profile_name(inputs);
  for (const std::string& section : {"profile " + name, name}) {
    if (section == name && name != "default") continue;  // "[name]" is only for default in config
    if (auto it = ini.find(section); it != ini.end()) return it->second;
  }
  return std::map<std::string, std::string>{};
}

Result<AwsCredentials> assume_role_with_web_identity(kube::Transport& transport, const std::string& endpoint,
                                                     const std::string& role_arn, const std::string& session_name,
                                                     const std::string& web_identity_token) {
  kube::HttpRequest req;
  req.method = "POST";
  req.url = endpoint.empty() ? "https://sts.amazonaws.com/" : endpoint;
  if (req.url.find("://") != std::string::npos && req.url.find('/', req.url.find("://") + 3) == std::string::npos)
    req.url += "/";
  req.headers = {{"Content-Type", "application/x-www-form-urlencoded"}, {"Accept", "application/xml"}};
  // The token is a bearer secret: in the body only, never in the URL, a message or a trace.
  req.body = form_encode({{"Action", "AssumeRoleWithWebIdentity"},
                          {"Version", "2011-06-15"},
                          {"RoleArn", role_arn},
                          {"RoleSessionName", session_name},
                          {"WebIdentityToken", web_identity_token}});
  req.timeout = std::chrono::seconds(30);
  req.max_body = k_max_config;
  const std::string what =
      "STS AssumeRoleWithWebIdentity at " + redact_url(req.url) + " for " + util::escape_for_terminal(role_arn, 256);
  auto resp = transport.send(req);
  if (!resp) return unexpected(resp.error().context(what));
  if (resp->status < 200 || resp->status >= 300) {
    Error e = s3_error(*resp, what);
    return unexpected(e.hint.empty()
                          ? e.with_hint("check the role's trust policy for this identity provider and the token in "
                                        "AWS_WEB_IDENTITY_TOKEN_FILE")
                          : e);
  }
  IR_TRY_CTX(doc, parse_xml(resp->body), what);
  const XmlElement* result = doc.child("AssumeRoleWithWebIdentityResult");
  const XmlElement* creds = result != nullptr ? result->child("Credentials") : nullptr;
  if (creds == nullptr) return fail(Errc::protocol, what + ": the answer has no Credentials");
  AwsCredentials out;
  out.access_key_id = creds->child_text("AccessKeyId");
  out.secret_access_key = creds->child_text("SecretAccessKey");
  out.session_token = creds->child_text("SessionToken");
  if (auto exp = util::parse_rfc3339(creds->child_text("Expiration"))) out.expiration = *exp;
  if (out.access_key_id.empty() || out.secret_access_key.empty()) {
    return fail(Errc::protocol, what + ": the answer's Credentials lack a key");
  }
  out.source = "web identity (" + util::escape_for_terminal(role_arn, 256) + ")";
  return out;
}

Result<AwsCredentials> resolve_credentials(const CredentialInputs& inputs, kube::Transport& transport,
                                           util::Clock& clock) {
  // 1. The environment.
  if (!inputs.access_key_id.empty() || !inputs.secret_access_key.empty()) {
    if (inputs.access_key_id.empty() || inputs.secret_access_key.empty()) {
      return fail(Errc::config, std::string("AWS credentials from the environment are incomplete: ") +
                                    (inputs.access_key_id.empty() ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY") +
                                    " is not set");
    }
    return AwsCredentials{inputs.access_key_id, inputs.secret_access_key, inputs.session_token, std::nullopt,
                          "environment"};
  }
  IR_TRY(config, profile_config(inputs));
  const std::string name = profile_name(inputs);
  const auto setting = [&](const char* key) {
    auto it = config.find(key);
    return it == config.end() ? std::string() : it->second;
  };

  // 2. Web identity: the environment's, else the profile's.
  std::string role_arn = inputs.role_arn;
  std::string token_file = inputs.web_identity_token_file;
  std::string session_name = inputs.role_session_name;
  if (role_arn.empty() && token_file.empty()) {
    token_file = setting("web_identity_token_file");
    if (!token_file.empty()) role_arn = setting("role_arn");
    if (session_name.empty()) session_name = setting("role_session_name");
  }
  if (!role_arn.empty() || !token_file.empty()) {
    if (role_arn.empty() || token_file.empty()) {
      return fail(Errc::config,
                  std::string("web identity credentials need both AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE: ") +
                      (role_arn.empty() ? "the role" : "the token file") + " is missing");
    }
    auto token = util::read_file(token_file, k_max_token);
    if (!token) return unexpected(token.error().context("web identity token"));
    if (session_name.empty()) session_name = "kubectl-ir-" + util::format_compact_utc(clock.now());
    std::string endpoint = inputs.sts_endpoint;
    if (endpoint.empty())
      endpoint =
          "https://sts." + (inputs.region.empty() ? std::string("us-east-1") : inputs.region) + ".amazonaws.com/";
    std::string t(util::trim(*token));
    auto creds = assume_role_with_web_identity(transport, endpoint, role_arn, session_name, t);
    std::fill(t.begin(), t.end(), '\0');
    if (!creds) return creds;
    if (creds->expiration && *creds->expiration <= clock.now()) {
      return unexpected(Error(Errc::unauthorized, fmt::format("the temporary credentials from STS expired at {}",
                                                              util::format_rfc3339(*creds->expiration)))
                            .with_hint("check this machine's clock, and the role's maximum session duration"));
    }
    return creds;
  }

  // 3. The shared credentials file.
  IR_TRY_CTX(credentials_ini, read_ini(inputs.credentials_file), "AWS credentials file");
  if (auto it = credentials_ini.find(name); it != credentials_ini.end()) {
    const auto& s = it->second;
    const auto get = [&](const char* key) {
      auto v = s.find(key);
      return v == s.end() ? std::string() : v->second;
    };
    if (!get("aws_access_key_id").empty() || !get("aws_secret_access_key").empty()) {
      if (get("aws_access_key_id").empty() || get("aws_secret_access_key").empty()) {
        return fail(Errc::config, fmt::format("profile {} in {} lacks aws_access_key_id or aws_secret_access_key", name,
                                              inputs.credentials_file));
      }
      return AwsCredentials{get("aws_access_key_id"), get("aws_secret_access_key"), get("aws_session_token"),
                            std::nullopt, "profile " + name + " (" + inputs.credentials_file + ")"};
    }
  }

  // 4. The config file.
  if (!setting("aws_access_key_id").empty() && !setting("aws_secret_access_key").empty()) {
    return AwsCredentials{setting("aws_access_key_id"), setting("aws_secret_access_key"), setting("aws_session_token"),
                          std::nullopt, "profile " + name + " (" + inputs.config_file + ")"};
  }
  for (const char* unsupported :
       {"source_profile", "credential_process", "sso_session", "sso_start_url", "credential_source"}) {
    if (!setting(unsupported).empty()) {
      return unexpected(
          Error(Errc::config, fmt::format("profile {} gets its credentials with {}, which kubectl ir does not "
                                          "support",
                                          name, unsupported))
              .with_hint("export temporary credentials first (eval \"$(aws configure export-credentials "
                         "--profile " +
                         name + " --format env)\")"));
    }
  }
  return unexpected(Error(Errc::config,
                          "no AWS credentials: tried AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_ROLE_ARN with "
                          "AWS_WEB_IDENTITY_TOKEN_FILE, and profile " +
                              name + " in " +
                              (inputs.credentials_file.empty() ? "~/.aws/credentials" : inputs.credentials_file) +
                              " and " + (inputs.config_file.empty() ? "~/.aws/config" : inputs.config_file))
                        .with_hint("set AWS_PROFILE or the AWS_* variables, or use --upload-url with a presigned URL"));
}

}  // namespace ir::custody
