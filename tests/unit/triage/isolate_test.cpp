#include <doctest/doctest.h>

#include <algorithm>
#include <set>

#include "support/fake_pod_api.hpp"
#include "triage/access.hpp"
#include "triage/isolate.hpp"
#include "triage/pod_builder.hpp"

using namespace ir;
using namespace ir::testing;
using nlohmann::json;

namespace {

const std::string k_pod = "/api/v1/namespaces/shop/pods/web-1";
const std::string k_policies = "/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies";
const std::string k_quarantine = k_policies + "/kubectl-ir-quarantine-web-1";
const std::string k_ssar = "POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews";
// Not served by Cluster unless a test adds it: the preflight then reviews each need by SSAR.
const std::string k_ssrr = "POST /apis/authorization.k8s.io/v1/selfsubjectrulesreviews";

bool is_review(const std::string& call) { return call == k_ssar || call == k_ssrr; }

// "verb resource namespace" of a SelfSubjectAccessReview request body ("*" at cluster scope).
std::string review_key(const kube::HttpRequest& r) {
  const json a = json::parse(r.body)["spec"]["resourceAttributes"];
  return a.value("verb", "") + " " +
         kube::qualified_resource(
             {"", a.value("group", ""), a.value("resource", ""), a.value("subresource", ""), "", ""}) +
         " " + a.value("namespace", "*");
}

json list_of(const std::vector<json>& items) {
  return {{"kind", "List"}, {"metadata", json::object()}, {"items", items}};
}

json daemonset(const std::string& name) {
  return {{"metadata", {{"name", name}, {"namespace", "kube-system"}}}};
}

// A cluster with pod shop/web-1 on node-1 and Calico, answering every write with what it was
// sent; the authorizer refuses what `denied` lists ("verb resource namespace" as review_key).
struct Cluster {
  RoutedTransport transport;
  FakeCredentials credentials{false};
  util::FakeClock clock;
  kube::Client client{test_config(), transport, credentials, clock};
  std::set<std::string> denied;
  std::vector<std::pair<std::string, json>> journal;
  json pod = PodBuilder().ns("shop").name("web-1").container("web", "busybox", k_web_id).json();
  std::vector<json> policies;

  Cluster() {
    transport.routes["GET " + k_pod] = [this](const kube::HttpRequest&) { return answer(pod); };
    transport.routes["PATCH " + k_pod] = [this](const kube::HttpRequest&) { return answer(pod); };
    transport.routes["PATCH " + k_quarantine] = [](const kube::HttpRequest& r) { return answer(json::parse(r.body)); };
    transport.routes["DELETE " + k_quarantine] = [](const kube::HttpRequest&) {
      return answer({{"status", "Success"}});
    };
    transport.routes["GET " + k_policies] = [this](const kube::HttpRequest&) { return answer(list_of(policies)); };
    transport.json("GET /apis/apps/v1/daemonsets", list_of({daemonset("calico-node"), daemonset("kube-proxy")}).dump());
    transport.json("GET /api/v1/namespaces/kube-system/pods", list_of({}).dump());
    transport.json("GET /api/v1/nodes/node-1", R"({"metadata":{"name":"node-1"},"spec":{}})");
    transport.routes[k_ssar] = [this](const kube::HttpRequest& r) {
      return answer({{"kind", "SelfSubjectAccessReview"}, {"status", {{"allowed", denied.count(review_key(r)) == 0}}}},
                    201);
    };
  }

  static kube::HttpResponse answer(const json& body, int status = 200) {
    kube::HttpResponse r;
    r.status = status;
    r.body = body.dump();
    return r;
  }

  triage::ActionLog log() {
    return [this](const std::string& action, const json& fields) { journal.emplace_back(action, fields); };
  }

  triage::IsolateOptions options() const {
    triage::IsolateOptions o;
    o.namespace_name = "shop";
    o.pod = "web-1";
    o.new_case_id = "case-1";
    o.actor = "tester";
    return o;
  }

