#include "cmd/run.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>

#include <fmt/format.h>

#include "cmd/errors.hpp"
#include "cmd/output.hpp"
#include "cmd/target.hpp"
#include "evidence/bundle.hpp"
#include "evidence/case.hpp"
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
constexpr std::size_t k_max_notable_shown = 8;


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
                                     util::esc(what, util::Cap::field), util::join(names, ", ")));
  if (const auto guess = util::closest_match(what, names, 3); !guess.empty()) err = err.with_hint("did you mean \"" + guess + "\"?");
  return unexpected(err);
}

Result<std::map<std::string, std::string>> parse_params(const std::vector<std::string>& given) {
  std::map<std::string, std::string> out;
  for (const auto& p : given) {
    const auto eq = p.find('=');
    if (eq == std::string::npos || eq == 0) return fail(Errc::usage, "invalid --param " + util::quoted(p, util::Cap::field) + ": want NAME=VALUE");
    out[p.substr(0, eq)] = p.substr(eq + 1);
  }
  return out;
}

// One line per step for the terminal: what it found or did.
std::string step_summary(const run::StepOutcome& s) {
  const json& o = s.outputs;
  using run::StepStatus;
  if (s.status != StepStatus::ok && s.status != StepStatus::resumed) {
    std::string d = s.detail;
    if ((s.status == StepStatus::failed || s.status == StepStatus::partial) && s.on_error == playbook::OnError::continue_) {
      d += " (on_error: continue)";
    }
    return d;
  }
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

json report_json(const run::RunReport& r) {
  json steps = json::array();
  for (const auto& s : r.steps) {
    steps.push_back({{"id", s.id}, {"uses", s.uses}, {"status", run::to_string(s.status)}, {"detail", s.detail},
                     {"on_error", s.on_error == playbook::OnError::abort ? "abort" : "continue"}, {"with", s.with},
                     {"outputs", s.outputs}, {"seconds", s.seconds}});
  }
  return {{"steps", steps},
          {"result", r.aborted && !r.cancelled ? "aborted" : util::to_string(r.outcome())},
          {"aborted", r.aborted},
          {"cancelled", r.cancelled},
          {"failed", r.failed}};
}

// The notable evidence of every collect step (top level and for_each items), for the summary.
std::vector<std::string> notable_of(const run::RunReport& r) {
  std::vector<std::string> out;
  const auto take = [&](const std::string& prefix, const json& outputs) {
    for (const auto& n : outputs.value("notable", json::array())) {
      if (n.is_string()) out.push_back(prefix + n.get<std::string>());
    }
  };
  for (const auto& s : r.steps) {
    if (s.uses == "collect") take("", s.outputs);
    if (s.uses != "for_each") continue;
    for (const auto& item : s.outputs.value("results", json::array())) {
      const json it = item.value("item", json::object());
      const std::string who = it.is_object() ? it.value("namespace", "") + "/" + it.value("name", "") + ": " : "";
      const json steps = item.value("steps", json::object());  // a named value: items() only refers to it
      for (const auto& [id, step] : steps.items()) take(who, step.value("outputs", json::object()));
    }
  }
  return out;
}

int exit_code_of(const run::RunReport& r) {
  if (r.cancelled) return k_exit_interrupted;
  if (r.aborted) return k_exit_failure;
  return r.outcome() == util::Outcome::ok ? k_exit_ok : k_exit_partial;
}

int run_run(const RunCliOptions& options, const GlobalOptions& global, Io& io) {
  RunCliOptions o = options;
  if (!o.pod_positional.empty()) {
    if (!o.pod.empty() && o.pod != o.pod_positional) {
      return exit_with(io, Error(Errc::usage, "two pods given: " + util::quoted(o.pod_positional, util::Cap::field) +
                                                  " and --pod " + util::quoted(o.pod, util::Cap::field)));
    }
    o.pod = o.pod_positional;
  }
  // complete and validate: the playbook and its parameters, before any network traffic
  auto loaded = load_playbook(o.playbook);
  if (!loaded) return exit_with(io, loaded.error(), k_exit_usage);
  std::vector<playbook::Diagnostic> diagnostics;
  auto pb = playbook::parse_playbook(loaded->text, loaded->file, run::step_types(), &diagnostics);
  if (!pb) {
    for (const auto& d : diagnostics) io.err << util::esc(d.to_string(), util::Cap::detail) << "\n";
    print_error(io, Error(Errc::usage, fmt::format("playbook {}: {} problem{}", util::esc(loaded->file), diagnostics.size(),
                                                   diagnostics.size() == 1 ? "" : "s")));
    return k_exit_usage;
  }
  auto given = parse_params(o.params);
  if (!given) return exit_with(io, given.error(), k_exit_usage);
  auto params = playbook::resolve_params(*pb, *given);
  if (!params) return exit_with(io, params.error().context("playbook " + pb->name), k_exit_usage);
  if (o.parallel < 1) return exit_with(io, Error(Errc::usage, "--parallel must be at least 1"));
  if (!o.resume.empty() && !o.case_id.empty() && o.resume != o.case_id) {
    return exit_with(io, Error(Errc::usage, "--resume and --case name different cases"));
  }
  auto output = parse_summary_output(o.output, o.bundle);
  if (!output) return exit_with(io, output.error(), k_exit_usage);

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
    if (!s) return exit_with(io, s.error());
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
  if (!chosen) return exit_with(io, chosen.error(), k_exit_usage);
  const std::string case_id = *chosen;
  // What to do once the bundle is sealed: the flags, and the playbook's top-level report:/upload:
  // (a flag wins). Checked now (key, destination, credentials), before any step runs.
  std::unique_ptr<AfterSeal> after_seal;
  if (!o.dry_run) {
    auto settings = playbook::render_after_seal(*pb, {{"pod", pod}, {"namespace", ns}, {"case", case_id}, {"params", *params}});
    if (!settings) return exit_with(io, settings.error().context("playbook " + pb->name), k_exit_usage);
    CustodyFlags custody = o.custody;
    custody.report = custody.report || settings->report;
    if (custody.upload.empty() && custody.upload_urls.empty()) custody.upload = settings->upload;
    auto prepared = prepare_after_seal(custody, global.kube.verbosity, io);
    if (!prepared) return exit_with(io, prepared.error());
    after_seal = std::move(*prepared);
  }
  const json common = {{"namespace", ns}, {"pod", pod}};
  auto opened = open_case(io, s, case_id, common);
  if (!opened) return exit_with(io, opened.error());
  evidence::Case& c = **opened;
  run::RunOptions ro;
  ro.case_id = case_id;
  ro.namespace_name = ns;
  ro.pod = pod;
  ro.params = *params;
  ro.dry_run = o.dry_run;
  ro.max_parallel = o.parallel;
  ro.clock = &s.clock;
  if (!o.resume.empty()) {
    auto text = util::read_file(c.journal().path(), k_max_journal_bytes);
    if (!text) return exit_with(io, text.error().context("resume " + case_id), k_exit_failure);
    ro.resumed = run::completed_steps(*text, pb->name);
    io.err << fmt::format("run: resuming case {}: {} step{} completed earlier\n", case_id, ro.resumed.size(),
                          ro.resumed.size() == 1 ? "" : "s");
  }

  const evidence::Acquirer acquirer = acquirer_for(s, global.command_line, o.examiner, started);

  // One bundle for the run (none in a dry run).
  const std::string bundle_path = !output->bundle.empty()
                                      ? output->bundle
                                      : fmt::format("{}_run-{}_{}.tar.gz", case_id, evidence::safe_component(pb->name),
                                                    util::format_compact_utc(started));
  std::unique_ptr<run::SharedBundle> shared;
  if (!o.dry_run) {
    if (auto b = c.open_bundle(bundle_path); !b) return exit_with(io, b.error().context("bundle"), k_exit_failure);
    shared = std::make_unique<run::SharedBundle>(*c.bundle());
  }

  const auto warn = [&io](const Error& e) { print_warning(io, "journal: " + e.message); };
  run::JournalFn journal_fn = [&](const std::string& action, const json& fields) {
    json f = fields;
    if (o.dry_run && action.rfind("playbook.", 0) != 0) f["dry_run"] = true;
    if (auto r = c.log(action, f); !r) warn(r.error());  // Case::log is thread-safe: workers journal too
  };
  std::mutex progress_mutex;
  auto progress = [&io, &progress_mutex](const std::string& line) {
    std::lock_guard lock(progress_mutex);
    io.err << "run: " << line << "\n" << std::flush;  // escaped where it is made (lib/run, lib/triage)
  };
  // Every pod whose evidence the run collects is a subject of the bundle's acquisition record.
  std::mutex subjects_mutex;
  std::vector<evidence::Subject> subjects;
  std::vector<std::string> not_collected;
  run::SubjectFn on_subject = [&](const evidence::Subject& subject, const std::vector<std::string>& missing) {
    std::lock_guard lock(subjects_mutex);
    subjects.push_back(subject);
    for (const auto& m : missing) not_collected.push_back(subject.namespace_name + "/" + subject.pod + ": " + m);
  };
  const run::CustodyHooks custody_steps = custody_hooks(o.custody, global.kube.verbosity, io);  // steps sign, upload
  auto verbs = run::make_verbs({*s.client, *s.connector, s.clock, shared.get(), acquirer.examiner, journal_fn, progress, on_subject,
                                worker_connections(global.kube, io), custody_steps});
  // Parallel for_each workers get their own connections.
  std::vector<std::unique_ptr<Session>> worker_sessions;
  run::VerbsFactory factory = [&]() -> Result<std::unique_ptr<run::Verbs>> {
    IR_TRY(ws, open_session(global.kube, io));
    worker_sessions.push_back(std::move(ws));
    auto& w = *worker_sessions.back();
    return run::make_verbs({*w.client, *w.connector, w.clock, shared.get(), acquirer.examiner, journal_fn, progress, on_subject,
                            worker_connections(global.kube, io), custody_steps});
  };

  io.err << fmt::format("run: playbook {} ({}) on {}/{}, case {}{}\n", pb->name, util::esc(loaded->file), util::esc(ns),
                        util::esc(pod.empty() ? "-" : pod), case_id,
                        o.dry_run ? " (dry run: writes are server-side dry runs, no exec, no bundle)" : "");
  const auto report = run::run_playbook(*pb, run::step_types(), *verbs, factory, ro, journal_fn, progress, io.cancel);
  const char* result = report.aborted && !report.cancelled ? "aborted" : util::to_string(report.outcome());
  const auto notable = notable_of(report);

  // Summary: the outcome per step (a table, or data with -o json|yaml); the plan in a dry run.
  json doc = report_json(report);
  doc["playbook"] = {{"name", pb->name}, {"file", loaded->file}, {"params", *params}};
  doc["case"] = case_id;
  doc["notable"] = notable;
  const auto print_table = [&] {
    Table t({"STEP", "USES", "STATUS", "SECONDS", "RESULT"});
    for (const auto& st : report.steps) {
      t.add_row({st.id, st.uses, run::to_string(st.status), fmt::format("{:.1f}", st.seconds),
                 util::esc(step_summary(st), util::Cap::field)});
    }
    std::ostringstream table;
    t.print(table);
    io.out << fmt::format("playbook {}: {} (case {})\n", pb->name, result, case_id) << table.str();
    for (std::size_t i = 0; i < notable.size() && i < k_max_notable_shown; ++i) {
      io.out << "notable: " << util::esc(notable[i], util::Text::escaped, util::Cap::detail) << "\n";
    }
    if (notable.size() > k_max_notable_shown) io.out << fmt::format("notable: ... {} more in the bundle\n", notable.size() - k_max_notable_shown);
  };
  if (o.dry_run) {
    if (output->format == OutputFormat::table) {
      print_table();
      io.out << "---\n" << to_yaml(doc);
    } else {
      io.out << (output->format == OutputFormat::json ? to_json(doc) : to_yaml(doc));
    }
    return exit_code_of(report);
  }

  // Seal the bundle: the run's report and playbook, the acquisition record, the journal.
  const evidence::ArtifactMeta local{.source = "kubectl-ir", .method = evidence::Method::local};
  if (auto a = c.bundle()->add("playbook/run.json", to_json(doc), local); !a) print_warning(io, "playbook/run.json: " + a.error().message);
  if (auto a = c.bundle()->add("playbook/" + evidence::safe_component(pb->name) + ".yaml", loaded->text, local); !a) {
    print_warning(io, "playbook: " + a.error().message);
  }
  evidence::SealInput input;
  input.result = report.outcome();
  // The playbook's own pod first (readers take the first subject as the bundle's pod), each pod once.
  std::stable_partition(subjects.begin(), subjects.end(),
                        [&](const evidence::Subject& x) { return x.namespace_name == ns && x.pod == pod; });
  std::vector<evidence::Subject> unique;
  for (const auto& x : subjects) {
    if (std::none_of(unique.begin(), unique.end(), [&](const evidence::Subject& u) {
          return u.namespace_name == x.namespace_name && u.pod == x.pod;
        })) {
      unique.push_back(x);
    }
  }
  input.subjects = std::move(unique);
  input.not_collected = not_collected;
  std::string details = fmt::format("{:<18}{} ({})\n\nsteps:\n", "playbook:", pb->name, util::esc(loaded->file, util::Cap::path));
  for (const auto& st : report.steps) {
    details += fmt::format("  {:<16} {:<10} {:<8} {}\n", util::esc(st.id, util::Cap::word), st.uses, run::to_string(st.status),
                           util::esc(st.detail, util::Cap::detail));
  }
  input.details = details;
  input.extra = {{"playbook", {{"name", pb->name}, {"result", result}}}};
  auto sealed = c.seal("run", acquirer, input);
  if (output->format == OutputFormat::table) print_table();
  if (!sealed) return exit_with(io, sealed.error(), k_exit_failure);
  for (const auto& p : sealed->problems) print_warning(io, p);
  if (output->format == OutputFormat::table) {
    io.out << fmt::format("bundle: {}\nsha256: {}\n", util::esc(sealed->sealed.path, util::Cap::path), sealed->sealed.sha256);
  }
  // Signed, uploaded, the page written: after sealing, journaled in the case journal.
  std::optional<AfterSeal::Done> after;
  if (after_seal) {
    after = after_seal->run(c, *sealed, report.outcome(), io, output->format == OutputFormat::table ? &io.out : nullptr);
  }
  if (output->format != OutputFormat::table) {
    doc["bundle"] = sealed->sealed.path;
    doc["sha256"] = sealed->sealed.sha256;
    if (after) doc.update(after->doc);
    io.out << (output->format == OutputFormat::json ? to_json(doc) : to_yaml(doc));
  }
  return after ? combine_exit(exit_code_of(report), after->outcome) : exit_code_of(report);
}

}  // namespace

