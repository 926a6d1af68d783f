#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "playbook/playbook.hpp"
#include "run/runner.hpp"
#include "run/verbs.hpp"

using namespace ir;
using nlohmann::json;

namespace {

playbook::Playbook parse(const std::string& yaml) {
  std::vector<playbook::Diagnostic> d;
  auto pb = playbook::parse_playbook(yaml, "t.yaml", run::step_types(), &d);
  if (!pb) {
    for (const auto& x : d) MESSAGE(x.to_string());
  }
  REQUIRE(pb);
  return *pb;
}

// Records calls; answers per step type.
class FakeVerbs final : public run::Verbs {
 public:
  std::vector<run::StepCall> calls;
  std::mutex mutex;
  std::atomic<int> running{0};
  std::atomic<int> max_running{0};
  std::function<Result<json>(const run::StepCall&)> answer = [](const run::StepCall& c) -> Result<json> {
    if (c.uses == "siblings") {
      return json{{"count", 3}, {"pods", json::array({{{"namespace", "a"}, {"name", "p1"}}, {{"namespace", "a"}, {"name", "p2"}},
                                                       {{"namespace", "b"}, {"name", "p3"}}})},
                  {"partial", false}, {"digest", "sha256:x"}};
    }
    if (c.uses == "label" && c.with.value("pod", "") == "bad") return fail(Errc::not_found, "pods \"bad\" not found");
    if (c.uses == "wait") {
      while (c.cancel == nullptr || !c.cancel->cancelled()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      return fail(Errc::cancelled, "wait interrupted");
    }
    return json{{"labels", c.with.value("labels", json::object())}};
  };
  Result<run::VerbResult> run(const run::StepCall& call) override {
    {
      std::lock_guard lock(mutex);
      calls.push_back(call);
    }
    const int now = ++running;
    int seen = max_running.load();
    while (now > seen && !max_running.compare_exchange_weak(seen, now)) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    auto r = answer(call);
    --running;
    if (!r) return unexpected(r.error());
    return run::VerbResult{*r};
  }
};

struct Journal {
  std::vector<std::pair<std::string, json>> entries;
  run::JournalFn fn() {
    return [this](const std::string& a, const json& f) { entries.emplace_back(a, f); };
  }
};

run::RunOptions options() {
  run::RunOptions o;
  o.case_id = "case-1";
  o.namespace_name = "shop";
  o.pod = "web-1";
  return o;
}

}  // namespace

TEST_CASE("run: steps in order; outputs of earlier steps feed templates and conditions") {
  const auto pb = parse(R"(name: t
description: d
steps:
  - {id: sib, uses: siblings}
  - {id: mark, uses: label, when: "steps.sib.count > 2", with: {labels: {found: "{{ steps.sib.count }} in {{ namespace }}"}}}
  - {id: never, uses: label, when: "steps.sib.count > 5", with: {labels: {x: "y"}}}
)");
  FakeVerbs verbs;
  Journal journal;
  const auto r = run::run_playbook(pb, run::step_types(), verbs, {}, options(), journal.fn(), {}, nullptr);
  REQUIRE(r.steps.size() == 3);
  CHECK(r.steps[0].status == run::StepStatus::ok);
  CHECK(r.steps[1].status == run::StepStatus::ok);
  CHECK(r.steps[2].status == run::StepStatus::skipped);
  CHECK(r.failed == 0);
  REQUIRE(verbs.calls.size() == 2);
  CHECK(verbs.calls[1].with["labels"]["found"] == "3 in shop");
  CHECK(verbs.calls[1].pod == "web-1");
  CHECK(verbs.calls[1].case_id == "case-1");
  // the journal has each step's start (with rendered options) and end (with outputs)
  bool start_seen = false;
  for (const auto& [a, f] : journal.entries) {
    if (a == "playbook.step.start" && f["step"] == "mark") {
      start_seen = true;
      CHECK(f["with"]["labels"]["found"] == "3 in shop");
    }
  }
  CHECK(start_seen);
  CHECK(journal.entries.back().first == "playbook.end");
  CHECK(journal.entries.back().second["result"] == "ok");
}

TEST_CASE("run: on_error continue goes on, abort stops the rest") {
  const std::string body = R"(name: t
description: d
steps:
  - {id: one, uses: label, on_error: ONERR, with: {pod: bad, labels: {x: "y"}}}
  - {id: two, uses: siblings}
)";
  for (const auto& [mode, second, aborted] :
       {std::tuple{"continue", run::StepStatus::ok, false}, std::tuple{"abort", run::StepStatus::not_run, true}}) {
    CAPTURE(mode);
    std::string yaml = body;
    yaml.replace(yaml.find("ONERR"), 5, mode);
    FakeVerbs verbs;
    const auto r = run::run_playbook(parse(yaml), run::step_types(), verbs, {}, options(), {}, {}, nullptr);
    CHECK(r.steps[0].status == run::StepStatus::failed);
    CHECK(r.steps[0].detail.find("not found") != std::string::npos);
    CHECK(r.steps[1].status == second);
    CHECK(r.aborted == aborted);
    CHECK(r.failed == 1);
  }
}