  // The reviews asked, in order.
  [[nodiscard]] std::vector<std::string> reviews() const {
    std::vector<std::string> out;
    for (const auto& r : transport.requests) {
      if (r.method + " " + split_url(r.url).first == k_ssar) out.push_back(review_key(r));
    }
    return out;
  }
  // Writes: every request but GETs and the reviews.
  [[nodiscard]] std::vector<std::string> writes() const {
    std::vector<std::string> out;
    for (const auto& c : transport.calls()) {
      if (c.rfind("GET ", 0) != 0 && !is_review(c)) out.push_back(c);
    }
    return out;
  }
  // Index of the first write among all requests (requests.size() when there is none).
  [[nodiscard]] std::size_t first_write() const {
    const auto calls = transport.calls();
    for (std::size_t i = 0; i < calls.size(); ++i) {
      if (calls[i].rfind("GET ", 0) != 0 && !is_review(calls[i])) return i;
    }
    return calls.size();
  }
  [[nodiscard]] std::size_t last_review() const {
    const auto calls = transport.calls();
    std::size_t last = 0;
    for (std::size_t i = 0; i < calls.size(); ++i) {
      if (is_review(calls[i])) last = i;
    }
    return last;
  }

  // Serves AdminNetworkPolicy (the discovery document isolate reads).
  void serve_admin_network_policy() {
    transport.json(
        "GET /apis/policy.networking.k8s.io/v1alpha1",
        R"({"kind":"APIResourceList","resources":[{"name":"adminnetworkpolicies","kind":"AdminNetworkPolicy"}]})");
    transport
        .routes["PATCH /apis/policy.networking.k8s.io/v1alpha1/adminnetworkpolicies/kubectl-ir-quarantine-shop-web-1"] =
        [](const kube::HttpRequest& r) { return answer(json::parse(r.body)); };
  }
};

}  // namespace

TEST_CASE("isolate: a missing permission refuses before any write, naming every one") {
  Cluster c;
  c.denied = {"create networkpolicies.networking.k8s.io shop", "patch networkpolicies.networking.k8s.io shop"};
  auto o = c.options();
  SUBCASE("a real run") {}
  SUBCASE("a dry run: the server checks the same permissions") {
    o.dry_run = kube::DryRun::all;
  }
  auto r = triage::isolate(c.client, nullptr, o, c.log(), c.clock);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::forbidden);
  CHECK(r.error().message ==
        "isolate shop/web-1: missing permissions: create networkpolicies.networking.k8s.io in namespace shop, "
        "patch networkpolicies.networking.k8s.io in namespace shop");
  CHECK(r.error().hint.find("scripts/rbac/kubectl-ir-clusterrole.yaml") != std::string::npos);
  CHECK(c.writes().empty());
  CHECK(c.journal.empty());
}

TEST_CASE("isolate: the preflight asks for what the flags need, all before the first write") {
  Cluster c;
  auto o = c.options();
  std::set<std::string> expected = {"patch pods shop", "create networkpolicies.networking.k8s.io shop",
                                    "patch networkpolicies.networking.k8s.io shop",
                                    "list networkpolicies.networking.k8s.io shop"};
  SUBCASE("no flags") {}
  SUBCASE("--detach --cordon --admin-policy --exclusive") {
    o.detach = o.cordon = o.admin_policy = o.exclusive = true;
    c.serve_admin_network_policy();
    c.transport.json("GET /api/v1/namespaces/shop/services", list_of({}).dump());
    c.transport.json("GET /api/v1/nodes/node-1", R"({"metadata":{"name":"node-1"},"spec":{}})");
    c.transport.json("PATCH /api/v1/nodes/node-1", R"({"metadata":{"name":"node-1"},"spec":{"unschedulable":true}})");
    expected.insert({"list services shop", "get nodes *", "patch nodes *",
                     "create adminnetworkpolicies.policy.networking.k8s.io *",
                     "patch adminnetworkpolicies.policy.networking.k8s.io *"});
  }
  SUBCASE("--cordon on a pod isolate already cordoned the node for: no node permission needed") {
    o.cordon = true;
    c.pod["metadata"]["annotations"] = {{triage::k_ann_cordoned, "node-1"}};
  }
  auto r = triage::isolate(c.client, nullptr, o, c.log(), c.clock);
  REQUIRE(r);
  const auto asked = c.reviews();
  CHECK(std::set<std::string>(asked.begin(), asked.end()) == expected);
  CHECK(asked.size() == expected.size());  // each asked once
  REQUIRE_FALSE(c.writes().empty());
  CHECK(c.last_review() < c.first_write());
  CHECK(r->warnings.empty());
}

