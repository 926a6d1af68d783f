#include <doctest/doctest.h>

#include "support/fake_kube.hpp"
#include "triage/owners.hpp"
#include "triage/pod_builder.hpp"

using namespace ir;
using namespace ir::triage;
using ir::testing::ClientFixture;
using ir::testing::forbidden;
using ir::testing::list_page;
using ir::testing::node_object;
using ir::testing::not_found;
using ir::testing::owned_object;

namespace doctest {
template <>
struct StringMaker<Workload> {
  static String convert(const Workload& w) {
    return (w.kind + "/" + w.name + (w.resolved ? "" : " (unresolved: " + w.note + ")")).c_str();
  }
};
}  // namespace doctest

namespace {
std::string path_of(const kube::HttpRequest& r) {
  const auto start = r.url.find('/', 8);
  return r.url.substr(start, r.url.find('?') == std::string::npos ? std::string::npos : r.url.find('?') - start);
}
PodOwner pod(const std::string& ns, const std::string& kind, const std::string& name,
             const std::string& api_version = "apps/v1") {
  return {ns, OwnerRef{api_version, kind, name}};
}
}  // namespace

TEST_CASE("ObjectResolver::workloads follows Pod → ReplicaSet → Deployment with cached gets") {
  ClientFixture f;
  f.transport.reply(200, owned_object("apps/v1", "ReplicaSet", "shop", "web-7d4b9c8f6", "Deployment", "web").dump());
  ObjectResolver r(f.client);
  const auto w = r.workloads({pod("shop", "ReplicaSet", "web-7d4b9c8f6"), pod("shop", "ReplicaSet", "web-7d4b9c8f6"),
                              pod("shop", "ReplicaSet", "web-7d4b9c8f6")});
  REQUIRE(w.size() == 3);
  for (const auto& x : w) CHECK(x == Workload{"Deployment", "web", true, ""});
  REQUIRE(f.transport.requests.size() == 1);  // three pods, one ReplicaSet, one GET
  CHECK(path_of(f.transport.requests[0]) == "/apis/apps/v1/namespaces/shop/replicasets/web-7d4b9c8f6");
  CHECK(r.requests() == 1);
  // A second call is answered from the cache.
  const auto again = r.workloads({pod("shop", "ReplicaSet", "web-7d4b9c8f6")});
  CHECK(again[0].kind == "Deployment");
  CHECK(f.transport.requests.size() == 1);
}

TEST_CASE("ObjectResolver::workloads: Job → CronJob; StatefulSet, DaemonSet and bare pods need no request") {
  ClientFixture f;
  f.transport.reply(200, owned_object("batch/v1", "Job", "batch", "nightly-report-29301120", "CronJob", "nightly-report",
                                      "batch/v1")
                             .dump());
  ObjectResolver r(f.client);
  const auto w = r.workloads({pod("batch", "Job", "nightly-report-29301120", "batch/v1"),
                              pod("shop", "StatefulSet", "web-cache"), pod("monitoring", "DaemonSet", "node-exporter"),
                              PodOwner{"shop", std::nullopt}, pod("shop", "Rollout", "web", "argoproj.io/v1alpha1")});
  CHECK(w[0] == Workload{"CronJob", "nightly-report", true, ""});
  CHECK(w[1] == Workload{"StatefulSet", "web-cache", true, ""});
  CHECK(w[2] == Workload{"DaemonSet", "node-exporter", true, ""});
  CHECK(w[3] == Workload{});
  CHECK(to_string(w[3]) == "<none>");
  CHECK(w[4] == Workload{"Rollout", "web", true, ""});
  REQUIRE(f.transport.requests.size() == 1);
  CHECK(path_of(f.transport.requests[0]) == "/apis/batch/v1/namespaces/batch/jobs/nightly-report-29301120");
}

TEST_CASE("ObjectResolver::workloads: a ReplicaSet without controller is the workload") {
  ClientFixture f;
  f.transport.reply(200, owned_object("apps/v1", "ReplicaSet", "shop", "manual").dump());
  ObjectResolver r(f.client);
  CHECK(r.workloads({pod("shop", "ReplicaSet", "manual")})[0] == Workload{"ReplicaSet", "manual", true, ""});
}

TEST_CASE("ObjectResolver::workloads: a 403 stops asking for that kind in that namespace") {
  ClientFixture f;
  // Asked in (namespace, name) order: other/c, then shop/a (refused), and shop/b not at all.
  f.transport.reply(200, owned_object("apps/v1", "ReplicaSet", "other", "c", "Deployment", "c-dep").dump())
      .reply(403, forbidden("replicasets.apps \"a\" is forbidden: User \"alice\" cannot get resource"));
  ObjectResolver r(f.client);
  const auto w = r.workloads({pod("shop", "ReplicaSet", "a"), pod("shop", "ReplicaSet", "b"), pod("other", "ReplicaSet", "c")});
  CHECK(f.transport.requests.size() == 2);
  CHECK(w[0].kind == "ReplicaSet");
  CHECK(w[0].name == "a");
  CHECK_FALSE(w[0].resolved);
  CHECK(w[0].note == "cannot get replicasets.apps in shop: forbidden");
  CHECK(w[1] == Workload{"ReplicaSet", "b", false, "cannot get replicasets.apps in shop: forbidden"});
  CHECK(w[2] == Workload{"Deployment", "c-dep", true, ""});
  CHECK(r.problems() == std::vector<std::string>{"cannot get replicasets.apps in shop: forbidden"});
}

