#include "cmd/isolate.hpp"

#include <memory>

#include <fmt/format.h>

#include "cmd/flags.hpp"
#include "cmd/output.hpp"
#include "cmd/errors.hpp"
#include "cmd/target.hpp"
#include "evidence/case.hpp"
#include "evidence/journal.hpp"
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

json verdict_json(const triage::Verdict& v) {
  return {{"state", triage::to_string(v.state)}, {"reason", v.reason}, {"onTheWire", v.on_the_wire}};
}

json probe_json(const std::optional<triage::ProbeResult>& p) {
  if (!p) return nullptr;
  return {{"outcome", triage::to_string(p->outcome)}, {"result", p->summary}};
}

json wire_json(const triage::WireCheck& w) {
  json targets = json::array();
  for (const auto& t : w.targets) {
    targets.push_back({{"target", t.target.text()},
                       {"what", t.target.what},
                       {"before", probe_json(t.before)},
                       {"after", probe_json(t.after)},
                       {"attemptsAfter", t.attempts_after},
                       {"secondsAfter", t.seconds_after}});
  }
  json conns = json::array();
  for (const auto& c : w.connections) {
    conns.push_back(
        {{"local", c.before.local}, {"remote", c.before.remote}, {"after", c.after}, {"judgement", c.judgement}});
  }
  return {{"verdict", triage::to_string(w.verdict)},
          {"reason", w.reason},
          {"from", w.probed_from},
          {"targets", targets},
          {"connections", conns},
          {"connectionsNote", w.connections_note},
          {"execs", w.execs}};
}

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
            {"cni",
             {{"name", r.cni.name},
              {"enforces", r.cni.enforces},
              {"known", r.cni.known},
              {"evidence", r.cni.evidence},
              {"note", r.cni_note}}},
            {"nodeLocalDns", r.node_local_dns},
            {"dnsNote", r.dns_note},
            {"debugContainer", r.debug_container},
            {"adminNetworkPolicy", {{"served", r.admin_network_policy}, {"applied", r.admin_policy}}},
            {"verdict", {{"egress", verdict_json(r.egress)}, {"ingress", verdict_json(r.ingress)}}},
            {"warnings", r.warnings}};
  if (r.wire.verdict != triage::WireVerdict::not_run) j["verification"] = wire_json(r.wire);
  return j;
}

