#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "evidence/case.hpp"
#include "util/files.hpp"
#include "support/temp_dir.hpp"

using namespace ir;
using namespace ir::evidence;
using nlohmann::json;
using ir::testing::TempDir;

namespace {

util::FakeClock clock_at(const char* t) { return util::FakeClock(*util::parse_rfc3339(t)); }

std::vector<json> journal_of(const Case& c) {
  std::vector<json> out;
  std::ifstream in(c.journal().path());
  for (std::string line; std::getline(in, line);) out.push_back(json::parse(line));
  return out;
}

std::vector<std::string> actions(const std::vector<json>& entries) {
  std::vector<std::string> out;
  for (const auto& e : entries) out.push_back(e.value("action", ""));
  return out;
}

Acquirer acquirer(util::TimePoint started) {
  Acquirer a;
  a.examiner = "alice";
  a.caller = "alice@example.com";
  a.tool_version = "0.1.0";
  a.tool_commit = "abc1234";
  a.context = "prod";
  a.server = "https://10.0.0.1:6443";
  a.host = "laptop";
  a.command_line = "kubectl ir collect web-1 -n shop";
  a.started = started;
  return a;
}

Subject web1() {
  return {"shop", "web-1", "uid-1", "42", "node-1", {{"web", "registry/web@sha256:aa", "sha256:aa"}}};
}

}  // namespace

TEST_CASE("Case: open, log with common fields, seal a complete bundle") {
  TempDir dir;
  auto clock = clock_at("2026-12-05T10:00:00Z");
  const auto started = clock.now();
  auto c = Case::open(dir.file("cases"), "case-1", clock, {{"namespace", "shop"}, {"pod", "web-1"}});
  REQUIRE(c);
  CHECK((*c)->id() == "case-1");
  CHECK((*c)->bundle() == nullptr);
  REQUIRE((*c)->log("collect.start", {{"examiner", "alice"}}));
  REQUIRE((*c)->open_bundle(dir.file("b.tar.gz")));
  REQUIRE((*c)->bundle() != nullptr);
  REQUIRE((*c)->bundle()->add("pod/pod.json", "{}", {.source = "GET pod", .method = evidence::Method::api}));
  clock.advance(std::chrono::seconds(9));

  SealInput in;
  in.subjects = {web1()};
  in.details = "steps:\n  pod ok\n";
  in.extra = {{"collect", {{"fs", "listing"}}}, {"case", "not-overridden"}};
  auto sealed = (*c)->seal("collect", acquirer(started), in);
  REQUIRE(sealed);
  CHECK(sealed->problems.empty());
  CHECK(sealed->sealed.path == dir.file("b.tar.gz"));
  CHECK(sealed->sealed.artifacts == 4);  // pod.json, acquisition.json, acquisition.log, journal.jsonl
  CHECK((*c)->bundle() == nullptr);

  EntryCollector keep({"acquisition.json", "acquisition.log", "journal.jsonl"}, 1 << 20);
  auto v = verify_bundle(dir.file("b.tar.gz"), &keep);
  REQUIRE(v);
  CHECK(v->ok());
  CHECK(v->bundle_sha256 == sealed->sealed.sha256);

  const json acq = json::parse(keep.find("acquisition.json")->data);
  CHECK(acq["format"] == "kubectl-ir-acquisition/v1");
  CHECK(acq["case"] == "case-1");
  CHECK(acq["examiner"] == "alice");
  CHECK(acq["tool"]["commit"] == "abc1234");
  CHECK(acq["cluster"]["server"] == "https://10.0.0.1:6443");
  CHECK(acq["started"] == "2026-12-05T10:00:00Z");
  CHECK(acq["ended"] == "2026-12-05T10:00:09Z");
  CHECK(acq["result"] == "complete");
  CHECK(acq["subjects"][0]["images"][0]["digest"] == "sha256:aa");
  CHECK(acq["collect"]["fs"] == "listing");
  const std::string log = keep.find("acquisition.log")->data;
  CHECK(log.find("result:           complete\n") != std::string::npos);
  CHECK(log.find("imageID web:      registry/web@sha256:aa\n") != std::string::npos);
  CHECK(log.find("steps:\n  pod ok\n") != std::string::npos);

  // The bundle's journal holds everything up to the end of the collection; the case journal goes
  // on with the seal and its digest.
  const std::string inside = keep.find("journal.jsonl")->data;
  CHECK(inside.find("\"collect.end\"") != std::string::npos);
  CHECK(inside.find("\"collect.sealed\"") == std::string::npos);
  const auto entries = journal_of(**c);
  CHECK(actions(entries) == std::vector<std::string>{"collect.start", "collect.end", "collect.sealed"});
  CHECK(entries[0]["namespace"] == "shop");
  CHECK(entries[0]["examiner"] == "alice");
  CHECK(entries[2]["sha256"] == sealed->sealed.sha256);
  CHECK(entries[1]["result"] == "complete");
}

