#pragma once
// kubeconfig loading with kubectl parity: which files are read, how they merge, how a context
// resolves to one cluster + user, and how command-line overrides apply. Pure: the environment
// and file system paths come in as values; nothing here reads environment variables.

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "util/result.hpp"

namespace ir::kube {

// The largest token file read (tokenFile, the service account token): tokens are a few KiB.
inline constexpr std::size_t k_max_token_file_bytes = std::size_t{1024} * 1024;

// `users[].user.exec`: a client-go credential plugin (client.authentication.k8s.io/v1 or v1beta1).
struct ExecPluginConfig {
  std::string api_version;  // "client.authentication.k8s.io/v1" or ".../v1beta1"
  std::string command;      // resolved against the kubeconfig's directory if it contains a '/' and is relative
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;  // added to the plugin's environment
  std::string install_hint;                              // shown when the command cannot be run
  bool provide_cluster_info = false;
  std::string interactive_mode;  // "Never" | "IfAvailable" | "Always" (we never have a TTY: Always fails)
};

// Everything needed to talk to one API server as one user: the result of resolving a context.
// Secret fields (token, password, client key) must never be printed, logged or journaled.
struct RestConfig {
  // Where it came from, for messages: the kubeconfig path(s) or "in-cluster".
  std::string source;
  std::string context_name;  // empty for in-cluster
  std::string cluster_name;
  std::string user_name;
  std::string namespace_name = "default";  // context namespace, overridden by -n

  std::string server;  // "https://host:port" with no trailing slash
  std::string ca_pem;  // PEM bundle from certificate-authority(-data); empty: system CAs
  bool insecure_skip_tls_verify = false;
  std::string tls_server_name;
  std::string proxy_url;

  std::string client_cert_pem;  // from client-certificate(-data)
  std::string client_key_pem;   // from client-key(-data)
  std::string token;            // from token (or --token)
  std::string token_file;       // from tokenFile (absolute); re-read by the credential provider
  std::string username;         // basic auth
  std::string password;
  std::string impersonate_user;                 // `as` / --as
  std::vector<std::string> impersonate_groups;  // `as-groups` / --as-group
  std::optional<ExecPluginConfig> exec;
};

// Command-line overrides, as kubectl's genericclioptions define them. Unset fields do nothing.
struct Overrides {
  std::optional<std::string> kubeconfig;      // --kubeconfig: load exactly this one file
  std::optional<std::string> context;         // --context
  std::optional<std::string> cluster;         // --cluster: use this cluster entry instead of the context's
  std::optional<std::string> user;            // --user: use this user entry instead of the context's
  std::optional<std::string> namespace_name;  // -n/--namespace
  std::optional<std::string> server;          // -s/--server
  // --token: replaces the user's token, tokenFile, username/password and exec plugin; a client
  // certificate from the kubeconfig still applies (as in kubectl, which sends both).
  std::optional<std::string> token;
  std::optional<std::string> impersonate_user;       // --as
  std::vector<std::string> impersonate_groups;       // --as-group (repeatable)
  std::optional<std::string> certificate_authority;  // --certificate-authority (a file)
  std::optional<bool> insecure_skip_tls_verify;      // --insecure-skip-tls-verify
};

// The parts of the process environment kubeconfig loading depends on.
struct Environment {
  std::optional<std::string> kubeconfig_env;  // $KUBECONFIG
  std::string home;                           // $HOME
  std::optional<std::string> service_host;    // $KUBERNETES_SERVICE_HOST
  std::optional<std::string> service_port;    // $KUBERNETES_SERVICE_PORT
  std::string service_account_dir = "/var/run/secrets/kubernetes.io/serviceaccount";
};

// Loads and resolves the configuration:
//  1. --kubeconfig: that single file (missing -> error);
//  2. else $KUBECONFIG: ':'-separated list, missing files ignored, maps merged with the first file
//     to set a key winning (contexts/clusters/users by name, current-context, preferences);
//  3. else ~/.kube/config if it exists;
//  4. else in-cluster (service host/port + token + ca.crt under service_account_dir; token_file is
//     set so the token is re-read);
// then picks the context (--context, else current-context), applies --cluster/--user/-n/-s/
// --token/--as/--as-group/--certificate-authority/--insecure-skip-tls-verify, reads CA, cert and key
// files (relative paths resolve against the directory of the file that defined the entry), decodes
// *-data fields (base64), and validates (server present; cert without key or key without cert;
// insecure-skip-tls-verify together with a CA is an error as in kubectl).
// Errors (Errc::config) name the file and the key, e.g.
//   kubeconfig /root/.kube/config: context "prod" not found (have: dev, staging)
//   kubeconfig /tmp/k: users["bob"].client-certificate-data: illegal base64 data: ...
//   kubeconfig /tmp/k: line 4, column 3: malformed YAML: ...
//   no configuration: no kubeconfig at ~/.kube/config, $KUBECONFIG unset, and not running in a cluster
// Also as kubectl: a file listed twice in $KUBECONFIG is read once; a file that exists but cannot be
// read or parsed is an error (only missing files are skipped); two entries with the same name in
// one file are an error; all *-data fields of every entry are decoded at load (a bad one fails the
// load, as in kubectl), while files (CA, certificate, key, tokenFile) are read only for the selected
// cluster and user; with no kubeconfig at all, -s/--server alone makes a configuration; in-cluster
// configuration is used only when no context is selected and no --context/--cluster/--user/-s is
// given; a server without a scheme gets https:// (kubectl guesses http when no TLS setting exists);
// for an http:// server no credentials are loaded (kubectl sends none in clear text). Beyond kubectl:
// a context naming a user or cluster that does not exist is an error (kubectl silently runs as
// anonymous or with an empty cluster), auth-provider users fail with a hint to use an exec plugin,
// CA/certificate/key content must be PEM, and --as/--as-group also apply in-cluster.
// Never throws.
Result<RestConfig> load_rest_config(const Overrides& overrides, const Environment& env);

// Names of contexts in the loaded configuration, sorted (for completion and hints); same loading
// rules and errors as load_rest_config for the files, but no kubeconfig at all is not an error here
// (the list is empty). Never throws.
Result<std::vector<std::string>> list_contexts(const Overrides& overrides, const Environment& env);

}  // namespace ir::kube
