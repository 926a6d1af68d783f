#include "cmd/doctor.hpp"

#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cmd/output.hpp"
#include "cmd/errors.hpp"
#include "triage/doctor.hpp"
#include "util/strings.hpp"

namespace ir::cli {

namespace {

std::string resource_name(const triage::Permission& p) {
  return kube::qualified_resource({p.verb, p.group, p.resource, p.subresource, "", ""});
}

nlohmann::json report_json(const triage::DoctorReport& r) {
  nlohmann::json j = {{"server", r.server}, {"context", r.context}, {"namespace", r.namespace_name}, {"ok", r.ok()}};
  if (r.version) {
    j["serverVersion"] = r.version->git_version;
  } else {
    j["error"] = r.version_error ? r.version_error->message : "";
  }
  if (r.identity) {
    j["identity"] = {{"username", r.identity->username}, {"groups", r.identity->groups}};
  } else if (!r.identity_note.empty()) {
    j["identityNote"] = r.identity_note;
  }
  j["permissions"] = nlohmann::json::array();
  for (const auto& c : r.checks) {
    j["permissions"].push_back({{"command", c.permission.command},
                                {"verb", c.permission.verb},
                                {"resource", resource_name(c.permission)},
                                {"namespace", c.namespace_name},
                                {"allowed", c.allowed},
                                {"optional", c.permission.optional},
                                {"neededFor", c.permission.needed_for},
                                {"reason", c.reason}});
  }
  return j;
}

void print_table(const triage::DoctorReport& r, Io& io) {
  io.out << fmt::format("Server:     {} (context {})\n", util::esc(r.server), r.context.empty() ? "in-cluster" : util::esc(r.context));
  io.out << fmt::format("Version:    {}\n", util::esc(r.version->git_version));
  if (r.identity) {
    io.out << fmt::format("Identity:   {} (groups: {})\n", util::esc(r.identity->username), util::esc(util::join(r.identity->groups, ", ")));
  } else {
    io.out << fmt::format("Identity:   {}\n", util::esc(r.identity_note));
  }
  io.out << fmt::format("Namespace:  {}\n\n", util::esc(r.namespace_name));
  io.out << fmt::format("{:<9} {:<7} {:<46} {:<10} {:<8} {}\n", "COMMAND", "VERB", "RESOURCE", "NAMESPACE", "ALLOWED",
                        "NEEDED FOR");
  for (const auto& c : r.checks) {
    std::string allowed = c.allowed ? "yes" : (c.permission.optional ? "no (opt)" : "NO");
    io.out << fmt::format("{:<9} {:<7} {:<46} {:<10} {:<8} {}\n", c.permission.command, c.permission.verb,
                          resource_name(c.permission), c.namespace_name.empty() ? "*" : util::esc(c.namespace_name), allowed,
                          c.permission.needed_for);
  }
}

}  // namespace

Command setup_doctor(CLI::App& root, const GlobalOptions& global) {
  auto options = std::make_shared<DoctorOptions>();
  CLI::App* app = add_command(root, "doctor", "Check connectivity, server version, identity and RBAC for kubectl-ir",
                              {
                                  "kubectl ir doctor -n shop",
                                  "kubectl ir doctor --context prod -o json",
                              });
  app->add_option("-o,--output", options->output, "Output format: json")->check(CLI::IsMember({"json"}));
  return {app, [options, &global](Io& io) { return run_doctor(*options, global, io); }};
}

int run_doctor(const DoctorOptions& options, const GlobalOptions& global, Io& io) {
  auto session = open_session(global.kube, io);
  if (!session) return exit_with(io, session.error());
  auto& client = *(*session)->client;
  const auto report = triage::run_doctor(client, (*session)->config.namespace_name);
  if (!report.version) {
    Error e = report.version_error.value_or(Error(Errc::failure, "no version"));
    if (e.code == Errc::network || e.code == Errc::tls || e.code == Errc::timeout) {
      e = e.context("cannot reach the API server at " + report.server);
      if (e.code == Errc::tls && e.hint.empty()) {
        e = e.with_hint("check certificate-authority in the kubeconfig (or --certificate-authority)");
      }
    }
    print_error(io, e);
    return exit_code_for(e);
  }
  if (options.output == "json") {
    io.out << to_json(report_json(report));
  } else {
    print_table(report, io);
  }
  if (!report.ok()) {
    int missing = 0;
    for (const auto& c : report.checks) missing += !c.allowed && !c.permission.optional ? 1 : 0;
    print_error(io, Error(Errc::forbidden, fmt::format("{} required permission(s) missing", missing))
                        .with_hint("README.md \"RBAC\" has a ClusterRole with everything kubectl-ir needs"));
    return k_exit_failure;
  }
  return k_exit_ok;
}

}  // namespace ir::cli
