#include "kube/kubeconfig.hpp"

#include <algorithm>
#include <exception>
#include <filesystem>
#include <map>
#include <set>
#include <string_view>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "util/crypto.hpp"
#include "util/escape.hpp"
#include "util/files.hpp"
#include "util/strings.hpp"

// The behaviour mirrors client-go's clientcmd (loader.go, client_config.go, validation.go) and
// rest.InClusterConfig; where we differ on purpose, kubeconfig.hpp says so.

namespace ir::kube {

namespace {

constexpr std::string_view k_exec_v1 = "client.authentication.k8s.io/v1";
constexpr std::string_view k_exec_v1beta1 = "client.authentication.k8s.io/v1beta1";
// Kubeconfigs are small; anything bigger is not one (and must not eat memory).
constexpr std::size_t k_max_kubeconfig_bytes = std::size_t{16} * 1024 * 1024;
constexpr std::size_t k_max_pem_bytes = std::size_t{4} * 1024 * 1024;

std::string entry_key(std::string_view list, std::string_view name) {
  return fmt::format("{}[{}]", list, util::quoted(name));
}

// Where an entry was defined: the file as the user named it (for messages) and its directory made
// absolute (relative paths inside resolve against it, as client-go's ResolveLocalPaths does).
struct Origin {
  std::string file;
  std::string dir;
};

// clusters[].cluster, with *-data decoded and paths resolved. Empty strings mean "not set", as
// client-go's len() checks do.
struct ClusterEntry {
  Origin origin;
  std::string server;
  std::string certificate_authority;
  std::string certificate_authority_data;
  bool insecure_skip_tls_verify = false;
  std::string tls_server_name;
  std::string proxy_url;
};

// users[].user.
struct UserEntry {
  Origin origin;
  std::string token;
  std::string token_file;
  std::string client_certificate;
  std::string client_certificate_data;
  std::string client_key;
  std::string client_key_data;
  std::string username;
  std::string password;
  std::string impersonate;
  std::vector<std::string> impersonate_groups;
  std::optional<ExecPluginConfig> exec;
  std::optional<std::string> auth_provider;  // its name, when an auth-provider stanza is present
};

// contexts[].context.
struct ContextEntry {
  Origin origin;
  std::string cluster;
  std::string user;
  std::string namespace_name;
};

// The merged configuration of every loaded file.
struct Kubeconfig {
  std::vector<std::string> files;  // loaded (existing) files, in precedence order
  std::map<std::string, ClusterEntry> clusters;
  std::map<std::string, UserEntry> users;
  std::map<std::string, ContextEntry> contexts;
  std::string current_context;

  // What to name in messages about the configuration as a whole.
  [[nodiscard]] std::string source() const { return files.empty() ? "command-line flags" : util::join(files, ":"); }
};

template <class Map>
std::vector<std::string> names_of(const Map& m) {
  std::vector<std::string> out;
  out.reserve(m.size());
  for (const auto& [name, entry] : m) out.push_back(name);
  return out;
}

// "(have: a, b)" for a not-found message.
template <class Map>
std::string have_list(const Map& m) {
  if (m.empty()) return "(have: none)";
  std::vector<std::string> quoted;
  quoted.reserve(m.size());
  for (const auto& [name, entry] : m) quoted.push_back(util::escape_for_terminal(name, 256));
  return "(have: " + util::join(quoted, ", ") + ")";
}

// The not-found error for a named entry, with a "did you mean" hint when a name is close.
template <class Map>
Error not_found(std::string_view what_prefix, std::string_view kind, const std::string& name, const Map& m) {
  Error e(Errc::config, fmt::format("{}{} {} not found {}", what_prefix, kind, util::quoted(name), have_list(m)));
  const std::string close = util::closest_match(name, names_of(m));
  if (!close.empty()) e = e.with_hint(fmt::format("did you mean {}?", util::quoted(close)));
  return e;
}

// ---------------------------------------------------------------------------------------------
// Parsing one file. yaml-cpp throws; every exception is caught in parse_file and turned into an
// Error, so nothing escapes this module.

class FileParser {
 public:
  FileParser(std::string file, std::string dir) : m_origin{std::move(file), std::move(dir)} {}

