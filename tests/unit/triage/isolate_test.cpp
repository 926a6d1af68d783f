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
  const std::string none = "no NetworkPolicy-enforcing CNI recognised among the DaemonSets";
  const Case cases[] = {
      {"kube-proxy", triage::Containment::unknown, none,
       none + ": the quarantine policy may change nothing on the wire"},
      {"kube-flannel-ds", triage::Containment::not_contained, "flannel does not enforce NetworkPolicy",
       "flannel does not enforce NetworkPolicy: the quarantine policy changes nothing on the wire"},
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

TEST_CASE("interpret_probe") {
  using triage::ProbeOutcome;
  const std::string busybox_usage =
      "nc: invalid option -- 'z'\nBusyBox v1.35.0 (Debian 1:1.35.0-4+deb12u1+b1) multi-call binary.\n\n"
      "Usage: nc [-iN] [-wN] [-l] [-p PORT] [-f FILE|IPADDR PORT] [-e PROG]\n";
  struct Case {
    int exit_code;
    std::string err;
    ProbeOutcome outcome;
    std::string summary;
  };
  const Case cases[] = {
      {0, "", ProbeOutcome::connected, "CONNECTED to 10.0.0.1:80: egress is NOT blocked"},
      {0, "Connection to 10.0.0.1 80 port [tcp/http] succeeded!\n", ProbeOutcome::connected,
       "CONNECTED to 10.0.0.1:80: egress is NOT blocked"},
      {1, busybox_usage, ProbeOutcome::unsupported, "nc exit 1: nc: invalid option -- 'z'"},
      {1, "nc: can't connect to remote host (10.0.0.1): Connection timed out\n", ProbeOutcome::blocked,
       "connection to 10.0.0.1:80 failed (nc exit 1: nc: can't connect to remote host (10.0.0.1): Connection timed "
       "out): egress blocked"},
      {1, "nc: connect to 10.0.0.1 port 80 (tcp) timed out: Operation now in progress\n", ProbeOutcome::blocked, ""},
      {1, "nc: can't connect to remote host (10.0.0.1): No route to host\n", ProbeOutcome::blocked, ""},
      {1, "Ncat: TIMEOUT.\n", ProbeOutcome::blocked, ""},
      {1, "nc: can't connect to remote host (10.0.0.1): Connection refused\n", ProbeOutcome::refused,
       "connection to 10.0.0.1:80 refused (nc exit 1: nc: can't connect to remote host (10.0.0.1): Connection "
       "refused): the target or a REJECT rule answered; inconclusive"},
      {1, "nc: bad address 'collector.example'\n", ProbeOutcome::unknown,
       "unknown: 10.0.0.1:80 did not resolve inside the pod (nc exit 1: nc: bad address 'collector.example'): not "
       "probed"},
      {1, "", ProbeOutcome::unknown, "unknown: nc failed without saying why (nc exit 1)"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.err);
    const auto r = triage::interpret_probe("10.0.0.1:80", c.exit_code, c.err);
    CHECK(r.outcome == c.outcome);
    if (!c.summary.empty()) CHECK(r.summary == c.summary);
  }
  // A name is looked up before the connection: a timeout may be DNS's.
  CHECK(triage::interpret_probe("collector.example:443", 1, "nc: timed out\n").summary ==
        "connection to collector.example:443 failed (nc exit 1: nc: timed out): egress blocked (the name is looked up "
        "first: DNS may be what is blocked)");
}

TEST_CASE("isolate --probe") {
  Cluster c;
  auto o = c.options();
  o.probe = "198.51.100.7:3333";
  SUBCASE("busybox's small nc: no -z, so -e true; a connection overrides the policy verdict") {
    ExecConnector exec([](const ExecCall& call) {
      if (std::find(call.argv.begin(), call.argv.end(), "-z") != call.argv.end()) {
        return ExecReply::failure("nc: invalid option -- 'z'\nUsage: nc [-iN] [-wN] [-l] [-p PORT]\n", 1);
      }
      return ExecReply::output("");
    });
    auto r = triage::isolate(c.client, &exec, o, c.log(), c.clock);
    REQUIRE(r);
    REQUIRE(exec.calls.size() == 2);
    CHECK(exec.calls[0].argv == std::vector<std::string>{"nc", "-z", "-v", "-w", "3", "198.51.100.7", "3333"});
    CHECK(exec.calls[1].argv == std::vector<std::string>{"nc", "-w", "3", "198.51.100.7", "3333", "-e", "true"});
    CHECK(exec.calls[1].container == "web");
    CHECK(r->probe == "CONNECTED to 198.51.100.7:3333: egress is NOT blocked");
    CHECK(r->egress.state == triage::Containment::not_contained);
    CHECK(r->egress.reason == "the probe connected to 198.51.100.7:3333 from inside the pod");
  }
  SUBCASE("a timeout leaves the policy verdict") {
    ExecConnector exec([](const ExecCall&) {
      return ExecReply::failure("nc: connect to 198.51.100.7 port 3333 (tcp) timed out: Operation now in progress\n",
                                1);
    });
    auto r = triage::isolate(c.client, &exec, o, c.log(), c.clock);
    REQUIRE(r);
    CHECK(exec.calls.size() == 1);
    CHECK(r->probe.find("failed") != std::string::npos);
    CHECK(r->egress.state == triage::Containment::contained);
  }
  SUBCASE("no nc in the image: unknown, not blocked") {
    ExecConnector exec([](const ExecCall&) { return ExecReply::missing(); });
    auto r = triage::isolate(c.client, &exec, o, c.log(), c.clock);
    REQUIRE(r);
    CHECK(r->probe == "unknown: the image has no nc to probe with");
    CHECK(r->egress.state == triage::Containment::contained);
  }
  SUBCASE("an nc that takes neither form: unknown, not blocked") {
    ExecConnector exec([](const ExecCall&) { return ExecReply::failure("nc: unrecognized option '-e'\n", 1); });
    auto r = triage::isolate(c.client, &exec, o, c.log(), c.clock);
    REQUIRE(r);
    CHECK(exec.calls.size() == 2);
    CHECK(r->probe == "unknown: the image's nc takes neither -z nor -e (nc exit 1: nc: unrecognized option '-e')");
  }
  SUBCASE("a dry run does not probe") {
    o.dry_run = kube::DryRun::all;
    ExecConnector exec([](const ExecCall&) { return ExecReply::output(""); });
    auto r = triage::isolate(c.client, &exec, o, c.log(), c.clock);
    REQUIRE(r);
    CHECK(exec.calls.empty());
    CHECK(r->probe.empty());
  }
  const auto probe_logged =
      std::any_of(c.journal.begin(), c.journal.end(), [](const auto& e) { return e.first == "probe"; });
  CHECK(probe_logged == (o.dry_run == kube::DryRun::none));
}

TEST_CASE("describe_access") {
  CHECK(triage::describe_access({"create", "networking.k8s.io", "networkpolicies", "", "shop", ""}) ==
        "create networkpolicies.networking.k8s.io in namespace shop");
  CHECK(triage::describe_access({"patch", "", "nodes", "", "", ""}) == "patch nodes at cluster scope");
  CHECK(triage::describe_access({"create", "", "pods", "exec", "shop", ""}) == "create pods/exec in namespace shop");
}