TEST_CASE("run: for_each runs its steps per item, in parallel up to the cap, each worker with its own verbs") {
  const auto pb = parse(R"(name: t
description: d
steps:
  - {id: sib, uses: siblings}
  - id: each
    uses: for_each
    with:
      items: "{{ steps.sib.pods }}"
      parallel: 3
      steps:
        - {id: mark, uses: label, with: {pod: "{{ item.name }}", namespace: "{{ item.namespace }}", labels: {seen: "yes"}}}
)");
  FakeVerbs main;
  std::vector<std::unique_ptr<FakeVerbs>> made;
  std::mutex m;
  run::VerbsFactory factory = [&]() -> Result<std::unique_ptr<run::Verbs>> {
    std::lock_guard lock(m);
    made.push_back(std::make_unique<FakeVerbs>());
    FakeVerbs* raw = made.back().get();
    struct Forward final : run::Verbs {
      FakeVerbs* target;
      explicit Forward(FakeVerbs* t) : target(t) {}
      Result<run::VerbResult> run(const run::StepCall& c) override { return target->run(c); }
    };
    return std::unique_ptr<run::Verbs>(std::make_unique<Forward>(raw));
  };
  auto o = options();
  o.max_parallel = 2;
  const auto r = run::run_playbook(pb, run::step_types(), main, factory, o, {}, {}, nullptr);
  REQUIRE(r.steps.size() == 2);
  CHECK(r.steps[1].status == run::StepStatus::ok);
  CHECK(r.steps[1].outputs["count"] == 3);
  CHECK(r.steps[1].outputs["failed"] == 0);
  CHECK(made.size() == 1);  // parallel 3 capped at 2: the main verbs and one more
  std::set<std::string> pods;
  std::size_t calls = main.calls.size() - 1;  // minus siblings
  for (const auto& c : main.calls) {
    if (c.uses == "label") pods.insert(c.with["pod"]);
  }
  for (const auto& v : made) {
    calls += v->calls.size();
    for (const auto& c : v->calls) pods.insert(c.with["pod"]);
  }
  CHECK(calls == 3);
  CHECK(pods == std::set<std::string>{"p1", "p2", "p3"});
  CHECK(r.steps[1].outputs["results"][0]["steps"]["mark"]["status"] == "ok");
}