TEST_CASE("Case: partial and interrupted results are recorded as such") {
  TempDir dir;
  auto clock = clock_at("2026-12-05T10:00:00Z");
  auto c = Case::open(dir.file("cases"), "case-2", clock);
  REQUIRE(c);
  REQUIRE((*c)->open_bundle(dir.file("b.tar.gz")));
  SealInput in;
  in.subjects = {web1()};
  SUBCASE("partial: what is missing is listed") {
    in.result = util::Outcome::partial;
    in.not_collected = {"processes of container web: forbidden: create pods/exec"};
  }
  SUBCASE("interrupted by Ctrl-C after a few seconds") {
    clock.advance(std::chrono::seconds(3));
    in.result = util::Outcome::interrupted;
    in.not_collected = {"network of container web: interrupted before it ran"};
  }
  auto sealed = (*c)->seal("collect", acquirer(clock.now()), in);
  REQUIRE(sealed);
  EntryCollector keep({"acquisition.json", "acquisition.log"}, 1 << 20);
  REQUIRE(verify_bundle(dir.file("b.tar.gz"), &keep));
  const json acq = json::parse(keep.find("acquisition.json")->data);
  CHECK(acq["result"] == result_name(in.result));
  CHECK(acq["not_collected"] == in.not_collected);
  CHECK(keep.find("acquisition.log")->data.find("not collected:\n  " + in.not_collected[0]) != std::string::npos);
  CHECK(journal_of(**c).back()["action"] == "collect.sealed");
}

TEST_CASE("Case: a bundle that cannot be finished is kept as .partial and the failure journaled") {
  TempDir dir;
  auto clock = clock_at("2026-12-05T10:00:00Z");
  auto c = Case::open(dir.file("cases"), "case-3", clock);
  REQUIRE(c);
  REQUIRE((*c)->open_bundle(dir.file("b.tar.gz")));
  REQUIRE((*c)->bundle()->add("pod/pod.json", "{}", {.source = "GET pod", .method = evidence::Method::api}));
  { std::ofstream(dir.file("b.tar.gz")) << "someone else's file"; }  // appeared meanwhile: never replaced
  auto sealed = (*c)->seal("collect", acquirer(clock.now()), SealInput{});
  REQUIRE_FALSE(sealed);
  CHECK(sealed.error().hint.find("b.tar.gz.partial") != std::string::npos);
  CHECK(std::filesystem::exists(dir.file("b.tar.gz.partial")));
  const auto entries = journal_of(**c);
  CHECK(entries.back()["action"] == "collect.sealed");
  CHECK(entries.back().contains("error"));
  CHECK_FALSE(entries.back().contains("sha256"));
}

TEST_CASE("Case: seal before open_bundle, and a second bundle, are refused") {
  TempDir dir;
  auto clock = clock_at("2026-12-05T10:00:00Z");
  auto c = Case::open(dir.file("cases"), "case-4", clock);
  REQUIRE(c);
  CHECK_FALSE((*c)->seal("run", acquirer(clock.now()), SealInput{}));
  REQUIRE((*c)->open_bundle(dir.file("a.tar.gz")));
  CHECK_FALSE((*c)->open_bundle(dir.file("b.tar.gz")));
}

TEST_CASE("Case: an invalid case id is refused") {
  TempDir dir;
  util::FakeClock clock;
  CHECK_FALSE(Case::open(dir.file("cases"), "../etc", clock));
  CHECK_FALSE(Case::open(dir.file("cases"), "", clock));
}

TEST_CASE("PendingLog: entries gathered before the case is known are written in order") {
  TempDir dir;
  util::FakeClock clock;
  PendingLog pending;
  auto log = pending.logger();
  log("isolate.label", {{"n", 1}});
  log("isolate.policy", {{"n", 2}});
  CHECK(pending.size() == 2);
  auto c = Case::open(dir.file("cases"), "case-5", clock, {{"pod", "web-1"}});
  REQUIRE(c);
  REQUIRE(pending.flush(**c));
  CHECK(pending.size() == 0);
  const auto entries = journal_of(**c);
  CHECK(actions(entries) == std::vector<std::string>{"isolate.label", "isolate.policy"});
  CHECK(entries[1]["pod"] == "web-1");
  CHECK(entries[1]["n"] == 2);
}

TEST_CASE("Case::log is safe from several threads: every entry is one whole line") {
  TempDir dir;
  util::FakeClock clock;
  auto c = Case::open(dir.file("cases"), "case-6", clock);
  REQUIRE(c);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&c, t] {
      for (int i = 0; i < 25; ++i) (void)(*c)->log("step", {{"thread", t}, {"i", i}});
    });
  }
  for (auto& th : threads) th.join();
  CHECK(journal_of(**c).size() == 100);
}