TEST_CASE("isolate: a rules review answers the namespaced permissions in one request") {
  Cluster c;
  c.transport.json(k_ssrr, R"({"kind":"SelfSubjectRulesReview","status":{"incomplete":false,"resourceRules":[
    {"verbs":["get","list","patch"],"apiGroups":[""],"resources":["pods"]},
    {"verbs":["*"],"apiGroups":["networking.k8s.io"],"resources":["networkpolicies"]}]}})",
                   201);
  c.transport.json("GET /api/v1/nodes/node-1", R"({"metadata":{"name":"node-1"},"spec":{}})");
  c.transport.json("PATCH /api/v1/nodes/node-1", R"({"metadata":{"name":"node-1"},"spec":{"unschedulable":true}})");
  auto o = c.options();
  o.cordon = true;
  auto r = triage::isolate(c.client, nullptr, o, c.log(), c.clock);
  REQUIRE(r);
  const auto calls = c.transport.calls();
  CHECK(std::count(calls.begin(), calls.end(), k_ssrr) == 1);
  // Only the cluster-scoped node permissions are asked one by one.
  CHECK(c.reviews() == std::vector<std::string>{"get nodes *", "patch nodes *"});
  CHECK(c.last_review() < c.first_write());
}

TEST_CASE("isolate: what a complete rules review does not grant is missing, without asking again") {
  Cluster c;
  c.transport.json(k_ssrr, R"({"kind":"SelfSubjectRulesReview","status":{"incomplete":false,"resourceRules":[
    {"verbs":["get","list","patch"],"apiGroups":[""],"resources":["pods"]},
    {"verbs":["get","list"],"apiGroups":["networking.k8s.io"],"resources":["networkpolicies"]}]}})",
                   201);
  auto r = triage::isolate(c.client, nullptr, c.options(), c.log(), c.clock);
  REQUIRE_FALSE(r);
  CHECK(r.error().message ==
        "isolate shop/web-1: missing permissions: create networkpolicies.networking.k8s.io in namespace shop, "
        "patch networkpolicies.networking.k8s.io in namespace shop");
  CHECK(c.reviews().empty());
  CHECK(c.writes().empty());
}

TEST_CASE("isolate: when permissions cannot be reviewed it goes ahead and says so") {
  Cluster c;
  c.transport.json(k_ssar, status_json(403, "Forbidden", "selfsubjectaccessreviews is forbidden"), 403);
  SUBCASE("the writes succeed: a warning") {
    auto r = triage::isolate(c.client, nullptr, c.options(), c.log(), c.clock);
    REQUIRE(r);
    CHECK(c.reviews().size() == 1);  // stopped asking after the first refusal
    REQUIRE(r->warnings.size() == 1);
    CHECK(r->warnings[0].find("could not check permissions before writing") != std::string::npos);
    CHECK(r->warnings[0].find("selfsubjectaccessreviews is forbidden") != std::string::npos);
    CHECK(c.writes() == std::vector<std::string>{"PATCH " + k_pod, "PATCH " + k_quarantine});
  }
  SUBCASE("a write fails: its error says the permissions were not checked") {
    c.transport.json("PATCH " + k_quarantine, status_json(403, "Forbidden", "cannot patch networkpolicies"), 403);
    auto r = triage::isolate(c.client, nullptr, c.options(), c.log(), c.clock);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::forbidden);
    CHECK(r.error().message.find("cannot patch networkpolicies") != std::string::npos);
    CHECK(r.error().hint.find("permissions could not be checked before writing") != std::string::npos);
  }
}

TEST_CASE("isolate: without an enforcing CNI, no contained verdict and a warning") {
  struct Case {
    const char* daemonset;
    triage::Containment state;
    std::string reason;
    std::string warning;
  };
  const std::string none =
      "no NetworkPolicy-enforcing CNI recognised in the DaemonSets, the pods in kube-system, node node-1 (annotations, "
      "labels, node info)";
  const std::string flannel = "flannel does not enforce NetworkPolicy (DaemonSet kube-system/kube-flannel-ds)";
  const Case cases[] = {
      {"kube-proxy", triage::Containment::unknown, none + "; --verify measures it on the wire",
       none + ": the quarantine policy may change nothing on the wire"},
      {"kube-flannel-ds", triage::Containment::not_contained, flannel,
       flannel + ": the quarantine policy may change nothing on the wire"},
  };
  for (const auto& k : cases) {
    CAPTURE(k.daemonset);
    Cluster c;
    c.transport.json("GET /apis/apps/v1/daemonsets", list_of({daemonset(k.daemonset)}).dump());
    auto r = triage::isolate(c.client, nullptr, c.options(), c.log(), c.clock);
    REQUIRE(r);
    CHECK(r->egress.state == k.state);
    CHECK(r->egress.reason == k.reason);
    CHECK(r->ingress.state == triage::Containment::not_requested);
    CHECK(r->warnings == std::vector<std::string>{k.warning});
  }
}

