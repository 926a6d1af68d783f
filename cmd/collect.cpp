#include "cmd/collect.hpp"

#include <memory>
#include <mutex>
#include <sstream>

#include <fmt/format.h>

#include "cmd/custody_flags.hpp"
#include "cmd/errors.hpp"
#include "cmd/flags.hpp"
#include "cmd/output.hpp"
#include "cmd/target.hpp"
#include "evidence/case.hpp"
#include "run/verbs.hpp"
#include "triage/collect.hpp"
#include "util/strings.hpp"

namespace ir::cli {

using nlohmann::json;

namespace {

// "case-..._shop_web-7d4b9_20261121T163229Z.tar.gz"
std::string default_bundle_name(const std::string& case_id, const std::string& ns, const std::string& pod,
                                util::TimePoint now) {
  return fmt::format("{}_{}_{}_{}.tar.gz", case_id, evidence::safe_component(ns), evidence::safe_component(pod),
                     util::format_compact_utc(now));
}

json plan_json(const triage::CollectOptions& c, const json& pod, const std::string& case_id, const std::string& bundle) {
  json containers = json::array();
  for (const auto& cs : pod.value("status", json::object()).value("containerStatuses", json::array())) {
    const std::string name = cs.value("name", "");
    if (!c.containers.empty() && std::find(c.containers.begin(), c.containers.end(), name) == c.containers.end()) continue;
    containers.push_back({{"name", name}, {"running", cs.value("state", json::object()).contains("running")},
                          {"imageID", cs.value("imageID", "")}});
  }
  return {{"dryRun", true},
          {"case", case_id},
          {"bundle", bundle},
          {"namespace", c.namespace_name},
          {"pod", c.pod},
          {"containers", containers},
          {"api", json::array({"pod", "owners", "node", "events", "networkpolicies", "logs (current and previous)"})},
          {"perContainer", json::array({"processes (ps, /proc walk)", "network (/proc/net/*, ss|netstat)",
                                        std::string("filesystem (") + triage::to_string(c.fs) + ")"})},
          {"paths", c.paths},
          {"maxFileBytes", c.max_file_bytes},
          {"ephemeral", c.ephemeral ? json("only for a shell-less container: image " + c.debug_image) : json(false)},
          {"note", "a dry run reads the pod only: no exec, no bundle, no change"}};
}

// The summary as data (-o json|yaml).
json summary_json(const std::string& case_id, const triage::CollectOptions& o, const triage::CollectReport& r,
                  const evidence::Sealed* sealed) {
  json steps = json::array();
  for (const auto& s : r.steps) {
    steps.push_back({{"step", s.step}, {"container", s.container}, {"status", util::to_string(s.status)},
                     {"method", evidence::to_string(s.method)}, {"artifacts", s.artifacts}, {"detail", s.detail}});
  }
  return {{"case", case_id},
          {"namespace", o.namespace_name},
          {"pod", o.pod},
          {"result", evidence::result_name(r.outcome())},
          {"bundle", sealed != nullptr ? json(sealed->path) : json(nullptr)},
          {"sha256", sealed != nullptr ? json(sealed->sha256) : json(nullptr)},
          {"artifacts", sealed != nullptr ? json(sealed->artifacts) : json(0)},
          {"notable", r.notable},
          {"not_collected", r.not_collected},
          {"ephemeral_containers", r.ephemeral_containers},
          {"steps", steps}};
}

void print_summary(const triage::CollectReport& r, Io& io) {
  Table t({"STEP", "CONTAINER", "STATUS", "METHOD", "ARTIFACTS", "DETAIL"});
  for (const auto& s : r.steps) {
    t.add_row({s.step, s.container.empty() ? "-" : s.container, util::to_string(s.status), evidence::to_string(s.method),
               std::to_string(s.artifacts), util::esc(s.detail, util::Cap::field)});
  }
  std::ostringstream out;
  t.print(out);
  io.err << out.str();
  for (const auto& n : r.notable) io.err << "notable: " << util::esc(n, util::Text::escaped, util::Cap::detail) << "\n";
  for (const auto& n : r.not_collected) io.err << "not collected: " << util::esc(n, util::Cap::detail) << "\n";
}

struct Flags {
  CollectCliOptions cli;
  CustodyFlags custody;  // --report, --sign-key, --upload ... (cmd/custody_flags.hpp)
  std::unique_ptr<BoundFlags<triage::CollectOptions>> verb;
};

int run_collect(const Flags& flags, const GlobalOptions& global, Io& io) {
  const CollectCliOptions& o = flags.cli;
  // complete and validate, before any network traffic
  triage::CollectOptions options;
  if (auto r = flags.verb->apply(options); !r) return exit_with(io, r.error(), k_exit_usage);
  auto output = parse_summary_output(o.output, o.bundle);
  if (!output) return exit_with(io, output.error(), k_exit_usage);
  // What to do once the bundle is sealed: checked now (key, destination, credentials), so a typo
  // never costs a collection.
  auto after_seal = prepare_after_seal(flags.custody, global.kube.verbosity, io);
  if (!after_seal) return exit_with(io, after_seal.error());
  int code = k_exit_ok;
  auto target = open_target(o.pod, global, io, code);
  if (!target) return code;
  auto& s = *target->session;
  options.namespace_name = target->namespace_name;
  options.pod = target->pod;
  const auto started = s.clock.now();
  const json common = {{"namespace", options.namespace_name}, {"pod", options.pod}};

  // Before anything is collected, Ctrl-C leaves a journal entry and says so.
  const auto interrupted_early = [&](const std::string& case_id) {
    if (auto c = open_case(io, s, case_id, common)) (void)(*c)->log("collect.interrupted", {{"note", "nothing collected yet"}});
    io.err << "kubectl-ir: interrupted: nothing collected yet (no bundle)\n";
    return static_cast<int>(k_exit_interrupted);
  };
  auto pod = triage::read_target_pod(*s.client, options.namespace_name, options.pod);
  if (!pod && pod.error().code == Errc::cancelled) return interrupted_early(o.case_id);
  if (!pod) return exit_with(io, hint_other_namespaces(*s.client, pod.error(), options.pod, options.namespace_name));
  auto chosen = choose_case(o.case_id, &*pod, started);
  if (!chosen) return exit_with(io, chosen.error().context("--case"), k_exit_usage);
  const std::string case_id = *chosen;
  const std::string bundle_path =
      output->bundle.empty() ? default_bundle_name(case_id, options.namespace_name, options.pod, started) : output->bundle;
  if (o.dry_run) {
    const json plan = plan_json(options, *pod, case_id, bundle_path);
    io.out << (output->format == OutputFormat::json ? to_json(plan) : to_yaml(plan));
    return k_exit_ok;
  }

  const evidence::Acquirer acquirer = acquirer_for(s, global.command_line, o.examiner, started);
  auto opened = open_case(io, s, case_id, common);
  if (!opened) return exit_with(io, opened.error());
  evidence::Case& c = **opened;
  if (auto b = c.open_bundle(bundle_path); !b) return exit_with(io, b.error().context("bundle"), k_exit_failure);
  const auto warn = [&io](const Error& e) { print_warning(io, "journal: " + e.message); };
  if (auto r = c.log("collect.start", {{"examiner", acquirer.examiner}, {"fs", triage::to_string(options.fs)},
                                       {"paths", options.paths}, {"bundle", bundle_path},
                                       {"uid", pod->value("metadata", json::object()).value("uid", "")}});
      !r) {
    warn(r.error());
  }
  io.err << fmt::format("collect: {}/{} into {} (case {})\n", util::esc(options.namespace_name), util::esc(options.pod),
                        util::esc(bundle_path, util::Cap::path), case_id);
  std::mutex progress_mutex;  // --drift: sibling snapshots report from their own threads
  triage::CollectEnv env{*s.client, *s.connector, *c.bundle(), s.clock, c.logger(warn),
                         [&io, &progress_mutex](const std::string& line) {
                           std::lock_guard lock(progress_mutex);
                           io.err << "collect: " << line << "\n" << std::flush;
                         },
                         io.cancel, "", worker_connections(global.kube, io)};
  auto report = triage::collect(env, options, *pod);
  if (!report) {
    // Refused before anything ran (a container the pod does not have): seal what there is.
    const Error refused = report.error();
    print_error(io, refused);
    code = refused.code == Errc::usage ? k_exit_usage : k_exit_failure;
    report = triage::CollectReport{};
    report->pod = *pod;
    report->not_collected.push_back(refused.message);
  }

  evidence::SealInput input;
  input.result = report->outcome();
  input.subjects = {triage::subject_of(*report, options.namespace_name, options.pod)};
  for (const auto& other : report->other_subjects) input.subjects.push_back(other);
  input.not_collected = report->not_collected;
  input.details = triage::collect_details(options, *report);
  input.extra = triage::collect_record(options, *report);
  auto sealed = c.seal("collect", acquirer, input);
  if (output->format == OutputFormat::table) print_summary(*report, io);
  if (!sealed) return exit_with(io, sealed.error(), k_exit_failure);
  for (const auto& p : sealed->problems) print_warning(io, p);
  const auto& b = sealed->sealed;
  const util::Outcome result = report->outcome();
  if (output->format == OutputFormat::table) {
    io.err << fmt::format("bundle: {} ({} artifacts{})\nsha256: {}\n", util::esc(b.path, util::Cap::path), b.artifacts,
                          result == util::Outcome::ok            ? ""
                          : result == util::Outcome::interrupted ? ", INTERRUPTED"
                                                                 : ", PARTIAL",
                          b.sha256);
    io.out << b.sha256 << "  " << b.path << "\n";
  }
  // Signed, uploaded, the page written: after sealing, journaled in the case journal.
  std::optional<AfterSeal::Done> after;
  if (*after_seal) {
    after = (*after_seal)->run(c, *sealed, result, io, output->format == OutputFormat::table ? &io.err : nullptr);
  }
  if (output->format != OutputFormat::table) {
    json doc = summary_json(case_id, options, *report, &b);
    if (after) doc.update(after->doc);
    io.out << (output->format == OutputFormat::json ? to_json(doc) : to_yaml(doc));
  }
  if (code != k_exit_ok) return code;
  if (result == util::Outcome::interrupted) return k_exit_interrupted;
  code = result == util::Outcome::ok && sealed->problems.empty() ? k_exit_ok : k_exit_partial;
  return after ? combine_exit(code, after->outcome) : code;
}

}  // namespace

Command setup_collect(CLI::App& root, const GlobalOptions& global) {
  auto f = std::make_shared<Flags>();
  CLI::App* app = add_command(
      root, "collect", "Snapshot a pod's volatile state into an evidence bundle",
      {
          "kubectl ir collect web-7d4b9c8f6-x2k9p -n shop",
          "kubectl ir collect web-7d4b9c8f6-x2k9p -n shop --case case-42 --fs archive --path /tmp --path /var/www",
          "kubectl ir collect payments-api-6c8f5d7b4-q7r2n -n shop --ephemeral --debug-image busybox:1.36",
          "kubectl ir collect web-7d4b9c8f6-x2k9p -n shop -O case.tar.gz -o json",
      },
      "Order: API state (pod, owners, node, events, network policies, logs), then per container\n"
      "processes, network, filesystem. Nothing is written into the container; nothing the RBAC\n"
      "preflight finds refused is attempted. The bundle is written to <path>.partial and renamed when\n"
      "sealed; stdout has \"<sha256>  <path>\" (or, with -o json|yaml, the summary as data).\n"
      "Exit 0: complete; 3: partial (evidence missing, see the summary); 130: interrupted (what was\n"
      "collected is sealed); 1: no bundle.");
  app->add_option("POD", f->cli.pod, "The pod (NAME, pod/NAME or NAMESPACE/pod/NAME)")->required();
  app->add_option("--case", f->cli.case_id, "Case id (default: the pod's case if isolated, else a new one)");
  app->add_option("--examiner", f->cli.examiner, "Who collects (default: the API identity)");
  app->add_option("-O,--bundle", f->cli.bundle, "Bundle path (default: <case>_<ns>_<pod>_<time>.tar.gz)");
  app->add_option("-o,--output", f->cli.output, "Summary on stdout: table (default), json or yaml");
  f->verb = std::make_unique<BoundFlags<triage::CollectOptions>>(*app, run::collect_options());
  app->add_flag("--dry-run", f->cli.dry_run, "Print the plan; no exec, no bundle, no change");
  add_custody_flags(*app, f->custody);
  return {app, [f, &global](Io& io) { return run_collect(*f, global, io); }};
}

}  // namespace ir::cli
