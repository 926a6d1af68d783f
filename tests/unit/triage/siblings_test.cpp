#include <doctest/doctest.h>

#include <algorithm>

#include "support/fake_kube.hpp"
#include "support/samples.hpp"
#include "triage/pod_builder.hpp"
#include "triage/siblings.hpp"

using namespace ir;
using namespace ir::triage;
using ir::testing::ClientFixture;
using ir::testing::expired;
using ir::testing::forbidden;
using ir::testing::k_other_hex;
using ir::testing::k_web_hex;
using ir::testing::k_web_id;
using ir::testing::list_page;
using ir::testing::node_object;
using ir::testing::owned_object;
using ir::testing::PodBuilder;
using nlohmann::json;

namespace {

const std::string k_web_image = "registry.example.com/shop/web:1.4.2";

Target web_target() {
  Target t;
  t.id = parse_image_id(k_web_id);
  t.image_id = k_web_id;
  t.containers = {"web"};
  t.image = k_web_image;
  return t;
}

json web_pod(const std::string& ns, const std::string& name) {
  return PodBuilder{}.ns(ns).name(name).owner("apps/v1", "ReplicaSet", "web-7d4b9c8f6").container("web", k_web_image, k_web_id).json();
}

std::vector<std::string> names(const std::vector<SiblingPod>& pods) {
  std::vector<std::string> out;
  for (const auto& p : pods) out.push_back(p.namespace_name + "/" + p.name);
  return out;
}

std::string path_of(const kube::HttpRequest& r) {
  const auto start = r.url.find('/', 8);
  const auto q = r.url.find('?');
  return r.url.substr(start, q == std::string::npos ? std::string::npos : q - start);
}

}  // namespace

TEST_CASE("PodScanner matches every runtime format across all container kinds") {
  PodScanner s({web_target()}, "shop", "web-1");
  std::string page = list_page({
      web_pod("shop", "web-1"),
      PodBuilder{}.ns("batch").name("pullable").container("report", k_web_image, "docker-pullable://registry.example.com/shop/web@sha256:" + k_web_hex).json(),
      PodBuilder{}.ns("batch").name("mirror").container("report", "mirror.example.net/shop-web:1", "mirror.example.net/shop-web@sha256:" + k_web_hex).json(),
      PodBuilder{}.ns("x").name("init").init_container("setup", k_web_image, k_web_id).container("app", "busybox", "docker.io/library/busybox@sha256:" + k_other_hex).json(),
      PodBuilder{}.ns("x").name("debugged").container("app", "busybox", "docker.io/library/busybox@sha256:" + k_other_hex).ephemeral_container("dbg", k_web_image, k_web_id).json(),
      PodBuilder{}.ns("x").name("other-digest-same-repo").container("web", k_web_image, "registry.example.com/shop/web@sha256:" + k_other_hex).json(),
      PodBuilder{}.ns("x").name("config-id").container("web", k_web_image, "docker://sha256:" + k_web_hex).json(),
      PodBuilder{}.ns("x").name("junk").container("web", k_web_image, "<garbage>").json(),
  });
  REQUIRE(s.consume(page));
  CHECK(s.pods() == 8);
  const auto& m = s.matches();
  CHECK(names(m) == std::vector<std::string>{"shop/web-1", "batch/pullable", "batch/mirror", "x/init", "x/debugged"});
  CHECK(m[0].suspect);
  CHECK_FALSE(m[1].suspect);
  REQUIRE(m[3].containers.size() == 1);  // only the matching container is kept
  CHECK(m[3].containers[0].name == "setup");
  CHECK(m[3].containers[0].type == ContainerType::init);
  CHECK(m[4].containers[0].type == ContainerType::ephemeral);
  CHECK(m[0].controller == OwnerRef{"apps/v1", "ReplicaSet", "web-7d4b9c8f6"});
  CHECK(m[0].node == "node-1");
  CHECK(m[0].phase == "Running");
  CHECK(m[0].created == "2026-11-21T16:00:00Z");
  CHECK(m[0].containers[0].target == 0);
  CHECK(s.other_kind() == 1);    // the config id cannot be compared with a repo digest
  CHECK(s.unrecognised() == 1);
}