TEST_CASE("release: the preflight covers what the recorded annotations say will be undone") {
  Cluster c;
  c.pod["metadata"]["labels"][triage::k_quarantine_label] = "case-1";
  c.pod["metadata"]["annotations"] = {{triage::k_ann_case, "case-1"},
                                      {triage::k_ann_policy, "kubectl-ir-quarantine-web-1"},
                                      {triage::k_ann_cordoned, "node-1"},
                                      {triage::k_ann_admin_policy, "kubectl-ir-quarantine-shop-web-1"}};
  c.policies = {
      {{"metadata", {{"name", "allow-egress"}, {"annotations", {{triage::k_ann_original_selector, "{}"}}}}},
       {"spec",
        {{"podSelector",
          {{"matchExpressions",
            json::array({{{"key", triage::k_quarantine_label}, {"operator", "NotIn"}, {"values", {"case-1"}}}})}}}}}}};
  c.denied = {"patch nodes *", "delete adminnetworkpolicies.policy.networking.k8s.io *"};
  triage::ReleaseOptions o{"shop", "web-1", kube::DryRun::none};
  SUBCASE("a real run") {}
  SUBCASE("a dry run") {
    o.dry_run = kube::DryRun::all;
  }
  auto r = triage::release(c.client, o, c.log());
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::forbidden);
  CHECK(r.error().message ==
        "release shop/web-1: missing permissions: delete adminnetworkpolicies.policy.networking.k8s.io at cluster "
        "scope, patch nodes at cluster scope");
  const auto asked = c.reviews();
  CHECK(std::set<std::string>(asked.begin(), asked.end()) ==
        std::set<std::string>{
            "delete networkpolicies.networking.k8s.io shop", "list networkpolicies.networking.k8s.io shop",
            "patch networkpolicies.networking.k8s.io shop", "delete adminnetworkpolicies.policy.networking.k8s.io *",
            "patch nodes *", "patch pods shop"});
  CHECK(c.writes().empty());
  CHECK(c.journal.empty());
}

TEST_CASE("release: a pod that is not isolated needs only the policy delete; a refused list is named") {
  Cluster c;
  SUBCASE("not isolated") {
    auto r = triage::release(c.client, {"shop", "web-1", kube::DryRun::none}, c.log());
    REQUIRE(r);
    CHECK_FALSE(r->was_isolated);
    CHECK(c.reviews() == std::vector<std::string>{"delete networkpolicies.networking.k8s.io shop"});
  }
  SUBCASE("isolated, but the user may not list policies") {
    c.pod["metadata"]["labels"][triage::k_quarantine_label] = "case-1";
    c.transport.json("GET " + k_policies, status_json(403, "Forbidden", "cannot list networkpolicies"), 403);
    c.denied = {"list networkpolicies.networking.k8s.io shop"};
    auto r = triage::release(c.client, {"shop", "web-1", kube::DryRun::none}, c.log());
    REQUIRE_FALSE(r);
    CHECK(r.error().message ==
          "release shop/web-1: missing permission: list networkpolicies.networking.k8s.io in namespace shop");
    CHECK(c.writes().empty());
  }
}

namespace {

bool has_arg(const std::vector<std::string>& argv, const char* word) {
  return std::find(argv.begin(), argv.end(), word) != argv.end();
}

// An exec server whose nc connects until the quarantine policy is written, then times out (or
// keeps connecting with `enforced` false). Records whether each probe came before the policy.
struct Wire {
  bool quarantined = false;
  bool enforced = true;
  std::vector<bool> probe_after_policy;
  ExecConnector exec{[this](const ExecCall& call) {
    if (call.argv[0] == "cat") return ExecReply::missing();
    probe_after_policy.push_back(quarantined);
    if (has_arg(call.argv, "-z")) return ExecReply::failure("nc: invalid option -- 'z'\nUsage: nc [-iN] [-wN]\n", 1);
    if (quarantined && enforced)
      return ExecReply::failure("nc: can't connect to remote host: Connection timed out\n", 1);
    return ExecReply::output("");
  }};
  explicit Wire(Cluster& c) {
    c.transport.routes["PATCH " + k_quarantine] = [this](const kube::HttpRequest& r) {
      quarantined = true;
      return Cluster::answer(json::parse(r.body));
    };
  }
};

}  // namespace

