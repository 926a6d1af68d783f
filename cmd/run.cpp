#include "cmd/run.hpp"

#include <sys/stat.h>

#include <map>
#include <memory>
#include <mutex>
#include <sstream>

#include <fmt/format.h>

#include "build_info.hpp"
#include "cmd/output.hpp"
#include "cmd/report.hpp"
#include "cmd/target.hpp"
#include "evidence/bundle.hpp"
#include "kube/api.hpp"
#include "playbook/embedded.hpp"
#include "playbook/playbook.hpp"
#include "run/runner.hpp"
#include "run/verbs.hpp"
#include "triage/isolate.hpp"
#include "util/files.hpp"
#include "util/strings.hpp"

namespace ir::cli {

using nlohmann::json;

namespace {

constexpr std::size_t k_max_playbook_bytes = 1024 * 1024;
constexpr std::size_t k_max_journal_bytes = 64ULL << 20;

std::string esc(const std::string& s, std::size_t max = 256) { return util::escape_for_terminal(s, max); }

bool is_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

struct Loaded {
  std::string text;
  std::string file;  // as shown in diagnostics
};

// A path that exists is a file; otherwise a shipped playbook's name.
Result<Loaded> load_playbook(const std::string& what) {
  if (is_file(what)) {
    IR_TRY(text, util::read_file(what, k_max_playbook_bytes));
    return Loaded{std::move(text), what};
  }
  if (const auto* e = playbook::find_embedded(what)) return Loaded{std::string(e->text), e->file};
  std::vector<std::string> names;
  for (const auto& e : playbook::embedded_playbooks()) names.push_back(e.name);
  Error err(Errc::usage, fmt::format("playbook \"{}\": no such file and no shipped playbook of that name (shipped: {})",
                                     esc(what, 128), util::join(names, ", ")));
  if (const auto guess = util::closest_match(what, names, 3); !guess.empty()) err = err.with_hint("did you mean \"" + guess + "\"?");
  return unexpected(err);
}

Result<std::map<std::string, std::string>> parse_params(const std::vector<std::string>& given) {
  std::map<std::string, std::string> out;
  for (const auto& p : given) {
    const auto eq = p.find('=');
    if (eq == std::string::npos || eq == 0) return fail(Errc::usage, "invalid --param \"" + esc(p, 128) + "\": want NAME=VALUE");
    out[p.substr(0, eq)] = p.substr(eq + 1);
  }
  return out;
}

// One line per step for the terminal: what it found or did.
std::string step_summary(const run::StepOutcome& s) {
  const json& o = s.outputs;
  if (s.status != "ok" && s.status != "resumed") return s.detail;
  if (s.uses == "isolate") {
    return fmt::format("egress {}, ingress {} (policy {})", o.value("egress", "?"), o.value("ingress", "?"), o.value("policy", "?"));
  }
  if (s.uses == "collect") {
    if (o.value("planned", false)) return "planned (dry run)";
    return fmt::format("{} artifacts{}", o.value("artifacts", 0), o.value("partial", false) ? ", PARTIAL" : "");
  }
  if (s.uses == "siblings") {
    std::vector<std::string> names;
    for (const auto& p : o.value("pods", json::array())) {
      if (names.size() == 5) {
        names.emplace_back("...");
        break;
      }
      names.push_back(p.value("namespace", "") + "/" + p.value("name", ""));
    }
    return fmt::format("{} sibling pod{}{}{}", o.value("count", 0), o.value("count", 0) == 1 ? "" : "s",
                       names.empty() ? "" : ": " + util::join(names, ", "), o.value("partial", false) ? " (PARTIAL)" : "");
  }
  if (s.uses == "for_each") return fmt::format("{} items, {} failed", o.value("count", 0), o.value("failed", 0));
  if (s.uses == "exec") return fmt::format("exit {}", o.value("exit_code", -1));
  return s.detail;
}

json report_json(const run::RunReport& r, const std::map<std::string, json>& rendered) {
  json steps = json::array();
  for (const auto& s : r.steps) {
    json j = {{"id", s.id}, {"uses", s.uses}, {"status", s.status}, {"detail", s.detail}, {"outputs", s.outputs},
              {"seconds", s.seconds}};
    if (auto it = rendered.find(s.id); it != rendered.end()) j["with"] = it->second;
    steps.push_back(std::move(j));
  }
  return {{"steps", steps}, {"aborted", r.aborted}, {"cancelled", r.cancelled}, {"failed", r.failed}};
}

int run_run(const RunCliOptions& options, const GlobalOptions& global, Io& io) {
  RunCliOptions o = options;
  if (!o.pod_positional.empty()) {
    if (!o.pod.empty() && o.pod != o.pod_positional) {
      print_error(io, Error(Errc::usage, "two pods given: \"" + esc(o.pod_positional, 128) + "\" and --pod \"" + esc(o.pod, 128) + "\""));
      return k_exit_usage;
    }
    o.pod = o.pod_positional;
  }
  // complete and validate: the playbook and its parameters, before any network traffic
  auto loaded = load_playbook(o.playbook);
  if (!loaded) {
    print_error(io, loaded.error());
    return k_exit_usage;
  }
  std::vector<playbook::Diagnostic> diagnostics;
  auto pb = playbook::parse_playbook(loaded->text, loaded->file, &diagnostics);
  if (!pb) {
    for (const auto& d : diagnostics) io.err << esc(d.to_string(), 1024) << "\n";
    print_error(io, Error(Errc::usage, fmt::format("playbook {}: {} problem{}", esc(loaded->file), diagnostics.size(),
                                                   diagnostics.size() == 1 ? "" : "s")));
    return k_exit_usage;
  }
  auto given = parse_params(o.params);
  if (!given) {
    print_error(io, given.error());
    return k_exit_usage;
  }
  auto params = playbook::resolve_params(*pb, *given);
  if (!params) {
    print_error(io, params.error().context("playbook " + pb->name));
    return k_exit_usage;
  }
  if (o.parallel < 1) {
    print_error(io, Error(Errc::usage, "--parallel must be at least 1"));
    return k_exit_usage;
  }
  if (!o.resume.empty() && !o.case_id.empty() && o.resume != o.case_id) {
    print_error(io, Error(Errc::usage, "--resume and --case name different cases"));
    return k_exit_usage;
  }

  int code = k_exit_ok;
  std::unique_ptr<Session> session_holder;
  std::string ns;
  std::string pod;
  if (!o.pod.empty()) {
    auto target = open_target(o.pod, global, io, code);
    if (!target) return code;
    session_holder = std::move(target->session);
    ns = target->namespace_name;
    pod = target->pod;
  } else {
    auto s = open_session(global.kube, io);
    if (!s) {
      print_error(io, s.error());
      return exit_code_for(s.error());
    }
    session_holder = std::move(*s);
    ns = session_holder->config.namespace_name;
  }
  auto& s = *session_holder;
  const auto started = s.clock.now();

  // The case: --resume, --case, the pod's (if isolated before), or a new one.
  std::optional<json> pod_object;
  if (o.resume.empty() && o.case_id.empty() && !pod.empty()) {
    if (auto p = kube::get_pod(*s.client, ns, pod)) pod_object = std::move(*p);
  }
  auto chosen = choose_case(!o.resume.empty() ? o.resume : o.case_id, pod_object ? &*pod_object : nullptr, started);
  if (!chosen) {
    print_error(io, chosen.error());
    return k_exit_usage;
  }
  const std::string case_id = *chosen;
  auto journal = open_journal(io, s, case_id);
  if (!journal) {
    print_error(io, journal.error());
    return exit_code_for(journal.error());
  }
  run::RunOptions ro;
  ro.case_id = case_id;
  ro.namespace_name = ns;
  ro.pod = pod;
  ro.params = *params;
  ro.dry_run = o.dry_run;
  ro.max_parallel = o.parallel;
  if (!o.resume.empty()) {
    auto text = util::read_file(journal->path(), k_max_journal_bytes);
    if (!text) {
      print_error(io, text.error().context("resume " + case_id));
      return k_exit_failure;
    }
    ro.resumed = run::completed_steps(*text, pb->name);
    io.err << fmt::format("run: resuming case {}: {} step{} completed earlier\n", case_id, ro.resumed.size(),
                          ro.resumed.size() == 1 ? "" : "s");
  }

  const std::string caller = caller_identity(s);
  const std::string actor = actor_name(s, o.examiner);

  // One bundle for the run (none in a dry run).
  const std::string bundle_path =
      !o.output.empty() ? o.output
                        : fmt::format("{}_run-{}_{}.tar.gz", case_id, evidence::safe_component(pb->name),
                                      util::format_compact_utc(started));
  std::unique_ptr<evidence::BundleWriter> bundle;
  std::unique_ptr<run::SharedBundle> shared;
  if (!o.dry_run) {
    auto b = evidence::create_bundle(bundle_path, s.clock);
    if (!b) {
      print_error(io, b.error().context("bundle"));
      return k_exit_failure;
    }
    bundle = std::move(*b);
    shared = std::make_unique<run::SharedBundle>(*bundle);
  }

  std::mutex out_mutex;
  std::map<std::string, json> rendered;
  const json common = {{"namespace", ns}, {"pod", pod}};
  run::JournalFn journal_fn = [&](const std::string& action, const json& fields) {
    std::lock_guard lock(out_mutex);  // verbs journal from for_each workers too
    json f = common;
    f.update(fields);
    if (action == "playbook.step.start") rendered[f.value("step", "")] = f.value("with", json::object());
    if (o.dry_run && action.rfind("playbook.", 0) != 0) f["dry_run"] = true;
    if (auto r = journal->append(action, f); !r) print_warning(io, "journal: " + r.error().message);
  };
  std::mutex progress_mutex;
  auto progress = [&io, &progress_mutex](const std::string& line) {
    std::lock_guard lock(progress_mutex);
    io.err << "run: " << line << "\n" << std::flush;  // escaped where it is made (lib/run, lib/triage)
  };
  run::VerbEnv env{*s.client, *s.connector, s.clock, shared.get(), actor, journal_fn, progress};
  auto verbs = run::make_verbs(env);
  // Parallel for_each workers get their own connections.
  std::vector<std::unique_ptr<Session>> worker_sessions;
  run::VerbsFactory factory = [&]() -> Result<std::unique_ptr<run::Verbs>> {
    IR_TRY(ws, open_session(global.kube, io));
    worker_sessions.push_back(std::move(ws));
    auto& w = *worker_sessions.back();
    return run::make_verbs({*w.client, *w.connector, w.clock, shared.get(), actor, journal_fn, progress});
  };

  io.err << fmt::format("run: playbook {} ({}) on {}/{}, case {}{}\n", pb->name, esc(loaded->file), esc(ns), esc(pod.empty() ? "-" : pod),
                        case_id, o.dry_run ? " (dry run: writes are server-side dry runs, no exec, no bundle)" : "");
  const auto report = run::run_playbook(*pb, *verbs, factory, ro, journal_fn, progress, io.cancel);

  // Summary: stderr table; stdout the plan (dry run) or the outcome per step.
  Table t({"STEP", "USES", "STATUS", "SECONDS", "RESULT"});
  for (const auto& st : report.steps) {
    t.add_row({st.id, st.uses, st.status, fmt::format("{:.1f}", st.seconds), util::escape_for_terminal(step_summary(st), 160)});
  }
  std::ostringstream table;
  t.print(table);
  const char* result = report.cancelled ? "interrupted" : report.aborted ? "aborted" : report.failed > 0 ? "partial" : "ok";
  io.out << fmt::format("playbook {}: {} (case {})\n", pb->name, result, case_id) << table.str();
  if (o.dry_run) {
    io.out << "---\n" << to_yaml(report_json(report, rendered));
    return report.aborted ? k_exit_failure : report.failed > 0 ? k_exit_partial : k_exit_ok;
  }

  // Seal the bundle: the run's report, the acquisition facts, the journal.
  const evidence::ArtifactMeta local{"kubectl-ir", "local", std::nullopt, false, ""};
  json run_doc = report_json(report, rendered);
  run_doc["playbook"] = {{"name", pb->name}, {"file", loaded->file}, {"params", *params}};
  run_doc["acquisition"] = {{"case", case_id},
                            {"examiner", actor},
                            {"caller", caller},
                            {"started", util::format_rfc3339(started)},
                            {"ended", util::format_rfc3339(s.clock.now())},
                            {"tool", std::string(build::k_version) + " (" + std::string(build::k_git_commit) + ")"},
                            {"context", s.config.context_name},
                            {"server", s.config.server},
                            {"command", util::join(global.command_line, " ")}};
  (void)bundle->add("playbook/run.json", to_json(run_doc), local);
  (void)bundle->add("playbook/" + evidence::safe_component(pb->name) + ".yaml", loaded->text, local);
  journal_fn("playbook.seal", {{"bundle", bundle_path}});
  if (auto a = add_case_journal(*bundle, *journal); !a) print_warning(io, "journal.jsonl: " + a.error().message);
  auto sha = bundle->finish();
  if (!sha) {
    print_error(io, sha.error().context("bundle").with_hint("what was collected is in " + bundle_path + ".partial"));
    return k_exit_failure;
  }
  journal_fn("playbook.sealed", {{"bundle", bundle_path}, {"sha256", *sha}});
  io.out << fmt::format("bundle: {}\nsha256: {}\n", esc(bundle_path, 1024), *sha);
  if (report.aborted) return k_exit_failure;
  return report.failed > 0 || report.cancelled ? k_exit_partial : k_exit_ok;
}

}  // namespace

Command setup_run(CLI::App& root, const GlobalOptions& global) {
  auto o = std::make_shared<RunCliOptions>();
  CLI::App* app = root.add_subcommand("run", "Run a playbook: isolate, collect, siblings and more, journaled");
  app->footer(
      "Examples:\n"
      "  kubectl ir run triage web-7d4b9c8f6-x2k9p -n shop\n"
      "  kubectl ir run ./runbooks/miner.yaml --pod shop/pod/web-7d4b9 --param collector=10.0.0.5/32 --dry-run\n"
      "  kubectl ir run triage --pod web-7d4b9c8f6-x2k9p -n shop --resume case-20261121-163229-7f3a\n"
      "\nPLAYBOOK is a file or a shipped playbook (kubectl ir playbooks list). The playbook is validated\n"
      "before anything runs. Each step's start, end and outputs go to the case journal; --resume skips\n"
      "the steps an earlier run of the case completed. One bundle per run holds what the steps collected.\n"
      "Exit 0: all steps ok; 3: a step failed with on_error: continue; 1: a step aborted the run.");
  app->add_option("playbook", o->playbook, "Playbook file or shipped playbook name")->required();
  app->add_option("pod", o->pod_positional, "The suspect pod (same as --pod)");
  app->add_option("--pod", o->pod, "The suspect pod ({{ pod }}; NAME, pod/NAME or NAMESPACE/pod/NAME)");
  app->add_option("-p,--param", o->params, "Playbook parameter NAME=VALUE (repeatable)");
  app->add_option("--case", o->case_id, "Case id (default: the pod's case if isolated, else a new one)");
  app->add_option("--resume", o->resume, "Resume this case: skip the steps an earlier run completed");
  app->add_option("-o,--output", o->output, "Bundle path (default: <case>_run-<playbook>_<time>.tar.gz)");
  app->add_option("--examiner", o->examiner, "Who runs it (default: the API identity)");
  app->add_option("--parallel", o->parallel, "At most this many for_each items at once (default 4)");
  app->add_flag("--dry-run", o->dry_run, "Print the resolved plan; writes are server-side dry runs; no exec, no bundle");
  return {app, [o, &global](Io& io) { return run_run(*o, global, io); }};
}

Command setup_playbooks(CLI::App& root, const GlobalOptions& /*global*/) {
  auto name = std::make_shared<std::string>();
  CLI::App* app = root.add_subcommand("playbooks", "List or show the playbooks shipped in kubectl-ir");
  app->footer(
      "Examples:\n"
      "  kubectl ir playbooks list\n"
      "  kubectl ir playbooks show triage > my-triage.yaml");
  app->require_subcommand(1);
  CLI::App* list = app->add_subcommand("list", "List the shipped playbooks");
  CLI::App* show = app->add_subcommand("show", "Print a shipped playbook's YAML");
  show->add_option("name", *name, "The playbook")->required();
  return {app, [list, show, name](Io& io) {
            if (list->parsed()) {
              Table t({"NAME", "DESCRIPTION"});
              for (const auto& e : playbook::embedded_playbooks()) {
                std::vector<playbook::Diagnostic> d;
                auto pb = playbook::parse_playbook(e.text, e.file, &d);
                t.add_row({e.name, pb ? pb->description : "(invalid: " + std::to_string(d.size()) + " problems)"});
              }
              t.print(io.out);
              return static_cast<int>(k_exit_ok);
            }
            (void)show;
            const auto* e = playbook::find_embedded(*name);
            if (e == nullptr) {
              std::vector<std::string> names;
              for (const auto& p : playbook::embedded_playbooks()) names.push_back(p.name);
              print_error(io, Error(Errc::usage, "no shipped playbook \"" + esc(*name, 64) + "\" (shipped: " + util::join(names, ", ") + ")"));
              return static_cast<int>(k_exit_usage);
            }
            io.out << e->text;
            return static_cast<int>(k_exit_ok);
          }};
}

}  // namespace ir::cli
