#include "kube/credentials.hpp"

#include <exception>
#include <mutex>
#include <string_view>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "util/crypto.hpp"
#include "util/files.hpp"
#include "util/strings.hpp"

// Mirrors client-go: transport/token_source.go (cachingTokenSource over a file, re-read every
// minute) and plugin/pkg/client/auth/exec/exec.go (ExecCredential exchange, caching until
// expirationTimestamp, refresh after a 401).

namespace ir::kube {

namespace {

// client-go's NewCachedFileTokenSource re-reads the file every minute.
constexpr std::chrono::seconds k_token_file_period{60};
// How much of a plugin's stderr line or of a value it returned goes into a message.
constexpr std::size_t k_max_echo_bytes = 300;

// Credentials fixed by the configuration: basic auth and a client certificate.
Credentials static_part(const RestConfig& c) {
  Credentials creds;
  creds.basic_user = c.username;
  creds.basic_password = c.password;
  creds.client_cert_pem = c.client_cert_pem;
  creds.client_key_pem = c.client_key_pem;
  return creds;
}

class StaticProvider final : public CredentialProvider {
 public:
  explicit StaticProvider(Credentials creds) : m_creds(std::move(creds)) {}
  Result<Credentials> get(bool /*force_refresh*/) override { return m_creds; }
  bool can_refresh() const override { return false; }

 private:
  Credentials m_creds;
};

// A bearer token read from a file that may be rotated under us (projected service account tokens
// are rewritten about every hour).
class TokenFileProvider final : public CredentialProvider {
 public:
  TokenFileProvider(Credentials base, std::string path, std::string fallback_token, util::Clock& clock)
      : m_base(std::move(base)), m_path(std::move(path)), m_fallback(std::move(fallback_token)), m_clock(clock) {}

  Result<Credentials> get(bool force_refresh) override {
    const std::lock_guard lock(m_mutex);
    const auto now = m_clock.now();
    const bool stale = m_token.empty() || now - m_read_at >= k_token_file_period;
    if (force_refresh || stale) {
      auto token = read_token();
      if (token) {
        m_token = std::move(*token);
        m_read_at = now;
      } else if (!m_token.empty() && !force_refresh) {
        // As cachingTokenSource: a failed periodic re-read keeps the last good token. After a 401
        // that token is known bad, so the error is the better answer.
      } else if (!m_fallback.empty()) {
        // client-go uses the kubeconfig's static token when the file cannot be read.
        Credentials creds = m_base;
        creds.bearer_token = m_fallback;
        return creds;
      } else {
        return unexpected(token.error());
      }
    }
    Credentials creds = m_base;
    creds.bearer_token = m_token;
    return creds;
  }
  bool can_refresh() const override { return true; }

 private:
  Result<std::string> read_token() const {
    auto text = util::read_file(m_path, k_max_token_file_bytes);
    if (!text) return fail(Errc::config, "read token file " + text.error().message);
    const auto token = util::trim(*text);
    if (token.empty()) return fail(Errc::config, "token file " + m_path + " is empty");
    return std::string(token);
  }

  const Credentials m_base;
  const std::string m_path;
  const std::string m_fallback;
  util::Clock& m_clock;
  std::mutex m_mutex;
  std::string m_token;
  util::TimePoint m_read_at{};
};

// The first non-blank line of a plugin's stderr, safe for a terminal.
std::string first_line(std::string_view text) {
  for (const auto& line : util::split(text, '\n')) {
    const auto t = util::trim(line);
    if (!t.empty()) return util::escape_for_terminal(t, k_max_echo_bytes);
  }
  return {};
}

// nlohmann's parse errors end in "; last read: '<input>'": that input is plugin output, which may
// be a token, so it is cut out. The "[json.exception.parse_error.101] " prefix is noise.
std::string describe_json_error(const std::string& what) {
  std::string msg = what;
  if (msg.rfind("[json.exception.", 0) == 0) {
    if (const auto close = msg.find("] "); close != std::string::npos) msg.erase(0, close + 2);
  }
  const std::string marker = "; last read: '";
  if (const auto at = msg.find(marker); at != std::string::npos) {
    const auto expected = msg.find("'; expected ", at + marker.size());
    msg = msg.substr(0, at) + (expected == std::string::npos ? "" : msg.substr(expected + 1));
  }
  return msg;
}

// An install hint may span lines; each is made safe for a terminal but the line breaks kept
// (client-go strips escape sequences from it the same way).
std::string clean_hint(std::string_view hint) {
  std::vector<std::string> lines;
  for (const auto& line : util::split(hint, '\n')) lines.push_back(util::escape_for_terminal(line, 1024));
  return std::string(util::trim(util::join(lines, "\n")));
}

// A client-go exec credential plugin (client.authentication.k8s.io/v1 and v1beta1).
class ExecProvider final : public CredentialProvider {
 public:
  ExecProvider(const RestConfig& config, util::ProcessRunner& runner, util::Clock& clock,
               std::chrono::milliseconds timeout)
      : m_exec(*config.exec),
        m_server(config.server),
        m_ca_pem(config.ca_pem),
        m_insecure(config.insecure_skip_tls_verify),
        m_tls_server_name(config.tls_server_name),
        m_proxy_url(config.proxy_url),
        m_runner(runner),
        m_clock(clock),
        m_timeout(timeout),
        m_what("exec plugin " + util::escape_for_terminal(m_exec.command, k_max_echo_bytes)) {}