TEST_CASE("ObjectResolver::workloads: a deleted owner is reported, not an error") {
  ClientFixture f;
  f.transport.reply(404, not_found("replicasets.apps \"gone\" not found"));
  ObjectResolver r(f.client);
  const auto w = r.workloads({pod("shop", "ReplicaSet", "gone")});
  CHECK(w[0] == Workload{"ReplicaSet", "gone", false, "replicasets.apps \"gone\" in shop not found"});
  CHECK(r.problems().empty());
}

TEST_CASE("ObjectResolver::workloads: many owners of one kind are read with one paged list") {
  ClientFixture f;
  std::vector<nlohmann::json> page1, page2;
  for (int i = 0; i < 3; ++i) page1.push_back(owned_object("apps/v1", "ReplicaSet", "ns", "rs-" + std::to_string(i), "Deployment", "dep-" + std::to_string(i)));
  page1.push_back(owned_object("apps/v1", "ReplicaSet", "ns", "unrelated", "Deployment", "x"));
  page2.push_back(owned_object("apps/v1", "ReplicaSet", "ns", "rs-3", "Deployment", "dep-3"));
  f.transport.reply(200, list_page(page1, "t1", "ReplicaSetList")).reply(200, list_page(page2, "", "ReplicaSetList"));
  ObjectResolver r(f.client, ResolverOptions{2, 4, nullptr});
  std::vector<PodOwner> pods;
  for (int i = 0; i < 5; ++i) pods.push_back(pod("ns", "ReplicaSet", "rs-" + std::to_string(i)));
  const auto w = r.workloads(pods);
  REQUIRE(f.transport.requests.size() == 2);
  CHECK(f.transport.requests[0].url.find("/apis/apps/v1/replicasets?limit=4") != std::string::npos);
  CHECK(f.transport.requests[1].url.find("continue=t1") != std::string::npos);
  for (int i = 0; i < 4; ++i) CHECK(w[static_cast<std::size_t>(i)] == Workload{"Deployment", "dep-" + std::to_string(i), true, ""});
  CHECK(w[4] == Workload{"ReplicaSet", "rs-4", false, "replicasets.apps \"rs-4\" in ns not found"});
}

TEST_CASE("ObjectResolver::workloads: a forbidden list falls back to gets") {
  ClientFixture f;
  f.transport.reply(403, forbidden("replicasets.apps is forbidden: cannot list at the cluster scope"))
      .reply(200, owned_object("apps/v1", "ReplicaSet", "ns", "a", "Deployment", "a").dump())
      .reply(200, owned_object("apps/v1", "ReplicaSet", "ns", "b", "Deployment", "b").dump());
  ObjectResolver r(f.client, ResolverOptions{1, 500, nullptr});
  const auto w = r.workloads({pod("ns", "ReplicaSet", "a"), pod("ns", "ReplicaSet", "b")});
  CHECK(f.transport.requests.size() == 3);
  CHECK(w[0].kind == "Deployment");
  CHECK(w[1].kind == "Deployment");
  CHECK(r.problems().empty());
}

TEST_CASE("ObjectResolver::architectures: one get per node, cached; forbidden leaves them unknown") {
  SUBCASE("allowed") {
    ClientFixture f;
    f.transport.reply(200, node_object("node-1", "amd64").dump()).reply(200, node_object("node-2", "arm64").dump());
    ObjectResolver r(f.client);
    const auto a = r.architectures({"node-1", "node-2", ""});
    CHECK(a.at("node-1") == "amd64");
    CHECK(a.at("node-2") == "arm64");
    CHECK(a.at("") == "");
    CHECK(path_of(f.transport.requests[0]) == "/api/v1/nodes/node-1");
    r.architectures({"node-1"});
    CHECK(f.transport.requests.size() == 2);
  }
  SUBCASE("forbidden") {
    ClientFixture f;
    f.transport.reply(403, forbidden("nodes \"node-1\" is forbidden"));
    ObjectResolver r(f.client);
    const auto a = r.architectures({"node-1", "node-2"});
    CHECK(a.at("node-1") == "");
    CHECK(a.at("node-2") == "");
    CHECK(f.transport.requests.size() == 1);  // cluster-scoped: one refusal covers every node
    CHECK(r.problems() == std::vector<std::string>{"cannot get nodes: forbidden"});
  }
}

TEST_CASE("parse_object_facts reads what the resolver needs and skips odd types") {
  std::string page = R"({"kind":"NodeList","metadata":{},"items":[
    {"metadata":{"name":"n1","labels":{"kubernetes.io/arch":"arm64"}},"status":{"nodeInfo":{"architecture":"amd64"}}},
    {"metadata":{"name":"n2"},"status":{"nodeInfo":{"architecture":"s390x"}}},
    {"metadata":{"name":7,"ownerReferences":"nope"}},
    "not an object",
    {"metadata":{"name":"rs","namespace":"ns","ownerReferences":[{"apiVersion":"apps/v1","kind":"Deployment","name":"d","controller":false},
      {"apiVersion":"apps/v1","kind":"Deployment","name":"e","controller":true}]}}]})";
  auto facts = parse_object_facts(page);
  REQUIRE(facts);
  REQUIRE(facts->size() == 4);
  CHECK((*facts)[0].architecture == "arm64");  // the label wins
  CHECK((*facts)[1].architecture == "s390x");
  CHECK((*facts)[2].name == "");
  CHECK_FALSE((*facts)[2].controller);
  REQUIRE((*facts)[3].controller);
  CHECK((*facts)[3].controller->name == "e");
  std::string bad = R"({"items":[{"metadata":)";
  auto r = parse_object_facts(bad);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::protocol);
}
