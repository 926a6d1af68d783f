#include <doctest/doctest.h>

#include "kube/api.hpp"
#include "support/fake_kube.hpp"
#include "support/samples.hpp"

using namespace ir;
using namespace ir::kube;
using ir::testing::ClientFixture;
using ir::testing::header_of;
using nlohmann::json;

using ir::testing::sample;

TEST_CASE("get_server_version") {
  ClientFixture f;
  f.transport.reply(200, sample("version.json"));
  auto v = get_server_version(f.client);
  REQUIRE(v);
  CHECK(v->git_version == "v1.26.4");
  CHECK(v->major == 1);
  CHECK(v->minor == 26);
  SUBCASE("a provider's \"27+\" minor") {
    ClientFixture g;
    g.transport.reply(200, R"({"major":"1","minor":"27+","gitVersion":"v1.27.3-eks-1","platform":"linux/amd64"})");
    auto w = get_server_version(g.client);
    REQUIRE(w);
    CHECK(w->minor == 27);
  }
}

TEST_CASE("self_subject_review degrades on servers without it") {
  ClientFixture f;
  const auto not_found = sample("selfsubjectreview-v1-on-1.26.json");
  f.transport.reply(404, not_found).reply(404, not_found);
  auto r = self_subject_review(f.client);
  REQUIRE(r);
  CHECK_FALSE(r->has_value());
  CHECK(f.transport.requests[0].url.find("/apis/authentication.k8s.io/v1/selfsubjectreviews") != std::string::npos);
  CHECK(f.transport.requests[1].url.find("/apis/authentication.k8s.io/v1beta1/selfsubjectreviews") != std::string::npos);

  ClientFixture g;
  g.transport.reply(201, R"({"kind":"SelfSubjectReview","status":{"userInfo":{"username":"admin","groups":["system:masters","system:authenticated"]}}})");
  auto who = self_subject_review(g.client);
  REQUIRE(who);
  REQUIRE(who->has_value());
  CHECK((*who)->username == "admin");
  CHECK((*who)->groups.size() == 2);
}

TEST_CASE("access_review sends resource attributes") {
  ClientFixture f;
  f.transport.reply(201, sample("selfsubjectaccessreview.json"));
  auto d = access_review(f.client, {"create", "", "pods", "exec", "ir-demo", ""});
  REQUIRE(d);
  CHECK(d->allowed);
  const auto body = json::parse(f.transport.requests[0].body);
  CHECK(body["kind"] == "SelfSubjectAccessReview");
  CHECK(body["spec"]["resourceAttributes"] == json{{"verb", "create"}, {"group", ""}, {"resource", "pods"},
                                                    {"subresource", "exec"}, {"namespace", "ir-demo"}});
}

TEST_CASE("rules_review reads the rules and whether they are complete") {
  ClientFixture f;
  f.transport.reply(201, R"({"kind":"SelfSubjectRulesReview","status":{"incomplete":true,
    "evaluationError":"webhook authorizer: rules not listable",
    "resourceRules":[{"verbs":["get","list"],"apiGroups":[""],"resources":["pods","pods/log"]},
                     {"verbs":["patch"],"apiGroups":["apps"],"resources":["deployments"],"resourceNames":["web"]},
                     "garbage", {"verbs":"not a list"}],
    "nonResourceRules":[{"verbs":["get"],"nonResourceURLs":["/api"]}]}})");
  auto r = rules_review(f.client, "shop");
  REQUIRE(r);
  CHECK(r->incomplete);
  REQUIRE(r->rules.size() == 3);  // the non-object entry is skipped; a malformed field reads as empty
  CHECK(r->rules[0].resources == std::vector<std::string>{"pods", "pods/log"});
  CHECK(r->rules[1].resource_names == std::vector<std::string>{"web"});
  CHECK(r->rules[2].verbs.empty());
  const auto& req = f.transport.requests[0];
  CHECK(req.method == "POST");
  CHECK(req.url == "https://127.0.0.1:6443/apis/authorization.k8s.io/v1/selfsubjectrulesreviews");
  CHECK(json::parse(req.body) == json{{"apiVersion", "authorization.k8s.io/v1"},
                                      {"kind", "SelfSubjectRulesReview"},
                                      {"spec", {{"namespace", "shop"}}}});
  ClientFixture g;
  g.transport.reply(201, R"({"kind":"SelfSubjectRulesReview","status":{"incomplete":false,"evaluationError":"x"}})");
  auto e = rules_review(g.client, "shop");
  REQUIRE(e);
  CHECK(e->incomplete);  // an evaluation error leaves the rules incomplete whatever the flag says
}