TEST_CASE("PodScanner lists not-started containers as unknown when they name the image's repository") {
  PodScanner s({web_target()});
  std::string page = list_page({
      PodBuilder{}.ns("shop").name("web-cache-0").phase("Pending").owner("apps/v1", "StatefulSet", "web-cache").container("cache", k_web_image, "").json(),
      PodBuilder{}.ns("shop").name("unscheduled").phase("Pending").node("").spec_only("web", "registry.example.com/shop/web:2.0").json(),
      PodBuilder{}.ns("shop").name("pinned").phase("Pending").container("web", "elsewhere.example/x@sha256:" + k_web_hex, "").json(),
      PodBuilder{}.ns("shop").name("unrelated").phase("Pending").container("db", "postgres:16", "").json(),
      PodBuilder{}.ns("batch").name("mirror").container("report", "mirror.example.net/shop-web:1", "mirror.example.net/shop-web@sha256:" + k_web_hex).json(),
      PodBuilder{}.ns("batch").name("mirror-pending").phase("Pending").container("report", "mirror.example.net/shop-web:1", "").json(),
  });
  REQUIRE(s.consume(page));
  CHECK(names(s.matches()) == std::vector<std::string>{"batch/mirror"});
  const auto unknown = s.unknown();
  // mirror-pending names a repository learnt from a match later in the scan.
  CHECK(names(unknown) == std::vector<std::string>{"shop/web-cache-0", "shop/unscheduled", "shop/pinned", "batch/mirror-pending"});
  CHECK(unknown[0].containers[0].image == k_web_image);
  CHECK_FALSE(unknown[0].containers[0].pinned);
  CHECK(unknown[1].node == "");
  CHECK(unknown[2].containers[0].pinned);
}

TEST_CASE("PodScanner rollback drops the pages of a restarted list only") {
  PodScanner s({web_target()});
  std::string first = list_page({web_pod("a", "p1")});
  REQUIRE(s.consume(first));
  s.checkpoint();
  std::string second = list_page({web_pod("b", "p2"), web_pod("b", "p3")});
  REQUIRE(s.consume(second));
  CHECK(s.pods() == 3);
  s.rollback();
  CHECK(names(s.matches()) == std::vector<std::string>{"a/p1"});
  CHECK(s.pods() == 1);
}

TEST_CASE("PodScanner: malformed pages fail; odd field types are read as absent") {
  PodScanner s({web_target()});
  std::string truncated = list_page({web_pod("a", "p1")});
  truncated.resize(truncated.size() / 2);
  auto r = s.consume(truncated);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::protocol);

  std::string odd = R"({"kind":"PodList","metadata":{},"items":[
    {"metadata":{"name":["x"],"namespace":"n","ownerReferences":{"kind":"ReplicaSet"}},
     "spec":{"containers":"none","nodeName":3},
     "status":{"phase":null,"containerStatuses":[{"name":"c","imageID":")" + k_web_id + R"("}, 5]}},
    null, 17, {"metadata":null},
    {"metadata":{"name":"esc\u001b[31m","namespace":"n"},"status":{"containerStatuses":[{"name":"c","imageID":")" + k_web_id + R"("}]}}]})";
  PodScanner t({web_target()});
  REQUIRE(t.consume(odd));
  REQUIRE(t.matches().size() == 2);
  CHECK(t.matches()[0].name == "");
  CHECK(t.matches()[0].node == "");
  CHECK_FALSE(t.matches()[0].controller);
  CHECK(t.matches()[1].name == "esc\x1b[31m");  // kept raw: escaping is the printer's job
  std::string empty = R"({"kind":"PodList","metadata":{},"items":null})";
  CHECK(t.consume(empty));
}