Command setup_run(CLI::App& root, const GlobalOptions& global) {
  auto o = std::make_shared<RunCliOptions>();
  CLI::App* app = add_command(
      root, "run", "Run a playbook: isolate, collect, siblings and more, journaled",
      {
          "kubectl ir run triage web-7d4b9c8f6-x2k9p -n shop",
          "kubectl ir run ./runbooks/miner.yaml --pod shop/pod/web-7d4b9 --param collector=10.0.0.5/32 --dry-run",
          "kubectl ir run triage --pod web-7d4b9c8f6-x2k9p -n shop --resume case-20261121-163229-7f3a",
      },
      "PLAYBOOK is a file or a shipped playbook (kubectl ir playbooks list). The playbook is validated\n"
      "before anything runs. Each step's start, end and outputs go to the case journal; --resume skips\n"
      "the steps an earlier run of the case completed. One bundle per run holds what the steps collected.\n"
      "Exit 0: every step reached its goal; 3: a step did not (not contained, evidence missing) or failed\n"
      "with on_error: continue; 1: a step aborted the run; 130: interrupted (the bundle is sealed).");
  app->add_option("PLAYBOOK", o->playbook, "Playbook file or shipped playbook name")->required();
  app->add_option("POD", o->pod_positional, "The suspect pod (same as --pod)");
  app->add_option("--pod", o->pod, "The suspect pod ({{ pod }}; NAME, pod/NAME or NAMESPACE/pod/NAME)");
  app->add_option("-p,--param,--set", o->params, "Playbook parameter NAME=VALUE (repeatable; --set is the same)");
  app->add_option("--case", o->case_id, "Case id (default: the pod's case if isolated, else a new one)");
  app->add_option("--resume", o->resume, "Resume this case: skip the steps an earlier run completed");
  app->add_option("-O,--bundle", o->bundle, "Bundle path (default: <case>_run-<playbook>_<time>.tar.gz)");
  app->add_option("-o,--output", o->output, "Summary on stdout: table (default), json or yaml");
  app->add_option("--examiner", o->examiner, "Who runs it (default: the API identity)");
  app->add_option("--parallel", o->parallel, "At most this many for_each items at once (default 4)");
  app->add_flag("--dry-run", o->dry_run, "Print the resolved plan; writes are server-side dry runs; no exec, no bundle");
  add_custody_flags(*app, o->custody);
  return {app, [o, &global](Io& io) { return run_run(*o, global, io); }};
}