  Result<Kubeconfig> parse(const YAML::Node& root) {
    Kubeconfig kc;
    kc.files.push_back(m_origin.file);
    // An empty file (or one holding only comments) is an empty configuration, as in client-go.
    if (!root.IsDefined() || root.IsNull()) return kc;
    if (!root.IsMap())
      return unexpected(error_at(root, "", "expected a mapping (a kubeconfig), found " + type_name(root)));

    IR_TRY(current, str(root, "current-context", "current-context"));
    kc.current_context = std::move(current);

    auto parse_cluster = [this](const YAML::Node& n, const std::string& key, ClusterEntry& c) -> Result<void> {
      IR_CHECK(read(n, key, "server", &FileParser::str, c.server));
      IR_CHECK(read(n, key, "certificate-authority", &FileParser::path, c.certificate_authority));
      IR_CHECK(read(n, key, "certificate-authority-data", &FileParser::data, c.certificate_authority_data));
      IR_CHECK(read(n, key, "insecure-skip-tls-verify", &FileParser::boolean, c.insecure_skip_tls_verify));
      IR_CHECK(read(n, key, "tls-server-name", &FileParser::str, c.tls_server_name));
      IR_CHECK(read(n, key, "proxy-url", &FileParser::str, c.proxy_url));
      return {};
    };
    IR_CHECK(named_list(root, "clusters", "cluster", kc.clusters, parse_cluster));

    auto parse_user = [this](const YAML::Node& n, const std::string& key, UserEntry& u) -> Result<void> {
      IR_CHECK(read(n, key, "token", &FileParser::str, u.token));
      IR_CHECK(read(n, key, "tokenFile", &FileParser::path, u.token_file));
      IR_CHECK(read(n, key, "client-certificate", &FileParser::path, u.client_certificate));
      IR_CHECK(read(n, key, "client-certificate-data", &FileParser::data, u.client_certificate_data));
      IR_CHECK(read(n, key, "client-key", &FileParser::path, u.client_key));
      IR_CHECK(read(n, key, "client-key-data", &FileParser::data, u.client_key_data));
      IR_CHECK(read(n, key, "username", &FileParser::str, u.username));
      IR_CHECK(read(n, key, "password", &FileParser::str, u.password));
      IR_CHECK(read(n, key, "as", &FileParser::str, u.impersonate));
      IR_CHECK(read(n, key, "as-groups", &FileParser::str_list, u.impersonate_groups));
      const YAML::Node exec = n["exec"];
      if (exec.IsDefined() && !exec.IsNull()) {
        IR_TRY(e, exec_config(exec, key + ".exec"));
        u.exec = std::move(e);
      }
      const YAML::Node provider = n["auth-provider"];
      if (provider.IsDefined() && !provider.IsNull()) {
        if (!provider.IsMap()) return unexpected(error_at(provider, key + ".auth-provider", "expected a mapping"));
        IR_TRY(name, str(provider, "name", key + ".auth-provider.name"));
        u.auth_provider = std::move(name);
      }
      return {};
    };
    IR_CHECK(named_list(root, "users", "user", kc.users, parse_user));

    auto parse_context = [this](const YAML::Node& n, const std::string& key, ContextEntry& c) -> Result<void> {
      IR_CHECK(read(n, key, "cluster", &FileParser::str, c.cluster));
      IR_CHECK(read(n, key, "user", &FileParser::str, c.user));
      IR_CHECK(read(n, key, "namespace", &FileParser::str, c.namespace_name));
      return {};
    };
    IR_CHECK(named_list(root, "contexts", "context", kc.contexts, parse_context));
    return kc;
  }

 private:
  static std::string type_name(const YAML::Node& n) {
    if (n.IsMap()) return "a mapping";
    if (n.IsSequence()) return "a list";
    if (n.IsScalar()) return "a scalar";
    return "nothing";
  }

  // "kubeconfig FILE: line L, column C: KEY: WHAT". yaml-cpp marks are 0-based; people count from 1.
  [[nodiscard]] Error error_at(const YAML::Node& n, const std::string& key, const std::string& what) const {
    std::string where;
    const YAML::Mark mark = n.Mark();
    if (mark.line >= 0) where = fmt::format("line {}, column {}: ", mark.line + 1, mark.column + 1);
    return Error(Errc::config,
                 fmt::format("kubeconfig {}: {}{}{}", m_origin.file, where, key.empty() ? "" : key + ": ", what));
  }

  // A string field; missing, null and "" all mean unset.
  Result<std::string> str(const YAML::Node& map, const char* field, const std::string& key) const {
    const YAML::Node n = map[field];
    if (!n.IsDefined() || n.IsNull()) return std::string();
    if (!n.IsScalar()) return unexpected(error_at(n, key, "expected a string, found " + type_name(n)));
    return n.Scalar();
  }

  // A file path field, resolved against the directory of this file.
  Result<std::string> path(const YAML::Node& map, const char* field, const std::string& key) const {
    IR_TRY(p, str(map, field, key));
    return util::resolve_relative(p, m_origin.dir);
  }

  // A base64 field (Go's []byte in JSON), decoded.
  Result<std::string> data(const YAML::Node& map, const char* field, const std::string& key) const {
    IR_TRY(text, str(map, field, key));
    if (text.empty()) return std::string();
    auto decoded = util::base64_decode(text);
    if (!decoded) {
      return fail(Errc::config, fmt::format("kubeconfig {}: {}: {}", m_origin.file, key, decoded.error().message));
    }
    return std::move(*decoded);
  }

