#include "cmd/drift.hpp"

#include <algorithm>
#include <memory>
#include <sstream>

#include <fmt/format.h>

#include "cmd/errors.hpp"
#include "cmd/flags.hpp"
#include "cmd/output.hpp"
#include "cmd/target.hpp"
#include "evidence/case.hpp"
#include "run/verbs.hpp"
#include "triage/drift.hpp"
#include "util/files.hpp"
#include "util/strings.hpp"

namespace ir::cli {

using nlohmann::json;

namespace {

constexpr std::size_t k_max_baseline_bytes = 512ULL << 20;

// Kinds in the order a responder reads them: what runs, what it talks to, what it left.
int kind_rank(forensics::FindingKind k) {
  using K = forensics::FindingKind;
  switch (k) {
    case K::process: return 0;
    case K::root_process: return 1;
    case K::environment: return 2;
    case K::connection: return 3;
    case K::listening_port: return 4;
    case K::file: return 5;
    case K::config: return 6;
  }
  return 7;
}

// The findings grouped by kind (most severe first within a kind), as a table.
void print_findings(std::ostream& out, const std::vector<forensics::Finding>& findings, bool drift) {
  std::vector<const forensics::Finding*> sorted;
  for (const auto& f : findings) sorted.push_back(&f);
  std::stable_sort(sorted.begin(), sorted.end(), [](const auto* a, const auto* b) {
    return std::make_pair(kind_rank(a->kind), static_cast<int>(a->severity)) <
           std::make_pair(kind_rank(b->kind), static_cast<int>(b->severity));
  });
  Table t(drift ? std::vector<std::string>{"KIND", "SEVERITY", "CONTAINER", "SEEN IN", "FINDING"}
                : std::vector<std::string>{"KIND", "SEVERITY", "CONTAINER", "RULE", "FINDING"});
  int last = -1;
  for (const auto* f : sorted) {
    if (last != -1 && kind_rank(f->kind) != last) t.add_break();
    last = kind_rank(f->kind);
    const std::string seen = f->seen_in ? fmt::format("{} of {}", f->seen_in->count, f->seen_in->of) : "-";
    // The analysis's summaries are built of the parsers' escaped strings: shown as they are.
    t.add_row({forensics::to_string(f->kind), forensics::to_string(f->severity), f->container, drift ? seen : f->rule, f->summary},
              util::Text::escaped);
  }
  t.print(out);
}

std::string counts(const std::vector<forensics::Finding>& findings) {
  std::map<int, std::pair<std::string, std::size_t>> by;
  for (const auto& f : findings) {
    auto& e = by[kind_rank(f.kind)];
    e.first = forensics::to_string(f.kind);
    ++e.second;
  }
  std::vector<std::string> parts;
  for (const auto& [rank, e] : by) parts.push_back(fmt::format("{} {}", e.second, e.first));
  return fmt::format("{} finding{}{}", findings.size(), findings.size() == 1 ? "" : "s",
                     parts.empty() ? "" : " (" + util::join(parts, ", ") + ")");
}

json skipped_json(const std::vector<triage::SkippedCandidate>& skipped) {
  json out = json::array();
  for (const auto& s : skipped) out.push_back({{"namespace", s.namespace_name}, {"name", s.name}, {"node", s.node}, {"reason", s.reason}});
  return out;
}

struct Flags {
  DriftCliOptions cli;
  std::unique_ptr<BoundFlags<triage::DriftOptions>> verb;
};

int run_drift(const Flags& flags, const GlobalOptions& global, Io& io) {
  const DriftCliOptions& o = flags.cli;
  // complete and validate, before any network traffic
  triage::DriftOptions options;
  if (auto r = flags.verb->apply(options); !r) return exit_with(io, r.error(), k_exit_usage);
  auto output = parse_summary_output(o.output, o.bundle);
  if (!output) return exit_with(io, output.error(), k_exit_usage);
  if (!options.baseline_file.empty()) {
    auto text = util::read_file(options.baseline_file, k_max_baseline_bytes);
    if (!text) return exit_with(io, text.error().context("--baseline"), k_exit_usage);
    options.baseline_text = std::move(*text);
  }
  int code = k_exit_ok;
  auto target = open_target(o.pod, global, io, code);
  if (!target) return code;
  auto& s = *target->session;
  options.namespace_name = target->namespace_name;
  options.pod = target->pod;
  const auto started = s.clock.now();
  auto pod = triage::read_target_pod(*s.client, options.namespace_name, options.pod);
  if (!pod) {
    if (pod.error().code == Errc::cancelled) return k_exit_interrupted;
    print_error(io, hint_other_namespaces(*s.client, pod.error(), options.pod, options.namespace_name));
    return exit_code_for(pod.error());
  }

  // A bundle only when asked: drift is read-only by default (nothing written anywhere).
  std::unique_ptr<evidence::Case> c;
  evidence::Acquirer acquirer;
  const auto warn = [&io](const Error& e) { print_warning(io, "journal: " + e.message); };
  if (!output->bundle.empty()) {
    auto chosen = choose_case(o.case_id, &*pod, started);
    if (!chosen) return exit_with(io, chosen.error().context("--case"), k_exit_usage);
    acquirer = acquirer_for(s, global.command_line, o.examiner, started);
    auto opened = open_case(io, s, *chosen, {{"namespace", options.namespace_name}, {"pod", options.pod}});
    if (!opened) return exit_with(io, opened.error());
    c = std::move(*opened);
    if (auto b = c->open_bundle(output->bundle); !b) return exit_with(io, b.error().context("bundle"), k_exit_failure);
    if (auto r = c->log("drift.start", {{"examiner", acquirer.examiner}, {"siblings", options.siblings}, {"quorum", options.quorum},
                                        {"baseline", options.baseline_file}, {"bundle", output->bundle}});
        !r) {
      warn(r.error());
    }
  }
  io.err << fmt::format("drift: {}/{}: {}{}\n", util::esc(options.namespace_name), util::esc(options.pod),
                        options.baseline_file.empty() ? fmt::format("up to {} sibling{}", options.siblings, options.siblings == 1 ? "" : "s")
                                                      : "baseline file " + util::esc(options.baseline_file, util::Cap::path),
                        c ? " into " + util::esc(output->bundle, util::Cap::path) + " (case " + c->id() + ")"
                          : " (read-only: no bundle; -O PATH keeps the snapshots)");
  std::mutex progress_mutex;
  triage::DriftEnv env{*s.client,
                       *s.connector,
                       s.clock,
                       c ? c->bundle() : nullptr,
                       "",
                       c ? c->bundle() : nullptr,
                       c ? c->bundle() : nullptr,
                       c ? c->logger(warn) : triage::ActionLog{},
                       [&io, &progress_mutex](const std::string& line) {
                         std::lock_guard lock(progress_mutex);
                         io.err << "drift: " << line << "\n" << std::flush;
                       },
                       io.cancel,
                       worker_connections(global.kube, io)};
  auto report = triage::drift(env, options, *pod);
  if (!report) {
    print_error(io, report.error());
    if (c) {
      evidence::SealInput input;
      input.result = util::Outcome::failed;
      input.not_collected = {report.error().message};
      (void)c->seal("drift", acquirer, input);
    }
    return report.error().code == Errc::usage ? k_exit_usage : exit_code_for(report.error());
  }
  const util::Outcome outcome = report->outcome();
  const auto& ind = report->indicators ? report->indicators->findings : std::vector<forensics::Finding>{};
  const bool findings = !report->drift.findings.empty() || !ind.empty();

  // Seal the bundle first, so the summary can name it.
  std::optional<evidence::Sealed> sealed;
  std::vector<std::string> seal_problems;
  if (c) {
    evidence::SealInput input;
    input.result = outcome;
    input.subjects = report->subjects;
    input.not_collected = report->suspect_collect.not_collected;
    for (const auto& m : report->drift.baseline ? report->drift.baseline->members : std::vector<forensics::Member>{}) {
      if (m.status == forensics::MemberStatus::failed) input.not_collected.push_back(m.namespace_name + "/" + m.name + ": " + m.reason);
    }
    input.details = fmt::format("{:<18}{}\n{:<18}{}\n{:<18}{}\n", "compared:", report->baseline_line(), "drift:",
                                counts(report->drift.findings), "indicators:", counts(ind));
    input.extra = {{"drift", {{"baseline", report->baseline_line()}, {"findings", report->drift.findings.size()},
                              {"indicators", ind.size()}, {"skipped", skipped_json(report->skipped)}}}};
    auto r = c->seal("drift", acquirer, input);
    if (!r) return exit_with(io, r.error(), k_exit_failure);
    sealed = r->sealed;
    seal_problems = r->problems;
  }

  if (output->format != OutputFormat::table) {
    json doc = {{"namespace", options.namespace_name},
                {"pod", options.pod},
                {"result", evidence::result_name(outcome)},
                {"findings_present", findings},
                {"baseline", report->baseline_line()},
                {"drift", forensics::to_json(report->drift)},
                {"indicators", report->indicators ? forensics::to_json(*report->indicators) : json(nullptr)},
                {"skipped", skipped_json(report->skipped)},
                {"notes", report->notes},
                {"bundle", sealed ? json(sealed->path) : json(nullptr)},
                {"sha256", sealed ? json(sealed->sha256) : json(nullptr)}};
    io.out << (output->format == OutputFormat::json ? to_json(doc) : to_yaml(doc));
  } else {
    std::ostringstream out;
    out << "pod:         " << util::esc(options.namespace_name + "/" + options.pod, util::Cap::name)
        << (report->suspect && !report->suspect->node.empty() ? " (node " + util::esc(report->suspect->node, util::Cap::name) + ")" : "")
        << "\n";
    out << "compared:    " << report->baseline_line() << "\n";
    for (const auto& g : report->drift.gaps) {
      if (g.rfind("IMAGE DIFFERS", 0) == 0) out << "WARNING:     " << util::esc(g, util::Cap::detail) << "\n";
    }
    out << "drift:       " << counts(report->drift.findings) << "\n";
    if (!report->drift.findings.empty()) print_findings(out, report->drift.findings, true);
    out << "indicators:  " << counts(ind) << "\n";
    if (!ind.empty()) print_findings(out, ind, false);
    io.out << out.str();
  }
  // Diagnostics: what was not compared, who was left out and why.
  for (const auto& g : report->drift.gaps) {
    if (g.rfind("IMAGE DIFFERS", 0) == 0) print_warning(io, util::esc(g, util::Cap::detail));
  }
  for (const auto& m : report->drift.baseline ? report->drift.baseline->members : std::vector<forensics::Member>{}) {
    if (m.status != forensics::MemberStatus::failed) continue;
    io.err << "failed:  " << util::esc(m.namespace_name + "/" + m.name, util::Cap::name) << ": " << util::esc(m.reason, util::Cap::detail)
           << " (not counted)\n";
  }
  for (const auto& sk : report->skipped) {
    io.err << "skipped: " << util::esc(sk.namespace_name + "/" + sk.name, util::Cap::name) << ": " << util::esc(sk.reason, util::Cap::detail) << "\n";
  }
  for (const auto& n : report->notes) io.err << "note:    " << util::esc(n, util::Cap::detail) << "\n";
  for (const auto& g : report->drift.gaps) {
    if (g.rfind("IMAGE DIFFERS", 0) != 0) io.err << "gap:     " << util::esc(g, util::Cap::detail) << "\n";
  }
  for (const auto& p : seal_problems) print_warning(io, p);
  if (sealed) io.err << fmt::format("bundle: {} ({} artifacts)\nsha256: {}\n", util::esc(sealed->path, util::Cap::path), sealed->artifacts, sealed->sha256);

  if (outcome == util::Outcome::interrupted) return k_exit_interrupted;
  if (outcome == util::Outcome::failed) {
    std::string why = report->suspect_collect.not_collected.empty() ? "" : ": " + report->suspect_collect.not_collected.front();
    print_error(io, Error(Errc::failure, fmt::format("drift: nothing could be read from {}/{}{}", options.namespace_name, options.pod,
                                                     util::esc(why, util::Cap::detail)))
                        .with_hint(options.ephemeral ? "" : "a shell-less image needs --ephemeral"));
    return k_exit_failure;
  }
  if (findings) return k_exit_findings;
  return outcome == util::Outcome::ok && seal_problems.empty() ? k_exit_ok : k_exit_partial;
}

}  // namespace

Command setup_drift(CLI::App& root, const GlobalOptions& global) {
  auto f = std::make_shared<Flags>();
  CLI::App* app =
      add_command(root, "drift", "Compare a pod with its healthy siblings (or a baseline file): what only it has",
                  {
                      "kubectl ir drift web-7d4b9c8f6-x2k9p -n shop",
                      "kubectl ir drift web-7d4b9c8f6-x2k9p -n shop --siblings 10 --quorum 2 --ignore '/var/cache/*'",
                      "kubectl ir drift web-7d4b9c8f6-x2k9p -n shop --baseline web-baseline.json -o json",
                      "kubectl ir drift web-7d4b9c8f6-x2k9p -n shop -O drift.tar.gz",
                  },
                  "Siblings: replicas of the pod's own workload first (same owner, same command, args and env), then\n"
                  "other workloads with the same image digest (a weaker baseline: each finding says which it was\n"
                  "judged against); spread over nodes; pods not Ready or on NotReady nodes are skipped; a sibling\n"
                  "that fails is reported, never counted, and the next candidate is taken. Snapshots are read-only\n"
                  "(the /proc walk, /proc/net, a file listing and hashes), in parallel. Nothing is written unless -O\n"
                  "names a bundle. The single-pod indicators are reported too.\n"
                  "Exit 0: no finding, complete; 4: findings present; 3: no finding but the comparison is incomplete;\n"
                  "1: failure (nothing could be read from the pod); 130: interrupted.");
  app->add_option("POD", f->cli.pod, "The pod (NAME, pod/NAME or NAMESPACE/pod/NAME)")->required();
  app->add_option("--case", f->cli.case_id, "Case id, with -O (default: the pod's case if isolated, else a new one)");
  app->add_option("--examiner", f->cli.examiner, "Who runs it, with -O (default: the API identity)");
  app->add_option("-O,--bundle", f->cli.bundle, "Keep the snapshots and analysis/drift.json in this evidence bundle");
  app->add_option("-o,--output", f->cli.output, "Output: table (default), json or yaml");
  f->verb = std::make_unique<BoundFlags<triage::DriftOptions>>(*app, run::drift_options());
  return {app, [f, &global](Io& io) { return run_drift(*f, global, io); }};
}

}  // namespace ir::cli