TEST_CASE("isolate --verify: reachable before and blocked after is contained, measured on the wire") {
  Cluster c;
  Wire w(c);
  auto o = c.options();
  o.probe = "198.51.100.7:3333";
  o.verify_timeout = std::chrono::seconds(2);
  SUBCASE("a recognised CNI: the reasoning confirmed") {}
  SUBCASE("no CNI recognised (kube-router on the host): the wire decides") {
    c.transport.json("GET /apis/apps/v1/daemonsets", list_of({daemonset("kube-proxy")}).dump());
  }
  auto r = triage::isolate(c.client, &w.exec, o, c.log(), c.clock);
  REQUIRE(r);
  CHECK(r->egress.state == triage::Containment::contained);
  CHECK(r->egress.on_the_wire);
  CHECK(r->egress.reason.rfind("198.51.100.7:3333 (--probe) connected before, timed out after", 0) == 0);
  CHECK(r->wire.verdict == triage::WireVerdict::contained);
  // The first probes ran before the policy was written, the last one after it.
  REQUIRE(w.probe_after_policy.size() == 3);  // -z refused, -e connected, -e timed out
  CHECK(w.probe_after_policy == std::vector<bool>{false, false, true});
  CHECK(c.reviews().back() == "create pods/exec shop");
  std::vector<std::string> actions;
  for (const auto& e : c.journal) actions.push_back(e.first);
  CHECK(actions == std::vector<std::string>{"probe-before", "label", "apply-policy", "probe-after", "verdict"});
}

TEST_CASE("isolate --verify: still reachable after the quarantine is NOT contained, whatever the reasoning says") {
  Cluster c;
  Wire w(c);
  w.enforced = false;
  auto o = c.options();
  o.verify = true;
  o.probe = "198.51.100.7:3333";
  o.verify_timeout = std::chrono::seconds(1);
  auto r = triage::isolate(c.client, &w.exec, o, c.log(), c.clock);
  REQUIRE(r);
  CHECK(r->cni.name == "calico");
  CHECK(r->egress.state == triage::Containment::not_contained);
  CHECK(r->egress.on_the_wire);
  CHECK(r->egress.reason == "198.51.100.7:3333 (--probe) still connected after the quarantine (3 attempts over 1.0s)");
}

TEST_CASE("isolate --verify: nothing reachable before leaves the reasoned verdict, saying why") {
  Cluster c;
  ExecConnector exec([](const ExecCall&) { return ExecReply::failure("nc: Connection timed out\n", 1); });
  auto o = c.options();
  o.probe = "198.51.100.7:3333";
  auto r = triage::isolate(c.client, &exec, o, c.log(), c.clock);
  REQUIRE(r);
  CHECK(r->egress.state == triage::Containment::contained);
  CHECK_FALSE(r->egress.on_the_wire);
  CHECK(r->egress.reason.find("(not verified on the wire: 198.51.100.7:3333 (--probe) was not reachable before the "
                              "quarantine: connection to 198.51.100.7:3333 failed") != std::string::npos);
}

TEST_CASE("isolate --probe refuses what no policy governs, before anything is written") {
  Cluster c;
  c.pod["status"]["podIP"] = "10.244.0.12";
  c.pod["status"]["hostIP"] = "192.0.2.2";
  ExecConnector exec([](const ExecCall&) { return ExecReply::output(""); });
  struct Case {
    const char* probe;
    const char* why;
  };
  for (const auto& k :
       {Case{"127.0.0.1:8080", "the pod's own loopback"}, Case{"localhost:8080", "the pod's own loopback"},
        Case{"10.244.0.12:8080", "the pod's own address"}, Case{"192.0.2.2:10250", "the pod's node"}}) {
    CAPTURE(k.probe);
    auto o = c.options();
    o.probe = k.probe;
    auto r = triage::isolate(c.client, &exec, o, c.log(), c.clock);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::usage);
    CHECK(r.error().message.find(std::string("isolate shop/web-1: --probe ") + k.probe + ": ") == 0);
    CHECK(r.error().message.find(k.why) != std::string::npos);
  }
  CHECK(c.writes().empty());
  CHECK(exec.calls.empty());
}

