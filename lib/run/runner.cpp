#include "run/runner.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <optional>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "util/strings.hpp"

#include "playbook/condition.hpp"
#include "playbook/step_types.hpp"
#include "playbook/template.hpp"

namespace ir::run {

using namespace ir::playbook;

using nlohmann::json;

namespace {

// The run's clock: RunOptions::clock, else the system's.
util::Clock& clock_of(const RunOptions& options) {
  static util::RealClock real;
  return options.clock != nullptr ? *options.clock : real;
}

// A cancel token that follows the run's and also fires when a step's time is up.
class StepDeadline {
 public:
  // The deadline is measured on `clock` (polled every 100 ms of real time, so a FakeClock advanced
  // by a test fires it too).
  StepDeadline(const util::CancelToken* outer, std::chrono::seconds timeout, util::Clock& clock) : m_outer(outer) {
    if (timeout.count() <= 0 && outer == nullptr) return;
    m_thread = std::thread([this, timeout, &clock] {
      const auto deadline = timeout.count() > 0 ? clock.steady_now() + timeout : util::MonoTime::max();
      std::unique_lock lock(m_mutex);
      while (!m_done) {
        if (m_outer != nullptr && m_outer->cancelled()) {
          m_token.cancel();
          return;
        }
        if (clock.steady_now() >= deadline) {
          m_timed_out = true;
          m_token.cancel();
          return;
        }
        m_cv.wait_for(lock, std::chrono::milliseconds(100));
      }
    });
  }
  ~StepDeadline() {
    {
      std::lock_guard lock(m_mutex);
      m_done = true;
    }
    m_cv.notify_all();
    if (m_thread.joinable()) m_thread.join();
  }
  StepDeadline(const StepDeadline&) = delete;
  StepDeadline& operator=(const StepDeadline&) = delete;
  [[nodiscard]] const util::CancelToken* token() const { return m_thread.joinable() ? &m_token : m_outer; }
  [[nodiscard]] bool timed_out() const {
    std::lock_guard lock(m_mutex);
    return m_timed_out;
  }

 private:
  const util::CancelToken* m_outer;
  util::CancelToken m_token;
  mutable std::mutex m_mutex;
  std::condition_variable m_cv;
  bool m_done = false;
  bool m_timed_out = false;
  std::thread m_thread;
};

// Shared by every worker of one run.
struct Shared {
  const Playbook& playbook;
  const StepTypes& types;
  const RunOptions& options;
  const JournalFn& journal_fn;
  const std::function<void(const std::string&)>& progress_fn;
  const util::CancelToken* cancel;
  const VerbsFactory& factory;
  std::mutex mutex;  // journal, progress