TEST_CASE("run: a lone {{ reference }} that renders to the wrong type fails its step, like the validator would") {
  const auto pb = parse(R"(name: t
description: d
steps:
  - {id: sib, uses: siblings}
  - {id: mark, uses: label, on_error: continue, with: {labels: {n: "{{ steps.sib.count }}"}}}
)");
  FakeVerbs verbs;
  const auto r = run::run_playbook(pb, run::step_types(), verbs, {}, options(), {}, {}, nullptr);
  CHECK(r.steps[1].status == run::StepStatus::failed);
  CHECK(r.steps[1].detail.find("labels") != std::string::npos);
  CHECK(verbs.calls.size() == 1);  // the label step never reached the verbs
}

TEST_CASE("run: a step past its timeout is cancelled and fails") {
  const auto pb = parse(R"(name: t
description: d
steps:
  - {id: pause, uses: wait, timeout: 1s, on_error: continue, with: {duration: 1h}}
  - {id: sib, uses: siblings}
)");
  FakeVerbs verbs;
  util::CancelToken cancel;
  const auto r = run::run_playbook(pb, run::step_types(), verbs, {}, options(), {}, {}, &cancel);
  CHECK(r.steps[0].status == run::StepStatus::failed);
  CHECK(r.steps[0].detail == "timed out after 1s");
  CHECK(r.steps[1].status == run::StepStatus::ok);
}

TEST_CASE("run: resume skips the steps an earlier run completed and restores their outputs") {
  const auto pb = parse(R"(name: t
description: d
steps:
  - {id: sib, uses: siblings}
  - {id: mark, uses: label, with: {labels: {n: "n{{ steps.sib.count }}"}}}
)");
  Journal first;
  {
    FakeVerbs verbs;
    run::run_playbook(pb, run::step_types(), verbs, {}, options(), first.fn(), {}, nullptr);
  }
  // the second step was killed mid-way: its end never reached the journal
  std::string killed;
  for (const auto& [a, f] : first.entries) {
    if (a == "playbook.step.end" && f["step"] == "mark") break;
    json j = f;
    j["action"] = a;
    killed += j.dump() + "\n";
  }
  killed += "not json at all\n";
  const auto done = run::completed_steps(killed, "t");
  CHECK(done.contains("sib"));
  CHECK_FALSE(done.contains("mark"));
  CHECK(run::completed_steps(killed, "other").empty());

  auto o = options();
  o.resumed = done;
  FakeVerbs verbs;
  const auto r = run::run_playbook(pb, run::step_types(), verbs, {}, o, {}, {}, nullptr);
  CHECK(r.steps[0].status == run::StepStatus::resumed);
  CHECK(r.steps[1].status == run::StepStatus::ok);
  REQUIRE(verbs.calls.size() == 1);
  CHECK(verbs.calls[0].uses == "label");
  CHECK(verbs.calls[0].with["labels"]["n"] == "n3");
}

// A verb that answers with an outcome: isolate NOT contained on the pods named in `uncontained`.
class OutcomeVerbs final : public run::Verbs {
 public:
  std::set<std::string> uncontained;
  std::string error_on;  // this verb fails outright
  std::vector<std::string> calls;
  std::mutex mutex;
  Result<run::VerbResult> run(const run::StepCall& c) override {
    const std::string pod = c.with.value("pod", c.pod);
    {
      std::lock_guard lock(mutex);
      calls.push_back(c.uses + " " + pod);
    }
    if (c.uses == error_on) return fail(Errc::forbidden, pod + ": forbidden");
    if (c.uses == "siblings") {
      return run::VerbResult{json{{"count", 3},
                                  {"pods", json::array({{{"namespace", "a"}, {"name", "p1"}}, {{"namespace", "a"}, {"name", "p2"}},
                                                        {{"namespace", "b"}, {"name", "p3"}}})},
                                  {"partial", false},
                                  {"digest", "sha256:x"}}};
    }
    if (c.uses == "isolate") {
      run::VerbResult v{json{{"contained", uncontained.count(pod) == 0}, {"egress", "contained"}}};
      if (uncontained.count(pod) != 0) {
        v.outcome = util::Outcome::partial;
        v.reason = pod + ": egress NOT contained: policy allow-all allows all destinations";
      }
      return v;
    }
    return run::VerbResult{json{{"artifacts", 3}}};
  }
};