TEST_CASE("isolate --verify picks a sibling's port, else the kubernetes Service unless it leads to the node") {
  Cluster c;
  c.pod["metadata"]["ownerReferences"] =
      json::array({{{"kind", "ReplicaSet"}, {"name", "web-7d"}, {"uid", "rs-1"}, {"controller", true}}});
  c.pod["status"]["hostIP"] = "192.0.2.2";
  const auto pod_with = [](const std::string& name, const std::string& ip, const std::string& owner, int port) {
    json p = {
        {"metadata", {{"name", name}, {"uid", "uid-" + name}, {"ownerReferences", json::array({{{"uid", owner}}})}}},
        {"spec", {{"containers", json::array({{{"name", "c"}, {"ports", json::array({{{"containerPort", port}}})}}})}}},
        {"status", {{"phase", "Running"}, {"podIP", ip}}}};
    return p;
  };
  c.transport.json("GET /api/v1/namespaces/default/services/kubernetes",
                   R"({"spec":{"clusterIP":"10.96.0.1","ports":[{"name":"https","port":443}]}})");
  std::vector<std::string> targets;
  ExecConnector exec([&](const ExecCall& call) {
    if (call.argv[0] == "cat") return ExecReply::missing();
    targets.push_back(call.argv[call.argv.size() - (has_arg(call.argv, "-z") ? 2 : 4)]);
    return ExecReply::output("");
  });
  auto o = c.options();
  o.verify = true;
  o.verify_timeout = std::chrono::seconds(0);
  SUBCASE("a sibling replica's declared port comes first") {
    c.transport.json(
        "GET /api/v1/namespaces/shop/pods",
        list_of({pod_with("db-0", "10.244.0.30", "sts-1", 5432), pod_with("web-2", "10.244.0.21", "rs-1", 8080), c.pod})
            .dump());
    auto r = triage::isolate(c.client, &exec, o, c.log(), c.clock);
    REQUIRE(r);
    REQUIRE_FALSE(r->wire.targets.empty());
    CHECK(r->wire.targets[0].target.text() == "10.244.0.21:8080");
    CHECK(r->wire.targets[0].target.what == "pod shop/web-2 port 8080");
    CHECK(targets.front() == "10.244.0.21");
  }
  SUBCASE("no pod with a port: the kubernetes Service") {
    c.transport.json("GET /api/v1/namespaces/shop/pods", list_of({c.pod}).dump());
    auto r = triage::isolate(c.client, &exec, o, c.log(), c.clock);
    REQUIRE(r);
    REQUIRE(r->wire.targets.size() == 1);
    CHECK(r->wire.targets[0].target.text() == "10.96.0.1:443");
  }
  SUBCASE("the API server on the pod's own node: no telling destination, unverified") {
    c.transport.json("GET /api/v1/namespaces/shop/pods", list_of({c.pod}).dump());
    c.transport.json("GET /api/v1/namespaces/default/endpoints/kubernetes",
                     R"({"subsets":[{"addresses":[{"ip":"192.0.2.2"}],"ports":[{"port":6443}]}]})");
    auto r = triage::isolate(c.client, &exec, o, c.log(), c.clock);
    REQUIRE(r);
    CHECK(r->wire.verdict == triage::WireVerdict::unverified);
    CHECK(r->wire.reason.find("the kubernetes Service leads to the pod's own node") != std::string::npos);
    CHECK(r->egress.reason.find("give one with --probe HOST:PORT") != std::string::npos);
    CHECK(exec.calls.empty());
  }
}