Command setup_playbooks(CLI::App& root, const GlobalOptions& /*global*/) {
  auto name = std::make_shared<std::string>();
  CLI::App* app = add_command(root, "playbooks", "List or show the playbooks shipped in kubectl-ir",
                              {
                                  "kubectl ir playbooks list",
                                  "kubectl ir playbooks show triage > my-triage.yaml",
                              });
  app->require_subcommand(1);
  CLI::App* list = app->add_subcommand("list", "List the shipped playbooks");
  CLI::App* show = app->add_subcommand("show", "Print a shipped playbook's YAML");
  show->add_option("name", *name, "The playbook")->required();
  return {app, [list, show, name](Io& io) {
            if (list->parsed()) {
              Table t({"NAME", "DESCRIPTION"});
              for (const auto& e : playbook::embedded_playbooks()) {
                std::vector<playbook::Diagnostic> d;
                auto pb = playbook::parse_playbook(e.text, e.file, run::step_types(), &d);
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
              print_error(io, Error(Errc::usage, "no shipped playbook " + util::quoted(*name, util::Cap::word) + " (shipped: " + util::join(names, ", ") + ")"));
              return static_cast<int>(k_exit_usage);
            }
            io.out << e->text;
            return static_cast<int>(k_exit_ok);
          }};
}

}  // namespace ir::cli