  Result<Credentials> get(bool force_refresh) override {
    const std::lock_guard lock(m_mutex);
    if (force_refresh) m_cached.reset();
    if (m_cached && (!m_expiry || m_clock.now() < *m_expiry)) return *m_cached;
    m_cached.reset();
    IR_TRY(creds, run_plugin());
    m_cached = std::move(creds.first);
    m_expiry = creds.second;
    return *m_cached;
  }
  bool can_refresh() const override { return true; }

 private:
  using Fetched = std::pair<Credentials, std::optional<util::TimePoint>>;

  // KUBERNETES_EXEC_INFO: an ExecCredential with only the spec, in the plugin's API version.
  // Empty cluster fields are left out as Go's omitempty does; server is always there.
  [[nodiscard]] std::string exec_info() const {
    nlohmann::ordered_json spec;
    if (m_exec.provide_cluster_info) {
      nlohmann::ordered_json cluster;
      cluster["server"] = m_server;
      if (!m_tls_server_name.empty()) cluster["tls-server-name"] = m_tls_server_name;
      if (m_insecure) cluster["insecure-skip-tls-verify"] = true;
      if (!m_ca_pem.empty()) cluster["certificate-authority-data"] = util::base64_encode(m_ca_pem);
      if (!m_proxy_url.empty()) cluster["proxy-url"] = m_proxy_url;
      spec["cluster"] = std::move(cluster);
    }
    // We never hand the plugin a terminal (standard input is /dev/null).
    spec["interactive"] = false;
    nlohmann::ordered_json info;
    info["kind"] = "ExecCredential";
    info["apiVersion"] = m_exec.api_version;
    info["spec"] = std::move(spec);
    return info.dump();
  }

  [[nodiscard]] Error error(Errc code, const std::string& why) const { return Error(code, m_what + ": " + why); }
  [[nodiscard]] Error invalid(const std::string& why) const {
    return error(Errc::config, "invalid ExecCredential: " + why);
  }

  Result<Fetched> run_plugin() {
    if (m_exec.interactive_mode == "Always") {
      return unexpected(
          error(Errc::config, "interactiveMode is Always, but kubectl-ir cannot give the plugin a terminal")
              .with_hint("set interactiveMode: IfAvailable (or Never) in the kubeconfig user, or sign in "
                         "with the plugin's own command first"));
    }
    util::ProcessSpec spec;
    spec.argv.push_back(m_exec.command);
    spec.argv.insert(spec.argv.end(), m_exec.args.begin(), m_exec.args.end());
    spec.env_add = m_exec.env;
    spec.env_add.emplace_back("KUBERNETES_EXEC_INFO", exec_info());
    spec.timeout = m_timeout;

    auto ran = m_runner.run(spec);
    if (!ran) {
      const Error& e = ran.error();
      if (e.code == Errc::not_found) {
        Error out = error(Errc::config, "executable not found");
        if (!m_exec.install_hint.empty()) out = out.with_hint(clean_hint(m_exec.install_hint));
        return unexpected(out);
      }
      if (e.code == Errc::timeout) {
        return unexpected(
            error(Errc::timeout, "did not finish within " + util::format_duration(m_timeout) + " and was killed"));
      }
      return unexpected(error(e.code == Errc::failure ? Errc::config : e.code, e.message));
    }
    const util::ProcessResult& result = *ran;
    if (result.exit_code != 0) {
      const std::string line = first_line(result.err);
      return unexpected(
          error(Errc::config, fmt::format("exited with {}{}{}", result.exit_code, line.empty() ? "" : ": ", line)));
    }
    try {
      return parse_credential(result.out);
    } catch (const std::exception& e) {
      // Only a bug in the checks below could get here; still nothing throws out of the module.
      return unexpected(invalid(describe_json_error(e.what())));
    }
  }

