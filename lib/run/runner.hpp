#pragma once
// Runs a validated playbook (playbook.hpp): steps in document order, each with its `when`
// condition and templated options rendered against the scope (pod, namespace, case, params, the
// outputs of earlier steps), its timeout and its on_error; for_each runs its nested steps once per
// item with bounded parallelism. Every step's start and end (status, outputs, detail) is handed to
// the journal callback, so a later run can resume: steps that ended "ok" are skipped and their
// outputs restored.
//
// The verbs themselves are behind the Verbs interface (verbs.hpp has the real one, on the
// triage functions; tests use a fake), so the runner knows nothing of Kubernetes.

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "playbook/playbook.hpp"
#include "playbook/step_types.hpp"
#include "util/cancel.hpp"
#include "util/clock.hpp"
#include "util/outcome.hpp"
#include "util/result.hpp"

namespace ir::run {

// One step to run, its options rendered.
struct StepCall {
  std::string id;              // "collect"; inside a for_each "contain[2].isolate"
  std::string uses;
  nlohmann::json with = nlohmann::json::object();
  std::string namespace_name;  // the playbook's target: the default for steps that take a pod
  std::string pod;
  std::string case_id;
  bool dry_run = false;        // writes as server-side dry run; no exec, no bundle
  const util::CancelToken* cancel = nullptr;  // set on Ctrl-C or when the step's timeout expires
};

// What a verb did: its outputs, and whether it reached its goal. A verb that ran but did not reach
// its goal (isolate: a direction NOT contained; collect: evidence missing; siblings: a partial
// search) returns its outputs with outcome partial and the reason: the step is then not "ok".
struct VerbResult {
  nlohmann::json outputs = nlohmann::json::object();
  util::Outcome outcome = util::Outcome::ok;
  std::string reason;  // why the outcome is not ok
};

// The verbs a step may use (every step type but for_each, which the runner does itself).
class Verbs {
 public:
  virtual ~Verbs() = default;
  // Runs one step and returns its outputs (an object with the fields the step type declares) and
  // outcome. Errors (the step failed) carry what failed and why (the API server's message).
  virtual Result<VerbResult> run(const StepCall& call) = 0;
};

// Makes the Verbs of one more for_each worker (each worker needs its own API connections).
using VerbsFactory = std::function<Result<std::unique_ptr<Verbs>>()>;

// Journal callback: action ("playbook.step.start", ...) and fields. Called from worker threads
// too, but never concurrently (the runner serialises calls).
using JournalFn = std::function<void(const std::string& action, const nlohmann::json& fields)>;

struct RunOptions {
  std::string case_id;
  std::string namespace_name;
  std::string pod;
  nlohmann::json params = nlohmann::json::object();  // resolved (resolve_params)
  bool dry_run = false;
  int max_parallel = 4;        // cap on any for_each's `parallel` (--parallel)
  std::size_t max_items = 1000;  // for_each items at most (more: the step fails)
  // Steps completed by an earlier run of this playbook in this case (completed_steps): id ->
  // outputs. They are skipped and their outputs restored.
  nlohmann::json resumed = nlohmann::json::object();
  // The clock step timeouts and durations are measured on; nullptr: the system's.
  util::Clock* clock = nullptr;
};

// How a step ended.
enum class StepStatus {
  ok,        // its goal was reached
  resumed,   // completed by an earlier run of the case (outputs restored)
  skipped,   // its `when` was false
  partial,   // it ran but did not reach its goal (not contained, evidence missing): never "ok"
  failed,    // it failed (an error, a timeout, Ctrl-C)
  not_run,   // an earlier step aborted the run, or Ctrl-C came first
};
// "ok", "resumed", "skipped", "partial", "failed", "not run" (journal and summary names).
const char* to_string(StepStatus status);
// The inverse, for journals read back; nullopt for anything else.
std::optional<StepStatus> parse_step_status(std::string_view text);
// The outcome model's view of a status (resumed counts as ok; not run as failed).
util::Outcome outcome_of(StepStatus status);

struct StepOutcome {
  std::string id;
  std::string uses;
  StepStatus status = StepStatus::ok;
  std::string detail;  // why not ok / skipped, or a short summary
  playbook::OnError on_error = playbook::OnError::abort;
  nlohmann::json with = nlohmann::json::object();  // the options as rendered for this run (empty if never rendered)
  nlohmann::json outputs = nlohmann::json::object();
  double seconds = 0;
};

struct RunReport {
  std::vector<StepOutcome> steps;  // top-level steps, in order
  bool aborted = false;            // a step failed with on_error: abort
  bool cancelled = false;          // Ctrl-C
  int failed = 0;                  // top-level steps that did not reach their goal (failed or partial)
  nlohmann::json scope;            // the final scope (params, steps' outputs)
  // The playbook's result: the worst of its steps (interrupted after Ctrl-C; failed when aborted).
  [[nodiscard]] util::Outcome outcome() const;
};

// Runs `playbook` with the step types `types` (run::step_types()). `verbs` runs the top-level
// steps and the first for_each worker's; `factory` makes the others (may be empty: for_each then
// runs one item at a time). Never throws; a step that fails is an outcome, not an error.
// A step that fails (error, timeout) aborts the run when its on_error is abort; a partial step
// (its goal not reached) never aborts, so what comes after (the evidence) is still taken, but the
// run's outcome is partial. A for_each is partial when some items did not reach their goal,
// failed when none did.
RunReport run_playbook(const playbook::Playbook& playbook, const playbook::StepTypes& types, Verbs& verbs,
                       const VerbsFactory& factory, const RunOptions& options, const JournalFn& journal,
                       const std::function<void(const std::string&)>& progress, const util::CancelToken* cancel);

// The steps of earlier runs of `playbook_name` that ended "ok", from a case journal's text (JSON
// Lines; malformed lines are skipped): id -> outputs. A later "playbook.step.start" of the same
// id without an "ok" end (the step was re-run and failed or was killed) removes it again.
nlohmann::json completed_steps(std::string_view journal_text, const std::string& playbook_name);

}  // namespace ir::run
