#include "run/runner.hpp"

#include <atomic>
#include <condition_variable>
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

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// A cancel token that follows the run's and also fires when a step's time is up.
class StepDeadline {
 public:
  StepDeadline(const util::CancelToken* outer, std::chrono::seconds timeout) : m_outer(outer) {
    if (timeout.count() <= 0 && outer == nullptr) return;
    m_thread = std::thread([this, timeout] {
      const auto deadline = timeout.count() > 0 ? Clock::now() + timeout : Clock::time_point::max();
      std::unique_lock lock(m_mutex);
      while (!m_done) {
        if (m_outer != nullptr && m_outer->cancelled()) {
          m_token.cancel();
          return;
        }
        if (Clock::now() >= deadline) {
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
      outcomes.push_back({id, step.uses, "not run", aborted ? "an earlier step failed (on_error: abort)" : "cancelled",
                          json::object(), 0});
      continue;
    }
    auto outcome = run_step(sh, verbs, step, id, scope);
    if (outcome.status == "failed") {
      ++failed;
      if (step.on_error == OnError::abort) aborted = true;
    }
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
      json per = {{"item", items[i]}, {"status", failed == 0 ? "ok" : "failed"}, {"steps", json::object()}};
      for (const auto& o : outcomes) {
        per["steps"][o.id.substr(prefix.size())] = {{"status", o.status}, {"detail", o.detail}, {"outputs", o.outputs}};
      }
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
  StepOutcome outcome{id, step.uses, "ok", "", json::object(), 0};
  const auto started = Clock::now();
  auto finish = [&](StepOutcome o) {
    o.seconds = seconds_since(started);
    sh.journal("playbook.step.end", {{"step", id}, {"uses", step.uses}, {"status", o.status}, {"detail", o.detail},
                                     {"outputs", o.outputs}, {"seconds", o.seconds}});
    std::string line = fmt::format("step {} ({}): {}", id, step.uses, o.status);
    // details carry the API server's messages and values rendered from pod data
    if (!o.detail.empty()) line += ": " + util::escape_for_terminal(o.detail, 1024);
    sh.progress(line);
    if (o.status == "ok" || o.status == "resumed") scope["steps"][step.id] = o.outputs;
    return o;
  };

  // Resumed: completed by an earlier run of the case (top level only).
  if (id == step.id && sh.options.resumed.contains(id)) {
    outcome.status = "resumed";
    outcome.outputs = sh.options.resumed[id];
    outcome.detail = "completed by an earlier run";
    sh.progress(fmt::format("step {} ({}): resumed (completed earlier)", id, step.uses));
    scope["steps"][step.id] = outcome.outputs;
    return outcome;
  }
  if (!step.when.empty()) {
    auto cond = evaluate_condition(step.when, scope);
    if (!cond) {
      outcome.status = "failed";
      outcome.detail = "when: " + cond.error().message;
      return finish(outcome);
    }
    if (!*cond) {
      outcome.status = "skipped";
      outcome.detail = "when: " + step.when + " is false";
      scope["steps"][step.id] = outcome.outputs;
      sh.progress(fmt::format("step {} ({}): skipped ({} is false)", id, step.uses, util::escape_for_terminal(step.when, 512)));
      return outcome;
    }
  }
  json with_src = step.with;
  if (step.uses == "for_each" && with_src.is_object()) with_src.erase("steps");
  auto with = render(with_src, scope);
  if (!with) {
    outcome.status = "failed";
    outcome.detail = with.error().message;
    return finish(outcome);
  }
  // A lone {{ reference }} renders to whatever type it names: check it as the validator would.
  if (auto typed = check_rendered_options(step, *with); !typed) {
    outcome.status = "failed";
    outcome.detail = typed.error().message;
    return finish(outcome);
  }
  sh.journal("playbook.step.start", {{"step", id}, {"uses", step.uses}, {"with", *with}});
  sh.progress(fmt::format("step {} ({}) ...", id, step.uses));

  StepDeadline deadline(sh.cancel, step.timeout);
  Result<json> r = json::object();
  if (step.uses == "for_each") {
    r = run_for_each(sh, verbs, step, id, *with, scope);
  } else {
    StepCall call{id, step.uses, *with, sh.options.namespace_name, sh.options.pod, sh.options.case_id,
                  sh.options.dry_run, deadline.token()};
    try {
      r = verbs.run(call);
    } catch (const std::exception& e) {
      r = fail(Errc::failure, std::string("internal error: ") + e.what());
    }
  }
  if (deadline.timed_out()) {
    outcome.status = "failed";
    outcome.detail = fmt::format("timed out after {}s", step.timeout.count());
    if (r) outcome.outputs = *r;
  } else if (!r) {
    outcome.status = "failed";
    outcome.detail = r.error().message;
  } else {
    outcome.outputs = *r;
    if (step.uses == "for_each" && r->value("failed", 0) > 0) {
      outcome.status = "failed";
      outcome.detail = fmt::format("{} of {} items failed", r->value("failed", 0), r->value("count", 0));
    }
  }
  return finish(outcome);
}

}  // namespace

RunReport run_playbook(const playbook::Playbook& playbook, Verbs& verbs, const VerbsFactory& factory, const RunOptions& options,
                       const JournalFn& journal, const std::function<void(const std::string&)>& progress,
                       const util::CancelToken* cancel) {
  RunReport report;
  Shared sh{playbook, options, journal, progress, cancel, factory, {}};
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
  const char* result = report.cancelled ? "interrupted" : report.aborted ? "aborted" : report.failed > 0 ? "partial" : "ok";
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
