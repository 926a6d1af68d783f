#pragma once
// kubectl's global flags, and turning them into a connected API client (complete → validate).

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cmd/io.hpp"
#include "kube/client.hpp"
#include "evidence/bundle.hpp"
#include "evidence/case.hpp"
#include "evidence/journal.hpp"
#include "kube/curl_transport.hpp"
#include "triage/collect.hpp"
#include "util/clock.hpp"
#include "util/process.hpp"

namespace ir::cli {

// The flags kubectl would pass to a plugin if it passed any (it passes none: we parse them).
struct KubeFlags {
  std::string kubeconfig, context, cluster, user, namespace_name, server, token, as;
  std::vector<std::string> as_groups;
  std::string certificate_authority;
  bool insecure_skip_tls_verify = false;
  std::string request_timeout = "0";
  int verbosity = 0;
};

// Adds the kubectl global flags to `app` (subcommands inherit them through fallthrough).
void add_kube_flags(CLI::App& app, KubeFlags& flags);

// A resolved configuration and a client ready to call the API server. Owns everything the client
// depends on.
struct Session {
  kube::RestConfig config;
  util::RealProcessRunner runner;
  util::RealClock clock;
  std::unique_ptr<kube::CredentialProvider> credentials;
  std::unique_ptr<kube::CurlTransport> transport;
  std::unique_ptr<kube::CurlConnector> connector;  // raw connections for exec
  std::unique_ptr<kube::Client> client;
  // The API identity once asked (caller_identity): "" when the server does not say.
  std::optional<std::string> caller;
};

// Where case journals live: $KUBECTL_IR_HOME, else ~/.kubectl-ir; a case's directory is
// <home>/cases/<case-id>.
std::string cases_dir(Io& io);

// Opens the case `case_id` (a new id when empty) under cases_dir(); `common` fields go into every
// journal entry.
Result<std::unique_ptr<evidence::Case>> open_case(Io& io, Session& session, const std::string& case_id,
                                                  nlohmann::json common = nlohmann::json::object());

// The acquirer facts of this run: examiner (given, else the API identity), caller, tool version
// and commit, context, server, host, the masked command line, and `started`.
evidence::Acquirer acquirer_for(Session& session, const std::vector<std::string>& command_line,
                                const std::string& examiner, util::TimePoint started);

// The API identity (SelfSubjectReview's username), asked once per session; "" when the server
// does not serve SelfSubjectReview (1.26) or the call fails.
const std::string& caller_identity(Session& session);

// Who is acting, for annotations and the acquisition log: `examiner` when given, else the API
// identity, else "<kubeconfig user> (context <name>)".
std::string actor_name(Session& session, const std::string& examiner = {});

// The case of a command on `pod`: `requested` (Errc::usage if not a valid case id), else the case
// isolate recorded on the pod, else a new one.
Result<std::string> choose_case(const std::string& requested, const nlohmann::json* pod, util::TimePoint now);

// Connections of their own for parallel workers (drift's and baseline's snapshots, collect
// --drift, playbooks): each call opens a new session with `flags` (thread-safe; the sessions
// live as long as the connections returned). `flags` and `io` must outlive the factory.
triage::ConnectionFactory worker_connections(const KubeFlags& flags, Io& io);

// Loads kubeconfig per kubectl's rules with the flags as overrides and builds the client.
// `default_timeout` applies when --request-timeout is 0 (e.g. a short one for `version`).
// Fails with Errc::config (kubeconfig) or Errc::usage (bad --request-timeout).
Result<std::unique_ptr<Session>> open_session(const KubeFlags& flags, Io& io,
                                              std::chrono::milliseconds default_timeout = std::chrono::milliseconds(0));

}  // namespace ir::cli