TEST_CASE("suspect_targets: one target per digest; ephemeral containers only when named") {
  const json pod = PodBuilder{}
                       .container("web", k_web_image, k_web_id)
                       .container("sidecar", "envoy:1", "docker.io/library/envoy@sha256:" + k_other_hex)
                       .container("twin", k_web_image, "docker-pullable://" + k_web_id)
                       .init_container("setup", "busybox", "docker://sha256:" + k_other_hex)
                       .ephemeral_container("debugger", "busybox", "docker.io/library/busybox@sha256:" + std::string(64, 'a'))
                       .container("late", "x:1", "")
                       .json();
  std::vector<std::string> skipped;
  auto all = suspect_targets(pod.dump(), "", &skipped);
  REQUIRE(all);
  REQUIRE(all->size() == 3);
  CHECK((*all)[0].id.digest == "sha256:" + k_web_hex);
  CHECK((*all)[0].containers == std::vector<std::string>{"web", "twin"});
  CHECK((*all)[0].image == k_web_image);
  CHECK((*all)[1].containers == std::vector<std::string>{"sidecar"});
  CHECK((*all)[2].id.kind == DigestKind::config_id);
  CHECK((*all)[2].containers == std::vector<std::string>{"setup"});
  CHECK(skipped == std::vector<std::string>{"container late has not started: its image digest is not known yet"});

  auto dbg = suspect_targets(pod.dump(), "debugger");
  REQUIRE(dbg);
  REQUIRE(dbg->size() == 1);
  CHECK((*dbg)[0].containers == std::vector<std::string>{"debugger"});

  auto missing = suspect_targets(pod.dump(), "nope");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == Errc::usage);
  CHECK(missing.error().message == "the pod has no container \"nope\" (it has: web, sidecar, twin, late, setup, debugger)");

  auto late = suspect_targets(pod.dump(), "late");
  REQUIRE_FALSE(late);
  CHECK(late.error().message == "container late has no image digest yet");
  CHECK(late.error().hint.find("--digest") != std::string::npos);
}

TEST_CASE("suspect_targets reads the captured v1.26 pod") {
  auto t = suspect_targets(ir::testing::sample("pod-busybox.json"), "");
  REQUIRE(t);
  REQUIRE(t->size() == 1);
  CHECK((*t)[0].id.kind == DigestKind::repo_digest);
  CHECK((*t)[0].id.repository == "docker.io/library/busybox");
}

TEST_CASE("digest_target accepts digests and imageIDs, rejects the rest") {
  for (const std::string& ok : {"sha256:" + k_web_hex, k_web_hex, k_web_id, "docker://sha256:" + k_web_hex}) {
    CAPTURE(ok);
    auto t = digest_target(ok);
    REQUIRE(t);
    CHECK(t->id.digest == "sha256:" + k_web_hex);
    CHECK(t->any_kind);
  }
  for (const char* bad : {"", "sha256:abc", "registry.example.com/shop/web:1.4.2", "latest"}) {
    CAPTURE(bad);
    auto t = digest_target(bad);
    REQUIRE_FALSE(t);
    CHECK(t.error().code == Errc::usage);
  }
}

TEST_CASE("group_siblings groups by workload, namespace or node, the suspect's group first") {
  std::vector<SiblingPod> pods(4);
  pods[0].namespace_name = "batch";
  pods[0].name = "r-1";
  pods[0].node = "node-2";
  pods[0].workload = {"CronJob", "report", true, ""};
  pods[1].namespace_name = "shop";
  pods[1].name = "web-1";
  pods[1].node = "node-1";
  pods[1].workload = {"Deployment", "web", true, ""};
  pods[2].namespace_name = "shop";
  pods[2].name = "web-2";
  pods[2].node = "node-2";
  pods[2].workload = {"Deployment", "web", true, ""};
  pods[2].suspect = true;
  pods[3].namespace_name = "shop";
  pods[3].name = "loose";
  pods[3].workload = {};
  const auto by_workload = group_siblings(pods, GroupBy::workload);
  REQUIRE(by_workload.size() == 3);
  CHECK(by_workload[0].key == "shop/Deployment/web");
  CHECK(by_workload[0].members == std::vector<std::size_t>{1, 2});
  CHECK(by_workload[0].has_suspect);
  CHECK(by_workload[1].key == "batch/CronJob/report");
  CHECK(by_workload[2].key == "shop/<none>");
  const auto by_ns = group_siblings(pods, GroupBy::namespace_name);
  REQUIRE(by_ns.size() == 2);
  CHECK(by_ns[0].key == "shop");
  CHECK(by_ns[0].members == std::vector<std::size_t>{1, 2, 3});
  const auto by_node = group_siblings(pods, GroupBy::node);
  REQUIRE(by_node.size() == 3);
  CHECK(by_node[0].key == "node-2");
  CHECK(by_node[0].members == std::vector<std::size_t>{0, 2});
  CHECK(by_node[1].key == "<none>");
  CHECK(by_node[2].key == "node-1");
  CHECK(group_siblings({}, GroupBy::node).empty());
}