  Result<bool> boolean(const YAML::Node& map, const char* field, const std::string& key) const {
    const YAML::Node n = map[field];
    if (!n.IsDefined() || n.IsNull()) return false;
    bool value = false;
    // YAML::convert accepts the YAML 1.1 spellings (true/false, yes/no, on/off), as go-yaml does.
    if (!n.IsScalar() || !YAML::convert<bool>::decode(n, value)) {
      return unexpected(error_at(n, key, "expected true or false"));
    }
    return value;
  }

  Result<std::vector<std::string>> str_list(const YAML::Node& map, const char* field, const std::string& key) const {
    std::vector<std::string> out;
    const YAML::Node n = map[field];
    if (!n.IsDefined() || n.IsNull()) return out;
    if (!n.IsSequence()) return unexpected(error_at(n, key, "expected a list of strings, found " + type_name(n)));
    std::size_t i = 0;
    for (const YAML::Node& item : n) {
      if (!item.IsScalar()) {
        return unexpected(error_at(item, fmt::format("{}[{}]", key, i), "expected a string, found " + type_name(item)));
      }
      out.push_back(item.Scalar());
      ++i;
    }
    return out;
  }

  // Reads `field` of the mapping n (at key) with one of the readers above into out, naming
  // key.field in an error; out is left as it was on error.
  template <class T, class Reader>
  Result<void> read(const YAML::Node& n, const std::string& key, const char* field, Reader reader, T& out) const {
    IR_TRY(value, (this->*reader)(n, field, key + "." + field));
    out = std::move(value);
    return {};
  }

  Result<ExecPluginConfig> exec_config(const YAML::Node& n, const std::string& key) const {
    if (!n.IsMap()) return unexpected(error_at(n, key, "expected a mapping, found " + type_name(n)));
    ExecPluginConfig e;
    IR_CHECK(read(n, key, "apiVersion", &FileParser::str, e.api_version));
    IR_TRY(command, str(n, "command", key + ".command"));
    IR_CHECK(read(n, key, "args", &FileParser::str_list, e.args));
    IR_CHECK(read(n, key, "installHint", &FileParser::str, e.install_hint));
    IR_CHECK(read(n, key, "provideClusterInfo", &FileParser::boolean, e.provide_cluster_info));
    IR_TRY(mode, str(n, "interactiveMode", key + ".interactiveMode"));
    // Only a command with a '/' is a path relative to the kubeconfig; a bare name is looked up in
    // PATH (client-go's GetAuthInfoFileReferences).
    e.command = command.find('/') != std::string::npos ? util::resolve_relative(command, m_origin.dir) : command;
    // client-go defaults interactiveMode to IfAvailable for v1beta1 only; v1 must say it (checked
    // when the user is selected).
    e.interactive_mode = mode.empty() && e.api_version == k_exec_v1beta1 ? "IfAvailable" : mode;
    const YAML::Node env = n["env"];
    if (env.IsDefined() && !env.IsNull()) {
      if (!env.IsSequence()) {
        return unexpected(error_at(env, key + ".env", "expected a list of {name, value}, found " + type_name(env)));
      }
      std::size_t i = 0;
      for (const YAML::Node& item : env) {
        const std::string item_key = fmt::format("{}.env[{}]", key, i++);
        if (!item.IsMap())
          return unexpected(error_at(item, item_key, "expected {name, value}, found " + type_name(item)));
        IR_TRY(name, str(item, "name", item_key + ".name"));
        IR_TRY(value, str(item, "value", item_key + ".value"));
        e.env.emplace_back(std::move(name), std::move(value));
      }
    }
    return e;
  }

  // clusters/users/contexts: a list of {name, <body>}. A name defined twice in one file is an
  // error, as in client-go's conversion to its internal maps.
  template <class Entry, class ParseBody>
  Result<void> named_list(const YAML::Node& root, const char* list, const char* body, std::map<std::string, Entry>& out,
                          ParseBody parse_body) const {
    const YAML::Node n = root[list];
    if (!n.IsDefined() || n.IsNull()) return {};
    if (!n.IsSequence()) return unexpected(error_at(n, list, "expected a list, found " + type_name(n)));
    std::map<std::string, int> lines;
    std::size_t i = 0;
    for (const YAML::Node& item : n) {
      const std::string index_key = fmt::format("{}[{}]", list, i++);
      if (!item.IsMap())
        return unexpected(
            error_at(item, index_key, "expected {name, " + std::string(body) + "}, found " + type_name(item)));
      IR_TRY(name, str(item, "name", index_key + ".name"));
      if (name.empty()) return unexpected(error_at(item, index_key, "has no name"));
      const std::string key = entry_key(list, name);
      const int line = item.Mark().line + 1;
      if (const auto it = lines.find(name); it != lines.end()) {
        return unexpected(
            error_at(item, key, fmt::format("defined twice in this file (lines {} and {})", it->second, line)));
      }
      lines.emplace(name, line);
      Entry entry;
      entry.origin = m_origin;
      const YAML::Node body_node = item[body];
      if (body_node.IsDefined() && !body_node.IsNull()) {
        if (!body_node.IsMap())
          return unexpected(error_at(body_node, key + "." + body, "expected a mapping, found " + type_name(body_node)));
        // Fields are named as kubectl's messages do, without the "user."/"cluster." level:
        // users["bob"].client-certificate-data.
        IR_CHECK(parse_body(body_node, key, entry));
      }
      out.emplace(name, std::move(entry));
    }
    return {};
  }