  Result<Fetched> parse_credential(const std::string& out) const {
    if (util::trim(out).empty()) return unexpected(invalid("the plugin wrote nothing to standard output"));
    nlohmann::json doc;
    try {
      doc = nlohmann::json::parse(out);
    } catch (const nlohmann::json::exception& e) {
      return unexpected(invalid(describe_json_error(e.what())));
    }
    if (!doc.is_object()) return unexpected(invalid("not a JSON object"));
    auto string_field = [](const nlohmann::json& obj, const char* name) -> std::optional<std::string> {
      const auto it = obj.find(name);
      if (it == obj.end() || !it->is_string()) return std::nullopt;
      return it->get<std::string>();
    };
    const auto kind = string_field(doc, "kind");
    if (kind.value_or("") != "ExecCredential") {
      return unexpected(invalid(fmt::format("kind is \"{}\", want \"ExecCredential\"",
                                            util::escape_for_terminal(kind.value_or(""), k_max_echo_bytes))));
    }
    const auto api_version = string_field(doc, "apiVersion");
    if (api_version.value_or("") != m_exec.api_version) {
      return unexpected(invalid(fmt::format("apiVersion is \"{}\", but the kubeconfig asks for \"{}\"",
                                            util::escape_for_terminal(api_version.value_or(""), k_max_echo_bytes),
                                            m_exec.api_version)));
    }
    const auto status_it = doc.find("status");
    if (status_it == doc.end() || !status_it->is_object()) return unexpected(invalid("no status"));
    const nlohmann::json& status = *status_it;
    for (const char* name : {"token", "clientCertificateData", "clientKeyData", "expirationTimestamp"}) {
      const auto it = status.find(name);
      if (it != status.end() && !it->is_string() && !it->is_null()) {
        return unexpected(invalid(fmt::format("status.{} is not a string", name)));
      }
    }
    Credentials creds;
    creds.bearer_token = string_field(status, "token").value_or("");
    creds.client_cert_pem = string_field(status, "clientCertificateData").value_or("");
    creds.client_key_pem = string_field(status, "clientKeyData").value_or("");
    if (creds.client_cert_pem.empty() != creds.client_key_pem.empty()) {
      return unexpected(invalid(creds.client_key_pem.empty()
                                    ? "status.clientCertificateData without status.clientKeyData (both are required)"
                                    : "status.clientKeyData without status.clientCertificateData (both are required)"));
    }
    if (creds.bearer_token.empty() && creds.client_cert_pem.empty()) {
      return unexpected(invalid("status has neither a token nor clientCertificateData and clientKeyData"));
    }
    std::optional<util::TimePoint> expiry;
    if (const auto ts = string_field(status, "expirationTimestamp"); ts && !ts->empty()) {
      expiry = util::parse_rfc3339(*ts);
      if (!expiry) {
        return unexpected(invalid(fmt::format("status.expirationTimestamp \"{}\" is not an RFC 3339 time",
                                              util::escape_for_terminal(*ts, k_max_echo_bytes))));
      }
    }
    return Fetched{std::move(creds), expiry};
  }

  const ExecPluginConfig m_exec;
  const std::string m_server;
  const std::string m_ca_pem;
  const bool m_insecure;
  const std::string m_tls_server_name;
  const std::string m_proxy_url;
  util::ProcessRunner& m_runner;
  util::Clock& m_clock;
  const std::chrono::milliseconds m_timeout;
  const std::string m_what;  // "exec plugin <command>", the start of every message
  std::mutex m_mutex;
  std::optional<Credentials> m_cached;
  std::optional<util::TimePoint> m_expiry;
};

}  // namespace

std::unique_ptr<CredentialProvider> make_credential_provider(const RestConfig& config, util::ProcessRunner& runner,
                                                             util::Clock& clock,
                                                             std::chrono::milliseconds exec_timeout) {
  Credentials base = static_part(config);
  if (!config.token_file.empty()) {
    return std::make_unique<TokenFileProvider>(std::move(base), config.token_file, config.token, clock);
  }
  const bool has_static =
      !config.token.empty() || !config.username.empty() || !config.password.empty() || !config.client_cert_pem.empty();
  // client-go's exec authenticator steps aside when token, basic or certificate auth is configured
  // ("kubectl --token" must not run the plugin).
  if (!has_static && config.exec) return std::make_unique<ExecProvider>(config, runner, clock, exec_timeout);
  base.bearer_token = config.token;
  return std::make_unique<StaticProvider>(std::move(base));
}

}  // namespace ir::kube
