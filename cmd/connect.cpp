#include "cmd/connect.hpp"

#include <unistd.h>

#include <algorithm>
#include <mutex>

#include "build_info.hpp"
#include "kube/api.hpp"
#include "kube/kubeconfig.hpp"
#include "triage/isolate.hpp"
#include "util/files.hpp"
#include "util/strings.hpp"

namespace ir::cli {

void add_kube_flags(CLI::App& app, KubeFlags& f) {
  const char* group = "Kubernetes connection (as kubectl)";
  app.add_option("--kubeconfig", f.kubeconfig, "Path to the kubeconfig file to use")->group(group);
  app.add_option("--context", f.context, "The name of the kubeconfig context to use")->group(group);
  app.add_option("--cluster", f.cluster, "The name of the kubeconfig cluster to use")->group(group);
  app.add_option("--user", f.user, "The name of the kubeconfig user to use")->group(group);
  app.add_option("-n,--namespace", f.namespace_name, "The namespace of the pod")->group(group);
  app.add_option("-s,--server", f.server, "The address and port of the Kubernetes API server")->group(group);
  app.add_option("--token", f.token, "Bearer token for authentication to the API server")->group(group);
  app.add_option("--as", f.as, "Username to impersonate for the operation")->group(group);
  app.add_option("--as-group", f.as_groups, "Group to impersonate (repeatable)")->group(group);
  app.add_option("--certificate-authority", f.certificate_authority, "Path to a cert file for the certificate authority")
      ->group(group);
  app.add_flag("--insecure-skip-tls-verify", f.insecure_skip_tls_verify,
               "Do not verify the server's certificate (insecure)")
      ->group(group);
  app.add_option("--request-timeout", f.request_timeout,
                 "Time to wait for a single request (e.g. 1s, 2m, 3h); 0 = no timeout")
      ->group(group);
  app.add_option("-v,--v", f.verbosity, "Log level: 6 logs every API request to stderr")->group(group);
}

Result<std::unique_ptr<Session>> open_session(const KubeFlags& f, Io& io, std::chrono::milliseconds default_timeout) {
  auto timeout = util::parse_duration(f.request_timeout);
  if (!timeout) {
    return fail(Errc::usage, "invalid --request-timeout \"" + f.request_timeout + "\": want a duration like 30s or 2m");
  }
  kube::Overrides o;
  auto set = [](std::optional<std::string>& dst, const std::string& v) {
    if (!v.empty()) dst = v;
  };
  set(o.kubeconfig, f.kubeconfig);
  set(o.context, f.context);
  set(o.cluster, f.cluster);
  set(o.user, f.user);
  set(o.namespace_name, f.namespace_name);
  set(o.server, f.server);
  set(o.token, f.token);
  set(o.impersonate_user, f.as);
  o.impersonate_groups = f.as_groups;
  set(o.certificate_authority, f.certificate_authority);
  if (f.insecure_skip_tls_verify) o.insecure_skip_tls_verify = true;

  kube::Environment env;
  env.kubeconfig_env = io.getenv("KUBECONFIG");
  env.home = io.getenv("HOME").value_or("");
  env.service_host = io.getenv("KUBERNETES_SERVICE_HOST");
  env.service_port = io.getenv("KUBERNETES_SERVICE_PORT");

  IR_TRY(config, kube::load_rest_config(o, env));
  auto s = std::make_unique<Session>();
  s->config = std::move(config);
  s->credentials = kube::make_credential_provider(s->config, s->runner, s->clock);
  kube::TlsOptions tls;
  tls.ca_pem = s->config.ca_pem;
  tls.insecure_skip_tls_verify = s->config.insecure_skip_tls_verify;
  tls.tls_server_name = s->config.tls_server_name;
  tls.proxy_url = s->config.proxy_url;
  const auto request_timeout = timeout->count() > 0 ? *timeout : default_timeout;
  // A request cannot wait longer than its timeout to connect (exec's raw connections included).
  if (request_timeout.count() > 0) tls.connect_timeout = std::min(tls.connect_timeout, request_timeout);
  s->transport = std::make_unique<kube::CurlTransport>(tls, io.cancel);
  s->connector = std::make_unique<kube::CurlConnector>(tls);
  kube::ClientOptions options;
  options.request_timeout = request_timeout;
  if (f.verbosity >= 6) {
    std::ostream* err = &io.err;
    options.trace = [err](const std::string& line) { *err << "kubectl-ir: " << util::escape_for_terminal(line) << "\n"; };
  }
  s->client = std::make_unique<kube::Client>(s->config, *s->transport, *s->credentials, s->clock, options);
  return s;
}

std::string cases_dir(Io& io) {
  if (auto home = io.getenv("KUBECTL_IR_HOME"); home && !home->empty()) return *home + "/cases";
  return io.getenv("HOME").value_or(".") + "/.kubectl-ir/cases";
}

Result<std::unique_ptr<evidence::Case>> open_case(Io& io, Session& session, const std::string& case_id, nlohmann::json common) {
  const std::string id = case_id.empty() ? evidence::new_case_id(session.clock.now()) : case_id;
  return evidence::Case::open(cases_dir(io), id, session.clock, std::move(common));
}

evidence::Acquirer acquirer_for(Session& session, const std::vector<std::string>& command_line, const std::string& examiner,
                                util::TimePoint started) {
  evidence::Acquirer a;
  a.caller = caller_identity(session);
  a.examiner = actor_name(session, examiner);
  a.tool_version = build::k_version;
  a.tool_commit = build::k_git_commit;
  a.context = session.config.context_name;
  a.server = session.config.server;
  char host[256] = {};
  a.host = ::gethostname(host, sizeof host - 1) == 0 ? util::esc(host, util::Cap::name) : "unknown";
  a.command_line = util::join(command_line, " ");
  a.started = started;
  return a;
}

const std::string& caller_identity(Session& session) {
  if (!session.caller) {
    auto who = kube::self_subject_review(*session.client);
    session.caller = who && who->has_value() ? (*who)->username : std::string();
  }
  return *session.caller;
}

std::string actor_name(Session& session, const std::string& examiner) {
  if (!examiner.empty()) return examiner;
  if (const auto& who = caller_identity(session); !who.empty()) return who;
  const auto& c = session.config;
  return c.user_name.empty() ? "unknown" : c.user_name + " (context " + c.context_name + ")";
}

namespace {

class SessionConnection final : public triage::ApiConnection {
 public:
  explicit SessionConnection(std::unique_ptr<Session> session) : m_session(std::move(session)) {}
  kube::Client& client() override { return *m_session->client; }
  kube::Connector& connector() override { return *m_session->connector; }