TEST_CASE("find_siblings: the whole search against a fake API server") {
  ClientFixture f;
  const json suspect = web_pod("shop", "web-1");
  f.transport.reply(200, suspect.dump())
      .reply(200, list_page({web_pod("shop", "web-1"), web_pod("shop", "web-2")}, "t1"))
      .reply(200, list_page({PodBuilder{}.ns("batch").name("r-1").owner("batch/v1", "Job", "r-29").container("report", k_web_image, "docker-pullable://" + k_web_id).json(),
                             PodBuilder{}.ns("shop").name("cache-0").phase("Pending").owner("apps/v1", "StatefulSet", "cache").container("c", k_web_image, "").json()}))
      .reply(200, owned_object("batch/v1", "Job", "batch", "r-29", "CronJob", "report", "batch/v1").dump())
      .reply(200, owned_object("apps/v1", "ReplicaSet", "shop", "web-7d4b9c8f6", "Deployment", "web").dump())
      .reply(200, node_object("node-1", "amd64").dump());
  SiblingsOptions o;
  o.namespace_name = "shop";
  o.pod = "web-1";
  o.chunk_size = 2;
  std::vector<ScanProgress> progress;
  o.on_progress = [&](const ScanProgress& p) { progress.push_back(p); };
  auto r = find_siblings(f.client, o);
  REQUIRE(r);
  CHECK(f.transport.pending() == 0);
  CHECK(path_of(f.transport.requests[0]) == "/api/v1/namespaces/shop/pods/web-1");
  CHECK(f.transport.requests[1].url.find("/api/v1/pods?limit=2") != std::string::npos);
  CHECK(r->complete());
  CHECK(r->all_namespaces);
  CHECK(r->pods_scanned == 4);
  CHECK(r->pages == 2);
  CHECK(r->requests == 6);
  CHECK(names(r->siblings) == std::vector<std::string>{"batch/r-1", "shop/web-1", "shop/web-2"});
  CHECK(r->siblings[0].workload == Workload{"CronJob", "report", true, ""});
  CHECK(r->siblings[1].workload == Workload{"Deployment", "web", true, ""});
  CHECK(r->siblings[1].suspect);
  CHECK(r->siblings[1].architecture == "amd64");
  CHECK(names(r->unknown) == std::vector<std::string>{"shop/cache-0"});
  CHECK(r->unknown[0].workload == Workload{"StatefulSet", "cache", true, ""});
  REQUIRE(progress.size() == 2);
  CHECK(progress[1].pods == 4);
  CHECK(progress[1].matches == 3);
  CHECK(progress[1].scope == "all namespaces");
  REQUIRE(r->notes.size() == 1);
  CHECK(r->notes[0].find("multi-arch index") != std::string::npos);
}

TEST_CASE("find_siblings without cluster-wide list: the namespaces it may list, marked partial") {
  ClientFixture f;
  f.transport.reply(200, web_pod("shop", "web-1").dump())
      .reply(403, forbidden("pods is forbidden: User \"alice\" cannot list resource \"pods\" at the cluster scope"))
      .reply(403, forbidden("namespaces is forbidden"))
      .reply(200, list_page({web_pod("shop", "web-1")}))
      .reply(403, forbidden("pods is forbidden: in namespace \"team\""))
      .reply(403, forbidden("replicasets.apps is forbidden"))
      .reply(403, forbidden("nodes is forbidden"));
  SiblingsOptions o;
  o.namespace_name = "shop";
  o.pod = "web-1";
  o.fallback_namespaces = {"shop", "team"};
  auto r = find_siblings(f.client, o);
  REQUIRE(r);
  CHECK(path_of(f.transport.requests[2]) == "/api/v1/namespaces");
  CHECK(path_of(f.transport.requests[3]) == "/api/v1/namespaces/shop/pods");
  CHECK(path_of(f.transport.requests[4]) == "/api/v1/namespaces/team/pods");
  CHECK_FALSE(r->complete());
  CHECK(r->partial);
  CHECK_FALSE(r->all_namespaces);
  CHECK(r->namespaces_listed == std::vector<std::string>{"shop"});
  CHECK(r->namespaces_denied == std::vector<std::string>{"team"});
  CHECK(r->partial_reason ==
        "no permission to list pods in all namespaces (nor to list namespaces): searched only namespace shop; pods in team "
        "could not be listed (forbidden)");
  CHECK(names(r->siblings) == std::vector<std::string>{"shop/web-1"});
  CHECK_FALSE(r->siblings[0].workload.resolved);
}