TEST_CASE("run: a step that does not reach its goal is partial, never ok, and never aborts what follows") {
  const auto pb = parse(R"(name: t
description: d
steps:
  - {id: isolate, uses: isolate}
  - {id: collect, uses: collect}
)");
  OutcomeVerbs verbs;
  verbs.uncontained = {"web-1"};
  Journal journal;
  const auto r = run::run_playbook(pb, run::step_types(), verbs, {}, options(), journal.fn(), {}, nullptr);
  REQUIRE(r.steps.size() == 2);
  CHECK(r.steps[0].status == run::StepStatus::partial);
  CHECK(r.steps[0].detail.find("NOT contained") != std::string::npos);
  CHECK(r.steps[0].outputs["contained"] == false);  // its outputs are still there, for `when:`
  CHECK(r.steps[1].status == run::StepStatus::ok);  // the evidence is still taken
  CHECK_FALSE(r.aborted);
  CHECK(r.failed == 1);
  CHECK(r.outcome() == util::Outcome::partial);
  CHECK(journal.entries.back().second["result"] == "partial");
  const auto end = std::find_if(journal.entries.begin(), journal.entries.end(), [](const auto& e) {
    return e.first == "playbook.step.end" && e.second["step"] == "isolate";
  });
  REQUIRE(end != journal.entries.end());
  CHECK(end->second["status"] == "partial");
  // Resuming the case runs a partial step again: only "ok" steps are taken as completed.
  std::string text;
  for (const auto& [action, fields] : journal.entries) {
    json e = fields;
    e["action"] = action;
    text += e.dump() + "\n";
  }
  const json done = run::completed_steps(text, "t");
  CHECK_FALSE(done.contains("isolate"));
  CHECK(done.contains("collect"));
}

TEST_CASE("run: for_each counts items whose goal was not reached as failed") {
  const auto pb = parse(R"(name: t
description: d
steps:
  - {id: sib, uses: siblings}
  - id: each
    uses: for_each
    with:
      items: "{{ steps.sib.pods }}"
      steps:
        - {id: fence, uses: isolate, on_error: continue, with: {pod: "{{ item.name }}", namespace: "{{ item.namespace }}"}}
        - {id: take, uses: collect, with: {pod: "{{ item.name }}", namespace: "{{ item.namespace }}"}}
)");
  SUBCASE("some items not contained: the step is partial") {
    OutcomeVerbs verbs;
    verbs.uncontained = {"p2"};
    const auto r = run::run_playbook(pb, run::step_types(), verbs, {}, options(), {}, {}, nullptr);
    CHECK(r.steps[1].status == run::StepStatus::partial);
    CHECK(r.steps[1].outputs["failed"] == 1);
    CHECK(r.steps[1].outputs["results"][1]["status"] == "failed");
    CHECK(r.steps[1].outputs["results"][1]["steps"]["fence"]["status"] == "partial");
    CHECK(r.steps[1].detail.find("1 of 3 items") != std::string::npos);
    CHECK(r.steps[1].detail.find("p2: egress NOT contained") != std::string::npos);
    CHECK(std::count(verbs.calls.begin(), verbs.calls.end(), "collect p2") == 1);  // still collected
    CHECK(r.outcome() == util::Outcome::partial);
  }
  SUBCASE("no item contained: every item failed, yet in part only: the step is partial and aborts nothing") {
    OutcomeVerbs verbs;
    verbs.uncontained = {"p1", "p2", "p3"};
    const auto r = run::run_playbook(pb, run::step_types(), verbs, {}, options(), {}, {}, nullptr);
    CHECK(r.steps[1].status == run::StepStatus::partial);
    CHECK(r.steps[1].outputs["failed"] == 3);
    CHECK(r.steps[1].outputs["results"][0]["outcome"] == "partial");
    CHECK_FALSE(r.aborted);
    CHECK(r.outcome() == util::Outcome::partial);
  }
  SUBCASE("every item failed outright: the step failed") {
    OutcomeVerbs verbs;
    verbs.error_on = "isolate";
    const auto r = run::run_playbook(pb, run::step_types(), verbs, {}, options(), {}, {}, nullptr);
    CHECK(r.steps[1].status == run::StepStatus::failed);
    CHECK(r.steps[1].outputs["failed"] == 3);
    CHECK(r.outcome() == util::Outcome::failed);
  }
  SUBCASE("all contained: ok") {
    OutcomeVerbs verbs;
    const auto r = run::run_playbook(pb, run::step_types(), verbs, {}, options(), {}, {}, nullptr);
    CHECK(r.steps[1].status == run::StepStatus::ok);
    CHECK(r.outcome() == util::Outcome::ok);
  }
}

