#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "forensics/analysis.hpp"
#include "forensics/drift.hpp"
#include "forensics/indicators.hpp"
#include "forensics/procfs.hpp"
#include "support/forensics_builders.hpp"

using namespace ir::forensics;
using namespace ir::testing;
using nlohmann::json;

namespace {

Finding finding(Severity severity, FindingKind kind, std::string summary, json subject = json::object(),
                std::string rule = "r") {
  Finding f;
  f.severity = severity;
  f.kind = kind;
  f.summary = std::move(summary);
  f.subject = std::move(subject);
  f.rule = std::move(rule);
  f.container = "web";
  return f;
}

std::vector<std::string> keys(const json& j) {
  std::vector<std::string> out;
  for (const auto& [k, v] : j.items()) out.push_back(k);
  return out;
}

}  // namespace

TEST_CASE("to_json: an indicators document has exactly the contract's keys") {
  const auto d = indicators_document(demo_pod(k_demo_compromised), {}, "2026-12-05T10:00:00Z");
  const json j = to_json(d);
  CHECK(keys(j) ==
        std::vector<std::string>{"counts", "findings", "format", "gaps", "generated_at", "kind", "pod", "rules"});
  CHECK(j["format"] == "kubectl-ir-analysis/v1");
  CHECK(j["kind"] == "indicators");
  CHECK(j["pod"] ==
        json{{"namespace", "shop"}, {"name", "web-7d4b9c8f6-x2k9p"}, {"uid", "d3459307-1d0c-4a32-8577-6299b7261007"}});
  CHECK(j["rules"][0] ==
        json{{"id", "exe-memfd"}, {"severity", "critical"}, {"description", indicator_rules()[0].description}});
  CHECK(j["counts"] ==
        json{{"total", 4}, {"by_kind", {{"connection", 1}, {"process", 3}}}, {"by_severity", {{"high", 4}}}});
  const json& f = j["findings"][0];
  CHECK(keys(f) ==
        std::vector<std::string>{"container", "evidence", "id", "kind", "rule", "severity", "subject", "summary"});
  CHECK(f["id"] == "F1");
  CHECK(keys(f["evidence"]) == std::vector<std::string>{"artifact", "record"});
  CHECK(j["gaps"] == json::array({"ld-preload-env: not judged: the collector did not read LD_PRELOAD of any process"}));
}

TEST_CASE("to_json: a drift document has the baseline block and seen_in / judged_against on findings") {
  const auto x = demo_pod(k_demo_compromised);
  const auto a = demo_pod(k_demo_healthy_1);
  auto failed = member_of(demo_pod(k_demo_healthy_2));
  failed.reason = "timed out";
  const auto d =
      drift_document(x, profile_of_members(x, {{member_of(a), &a}, {failed, nullptr}}), {}, "2026-12-05T10:00:00Z");
  const json j = to_json(d);
  CHECK(keys(j) ==
        std::vector<std::string>{"baseline", "counts", "findings", "format", "gaps", "generated_at", "kind", "pod"});
  CHECK(j["kind"] == "drift");
  CHECK(j["baseline"] == json{{"source", "siblings"},
                              {"digest", "sha256:ce8bdfcc780090e7834a151f442da4043b2cd75956632e131e75b0dee9e09e31"},
                              {"file", nullptr},
                              {"created", nullptr},
                              {"quorum", 1},
                              {"members",
                               {{{"namespace", "shop"},
                                 {"name", k_demo_healthy_1},
                                 {"node", "node-1"},
                                 {"relation", "same-workload"},
                                 {"status", "ok"},
                                 {"reason", ""}},
                                {{"namespace", "shop"},
                                 {"name", k_demo_healthy_2},
                                 {"node", "node-1"},
                                 {"relation", "same-workload"},
                                 {"status", "failed"},
                                 {"reason", "timed out"}}}}});
  for (const auto& f : j["findings"]) {
    CHECK(f["seen_in"] == json{{"count", 0}, {"of", 1}});
    CHECK(f["judged_against"] == "same-workload");
  }
  CHECK(j["counts"]["total"] == 8);
  CHECK_NOTHROW((void)ir::forensics::procfs::dump_json(j, 2));
}