TEST_CASE("find_siblings with namespaces listable: every namespace, complete") {
  ClientFixture f;
  f.transport.reply(403, forbidden("pods is forbidden"))
      .reply(200, list_page({json{{"metadata", {{"name", "b"}}}}, json{{"metadata", {{"name", "a"}}}}}, "", "NamespaceList"))
      .reply(200, list_page({web_pod("a", "p")}))
      .reply(200, list_page({}))
      .reply(200, owned_object("apps/v1", "ReplicaSet", "a", "web-7d4b9c8f6", "Deployment", "web").dump())
      .reply(200, node_object("node-1", "amd64").dump());
  SiblingsOptions o;
  o.digest = "sha256:" + k_web_hex;
  auto r = find_siblings(f.client, o);
  REQUIRE(r);
  CHECK(r->complete());
  CHECK(r->namespaces_listed == std::vector<std::string>{"a", "b"});
  CHECK(names(r->siblings) == std::vector<std::string>{"a/p"});
  CHECK(r->suspect_name.empty());
}

TEST_CASE("find_siblings: nothing listable is an error") {
  ClientFixture f;
  f.transport.reply(403, forbidden("pods is forbidden: cluster scope"))
      .reply(403, forbidden("namespaces is forbidden"))
      .reply(403, forbidden("pods is forbidden: in shop"));
  SiblingsOptions o;
  o.digest = k_web_hex;
  o.namespace_name = "shop";
  auto r = find_siblings(f.client, o);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::forbidden);
  CHECK(r.error().message.find("cluster scope") != std::string::npos);
  CHECK(r.error().hint.find("list on pods") != std::string::npos);
}

TEST_CASE("find_siblings: an expired token restarts the list once, no pod counted twice") {
  ClientFixture f;
  f.transport.reply(200, list_page({web_pod("a", "p1")}, "t1"))
      .reply(410, expired("fresh"))
      .reply(200, list_page({web_pod("a", "p1")}, "u1"))
      .reply(200, list_page({web_pod("b", "p2")}))
      .reply(200, owned_object("apps/v1", "ReplicaSet", "a", "web-7d4b9c8f6", "Deployment", "web").dump())
      .reply(200, owned_object("apps/v1", "ReplicaSet", "b", "web-7d4b9c8f6", "Deployment", "web").dump())
      .reply(200, node_object("node-1", "amd64").dump());
  SiblingsOptions o;
  o.digest = k_web_id;
  o.chunk_size = 1;
  auto r = find_siblings(f.client, o);
  REQUIRE(r);
  CHECK(r->complete());
  CHECK(r->restarts == 1);
  CHECK(r->pods_scanned == 2);
  CHECK(names(r->siblings) == std::vector<std::string>{"a/p1", "b/p2"});
  CHECK(std::any_of(r->notes.begin(), r->notes.end(), [](const std::string& n) { return n.find("restarted") != std::string::npos; }));
}

TEST_CASE("find_siblings: a second expiry continues inconsistently and says so") {
  ClientFixture f;
  f.transport.reply(200, list_page({web_pod("a", "p1")}, "t1"))
      .reply(410, expired("x"))
      .reply(200, list_page({web_pod("a", "p1")}, "u1"))
      .reply(410, expired("fresh"))
      .reply(200, list_page({web_pod("a", "p1"), web_pod("b", "p2")}));
  SiblingsOptions o;
  o.digest = k_web_id;
  o.chunk_size = 1;
  o.architectures = false;
  o.max_owner_gets = 0;  // one list for the owners
  f.transport.reply(200, list_page({owned_object("apps/v1", "ReplicaSet", "a", "web-7d4b9c8f6", "Deployment", "web"),
                                    owned_object("apps/v1", "ReplicaSet", "b", "web-7d4b9c8f6", "Deployment", "web")},
                                   "", "ReplicaSetList"));
  auto r = find_siblings(f.client, o);
  REQUIRE(r);
  CHECK_FALSE(r->complete());
  CHECK(r->inconsistent);
  CHECK_FALSE(r->partial);
  CHECK(names(r->siblings) == std::vector<std::string>{"a/p1", "b/p2"});  // the repeated p1 once
  CHECK(f.transport.requests[4].url.find("continue=fresh") != std::string::npos);
  CHECK(f.transport.requests[5].url.find("/apis/apps/v1/replicasets?limit=1") != std::string::npos);
}