TEST_CASE("run: the rendered options of each step are in its outcome") {
  const auto pb = parse(R"(name: t
description: d
params:
  ingress: {type: bool, default: true}
steps:
  - {id: isolate, uses: isolate, with: {ingress: "{{ params.ingress }}", probe: "10.0.0.1:{{ case }}"}}
)");
  OutcomeVerbs verbs;
  const auto r = run::run_playbook(pb, run::step_types(), verbs, {}, [] {
    auto o = options();
    o.params = {{"ingress", true}};
    return o;
  }(), {}, {}, nullptr);
  CHECK(r.steps[0].with == json{{"ingress", true}, {"probe", "10.0.0.1:case-1"}});
}

TEST_CASE("run: step statuses and outcomes by name") {
  for (const auto s : {run::StepStatus::ok, run::StepStatus::resumed, run::StepStatus::skipped, run::StepStatus::partial,
                       run::StepStatus::failed, run::StepStatus::not_run}) {
    CHECK(run::parse_step_status(run::to_string(s)) == s);
  }
  CHECK(run::to_string(run::StepStatus::not_run) == std::string("not run"));
  CHECK_FALSE(run::parse_step_status("OK"));
  CHECK(run::outcome_of(run::StepStatus::resumed) == util::Outcome::ok);
  CHECK(run::outcome_of(run::StepStatus::not_run) == util::Outcome::failed);
  run::RunReport r;
  r.steps.push_back({"a", "wait", run::StepStatus::skipped});
  CHECK(r.outcome() == util::Outcome::ok);
  r.cancelled = true;
  CHECK(r.outcome() == util::Outcome::interrupted);
}

TEST_CASE("run: step timeouts and durations are measured on the run's clock") {
  const auto pb = parse(R"(name: t
description: d
steps:
  - {id: slow, uses: wait, timeout: 1m, with: {duration: 1h}}
  - {id: next, uses: siblings}
)");
  util::FakeClock clock;
  FakeVerbs verbs;
  verbs.answer = [&clock](const run::StepCall& c) -> Result<json> {
    if (c.uses != "wait") return json{{"count", 0}, {"pods", json::array()}, {"partial", false}, {"digest", ""}};
    clock.advance(std::chrono::minutes(2));  // two minutes pass on the run's clock...
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while ((c.cancel == nullptr || !c.cancel->cancelled()) && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));  // ...so the deadline fires within a poll
    }
    return fail(Errc::cancelled, "wait interrupted");
  };
  auto o = options();
  o.clock = &clock;
  const auto r = run::run_playbook(pb, run::step_types(), verbs, {}, o, {}, {}, nullptr);
  CHECK(r.steps[0].status == run::StepStatus::failed);
  CHECK(r.steps[0].detail == "timed out after 60s");
  CHECK(r.steps[0].seconds == doctest::Approx(120.0));
  CHECK(r.steps[1].status == run::StepStatus::not_run);  // on_error: abort
}