 private:
  std::unique_ptr<Session> m_session;
};

}  // namespace

triage::ConnectionFactory worker_connections(const KubeFlags& flags, Io& io) {
  auto mutex = std::make_shared<std::mutex>();
  return [&flags, &io, mutex]() -> Result<std::unique_ptr<triage::ApiConnection>> {
    std::lock_guard lock(*mutex);
    IR_TRY(session, open_session(flags, io));
    return std::unique_ptr<triage::ApiConnection>(std::make_unique<SessionConnection>(std::move(session)));
  };
}

Result<std::string> choose_case(const std::string& requested, const nlohmann::json* pod, util::TimePoint now) {
  if (!requested.empty()) {
    if (!evidence::valid_case_id(requested)) {
      return fail(Errc::usage, "invalid case id " + util::quoted(requested, util::Cap::word) +
                                   ": want 1-63 of [A-Za-z0-9._-], not starting with '.' or '-'");
    }
    return requested;
  }
  if (pod != nullptr) {
    const std::string recorded =
        pod->value("metadata", nlohmann::json::object()).value("annotations", nlohmann::json::object()).value(triage::k_ann_case, "");
    if (evidence::valid_case_id(recorded)) return recorded;
  }
  return evidence::new_case_id(now);
}


}  // namespace ir::cli