TEST_CASE("rules_allow matches as RBAC does") {
  const std::vector<ResourceRule> rules = {
      {{"get", "list"}, {""}, {"pods", "pods/log"}, {}},
      {{"patch"}, {"networking.k8s.io"}, {"networkpolicies"}, {"kubectl-ir-quarantine-web-1"}},
      {{"*"}, {"apps"}, {"*/scale"}, {}},
      {{"create"}, {"*"}, {"*"}, {}},
  };
  struct Row {
    ResourceAttributes need;
    bool allowed;
  };
  const std::vector<Row> rows = {
      {{"get", "", "pods", "", "shop", ""}, true},
      {{"list", "", "pods", "", "shop", ""}, true},
      {{"get", "", "pods", "log", "shop", "web-1"}, true},
      {{"get", "", "pods", "exec", "shop", "web-1"}, false},      // another subresource
      {{"patch", "", "pods", "", "shop", "web-1"}, false},        // verb
      {{"get", "apps", "pods", "", "shop", ""}, false},           // group
      {{"patch", "networking.k8s.io", "networkpolicies", "", "shop", "kubectl-ir-quarantine-web-1"}, true},
      {{"patch", "networking.k8s.io", "networkpolicies", "", "shop", "other"}, false},  // resourceNames
      {{"patch", "networking.k8s.io", "networkpolicies", "", "shop", ""}, false},       // no name: not all names
      {{"update", "apps", "deployments", "scale", "shop", "web"}, true},                // */scale
      {{"update", "apps", "deployments", "", "shop", "web"}, false},
      {{"create", "policy.networking.k8s.io", "adminnetworkpolicies", "", "", ""}, true},  // * group and resource
  };
  for (const auto& row : rows) {
    CAPTURE(qualified_resource(row.need));
    CAPTURE(row.need.verb);
    CHECK(rules_allow(rules, row.need) == row.allowed);
  }
  CHECK_FALSE(rules_allow({}, {"get", "", "pods", "", "shop", ""}));
}

TEST_CASE("writes: dry run, content types, server-side apply") {
  ClientFixture f;
  f.transport.reply(200, sample("pod-label-patch-dryrun.json"));
  REQUIRE(patch_pod_metadata(f.client, "shop", "web-1", {{"labels", {{"kubectl-ir/quarantine", "case-1"}}}}, DryRun::all));
  const auto& patch = f.transport.requests[0];
  CHECK(patch.method == "PATCH");
  CHECK(patch.url == "https://127.0.0.1:6443/api/v1/namespaces/shop/pods/web-1?dryRun=All");
  CHECK(header_of(patch, "Content-Type") == "application/merge-patch+json");
  CHECK(json::parse(patch.body) == json{{"metadata", {{"labels", {{"kubectl-ir/quarantine", "case-1"}}}}}});

  f.transport.reply(200, sample("networkpolicy-apply.json"));
  const json policy = {{"apiVersion", "networking.k8s.io/v1"},
                       {"kind", "NetworkPolicy"},
                       {"metadata", {{"name", "kubectl-ir-quarantine-web-1"}}}};
  REQUIRE(apply_network_policy(f.client, "shop", policy, DryRun::none));
  const auto& apply = f.transport.requests[1];
  CHECK(apply.url ==
        "https://127.0.0.1:6443/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies/"
        "kubectl-ir-quarantine-web-1?fieldManager=kubectl-ir&force=true");
  CHECK(header_of(apply, "Content-Type") == "application/apply-patch+yaml");

  f.transport.reply(200, sample("networkpolicy-deleted.json"));
  REQUIRE(delete_network_policy(f.client, "shop", "p", DryRun::all));
  CHECK(f.transport.requests[2].method == "DELETE");
  CHECK(f.transport.requests[2].url.find("?dryRun=All") != std::string::npos);
}

