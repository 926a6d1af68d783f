#include "cmd/isolate.hpp"

#include <memory>

#include <fmt/format.h>

#include "cmd/flags.hpp"
#include "cmd/output.hpp"
#include "cmd/errors.hpp"
#include "cmd/target.hpp"
#include "evidence/case.hpp"
#include "run/verbs.hpp"
#include "triage/isolate.hpp"
#include "util/strings.hpp"

namespace ir::cli {

using nlohmann::json;

namespace {

// Journal entries are gathered during the run and written under the case the run ends up with
// (an already-isolated pod keeps its case).
void flush(evidence::PendingLog& pending, Io& io, Session& s, const std::string& case_id, const json& common) {
  auto c = open_case(io, s, case_id, common);
  if (!c) {
    print_warning(io, "journal: " + c.error().message);
    return;
  }
  if (auto r = pending.flush(**c); !r) print_warning(io, "journal: " + r.error().message);
}

bool valid_label_value(const std::string& v) {
  // A case id doubles as the quarantine label's value: alphanumeric at both ends.
  const auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
  return evidence::valid_case_id(v) && alnum(v.back());
}

json verdict_json(const triage::Verdict& v) { return {{"state", triage::to_string(v.state)}, {"reason", v.reason}}; }

json report_json(const triage::IsolateReport& r, const std::string& ns, const std::string& pod, bool dry) {
  json others = json::array();
  for (const auto& a : r.still_allowing) {
    others.push_back({{"policy", a.policy}, {"direction", triage::to_string(a.direction)}, {"rules", a.rules}});
  }
  json j = {{"case", r.case_id},
            {"namespace", ns},
            {"pod", pod},
            {"uid", r.pod_uid},
            {"node", r.node},
            {"dryRun", dry},
            {"alreadyIsolated", r.already_isolated},
            {"policy", r.policy.value("metadata", json::object()).value("name", "")},
            {"stillAllowing", others},
            {"neutralised", r.neutralised},
            {"detachedLabels", r.detached_labels},
            {"cordonedNode", r.cordoned_node},
            {"cni", {{"name", r.cni.name}, {"enforces", r.cni.enforces}, {"known", r.cni.known}, {"note", r.cni_note}}},
            {"adminNetworkPolicy", {{"served", r.admin_network_policy}, {"applied", r.admin_policy}}},
            {"verdict", {{"egress", verdict_json(r.egress)}, {"ingress", verdict_json(r.ingress)}}},
            {"warnings", r.warnings}};
  if (!r.probe.empty()) j["probe"] = r.probe;
  return j;
}

void print_summary(const triage::IsolateReport& r, const std::string& ns, const std::string& pod, bool dry, Io& io) {
  const std::string policy = r.policy.value("metadata", json::object()).value("name", "");
  io.out << fmt::format("{}case:     {}\n", dry ? "(dry run: nothing was changed)\n" : "", util::esc(r.case_id));
  io.out << fmt::format("pod:      {}/{} on node {}{}\n", util::esc(ns), util::esc(pod), util::esc(r.node), r.already_isolated ? " (already isolated)" : "");
  io.out << fmt::format("policy:   {}\n", util::esc(policy));
  if (!r.admin_policy.empty()) io.out << fmt::format("admin:    AdminNetworkPolicy {} (priority 0)\n", util::esc(r.admin_policy));
  for (const auto& name : r.neutralised) io.out << fmt::format("excluded: networkpolicy {} no longer selects the pod\n", util::esc(name));
  if (!r.detached_labels.empty()) io.out << fmt::format("detached: removed labels {}\n", util::esc(util::join(r.detached_labels, ", ")));
  if (!r.cordoned_node.empty()) io.out << fmt::format("cordoned: node {}\n", util::esc(r.cordoned_node));
  io.out << fmt::format("CNI:      {}\n", r.cni.known ? util::esc(r.cni.name) + (r.cni.enforces ? " (enforces NetworkPolicy)" : " (does NOT enforce NetworkPolicy)")
                                                   : "unknown");
  if (!r.probe.empty()) io.out << fmt::format("probe:    {}\n", util::esc(r.probe, util::Cap::detail));
  io.out << fmt::format("egress:   {}: {}\n", triage::to_string(r.egress.state), util::esc(r.egress.reason, util::Cap::detail));
  io.out << fmt::format("ingress:  {}: {}\n", triage::to_string(r.ingress.state), util::esc(r.ingress.reason, util::Cap::detail));
}

// The common start of isolate and release: the pod reference (NAME, pod/NAME or
// NAMESPACE/pod/NAME) and a session. On failure prints the error and sets `code`.
void print_written_yaml(const std::vector<json>& objects, Io& io) {
  for (const auto& o : objects) io.out << "---\n" << to_yaml(o);
}

struct IsolateFlags {
  IsolateCliOptions cli;
  std::unique_ptr<BoundFlags<triage::IsolateOptions>> verb;
};

}  // namespace

int run_isolate(const IsolateFlags& flags, const GlobalOptions& global, Io& io);
int run_release(const ReleaseCliOptions& o, const GlobalOptions& global, Io& io);

Command setup_isolate(CLI::App& root, const GlobalOptions& global) {
  auto f = std::make_shared<IsolateFlags>();
  IsolateCliOptions* o = &f->cli;
  CLI::App* app = root.add_subcommand("isolate", "Contain a pod with a deny-egress NetworkPolicy (reversible with release)");
  app->footer(
      "Examples:\n"
      "  kubectl ir isolate web-7d4b9 -n shop\n"
      "  kubectl ir isolate web-7d4b9 -n shop --ingress --exclusive --allow-dns\n"
      "  kubectl ir isolate web-7d4b9 -n shop --detach --cordon --dry-run -o yaml\n"
      "  kubectl ir siblings web-7d4b9 -n shop -o name | xargs -n1 kubectl ir isolate\n"
      "\nExit status: 0 contained, 3 not (or not provably) contained in a requested direction, 1 failure.");
  app->add_option("POD", o->pod, "The pod: NAME, pod/NAME or NAMESPACE/pod/NAME (as siblings -o name prints)")->required();
  app->add_option("--case", o->case_id, "Case id (default: the pod's existing case or a new one)");
  f->verb = std::make_unique<BoundFlags<triage::IsolateOptions>>(*app, run::isolate_options());
  app->add_flag("--dry-run", o->dry_run, "Server-side dry run: validate every write, change nothing");
  app->add_option("-o,--output", o->output, "Output: json or yaml (with --dry-run: the objects)")
      ->check(CLI::IsMember({"json", "yaml"}));
  return {app, [f, &global](Io& io) { return run_isolate(*f, global, io); }};
}

int run_isolate(const IsolateFlags& flags, const GlobalOptions& global, Io& io) {
  const IsolateCliOptions& o = flags.cli;
  triage::IsolateOptions opts;
  if (auto r = flags.verb->apply(opts); !r) {
    print_error(io, r.error());
    return k_exit_usage;
  }
  if (!o.case_id.empty() && !valid_label_value(o.case_id)) {
    print_error(io, Error(Errc::usage, "invalid --case \"" + util::esc(o.case_id, util::Cap::word) +
                                           "\": 1-63 letters, digits, '.', '_' or '-', starting and ending alphanumeric"));
    return k_exit_usage;
  }
  for (const auto& a : opts.allow_egress) {
    if (auto p = triage::parse_allow_egress(a); !p) {
      print_error(io, p.error());
      return k_exit_usage;
    }
  }
  int code = k_exit_ok;
  auto target = open_target(o.pod, global, io, code);
  if (!target) return code;
  auto& s = *target->session;
  opts.namespace_name = target->namespace_name;
  opts.pod = target->pod;
  opts.case_id = o.case_id;
  opts.new_case_id = evidence::new_case_id(s.clock.now());
  opts.dry_run = o.dry_run ? kube::DryRun::all : kube::DryRun::none;
  opts.actor = actor_name(s);

  evidence::PendingLog pending;
  io.err << fmt::format("kubectl-ir: isolating {}/{}{}\n", util::esc(opts.namespace_name, util::Cap::name),
                        util::esc(opts.pod, util::Cap::name), o.dry_run ? " (dry run)" : "");
  auto report = triage::isolate(*s.client, s.connector.get(), opts, pending.logger(), s.clock);
  const json common = {{"namespace", opts.namespace_name}, {"pod", opts.pod}, {"actor", opts.actor},
                       {"context", s.config.context_name}, {"server", s.config.server}};
  if (!report) {
    pending.logger()("isolate-failed", json{{"error", report.error().message}});
    flush(pending, io, s, o.case_id.empty() ? opts.new_case_id : o.case_id, common);
    print_error(io, hint_other_namespaces(*s.client, report.error(), opts.pod, opts.namespace_name));
    return exit_code_for(report.error());
  }
  flush(pending, io, s, report->case_id, common);
  for (const auto& w : report->warnings) print_warning(io, w);
  if (o.output == "json") {
    // to_json: the probe's summary quotes nc's stderr, which the pod controls (any bytes).
    io.out << to_json(report_json(*report, opts.namespace_name, opts.pod, o.dry_run));
  } else if (o.output == "yaml") {
    if (o.dry_run) print_written_yaml(report->written, io);
    else io.out << to_yaml(report_json(*report, opts.namespace_name, opts.pod, false));
  } else {
    print_summary(*report, opts.namespace_name, opts.pod, o.dry_run, io);
  }
  if (o.dry_run) return k_exit_ok;
  return report->contained() ? k_exit_ok : k_exit_partial;
}

Command setup_release(CLI::App& root, const GlobalOptions& global) {
  auto o = std::make_shared<ReleaseCliOptions>();
  CLI::App* app = root.add_subcommand("release", "Undo isolate: remove the quarantine and restore what it changed");
  app->footer(
      "Examples:\n"
      "  kubectl ir release web-7d4b9 -n shop\n"
      "  kubectl ir release web-7d4b9 -n shop --dry-run -o yaml\n");
  app->add_option("POD", o->pod, "The pod")->required();
  app->add_flag("--dry-run", o->dry_run, "Server-side dry run: validate every write, change nothing");
  app->add_option("-o,--output", o->output, "Output: json or yaml (with --dry-run: the objects)")
      ->check(CLI::IsMember({"json", "yaml"}));
  return {app, [o, &global](Io& io) { return run_release(*o, global, io); }};
}

int run_release(const ReleaseCliOptions& o, const GlobalOptions& global, Io& io) {
  int code = k_exit_ok;
  auto target = open_target(o.pod, global, io, code);
  if (!target) return code;
  auto& s = *target->session;
  const triage::ReleaseOptions opts{target->namespace_name, target->pod,
                                    o.dry_run ? kube::DryRun::all : kube::DryRun::none};
  evidence::PendingLog pending;
  auto report = triage::release(*s.client, opts, pending.logger());
  const json common = {{"namespace", opts.namespace_name}, {"pod", opts.pod}, {"actor", actor_name(s)},
                       {"context", s.config.context_name}, {"server", s.config.server}};
  if (!report) {
    pending.logger()("release-failed", json{{"error", report.error().message}});
    flush(pending, io, s, "", common);
    print_error(io, report.error());
    return exit_code_for(report.error());
  }
  if (report->was_isolated) flush(pending, io, s, report->case_id, common);
  for (const auto& w : report->warnings) print_warning(io, w);
  const json j = {{"case", report->case_id},          {"namespace", opts.namespace_name},
                  {"pod", opts.pod},                     {"dryRun", o.dry_run},
                  {"wasIsolated", report->was_isolated}, {"podFound", report->pod_found},
                  {"policyDeleted", report->policy_deleted}, {"adminPolicyDeleted", report->admin_policy_deleted},
                  {"restoredPolicies", report->restored_policies},
                  {"restoredLabels", report->restored_labels}, {"uncordonedNode", report->uncordoned_node}};
  if (o.output == "json") {
    io.out << to_json(j);
  } else if (o.output == "yaml") {
    if (o.dry_run) print_written_yaml(report->written, io);
    else io.out << to_yaml(j);
  } else if (!report->was_isolated) {
    io.out << fmt::format("{}/{} is not isolated: nothing to do\n", util::esc(opts.namespace_name, util::Cap::name),
                          util::esc(opts.pod, util::Cap::name));
  } else {
      io.out << fmt::format("{}released {}/{} (case {})\n", o.dry_run ? "(dry run: nothing was changed)\n" : "",
                          util::esc(opts.namespace_name), util::esc(opts.pod), util::esc(report->case_id));
    if (report->policy_deleted) io.out << "deleted:  quarantine policy\n";
    if (!report->admin_policy_deleted.empty()) {
      io.out << fmt::format("deleted:  AdminNetworkPolicy {}\n", util::esc(report->admin_policy_deleted));
    }
    for (const auto& p : report->restored_policies) io.out << fmt::format("restored: networkpolicy {}\n", util::esc(p));
    if (!report->restored_labels.empty()) io.out << fmt::format("restored: labels {}\n", util::esc(util::join(report->restored_labels, ", ")));
    if (!report->uncordoned_node.empty()) io.out << fmt::format("uncordoned: node {}\n", util::esc(report->uncordoned_node));
  }
  return k_exit_ok;
}

}  // namespace ir::cli