TEST_CASE("isolate --verify --ephemeral probes from a debug container it adds and journals") {
  Cluster c;
  Wire w(c);
  std::string added;
  c.transport.routes["PATCH " + k_pod + "/ephemeralcontainers"] = [&](const kube::HttpRequest& req) {
    const json body = json::parse(req.body);
    const json& ec = body["spec"]["ephemeralContainers"][0];
    added = ec["name"];
    CHECK(ec["image"] == "registry.internal/busybox:1.36");
    CHECK(ec["securityContext"]["runAsNonRoot"] == true);
    CHECK(ec["securityContext"]["capabilities"]["drop"] == json::array({"ALL"}));
    c.pod["status"]["ephemeralContainerStatuses"] =
        json::array({{{"name", added}, {"state", {{"running", json::object()}}}}});
    return Cluster::answer(c.pod);
  };
  auto o = c.options();
  o.probe = "198.51.100.7:3333";
  o.ephemeral = true;
  o.debug_image = "registry.internal/busybox:1.36";
  auto r = triage::isolate(c.client, &w.exec, o, c.log(), c.clock);
  REQUIRE(r);
  REQUIRE_FALSE(added.empty());
  CHECK(added.rfind("kubectl-ir-probe-", 0) == 0);
  CHECK(r->debug_container == added);
  for (const auto& call : w.exec.calls) CHECK(call.container == added);
  CHECK(r->wire.probed_from == "debug container " + added + " (registry.internal/busybox:1.36)");
  CHECK(r->egress.on_the_wire);
  const auto asked = c.reviews();
  CHECK(std::find(asked.begin(), asked.end(), "patch pods/ephemeralcontainers shop") != asked.end());
  CHECK(c.journal.front().first == "isolate.ephemeral");
}

TEST_CASE("isolate --allow-dns: NodeLocal DNSCache is allowed too, and the verdict names the DNS channel") {
  Cluster c;
  json nodelocal = {
      {"metadata", {{"name", "node-local-dns"}, {"namespace", "kube-system"}}},
      {"spec",
       {{"template",
         {{"spec", {{"containers", json::array({{{"args", {"-localip", "169.254.20.10,10.96.0.10"}}}})}}}}}}}};
  auto o = c.options();
  o.allow_dns = true;
  SUBCASE("NodeLocal DNSCache installed") {
    c.transport.json("GET /apis/apps/v1/daemonsets", list_of({daemonset("calico-node"), nodelocal}).dump());
    auto r = triage::isolate(c.client, nullptr, o, c.log(), c.clock);
    REQUIRE(r);
    CHECK(r->node_local_dns == std::vector<std::string>{"169.254.20.10"});
    const json& egress = r->policy["spec"]["egress"];
    REQUIRE(egress.size() == 2);
    CHECK(egress[1]["to"] == json::array({{{"ipBlock", {{"cidr", "169.254.20.10/32"}}}}}));
    CHECK(egress[1]["ports"][0] == json{{"protocol", "UDP"}, {"port", 53}});
    CHECK(r->egress.state == triage::Containment::contained);
    CHECK(r->egress.reason.find(
              "all egress denied except DNS to kube-dns on 53, NodeLocal DNSCache 169.254.20.10 on 53") == 0);
    CHECK(r->egress.reason.find("DNS remains an exfiltration channel") != std::string::npos);
  }
  SUBCASE("no NodeLocal DNSCache: kube-dns only, the channel still named") {
    auto r = triage::isolate(c.client, nullptr, o, c.log(), c.clock);
    REQUIRE(r);
    CHECK(r->node_local_dns.empty());
    CHECK(r->policy["spec"]["egress"].size() == 1);
    CHECK(r->egress.reason.find("DNS remains an exfiltration channel") != std::string::npos);
  }
  SUBCASE("DaemonSets not readable: the default address, and a warning saying so") {
    c.transport.json("GET /apis/apps/v1/daemonsets", status_json(403, "Forbidden", "no"), 403);
    c.transport.json("GET /apis/apps/v1/namespaces/kube-system/daemonsets", status_json(403, "Forbidden", "no"), 403);
    c.transport.json(
        "GET /api/v1/nodes/node-1",
        R"({"metadata":{"name":"node-1","annotations":{"projectcalico.org/IPv4Address":"192.0.2.2/24"}}})");
    auto r = triage::isolate(c.client, nullptr, o, c.log(), c.clock);
    REQUIRE(r);
    CHECK(r->node_local_dns == std::vector<std::string>{"169.254.20.10"});
    CHECK(r->cni.evidence == "node node-1 annotation projectcalico.org/IPv4Address");
    CHECK(r->warnings.front().find("could not look for NodeLocal DNSCache") == 0);
  }
}

namespace {

json residue_policy(const std::vector<std::string>& cases) {
  return {{"metadata", {{"name", "allow-egress"}, {"annotations", {{triage::k_ann_original_selector, "{}"}}}}},
          {"spec",
           {{"podSelector",
             {{"matchExpressions",
               json::array({{{"key", triage::k_quarantine_label}, {"operator", "NotIn"}, {"values", cases}}})}}},
            {"policyTypes", {"Egress"}},
            {"egress", json::array({json::object()})}}}};
}

}  // namespace