  Origin m_origin;
};

std::string absolute_dir_of(const std::string& file) {
  std::error_code ec;
  std::filesystem::path dir = std::filesystem::path(file).parent_path();
  if (dir.empty()) dir = ".";
  auto abs = std::filesystem::absolute(dir, ec);
  if (ec) return dir.lexically_normal().string();
  return abs.lexically_normal().string();
}

Result<Kubeconfig> parse_file(const std::string& file) {
  auto text = util::read_file(file, k_max_kubeconfig_bytes);
  if (!text) return fail(Errc::config, "kubeconfig " + text.error().message);
  try {
    const YAML::Node root = YAML::Load(*text);
    return FileParser(file, absolute_dir_of(file)).parse(root);
  } catch (const YAML::Exception& e) {
    std::string where;
    if (e.mark.line >= 0) where = fmt::format("line {}, column {}: ", e.mark.line + 1, e.mark.column + 1);
    return fail(Errc::config, fmt::format("kubeconfig {}: {}malformed YAML: {}", file, where, e.msg));
  } catch (const std::exception& e) {
    return fail(Errc::config, fmt::format("kubeconfig {}: {}", file, e.what()));
  }
}

bool file_exists(const std::string& path) {
  std::error_code ec;
  // A dangling symlink counts as missing, like Go's os.IsNotExist on open.
  return std::filesystem::exists(path, ec) && !ec;
}

bool is_regular_file(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec) && !ec;
}

// Which files the loading rules name, and how the user named them.
struct FileList {
  enum class Kind { explicit_path, env_list, home };
  Kind kind = Kind::home;
  std::vector<std::string> files;
};

FileList files_to_load(const Overrides& o, const Environment& env) {
  FileList list;
  if (o.kubeconfig && !o.kubeconfig->empty()) {
    list.kind = FileList::Kind::explicit_path;
    list.files.push_back(*o.kubeconfig);
  } else if (env.kubeconfig_env && !env.kubeconfig_env->empty()) {
    list.kind = FileList::Kind::env_list;
    std::set<std::string> seen;
    for (auto& f : util::split(*env.kubeconfig_env, ':')) {
      // Empty entries are skipped and repeats read once (client-go's deduplicate).
      if (!f.empty() && seen.insert(f).second) list.files.push_back(std::move(f));
    }
  } else if (!env.home.empty()) {
    list.files.push_back(util::expand_home("~/.kube/config", env.home));
  }
  return list;
}

// Adds `next` under `merged`: the first file to define a name or current-context wins, and an entry
// is taken whole from that file (client-go's Load: "even non-conflicting entries from the second
// file's red-user are discarded").
void merge_into(Kubeconfig& merged, Kubeconfig&& next) {
  merged.files.insert(merged.files.end(), next.files.begin(), next.files.end());
  if (merged.current_context.empty()) merged.current_context = std::move(next.current_context);
  merged.clusters.merge(next.clusters);
  merged.users.merge(next.users);
  merged.contexts.merge(next.contexts);
}

struct Loaded {
  Kubeconfig config;
  FileList list;
};

Result<Loaded> load_files(const Overrides& o, const Environment& env) {
  Loaded loaded;
  loaded.list = files_to_load(o, env);
  for (const auto& file : loaded.list.files) {
    if (!file_exists(file)) {
      if (loaded.list.kind == FileList::Kind::explicit_path) {
        return unexpected(Error(Errc::config, fmt::format("kubeconfig {}: no such file", file))
                              .with_hint("--kubeconfig must name an existing file"));
      }
      continue;  // missing files in $KUBECONFIG (and a missing ~/.kube/config) are skipped
    }
    IR_TRY(parsed, parse_file(file));
    merge_into(loaded.config, std::move(parsed));
  }
  return loaded;
}

// ---------------------------------------------------------------------------------------------
// Resolution: context -> cluster + user, overrides, files, validation.

// True when the value looks like PEM; catches the common mistake of base64-encoding a PEM twice
// or pointing at a DER file, which would otherwise fail later inside the TLS library.
bool looks_like_pem(std::string_view s) {
  return s.find("-----BEGIN ") != std::string_view::npos;
}

Result<std::string> read_pem(const std::string& file, const std::string& what) {
  auto text = util::read_file(file, k_max_pem_bytes);
  if (!text) return fail(Errc::config, what + ": " + text.error().message);
  if (!looks_like_pem(*text)) return fail(Errc::config, what + ": " + file + ": not PEM (no \"-----BEGIN\" line)");
  return std::move(*text);
}

Result<std::string> check_pem(std::string value, const std::string& what) {
  if (!looks_like_pem(value)) return fail(Errc::config, what + ": not PEM (no \"-----BEGIN\" line)");
  return value;
}

// "https://host:port[/path]" with no trailing slash, query or fragment (client-go drops query and
// fragment and keeps a path, which proxies such as Rancher's use).
Result<std::string> normalize_server(std::string_view raw, const std::string& what) {
  std::string s(util::trim(raw));
  const auto scheme_end = s.find("://");
  if (scheme_end == std::string::npos) {
    s = "https://" + s;
  } else {
    const std::string scheme = util::to_lower(s.substr(0, scheme_end));
    if (scheme != "https" && scheme != "http") {
      return fail(Errc::config, fmt::format("{}: unsupported scheme {} in {} (want https)", what, util::quoted(scheme),
                                            util::quoted(raw)));
    }
    s = scheme + s.substr(scheme_end);
  }
  if (const auto cut = s.find_first_of("?#"); cut != std::string::npos) s.resize(cut);
  while (!s.empty() && s.back() == '/') s.pop_back();
  const auto host_start = s.find("://") + 3;
  if (host_start >= s.size() || s[host_start] == '/') {
    return fail(Errc::config, fmt::format("{}: {} has no host", what, util::quoted(raw)));
  }
  return s;
}

// client-go's parseProxyURL: http, https and socks5 only.
Result<void> check_proxy_url(const std::string& url, const std::string& what) {
  const auto scheme_end = url.find("://");
  const std::string scheme = scheme_end == std::string::npos ? "" : util::to_lower(url.substr(0, scheme_end));
  if (scheme != "http" && scheme != "https" && scheme != "socks5") {
    return fail(Errc::config,
                fmt::format("{}: unsupported proxy {} (want an http, https or socks5 URL)", what, util::quoted(url)));
  }
  if (scheme_end + 3 >= url.size())
    return fail(Errc::config, fmt::format("{}: proxy {} has no host", what, util::quoted(url)));
  return {};
}

Result<void> check_exec(const ExecPluginConfig& e, const std::string& prefix) {
  if (e.command.empty()) return fail(Errc::config, prefix + ".command: not set");
  if (e.api_version.empty()) return fail(Errc::config, prefix + ".apiVersion: not set");
  if (e.api_version != k_exec_v1 && e.api_version != k_exec_v1beta1) {
    return unexpected(Error(Errc::config, fmt::format("{}.apiVersion: {} is not supported (want {} or {})", prefix,
                                                      util::quoted(e.api_version), k_exec_v1, k_exec_v1beta1))
                          .with_hint("client.authentication.k8s.io/v1alpha1 was removed in Kubernetes 1.24: update the "
                                     "plugin and its kubeconfig entry"));
  }
  for (std::size_t i = 0; i < e.env.size(); ++i) {
    if (e.env[i].first.empty()) return fail(Errc::config, fmt::format("{}.env[{}].name: not set", prefix, i));
  }
  if (e.interactive_mode.empty()) {
    return fail(Errc::config, prefix + ".interactiveMode: not set (required with " + std::string(k_exec_v1) + ")");
  }
  if (e.interactive_mode != "Never" && e.interactive_mode != "IfAvailable" && e.interactive_mode != "Always") {
    return fail(Errc::config, fmt::format("{}.interactiveMode: {} is not one of Never, IfAvailable, Always", prefix,
                                          util::quoted(e.interactive_mode)));
  }
  return {};
}

Result<void> apply_cluster(RestConfig& rc, const ClusterEntry& c, const std::string& prefix, const Overrides& o) {
  rc.insecure_skip_tls_verify = c.insecure_skip_tls_verify;
  rc.tls_server_name = c.tls_server_name;
  rc.proxy_url = c.proxy_url;
  if (!rc.proxy_url.empty()) IR_CHECK(check_proxy_url(rc.proxy_url, prefix + ".proxy-url"));

  // --insecure-skip-tls-verify and --certificate-authority replace the entry's CA settings
  // (client-go's getCluster: otherwise a kubeconfig CA would conflict with the flag).
  const bool ca_override = o.certificate_authority && !o.certificate_authority->empty();
  const bool insecure_override = o.insecure_skip_tls_verify.value_or(false);
  if (ca_override && insecure_override) {
    return fail(Errc::usage, "--certificate-authority and --insecure-skip-tls-verify cannot be used together");
  }
  if (ca_override || insecure_override) {
    rc.insecure_skip_tls_verify = insecure_override;
    if (ca_override) {
      IR_TRY(pem, read_pem(*o.certificate_authority, "--certificate-authority"));
      rc.ca_pem = std::move(pem);
    }
    return {};
  }
  if (o.insecure_skip_tls_verify) rc.insecure_skip_tls_verify = false;  // an explicit =false

  if (!c.certificate_authority.empty() && !c.certificate_authority_data.empty()) {
    return fail(Errc::config, prefix +
                                  ": certificate-authority and certificate-authority-data are both set (kubectl "
                                  "refuses this too: keep one)");
  }
  if (!c.certificate_authority_data.empty()) {
    IR_TRY(pem, check_pem(c.certificate_authority_data, prefix + ".certificate-authority-data"));
    rc.ca_pem = std::move(pem);
  } else if (!c.certificate_authority.empty()) {
    IR_TRY(pem, read_pem(c.certificate_authority, prefix + ".certificate-authority"));
    rc.ca_pem = std::move(pem);
  }
  if (rc.insecure_skip_tls_verify && !rc.ca_pem.empty()) {
    return unexpected(Error(Errc::config, prefix + ".insecure-skip-tls-verify: cannot be combined with a certificate "
                                                   "authority (kubectl refuses this too)")
                          .with_hint("remove insecure-skip-tls-verify, or the certificate-authority(-data)"));
  }
  return {};
}

Result<void> apply_user(RestConfig& rc, const UserEntry& u, const std::string& prefix, const Overrides& o) {
  const bool token_override = o.token && !o.token->empty();
  if (!token_override) {
    if (u.auth_provider) {
      return unexpected(Error(Errc::config, fmt::format("{}.auth-provider: the {} auth provider is not supported",
                                                        prefix, util::quoted(*u.auth_provider)))
                            .with_hint("kubectl removed its built-in auth providers (v1.26): switch this user to an "
                                       "exec credential plugin (e.g. gke-gcloud-auth-plugin, kubelogin)"));
    }
    const bool has_token = !u.token.empty() || !u.token_file.empty();
    const bool has_basic = !u.username.empty() || !u.password.empty();
    if (has_token && has_basic) {
      return fail(Errc::config, prefix +
                                    ": more than one authentication method (token and username/password); only "
                                    "one is allowed");
    }
    rc.token = u.token;
    rc.token_file = u.token_file;
    rc.username = u.username;
    rc.password = u.password;
    if (u.exec) {
      IR_CHECK(check_exec(*u.exec, prefix + ".exec"));
      rc.exec = u.exec;
    }
    // client-go reads a token file at configuration time when there is no static token to fall
    // back on: fail now, naming the key, rather than on the first request.
    if (u.token.empty() && !u.token_file.empty()) {
      auto t = util::read_file(u.token_file, k_max_token_file_bytes);
      if (!t) return fail(Errc::config, prefix + ".tokenFile: " + t.error().message);
    }
  } else {
    rc.token = *o.token;
  }

  const bool has_cert = !u.client_certificate.empty() || !u.client_certificate_data.empty();
  const bool has_key = !u.client_key.empty() || !u.client_key_data.empty();
  if (!u.client_certificate.empty() && !u.client_certificate_data.empty()) {
    return fail(Errc::config, prefix + ": client-certificate and client-certificate-data are both set (keep one)");
  }
  if (!u.client_key.empty() && !u.client_key_data.empty()) {
    return fail(Errc::config, prefix + ": client-key and client-key-data are both set (keep one)");
  }
  if (has_cert && !has_key) {
    const char* which = u.client_certificate_data.empty() ? "client-certificate" : "client-certificate-data";
    return fail(Errc::config, fmt::format("{}.{}: set without client-key or client-key-data", prefix, which));
  }
  if (has_key && !has_cert) {
    const char* which = u.client_key_data.empty() ? "client-key" : "client-key-data";
    return fail(Errc::config,
                fmt::format("{}.{}: set without client-certificate or client-certificate-data", prefix, which));
  }
  if (has_cert) {
    if (!u.client_certificate_data.empty()) {
      IR_TRY(pem, check_pem(u.client_certificate_data, prefix + ".client-certificate-data"));
      rc.client_cert_pem = std::move(pem);
    } else {
      IR_TRY(pem, read_pem(u.client_certificate, prefix + ".client-certificate"));
      rc.client_cert_pem = std::move(pem);
    }
    if (!u.client_key_data.empty()) {
      IR_TRY(pem, check_pem(u.client_key_data, prefix + ".client-key-data"));
      rc.client_key_pem = std::move(pem);
    } else {
      IR_TRY(pem, read_pem(u.client_key, prefix + ".client-key"));
      rc.client_key_pem = std::move(pem);
    }
  }
  return {};
}

// --as / --as-group replace the user's `as` / `as-groups`; groups need a user to impersonate.
Result<void> apply_impersonation(RestConfig& rc, const std::string& prefix, const Overrides& o) {
  if (o.impersonate_user && !o.impersonate_user->empty()) rc.impersonate_user = *o.impersonate_user;
  if (!o.impersonate_groups.empty()) rc.impersonate_groups = o.impersonate_groups;
  if (!rc.impersonate_groups.empty() && rc.impersonate_user.empty()) {
    return unexpected(Error(Errc::config, prefix + "impersonation groups without a user to impersonate")
                          .with_hint("add --as USER (or `as:` in the kubeconfig user)"));
  }
  return {};
}

Result<RestConfig> resolve(const Kubeconfig& kc, const Overrides& o) {
  const std::string source = kc.source();
  RestConfig rc;
  rc.source = source;

  rc.context_name = o.context && !o.context->empty() ? *o.context : kc.current_context;
  ContextEntry ctx;
  std::string ctx_prefix;  // "kubeconfig FILE: contexts["dev"]" for messages about the context's fields
  if (!rc.context_name.empty()) {
    const auto it = kc.contexts.find(rc.context_name);
    if (it == kc.contexts.end())
      return unexpected(not_found("kubeconfig " + source + ": ", "context", rc.context_name, kc.contexts));
    ctx = it->second;
    ctx_prefix = fmt::format("kubeconfig {}: {}", ctx.origin.file, entry_key("contexts", rc.context_name));
  }

  const bool cluster_from_flag = o.cluster && !o.cluster->empty();
  const bool user_from_flag = o.user && !o.user->empty();
  rc.cluster_name = cluster_from_flag ? *o.cluster : ctx.cluster;
  rc.user_name = user_from_flag ? *o.user : ctx.user;
  const bool server_from_flag = o.server && !o.server->empty();

  if (rc.context_name.empty() && rc.cluster_name.empty() && !server_from_flag) {
    Error e(Errc::config, fmt::format("kubeconfig {}: no context selected: current-context is not set and --context is "
                                      "not given {}",
                                      source, have_list(kc.contexts)));
    if (!kc.contexts.empty()) e = e.with_hint("choose one with --context " + kc.contexts.begin()->first);
    return unexpected(e);
  }

  ClusterEntry cluster;
  std::string cluster_prefix;  // "kubeconfig FILE: clusters["c"]"
  if (!rc.cluster_name.empty()) {
    const auto it = kc.clusters.find(rc.cluster_name);
    if (it == kc.clusters.end()) {
      const std::string what = cluster_from_flag ? "kubeconfig " + source + ": " : ctx_prefix + ".cluster: ";
      return unexpected(not_found(what, "cluster", rc.cluster_name, kc.clusters));
    }
    cluster = it->second;
    cluster_prefix = fmt::format("kubeconfig {}: {}", cluster.origin.file, entry_key("clusters", rc.cluster_name));
  } else {
    cluster_prefix = "kubeconfig " + source + ": " + (ctx_prefix.empty() ? "" : entry_key("contexts", rc.context_name));
  }

  UserEntry user;
  std::string user_prefix;
  if (!rc.user_name.empty()) {
    const auto it = kc.users.find(rc.user_name);
    if (it == kc.users.end()) {
      const std::string what = user_from_flag ? "kubeconfig " + source + ": " : ctx_prefix + ".user: ";
      return unexpected(not_found(what, "user", rc.user_name, kc.users));
    }
    user = it->second;
    user_prefix = fmt::format("kubeconfig {}: {}", user.origin.file, entry_key("users", rc.user_name));
  }

  // Server: -s replaces it and clears tls-server-name (client-go: a new server makes the old name
  // wrong; we have no --tls-server-name flag to set a new one).
  if (server_from_flag) {
    IR_TRY(server, normalize_server(*o.server, "--server"));
    rc.server = std::move(server);
    cluster.tls_server_name.clear();
  } else if (cluster.server.empty()) {
    if (!rc.cluster_name.empty()) return fail(Errc::config, cluster_prefix + ".server: not set");
    return unexpected(Error(Errc::config, ctx_prefix + ": names no cluster")
                          .with_hint("set its cluster, or pass --cluster or --server"));
  } else {
    IR_TRY(server, normalize_server(cluster.server, cluster_prefix + ".server"));
    rc.server = std::move(server);
  }

  IR_CHECK(apply_cluster(rc, cluster, cluster_prefix, o));

  rc.impersonate_user = user.impersonate;
  rc.impersonate_groups = user.impersonate_groups;
  // kubectl loads no credentials for a plain-http server, so nothing secret crosses in clear text.
  if (rc.server.rfind("https://", 0) == 0) {
    if (!rc.user_name.empty()) {
      IR_CHECK(apply_user(rc, user, user_prefix, o));
    } else if (o.token && !o.token->empty()) {
      rc.token = *o.token;
    }
  }
  IR_CHECK(apply_impersonation(rc, user_prefix.empty() ? "" : user_prefix + ": ", o));

  if (o.namespace_name && !o.namespace_name->empty()) {
    rc.namespace_name = *o.namespace_name;
  } else if (!ctx.namespace_name.empty()) {
    rc.namespace_name = ctx.namespace_name;
  }
  return rc;
}

// ---------------------------------------------------------------------------------------------
// In-cluster (rest.InClusterConfig).

bool in_cluster_possible(const Environment& env) {
  return env.service_host && !env.service_host->empty() && env.service_port && !env.service_port->empty() &&
         is_regular_file(env.service_account_dir + "/token");
}

Result<RestConfig> in_cluster_config(const Overrides& o, const Environment& env) {
  RestConfig rc;
  rc.source = "in-cluster";
  const std::string& host = *env.service_host;
  // An IPv6 address must be bracketed in a URL (net.JoinHostPort).
  const bool ipv6 = host.find(':') != std::string::npos && host.front() != '[';
  rc.server = fmt::format("https://{}{}{}:{}", ipv6 ? "[" : "", host, ipv6 ? "]" : "", *env.service_port);
  if (o.server && !o.server->empty()) {
    IR_TRY(server, normalize_server(*o.server, "--server"));
    rc.server = std::move(server);
  }
  if (o.token && !o.token->empty()) {
    rc.token = *o.token;
  } else {
    rc.token_file = env.service_account_dir + "/token";
  }
  if (o.certificate_authority && !o.certificate_authority->empty()) {
    if (o.insecure_skip_tls_verify.value_or(false)) {
      return fail(Errc::usage, "--certificate-authority and --insecure-skip-tls-verify cannot be used together");
    }
    IR_TRY(pem, read_pem(*o.certificate_authority, "--certificate-authority"));
    rc.ca_pem = std::move(pem);
  } else if (o.insecure_skip_tls_verify.value_or(false)) {
    rc.insecure_skip_tls_verify = true;
  } else {
    // client-go only logs when ca.crt cannot be read and goes on with the system roots.
    auto ca = util::read_file(env.service_account_dir + "/ca.crt", k_max_pem_bytes);
    if (ca) rc.ca_pem = std::move(*ca);
  }
  if (auto ns = util::read_file(env.service_account_dir + "/namespace", 4096)) {
    const auto trimmed = util::trim(*ns);
    if (!trimmed.empty()) rc.namespace_name = std::string(trimmed);
  }
  if (o.namespace_name && !o.namespace_name->empty()) rc.namespace_name = *o.namespace_name;
  IR_CHECK(apply_impersonation(rc, "", o));
  return rc;
}

Error no_configuration(const FileList& list, const Kubeconfig& kc, const Environment& env) {
  std::string what;
  if (!kc.files.empty()) {
    what = fmt::format("{} {} no contexts", util::join(kc.files, ", "), kc.files.size() == 1 ? "defines" : "define");
  } else if (list.kind == FileList::Kind::env_list) {
    what = fmt::format("none of the files in $KUBECONFIG exist ({})", util::join(list.files, ", "));
  } else {
    what = "no kubeconfig at ~/.kube/config, $KUBECONFIG unset";
  }
  std::string cluster = "not running in a cluster";
  if (env.service_host && !env.service_host->empty()) {
    cluster += fmt::format(" ($KUBERNETES_SERVICE_HOST is set but {}/token is missing)", env.service_account_dir);
  }
  return Error(Errc::config, fmt::format("no configuration: {}, and {}", what, cluster))
      .with_hint("pass --kubeconfig FILE or set $KUBECONFIG (or -s/--server with --token)");
}

Result<RestConfig> load_impl(const Overrides& o, const Environment& env) {
  IR_TRY(loaded, load_files(o, env));
  const Kubeconfig& kc = loaded.config;
  const bool selects_something = (o.context && !o.context->empty()) || (o.cluster && !o.cluster->empty()) ||
                                 (o.user && !o.user->empty()) || (o.server && !o.server->empty());
  // client-go's DeferredLoadingClientConfig falls back to in-cluster only when the merged
  // configuration selects no cluster at all.
  if (!selects_something && kc.current_context.empty()) {
    if (in_cluster_possible(env)) return in_cluster_config(o, env);
    if (kc.contexts.empty()) return unexpected(no_configuration(loaded.list, kc, env));
  }
  return resolve(kc, o);
}

}  // namespace

Result<RestConfig> load_rest_config(const Overrides& overrides, const Environment& env) {
  // Parsing converts yaml-cpp exceptions itself; this is the last line for anything else
  // (std::bad_alloc, filesystem_error), so nothing throws out of the module.
  try {
    return load_impl(overrides, env);
  } catch (const std::exception& e) {
    return fail(Errc::config, std::string("kubeconfig: ") + e.what());
  }
}

Result<std::vector<std::string>> list_contexts(const Overrides& overrides, const Environment& env) {
  try {
    IR_TRY(loaded, load_files(overrides, env));
    return names_of(loaded.config.contexts);
  } catch (const std::exception& e) {
    return fail(Errc::config, std::string("kubeconfig: ") + e.what());
  }
}

}  // namespace ir::kube