void print_summary(const triage::IsolateReport& r, const std::string& ns, const std::string& pod, bool dry, Io& io) {
  const std::string policy = r.policy.value("metadata", json::object()).value("name", "");
  io.out << fmt::format("{}case:     {}\n", dry ? "(dry run: nothing was changed)\n" : "", util::esc(r.case_id));
  io.out << fmt::format("pod:      {}/{} on node {}{}\n", util::esc(ns), util::esc(pod), util::esc(r.node), r.already_isolated ? " (already isolated)" : "");
  const auto e = [](const std::string& v) { return util::esc(v, util::Cap::detail); };
  io.out << fmt::format("policy:   {}{}\n", e(policy), dry ? " (would be applied)" : "");
  if (!r.admin_policy.empty()) io.out << fmt::format("admin:    AdminNetworkPolicy {} (priority 0)\n", e(r.admin_policy));
  for (const auto& name : r.neutralised) {
    io.out << fmt::format("excluded: networkpolicy {} {} the pod\n", e(name),
                          dry ? "would no longer select" : "no longer selects");
  }
  if (!r.detached_labels.empty()) {
    io.out << fmt::format("detached: {} labels {}\n", dry ? "would remove" : "removed",
                          e(util::join(r.detached_labels, ", ")));
  }
  if (!r.cordoned_node.empty())
    io.out << fmt::format("cordoned: {}node {}\n", dry ? "would cordon " : "", e(r.cordoned_node));
  if (!r.node_local_dns.empty()) {
    io.out << fmt::format("dns:      NodeLocal DNSCache {} allowed on 53 too\n", e(util::join(r.node_local_dns, ", ")));
  }
  io.out << fmt::format(
      "CNI:      {}\n",
      r.cni.known ? e(r.cni.name) + (r.cni.enforces ? " (enforces NetworkPolicy" : " (does NOT enforce NetworkPolicy") +
                        (r.cni.evidence.empty() ? ")" : "; " + e(r.cni.evidence) + ")")
                  : "unknown");
  if (!r.debug_container.empty()) {
    io.out << fmt::format("debug:    added ephemeral container {} to probe from (it stays in the pod spec)\n",
                          e(r.debug_container));
  }
  for (const auto& t : r.wire.targets) {
    const std::string before = t.before ? triage::to_string(t.before->outcome) : std::string("not tried");
    const std::string after = t.after ? triage::to_string(t.after->outcome) : std::string("not tried");
    io.out << fmt::format(
        "probe:    {} ({}): before {}, after {}{}\n", e(t.target.text()), e(t.target.what), before, after,
        t.attempts_after > 1 ? fmt::format(" ({} attempts over {:.1f}s)", t.attempts_after, t.seconds_after) : "");
  }
  for (const auto& c : r.wire.connections) {
    io.out << fmt::format("existing: {}\n",
                          e(c.judgement.empty() ? c.before.local + " -> " + c.before.remote : c.judgement));
  }
  if (!r.wire.connections_note.empty()) io.out << fmt::format("existing: {}\n", e(r.wire.connections_note));
  const auto verdict = [&](const triage::Verdict& v) {
    return fmt::format("{}{}: {}", triage::to_string(v.state), v.on_the_wire ? " (verified on the wire)" : "",
                       e(v.reason));
  };
  io.out << fmt::format("egress:   {}\n", verdict(r.egress));
  io.out << fmt::format("ingress:  {}\n", verdict(r.ingress));
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
  CLI::App* app =
      add_command(root, "isolate", "Contain a pod with a deny-egress NetworkPolicy (reversible with release)",
                  {
                      "kubectl ir isolate web-7d4b9 -n shop",
                      "kubectl ir isolate web-7d4b9 -n shop --ingress --exclusive --allow-dns",
                      "kubectl ir isolate web-7d4b9 -n shop --detach --cordon --dry-run -o yaml",
                      "kubectl ir isolate web-7d4b9 -n shop --exclusive --verify            # measured on the wire",
                      "kubectl ir isolate web-7d4b9 -n shop --probe 10.0.3.7:443 --ephemeral",
                      "kubectl ir siblings web-7d4b9 -n shop -o name | xargs -n1 kubectl ir isolate",
                  },
                  "Exit status: 0 contained, 3 not (or not provably) contained in a requested direction, 1 failure.");
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
  if (auto r = flags.verb->apply(opts); !r) return exit_with(io, r.error(), k_exit_usage);
  if (!o.case_id.empty() && !valid_label_value(o.case_id)) {
    print_error(io, Error(Errc::usage, "invalid --case " + util::quoted(o.case_id, util::Cap::word) +
                                           ": 1-63 letters, digits, '.', '_' or '-', starting and ending alphanumeric"));
    return k_exit_usage;
  }
  if (opts.ephemeral && !opts.verify && opts.probe.empty()) {
    return exit_with(io, Error(Errc::usage, "--ephemeral probes from a debug container: it needs --verify or --probe"));
  }
  for (const auto& a : opts.allow_egress) {
    if (auto p = triage::parse_allow_egress(a); !p) return exit_with(io, p.error(), k_exit_usage);
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
  opts.cancel = io.cancel;
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
  CLI::App* app = add_command(
      root, "release", "Undo isolate: remove the quarantine and restore what it changed",
      {
          "kubectl ir release web-7d4b9 -n shop",
          "kubectl ir release web-7d4b9 -n shop --dry-run -o yaml",
          "kubectl ir release --case case-20261121-172431-dfdb -n shop   # every pod and policy of the case",
      },
      "A pod that is gone took its quarantine policy with it, not what --exclusive left on other policies:\n"
      "release finds its case in the local journals, or takes --case.");
  app->add_option("POD", o->pod, "The pod (optional with --case)");
  app->add_option("--case", o->case_id, "The case: cleans what it left even when the pod is gone");
  app->add_flag("--dry-run", o->dry_run, "Server-side dry run: validate every write, change nothing");
  app->add_option("-o,--output", o->output, "Output: json or yaml (with --dry-run: the objects)")
      ->check(CLI::IsMember({"json", "yaml"}));
  return {app, [o, &global](Io& io) { return run_release(*o, global, io); }};
}

namespace {

void print_release(const triage::ReleaseReport& r, const triage::ReleaseOptions& opts, bool dry, Io& io) {
  const auto e = [](const std::string& v) { return util::esc(v, util::Cap::detail); };
  const std::string who = opts.pod.empty() ? "case " + e(opts.case_id) + " in namespace " + e(opts.namespace_name)
                                           : e(opts.namespace_name) + "/" + e(opts.pod);
  // A dry run changed nothing: everything is said in the future tense.
  const auto verb = [dry](const char* done, const char* would) { return std::string(dry ? would : done); };
  if (dry) io.out << "(dry run: nothing was changed)\n";
  const bool acted = r.was_isolated || r.policy_deleted || !r.restored_policies.empty() || !r.deleted_policies.empty();
  if (!acted) {
    if (!r.pod_found && !opts.pod.empty())
      io.out << fmt::format("{} is gone and no case is known for it: nothing to do\n", who);
    else
      io.out << fmt::format("{} is not isolated: nothing to do\n", who);
  } else if (!r.pod_found && !opts.pod.empty()) {
    io.out << fmt::format("{} is gone: {} what case {} left\n", who, verb("cleaned", "would clean"), e(r.case_id));
  } else {
    io.out << fmt::format("{} {}{}\n", verb("released", "would release"), who,
                          opts.pod.empty() ? "" : " (case " + e(r.case_id) + ")");
  }
  for (const auto& p : r.released_pods) io.out << fmt::format("{} pod {}\n", verb("released:", "would release:"), e(p));
  if (r.policy_deleted) io.out << verb("deleted:  quarantine policy\n", "would delete: quarantine policy\n");
  for (const auto& p : r.deleted_policies)
    io.out << fmt::format("{} networkpolicy {}\n", verb("deleted: ", "would delete:"), e(p));
  if (!r.admin_policy_deleted.empty()) {
    io.out << fmt::format("{} AdminNetworkPolicy {}\n", verb("deleted: ", "would delete:"), e(r.admin_policy_deleted));
  }
  for (const auto& p : r.restored_policies)
    io.out << fmt::format("{} networkpolicy {}\n", verb("restored:", "would restore:"), e(p));
  if (!r.restored_labels.empty()) {
    io.out << fmt::format("{} labels {}\n", verb("restored:", "would restore:"), e(util::join(r.restored_labels, ", ")));
  }
  if (!r.uncordoned_node.empty())
    io.out << fmt::format("{} node {}\n", verb("uncordoned:", "would uncordon:"), e(r.uncordoned_node));
}

}  // namespace

int run_release(const ReleaseCliOptions& o, const GlobalOptions& global, Io& io) {
  if (!o.case_id.empty() && !valid_label_value(o.case_id)) {
    return exit_with(io, Error(Errc::usage, "invalid --case " + util::quoted(o.case_id, util::Cap::word)));
  }
  if (o.pod.empty() && o.case_id.empty()) {
    print_error(io,
                Error(Errc::usage, "release: name the pod, or the case with --case")
                    .with_hint("kubectl ir release POD -n NAMESPACE, or kubectl ir release --case CASE -n NAMESPACE"));
    return k_exit_usage;
  }
  int code = k_exit_ok;
  std::optional<PodTarget> target;
  if (o.pod.empty()) {
    auto session = open_session(global.kube, io);
    if (!session) return exit_with(io, session.error());
    target = PodTarget{std::move(*session), "", ""};
    target->namespace_name = target->session->config.namespace_name;
  } else {
    target = open_target(o.pod, global, io, code);
    if (!target) return code;
  }
  auto& s = *target->session;
  triage::ReleaseOptions opts{target->namespace_name, target->pod, o.dry_run ? kube::DryRun::all : kube::DryRun::none,
                              o.case_id};
  // Entries wait for the case the release ends up with; a second attempt (by the journals' case)
  // starts a fresh list.
  std::optional<evidence::PendingLog> log_of_attempt;
  log_of_attempt.emplace();
  auto report = triage::release(*s.client, opts, log_of_attempt->logger());
  if (report && !report->pod_found && !opts.pod.empty() && opts.case_id.empty()) {
    // The pod is gone and with it the labels that named its case: ask the local journals.
    if (const std::string found =
            evidence::find_case_of_pod(cases_dir(io), opts.namespace_name, opts.pod, s.config.server);
        !found.empty()) {
      io.err << fmt::format(
          "kubectl-ir: the pod is gone; the journal of case {} says it was isolated: cleaning that case\n",
          util::esc(found, util::Cap::word));
      opts.case_id = found;
      log_of_attempt.emplace();
      report = triage::release(*s.client, opts, log_of_attempt->logger());
    }
  }
  evidence::PendingLog& pending = *log_of_attempt;
  const json common = {{"namespace", opts.namespace_name}, {"pod", opts.pod}, {"actor", actor_name(s)},
                       {"context", s.config.context_name}, {"server", s.config.server}};
  if (!report) {
    pending.logger()("release-failed", json{{"error", report.error().message}});
    flush(pending, io, s, opts.case_id, common);
    print_error(io, report.error());
    return exit_code_for(report.error());
  }
  if (!report->case_id.empty() && pending.size() > 0) flush(pending, io, s, report->case_id, common);
  for (const auto& w : report->warnings) print_warning(io, w);
  for (const auto& line : report->residue) {
    print_warning(io, "networkpolicy " + line +
                          ": --exclusive left these cases in its podSelector and no pod carries "
                          "them any more (kubectl ir release --case CASE -n " +
                          opts.namespace_name + " removes them)");
  }
  const json j = {{"case", report->case_id},
                  {"namespace", opts.namespace_name},
                  {"pod", opts.pod},
                  {"dryRun", o.dry_run},
                  {"wasIsolated", report->was_isolated},
                  {"podFound", report->pod_found},
                  {"policyDeleted", report->policy_deleted},
                  {"adminPolicyDeleted", report->admin_policy_deleted},
                  {"restoredPolicies", report->restored_policies},
                  {"restoredLabels", report->restored_labels},
                  {"uncordonedNode", report->uncordoned_node},
                  {"releasedPods", report->released_pods},
                  {"deletedPolicies", report->deleted_policies},
                  {"residue", report->residue}};
  if (o.output == "json") {
    io.out << to_json(j);
  } else if (o.output == "yaml") {
    if (o.dry_run) print_written_yaml(report->written, io);
    else io.out << to_yaml(j);
  } else {
    print_release(*report, opts, o.dry_run, io);
  }
  return k_exit_ok;
}

}  // namespace ir::cli