TEST_CASE("release: what --exclusive left on other policies is cleaned even when the pod is gone") {
  Cluster c;
  c.transport.json("GET " + k_pod, status_json(404, "NotFound", "pods \\\"web-1\\\" not found"), 404);
  c.transport.json("DELETE " + k_quarantine, status_json(404, "NotFound", "gone with its pod"), 404);
  c.policies = {residue_policy({"case-1"})};
  json patch_ops;
  c.transport.routes["PATCH " + k_policies + "/allow-egress"] = [&](const kube::HttpRequest& r) {
    patch_ops = json::parse(r.body);
    return Cluster::answer(c.policies[0]);
  };
  c.transport.json("GET /api/v1/namespaces/shop/pods", list_of({}).dump());
  SUBCASE("the case known (--case or the journal): restored exactly") {
    auto r = triage::release(c.client, {"shop", "web-1", kube::DryRun::none, "case-1"}, c.log());
    REQUIRE(r);
    CHECK_FALSE(r->pod_found);
    CHECK(r->was_isolated);
    CHECK(r->case_id == "case-1");
    CHECK(r->restored_policies == std::vector<std::string>{"allow-egress"});
    CHECK(patch_ops[1] == json{{"op", "replace"}, {"path", "/spec/podSelector"}, {"value", json::object()}});
    CHECK(c.journal.back().first == "restore-policy");
  }
  SUBCASE("the case unknown: reported, nothing touched") {
    auto r = triage::release(c.client, {"shop", "web-1", kube::DryRun::none}, c.log());
    REQUIRE(r);
    CHECK(r->residue == std::vector<std::string>{"allow-egress: case-1"});
    CHECK(patch_ops.is_null());
    // the selector asked which pods still carry the cases
    bool asked = false;
    for (const auto& req : c.transport.requests) {
      for (const auto& [k, v] : split_url(req.url).second)
        asked = asked || (k == "labelSelector" && v == "kubectl-ir/quarantine in (case-1)");
    }
    CHECK(asked);
  }
  SUBCASE("a case whose pod is still quarantined is not residue") {
    json live = c.pod;
    live["metadata"]["labels"][triage::k_quarantine_label] = "case-1";
    c.transport.json("GET /api/v1/namespaces/shop/pods", list_of({live}).dump());
    auto r = triage::release(c.client, {"shop", "web-1", kube::DryRun::none}, c.log());
    REQUIRE(r);
    CHECK(r->residue.empty());
  }
}

TEST_CASE("release --case without a pod: every pod of the case, then its residue") {
  Cluster c;
  c.pod["metadata"]["labels"][triage::k_quarantine_label] = "case-1";
  c.pod["metadata"]["annotations"] = {{triage::k_ann_case, "case-1"}};
  c.transport.json("GET /api/v1/namespaces/shop/pods", list_of({c.pod}).dump());
  c.policies = {residue_policy({"case-1", "case-2"})};
  c.transport.routes["PATCH " + k_policies + "/allow-egress"] = [&](const kube::HttpRequest&) {
    c.policies[0]["spec"]["podSelector"]["matchExpressions"][0]["values"] = json::array({"case-2"});
    return Cluster::answer(c.policies[0]);
  };
  auto r = triage::release(c.client, {"shop", "", kube::DryRun::none, "case-1"}, c.log());
  REQUIRE(r);
  CHECK(r->released_pods == std::vector<std::string>{"web-1"});
  CHECK(r->restored_policies == std::vector<std::string>{"allow-egress"});  // once, by the pod's release
  const auto w = c.writes();
  CHECK(std::count(w.begin(), w.end(), "PATCH " + k_policies + "/allow-egress") == 1);
  CHECK(std::count(w.begin(), w.end(), "PATCH " + k_pod) == 1);
}

TEST_CASE("describe_access") {
  CHECK(triage::describe_access({"create", "networking.k8s.io", "networkpolicies", "", "shop", ""}) ==
        "create networkpolicies.networking.k8s.io in namespace shop");
  CHECK(triage::describe_access({"patch", "", "nodes", "", "", ""}) == "patch nodes at cluster scope");
  CHECK(triage::describe_access({"create", "", "pods", "exec", "shop", ""}) == "create pods/exec in namespace shop");
}