TEST_CASE("find_siblings: a list failing midway gives a partial result; failing at once, an error") {
  SUBCASE("midway") {
    ClientFixture f;
    f.transport.reply(200, list_page({web_pod("a", "p1")}, "t1"))
        .reply(400, R"({"kind":"Status","status":"Failure","message":"bad continue","reason":"BadRequest","code":400})")
        .reply(200, owned_object("apps/v1", "ReplicaSet", "a", "web-7d4b9c8f6", "Deployment", "web").dump())
        .reply(200, node_object("node-1", "amd64").dump());
    SiblingsOptions o;
    o.digest = k_web_id;
    auto r = find_siblings(f.client, o);
    REQUIRE(r);
    CHECK(r->partial);
    CHECK(r->partial_reason == "the list stopped after 1 pages: list pods in all namespaces: bad continue");
    CHECK(names(r->siblings) == std::vector<std::string>{"a/p1"});
  }
  SUBCASE("at once") {
    ClientFixture f;
    f.transport.reply(400, R"({"kind":"Status","status":"Failure","message":"bad","reason":"BadRequest","code":400})");
    SiblingsOptions o;
    o.digest = k_web_id;
    auto r = find_siblings(f.client, o);
    REQUIRE_FALSE(r);
    CHECK(r.error().message == "list pods in all namespaces: bad");
  }
  SUBCASE("the suspect does not exist") {
    ClientFixture f;
    f.transport.reply(404, ir::testing::not_found("pods \"web-9\" not found"));
    SiblingsOptions o;
    o.namespace_name = "shop";
    o.pod = "web-9";
    auto r = find_siblings(f.client, o);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::not_found);
    CHECK(r.error().message == "get pod shop/web-9: pods \"web-9\" not found");
  }
}

TEST_CASE("find_siblings: a suspect with a config id says what it cannot match") {
  ClientFixture f;
  f.transport.reply(200, PodBuilder{}.name("dns-1").container("dns", "coredns:1", "docker://sha256:" + k_other_hex).json().dump())
      .reply(200, list_page({PodBuilder{}.name("dns-1").container("dns", "coredns:1", "docker://sha256:" + k_other_hex).json(),
                             PodBuilder{}.name("dns-2").container("dns", "coredns:1", k_other_hex).json(),
                             PodBuilder{}.name("dns-3").container("dns", "coredns:1", "registry.k8s.io/coredns@sha256:" + k_other_hex).json()}));
  SiblingsOptions o;
  o.namespace_name = "shop";
  o.pod = "dns-1";
  auto r = find_siblings(f.client, o);
  REQUIRE(r);
  CHECK(names(r->siblings) == std::vector<std::string>{"shop/dns-1", "shop/dns-2"});
  CHECK(r->other_kind == 1);
  CHECK(std::any_of(r->notes.begin(), r->notes.end(), [](const std::string& n) {
    return n.find("reports an image config id") != std::string::npos && n.find("1 started containers report repository digests") != std::string::npos;
  }));
  CHECK(f.transport.requests.size() == 2);  // bare pods, config id: no owner or node lookups
}

TEST_CASE("find_siblings: matches on several architectures are called out") {
  ClientFixture f;
  f.transport.reply(200, list_page({PodBuilder{}.name("a").node("n-amd").container("web", k_web_image, k_web_id).json(),
                                    PodBuilder{}.name("b").node("n-arm").container("web", k_web_image, k_web_id).json()}))
      .reply(200, node_object("n-amd", "amd64").dump())
      .reply(200, node_object("n-arm", "arm64").dump());
  SiblingsOptions o;
  o.digest = k_web_id;
  auto r = find_siblings(f.client, o);
  REQUIRE(r);
  CHECK(r->siblings[0].architecture == "amd64");
  CHECK(r->siblings[1].architecture == "arm64");
  CHECK(std::any_of(r->notes.begin(), r->notes.end(), [](const std::string& n) {
    return n.find("several architectures: amd64 (1), arm64 (1)") != std::string::npos;
  }));
}