TEST_CASE("stream_pod_logs") {
  ClientFixture f;
  f.transport.reply(200, "2026-11-21T16:02:28.1Z tick\n");
  std::string got;
  auto n = stream_pod_logs(f.client, "shop", "web-1", {"app", true, true, 300}, [&](std::string_view c) -> Result<void> {
    got += c;
    return {};
  });
  REQUIRE(n);
  CHECK(n->bytes == 28);
  CHECK_FALSE(n->cut);
  CHECK(got == "2026-11-21T16:02:28.1Z tick\n");
  CHECK(f.transport.requests[0].url ==
        "https://127.0.0.1:6443/api/v1/namespaces/shop/pods/web-1/log?container=app&previous=true&timestamps=true&limitBytes=300");
}

TEST_CASE("stream_pod_logs: a server that ignores limitBytes is cut at the limit, without an error") {
  ClientFixture f;
  f.transport.reply(200, std::string(1000, 'x'));
  std::string got;
  auto n = stream_pod_logs(f.client, "shop", "web-1", {"app", false, true, 300}, [&](std::string_view c) -> Result<void> {
    got += c;
    return {};
  });
  REQUIRE(n);
  CHECK(n->bytes == 300);
  CHECK(n->cut);
  CHECK(got.size() == 300);
  // a sink's own failure is still an error
  f.transport.reply(200, "abc");
  auto e = stream_pod_logs(f.client, "shop", "web-1", {"app", false, true, 0},
                           [](std::string_view) -> Result<void> { return fail(Errc::io, "disk full"); });
  REQUIRE_FALSE(e);
  CHECK(e.error().message.find("disk full") != std::string::npos);
}

TEST_CASE("is_served") {
  ClientFixture f;
  f.transport.reply(404, sample("status-404-notfound.json"));
  auto none = is_served(f.client, "policy.networking.k8s.io", "v1alpha1", "adminnetworkpolicies");
  REQUIRE(none);
  CHECK_FALSE(*none);
  f.transport.reply(200, R"({"kind":"APIResourceList","resources":[{"name":"networkpolicies"}]})");
  auto yes = is_served(f.client, "networking.k8s.io", "v1", "networkpolicies");
  REQUIRE(yes);
  CHECK(*yes);
}

TEST_CASE("object_path") {
  CHECK(object_path("apps/v1", "ReplicaSet", "shop", "web-7d4b9") == "/apis/apps/v1/namespaces/shop/replicasets/web-7d4b9");
  CHECK(object_path("batch/v1", "CronJob", "batch", "nightly") == "/apis/batch/v1/namespaces/batch/cronjobs/nightly");
  CHECK_FALSE(object_path("example.com/v1", "Widget", "x", "y"));
}

TEST_CASE("AdminNetworkPolicy: server-side apply with the one field manager, and delete") {
  ClientFixture f;
  const json policy = {{"apiVersion", "policy.networking.k8s.io/v1alpha1"},
                       {"kind", "AdminNetworkPolicy"},
                       {"metadata", {{"name", "kubectl-ir-quarantine-shop-web-1"}}}};
  f.transport.reply(200, policy.dump());
  REQUIRE(apply_admin_network_policy(f.client, policy, DryRun::all));
  const auto& apply = f.transport.requests[0];
  CHECK(apply.method == "PATCH");
  CHECK(apply.url ==
        "https://127.0.0.1:6443/apis/policy.networking.k8s.io/v1alpha1/adminnetworkpolicies/"
        "kubectl-ir-quarantine-shop-web-1?dryRun=All&fieldManager=kubectl-ir&force=true");
  CHECK(header_of(apply, "Content-Type") == "application/apply-patch+yaml");
  f.transport.reply(200, R"({"kind":"Status","status":"Success"})");
  REQUIRE(delete_admin_network_policy(f.client, "kubectl-ir-quarantine-shop-web-1", DryRun::none));
  CHECK(f.transport.requests[1].method == "DELETE");
  CHECK(f.transport.requests[1].url ==
        "https://127.0.0.1:6443/apis/policy.networking.k8s.io/v1alpha1/adminnetworkpolicies/kubectl-ir-quarantine-shop-web-1");
}