  void journal(const std::string& action, json fields) {
    if (!journal_fn) return;
    fields["playbook"] = playbook.name;
    std::lock_guard lock(mutex);
    journal_fn(action, fields);
  }
  void progress(const std::string& line) {
    if (!progress_fn) return;
    std::lock_guard lock(mutex);
    progress_fn(line);
  }
  [[nodiscard]] bool cancelled() const { return cancel != nullptr && cancel->cancelled(); }
};

StepOutcome run_step(Shared& sh, Verbs& verbs, const Step& step, const std::string& id, json& scope);

// Runs `steps` (a list at one level) in `scope`; returns false when one aborted the list.
bool run_list(Shared& sh, Verbs& verbs, const std::vector<Step>& steps, const std::string& prefix, json& scope,
              std::vector<StepOutcome>& outcomes, int& failed) {
  bool aborted = false;
  for (const auto& step : steps) {
    const std::string id = prefix + step.id;
    if (aborted || sh.cancelled()) {
      StepOutcome skipped{id, step.uses, StepStatus::not_run,
                          aborted ? "an earlier step failed (on_error: abort)" : "cancelled"};
      skipped.on_error = step.on_error;
      outcomes.push_back(std::move(skipped));
      continue;
    }
    auto outcome = run_step(sh, verbs, step, id, scope);
    if (outcome.status == StepStatus::failed || outcome.status == StepStatus::partial) ++failed;
    if (outcome.status == StepStatus::failed && step.on_error == OnError::abort) aborted = true;
    outcomes.push_back(std::move(outcome));
  }
  return !aborted;
}

// for_each: the nested steps once per item, `parallel` items at a time.
Result<json> run_for_each(Shared& sh, Verbs& verbs, const Step& step, const std::string& id, const json& with,
                          const json& scope) {
  if (!with.contains("items") || !with["items"].is_array()) {
    return fail(Errc::invalid, "\"items\" must be a list, got " + std::string(with.contains("items") ? with["items"].type_name() : "nothing"));
  }
  const json& items = with["items"];
  if (items.size() > sh.options.max_items) {
    return fail(Errc::invalid, fmt::format("{} items: more than the limit of {}", items.size(), sh.options.max_items));
  }
  int parallel = with.value("parallel", 1);
  parallel = std::max(1, std::min({parallel, sh.options.max_parallel, static_cast<int>(std::max<std::size_t>(items.size(), 1))}));
  if (!sh.factory) parallel = 1;

  std::vector<json> results(items.size());
  std::atomic<std::size_t> next{0};
  std::atomic<int> failed_items{0};
  auto work = [&](Verbs& v) {
    while (true) {
      const std::size_t i = next.fetch_add(1);
      if (i >= items.size()) return;
      json item_scope = scope;
      item_scope["item"] = items[i];
      std::vector<StepOutcome> outcomes;
      int failed = 0;
      const std::string prefix = fmt::format("{}[{}].", id, i);
      run_list(sh, v, step.steps, prefix, item_scope, outcomes, failed);
      // "status" counts an item whose goal was not reached (not contained, evidence missing) as
      // failed; "outcome" says whether it failed outright or in part.
      json per = {{"item", items[i]}, {"status", failed == 0 ? "ok" : "failed"}, {"steps", json::object()}};
      std::vector<std::string> why;
      util::Outcome worst = util::Outcome::ok;
      for (const auto& o : outcomes) {
        per["steps"][o.id.substr(prefix.size())] = {{"status", to_string(o.status)}, {"detail", o.detail}, {"outputs", o.outputs}};
        worst = util::worst(worst, outcome_of(o.status) == util::Outcome::skipped ? util::Outcome::ok : outcome_of(o.status));
        if (o.status == StepStatus::failed || o.status == StepStatus::partial) why.push_back(o.id.substr(prefix.size()) + ": " + o.detail);
      }
      per["outcome"] = util::to_string(worst);
      if (!why.empty()) per["detail"] = util::join(why, "; ");
      if (failed > 0) ++failed_items;
      results[i] = std::move(per);
    }
  };
  std::vector<std::unique_ptr<Verbs>> extra;
  std::vector<std::thread> threads;
  std::vector<std::string> worker_problems;
  for (int w = 1; w < parallel; ++w) {
    auto v = sh.factory();
    if (!v) {
      worker_problems.push_back(v.error().message);
      break;
    }
    extra.push_back(std::move(*v));
  }
  for (auto& v : extra) threads.emplace_back([&work, &v] { work(*v); });
  work(verbs);
  for (auto& t : threads) t.join();
  json out = {{"count", items.size()}, {"failed", failed_items.load()}, {"results", results}};
  if (!worker_problems.empty()) out["note"] = "fewer workers than asked: " + worker_problems.front();
  return out;
}

StepOutcome run_step(Shared& sh, Verbs& verbs, const Step& step, const std::string& id, json& scope) {
  StepOutcome outcome{id, step.uses};
  outcome.on_error = step.on_error;
  util::Clock& clock = clock_of(sh.options);
  const auto started = clock.steady_now();
  auto finish = [&](StepOutcome o) {
    o.seconds = clock.seconds_since(started);
    sh.journal("playbook.step.end", {{"step", id}, {"uses", step.uses}, {"status", to_string(o.status)}, {"detail", o.detail},
                                     {"outputs", o.outputs}, {"seconds", o.seconds}});
    std::string line = fmt::format("step {} ({}): {}", id, step.uses, to_string(o.status));
    // details carry the API server's messages and values rendered from pod data
    if (!o.detail.empty()) line += ": " + util::esc(o.detail, util::Cap::detail);
    sh.progress(line);
    // A partial step's outputs are real (how far it got): later steps may test them.
    if (o.status == StepStatus::ok || o.status == StepStatus::resumed || o.status == StepStatus::partial) {
      scope["steps"][step.id] = o.outputs;
    }
    return o;
  };

  // Resumed: completed by an earlier run of the case (top level only).
  if (id == step.id && sh.options.resumed.contains(id)) {
    outcome.status = StepStatus::resumed;
    outcome.outputs = sh.options.resumed[id];
    outcome.detail = "completed by an earlier run";
    sh.progress(fmt::format("step {} ({}): resumed (completed earlier)", id, step.uses));
    scope["steps"][step.id] = outcome.outputs;
    return outcome;
  }
  if (!step.when.empty()) {
    auto cond = evaluate_condition(step.when, scope);
    if (!cond) {
      outcome.status = StepStatus::failed;
      outcome.detail = "when: " + cond.error().message;
      return finish(outcome);
    }
    if (!*cond) {
      outcome.status = StepStatus::skipped;
      outcome.detail = "when: " + step.when + " is false";
      scope["steps"][step.id] = outcome.outputs;
      sh.progress(fmt::format("step {} ({}): skipped ({} is false)", id, step.uses, util::esc(step.when, util::Cap::detail)));
      return outcome;
    }
  }
  json with_src = step.with;
  if (step.uses == "for_each" && with_src.is_object()) with_src.erase("steps");
  auto with = render(with_src, scope);
  if (!with) {
    outcome.status = StepStatus::failed;
    outcome.detail = with.error().message;
    return finish(outcome);
  }
  outcome.with = *with;
  // A lone {{ reference }} renders to whatever type it names: check it as the validator would.
  if (auto typed = check_rendered_options(sh.types, step, *with); !typed) {
    outcome.status = StepStatus::failed;
    outcome.detail = typed.error().message;
    return finish(outcome);
  }
  sh.journal("playbook.step.start", {{"step", id}, {"uses", step.uses}, {"with", *with}});
  sh.progress(fmt::format("step {} ({}) ...", id, step.uses));

  StepDeadline deadline(sh.cancel, step.timeout, clock);
  Result<VerbResult> r = VerbResult{};
  if (step.uses == "for_each") {
    auto each = run_for_each(sh, verbs, step, id, *with, scope);
    if (!each) {
      r = unexpected(each.error());
    } else {
      VerbResult v{*each};
      const auto failed_items = each->value("failed", 0);
      const auto count = each->value("count", 0);
      if (failed_items > 0) {
        // Failed only when every item failed outright; items that got part of the way (not
        // contained, evidence missing) make it partial, which never aborts the run.
        const auto results = each->value("results", json::array());
        const bool all_failed = std::all_of(results.begin(), results.end(),
                                            [](const json& item) { return item.value("outcome", "") == "failed"; });
        v.outcome = all_failed ? util::Outcome::failed : util::Outcome::partial;
        std::vector<std::string> why;
        for (const auto& item : each->value("results", json::array())) {
          if (item.value("status", "") != "ok" && why.size() < 3) why.push_back(item.value("detail", ""));
        }
        v.reason = fmt::format("{} of {} items did not reach their goal: {}", failed_items, count, util::join(why, "; "));
      }
      r = std::move(v);
    }
  } else {
    const StepCall call{.id = id,
                        .uses = step.uses,
                        .with = *with,
                        .namespace_name = sh.options.namespace_name,
                        .pod = sh.options.pod,
                        .case_id = sh.options.case_id,
                        .dry_run = sh.options.dry_run,
                        .cancel = deadline.token()};
    try {
      r = verbs.run(call);
    } catch (const std::exception& e) {
      r = fail(Errc::failure, std::string("internal error: ") + e.what());
    }
  }
  if (deadline.timed_out()) {
    outcome.status = StepStatus::failed;
    outcome.detail = fmt::format("timed out after {}s", step.timeout.count());
    if (r) outcome.outputs = r->outputs;
  } else if (!r) {
    outcome.status = StepStatus::failed;
    outcome.detail = r.error().message;
  } else {
    outcome.outputs = r->outputs;
    switch (r->outcome) {
      case util::Outcome::ok:
      case util::Outcome::skipped: break;
      case util::Outcome::partial:
        outcome.status = StepStatus::partial;
        outcome.detail = r->reason;
        break;
      case util::Outcome::failed:
      case util::Outcome::interrupted:
        outcome.status = StepStatus::failed;
        outcome.detail = r->reason;
        break;
    }
  }
  return finish(outcome);
}

}  // namespace

const char* to_string(StepStatus status) {
  switch (status) {
    case StepStatus::ok: return "ok";
    case StepStatus::resumed: return "resumed";
    case StepStatus::skipped: return "skipped";
    case StepStatus::partial: return "partial";
    case StepStatus::failed: return "failed";
    case StepStatus::not_run: return "not run";
  }
  return "?";
}

std::optional<StepStatus> parse_step_status(std::string_view text) {
  for (const auto s : {StepStatus::ok, StepStatus::resumed, StepStatus::skipped, StepStatus::partial, StepStatus::failed,
                       StepStatus::not_run}) {
    if (text == to_string(s)) return s;
  }
  return std::nullopt;
}

util::Outcome outcome_of(StepStatus status) {
  switch (status) {
    case StepStatus::ok:
    case StepStatus::resumed: return util::Outcome::ok;
    case StepStatus::skipped: return util::Outcome::skipped;
    case StepStatus::partial: return util::Outcome::partial;
    case StepStatus::failed:
    case StepStatus::not_run: return util::Outcome::failed;
  }
  return util::Outcome::failed;
}

util::Outcome RunReport::outcome() const {
  if (cancelled) return util::Outcome::interrupted;
  util::Outcome worst = util::Outcome::ok;
  for (const auto& s : steps) worst = util::worst(worst, outcome_of(s.status));
  if (aborted) worst = util::Outcome::failed;
  return worst == util::Outcome::skipped ? util::Outcome::ok : worst;
}

RunReport run_playbook(const playbook::Playbook& playbook, const playbook::StepTypes& types, Verbs& verbs,
                       const VerbsFactory& factory, const RunOptions& options, const JournalFn& journal,
                       const std::function<void(const std::string&)>& progress, const util::CancelToken* cancel) {
  RunReport report;
  Shared sh{playbook, types, options, journal, progress, cancel, factory, {}};
  json scope = {{"pod", options.pod},
                {"namespace", options.namespace_name},
                {"case", options.case_id},
                {"params", options.params},
                {"steps", json::object()}};
  sh.journal("playbook.start", {{"params", options.params}, {"dry_run", options.dry_run},
                                {"resumed", json(options.resumed.size())}});
  const bool completed = run_list(sh, verbs, playbook.steps, "", scope, report.steps, report.failed);
  report.aborted = !completed;
  report.cancelled = sh.cancelled();
  report.scope = scope;
  const char* result = report.aborted && !report.cancelled ? "aborted" : util::to_string(report.outcome());
  sh.journal("playbook.end", {{"result", result}, {"failed", report.failed}});
  return report;
}

json completed_steps(std::string_view journal_text, const std::string& playbook_name) {
  json done = json::object();
  std::size_t pos = 0;
  while (pos < journal_text.size()) {
    const auto nl = journal_text.find('\n', pos);
    const auto line = journal_text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? journal_text.size() : nl + 1;
    const json entry = json::parse(line, nullptr, false);
    if (!entry.is_object() || entry.value("playbook", "") != playbook_name) continue;
    const std::string action = entry.value("action", "");
    const std::string step = entry.value("step", "");
    if (step.empty() || step.find('[') != std::string::npos) continue;  // for_each items resume as a whole
    if (action == "playbook.step.start") done.erase(step);
    if (action == "playbook.step.end" && entry.value("status", "") == "ok") done[step] = entry.value("outputs", json::object());
  }
  return done;
}

}  // namespace ir::run
