#include <doctest/doctest.h>

#include "support/fake_pod_api.hpp"
#include "triage/drill.hpp"

using namespace ir;
using namespace ir::testing;
using namespace ir::triage;

TEST_CASE("drill_namespace_refusal: the cluster's own namespaces") {
  for (const char* ns : {"kube-system", "kube-public", "kube-node-lease", "kube-anything"}) {
    CAPTURE(ns);
    CHECK(drill_namespace_refusal(ns).find("belongs to the cluster itself") != std::string::npos);
  }
  CHECK(drill_namespace_refusal("").empty());
  CHECK(drill_namespace_refusal("ir-drills").empty());
  CHECK(drill_namespace_refusal("kubesystem").empty());
}

TEST_CASE("run_drill: refused options are usage errors before any request") {
  RoutedTransport t;
  FakeCredentials creds;
  util::FakeClock clock;
  kube::Client client(test_config(), t, creds, clock);
  ExecConnector exec([](const ExecCall&) { return ExecReply::output(""); });
  DrillOptions o;
  o.drill_id = "abc123";
  o.work_dir = "/tmp";
  SUBCASE("kube-system") {
    o.namespace_name = "kube-system";
  }
  SUBCASE("a bad id") {
    o.drill_id = "ABC/../x";
  }
  SUBCASE("no work directory") {
    o.work_dir.clear();
  }
  auto r = run_drill(client, exec, clock, o, [](const std::string&, const nlohmann::json&) {});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::usage);
  CHECK(t.requests.empty());
  CHECK(exec.calls.empty());
}

TEST_CASE("DrillReport::ready: every required row ready, not cancelled") {
  DrillReport r;
  r.rows = {{"rbac", "RBAC", true, RowState::ready, "", 0},
            {"ephemeral", "ephemeral", false, RowState::not_ready, "", 0},
            {"ingress", "ingress", false, RowState::skipped, "", 0}};
  CHECK(r.ready());
  r.rows.push_back({"egress", "egress", true, RowState::not_ready, "", 0});
  CHECK_FALSE(r.ready());
  r.rows.back().state = RowState::ready;
  r.cancelled = true;
  CHECK_FALSE(r.ready());
}

TEST_CASE("run_drill: without the permissions to run, nothing is created and cleanup says so") {
  RoutedTransport t;
  FakeCredentials creds;
  util::FakeClock clock;
  kube::Client client(test_config(), t, creds, clock);
  // Every review answers "not allowed".
  t.json("POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews", R"({"status":{"allowed":false}})", 201);
  ExecConnector exec([](const ExecCall&) { return ExecReply::output(""); });
  DrillOptions o;
  o.drill_id = "abc123";
  o.work_dir = "/tmp";
  std::vector<std::string> logged;
  auto r = run_drill(client, exec, clock, o, [&](const std::string& a, const nlohmann::json&) { logged.push_back(a); });
  REQUIRE(r);
  CHECK_FALSE(r->ready());
  CHECK(r->namespace_name == "kubectl-ir-drill-abc123");
  REQUIRE(r->rows.size() >= 3);
  CHECK(r->rows[0].check == "rbac");
  CHECK(r->rows[0].state == RowState::not_ready);
  CHECK(r->rows[0].detail.rfind("the drill cannot run: missing create pods in namespace kubectl-ir-drill-abc123", 0) ==
        0);
  CHECK(r->rows[1].state == RowState::skipped);
  CHECK(r->rows.back().check == "cleanup");
  CHECK(r->rows.back().detail == "nothing was created");
  CHECK(r->created.empty());
  for (const auto& req : t.requests) CHECK(req.method != "DELETE");
  CHECK(exec.calls.empty());
  CHECK(std::count(logged.begin(), logged.end(), "drill.create") == 0);
}