TEST_CASE("finalize: sorted by severity, kind, summary; numbered; the same whatever the input order") {
  std::vector<Finding> in = {
      finding(Severity::medium, FindingKind::file, "b"),
      finding(Severity::critical, FindingKind::process, "z"),
      finding(Severity::medium, FindingKind::file, "a"),
      finding(Severity::high, FindingKind::process, "a"),
      finding(Severity::high, FindingKind::connection, "z"),
      finding(Severity::medium, FindingKind::file, "a", {{"path", "/2"}}),
      finding(Severity::medium, FindingKind::file, "a", {{"path", "/1"}}),
  };
  AnalysisDocument first;
  first.findings = in;
  first.gaps = {"x", "y", "x"};
  finalize(first);
  std::vector<std::string> order;
  for (const auto& f : first.findings)
    order.push_back(f.id + " " + to_string(f.severity) + " " + to_string(f.kind) + " " + f.summary + " " +
                    f.subject.dump());
  CHECK(order == std::vector<std::string>{"F1 critical process z {}", "F2 high connection z {}", "F3 high process a {}",
                                          "F4 medium file a {\"path\":\"/1\"}", "F5 medium file a {\"path\":\"/2\"}",
                                          "F6 medium file a {}", "F7 medium file b {}"});
  CHECK(first.gaps == std::vector<std::string>{"x", "y"});
  std::mt19937 rng(7);
  for (int round = 0; round < 5; ++round) {
    std::shuffle(in.begin(), in.end(), rng);
    AnalysisDocument again;
    again.findings = in;
    finalize(again);
    CHECK(to_json(again)["findings"] == to_json(first)["findings"]);
  }
}

TEST_CASE("summary_lines: one line per process with its addresses, most severe first, bounded") {
  std::vector<Finding> f = {
      finding(Severity::high, FindingKind::connection, "pool", {{"pid", 3}, {"remote", "198.51.100.7:3333"}},
              "mining-pool-port"),
      finding(Severity::high, FindingKind::process, "tmp", {{"pid", 3}, {"exe", "/tmp/.x/kworkerds"}}, "exe-in-tmp"),
      finding(Severity::medium, FindingKind::file, "/var/www/upload.php added", {{"path", "/var/www/upload.php"}},
              "drift.file.added"),
      finding(Severity::critical, FindingKind::process, "pid 9 memfd", {{"pid", 9}, {"exe", "/memfd:x (deleted)"}},
              "exe-memfd"),
      finding(Severity::low, FindingKind::file, "/tmp/.y added", {{"path", "/tmp/.y"}}, "drift.file.added"),
  };
  CHECK(summary_lines(f) == std::vector<std::string>{
                                "pid 9 /memfd:x (deleted) (critical: exe-memfd)",
                                "pid 3 /tmp/.x/kworkerds → 198.51.100.7:3333 (high: mining-pool-port, exe-in-tmp)",
                                "medium: /var/www/upload.php added",
                                "low: /tmp/.y added",
                            });
  CHECK(summary_lines(f, 3) == std::vector<std::string>{
                                   "pid 9 /memfd:x (deleted) (critical: exe-memfd)",
                                   "pid 3 /tmp/.x/kworkerds → 198.51.100.7:3333 (high: mining-pool-port, exe-in-tmp)",
                                   "... and 2 more findings",
                               });
  CHECK(summary_lines(f, 0).empty());
  CHECK(summary_lines({}).empty());
}

TEST_CASE("find_address: IPv4-mapped IPv6 addresses are looked up as IPv4") {
  AddressNames names = {{"10.96.0.10", {"service kube-system/kube-dns", ""}}};
  REQUIRE(find_address(names, "::ffff:10.96.0.10") != nullptr);
  CHECK(find_address(names, "::ffff:10.96.0.10")->name == "service kube-system/kube-dns");
  CHECK(find_address(names, "10.96.0.11") == nullptr);
}

TEST_CASE("Relation and the other names round-trip") {
  for (const Relation r : {Relation::same_workload, Relation::same_digest, Relation::baseline_file}) {
    CHECK(parse_relation(to_string(r)) == r);
  }
  CHECK_FALSE(parse_relation("friend"));
  CHECK(std::string(to_string(BaselineSource::baseline_file)) == "baseline-file");
  CHECK(std::string(to_string(FindingKind::listening_port)) == "listening_port");
}
