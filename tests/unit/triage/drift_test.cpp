#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <regex>

#include "support/fake_pod_api.hpp"
#include "support/proc_samples.hpp"
#include "triage/drift.hpp"
#include "triage/pod_builder.hpp"
#include "util/cancel.hpp"

using namespace ir;
using namespace ir::testing;
using nlohmann::json;

namespace {

const std::string k_image = "registry.example.com/shop/web:1.4.2";

std::string boundary_of(const std::string& script) {
  std::smatch m;
  REQUIRE(std::regex_search(script, m, std::regex("[0-9a-f]{32}")));
  return m.str();
}

// A pod of the web image: Ready unless told, on `node`, owned by `owner` (a ReplicaSet or a Job).
json web_pod(const std::string& ns, const std::string& name, const std::string& node, const std::string& owner_kind,
             const std::string& owner, bool ready = true) {
  json p = PodBuilder{}.ns(ns).name(name).node(node).owner(owner_kind == "Job" ? "batch/v1" : "apps/v1", owner_kind, owner)
               .container("web", k_image, k_web_id)
               .json();
  p["status"]["conditions"] = json::array({{{"type", "Ready"}, {"status", ready ? "True" : "False"}}});
  p["status"]["podIP"] = "10.244.0." + std::to_string(name.size());
  return p;
}

json node(const std::string& name, bool ready) {
  json n = node_object(name, "amd64");
  n["status"]["conditions"] = json::array({{{"type", "Ready"}, {"status", ready ? "True" : "Unknown"}, {"reason", ready ? "KubeletReady" : "NodeStatusUnknown"}}});
  return n;
}

// The /proc walk of a healthy replica (sh and httpd); the suspect also runs the miner from /tmp.
std::string walk(const std::string& boundary, bool miner) {
  WalkOut w;
  w.b = boundary;
  w.begin(miner ? " 1 2 3" : " 1 2").proc("1", "sh", "sh\0/docker-entrypoint.sh\0"s).proc("2", "httpd", "httpd\0-f\0"s);
  if (miner) {
    w.marker("pid 3");
    w.section("stat", make_stat("3", "kworkerds"));
    w.section("status", make_status("kworkerds", "3"));
    w.section("cmdline", "/tmp/.x/kworkerds\0-o\0198.51.100.7:3333\0"s);
    w.section("exe", "/tmp/.x/kworkerds\n");
    w.section("cwd", "/\n");
    w.section("fds", "");
  }
  return w.end(miner ? "3" : "2").s;
}

struct Cluster {
  RoutedTransport transport;
  FakeCredentials credentials{false};
  util::FakeClock clock;
  kube::Client client{test_config(), transport, credentials, clock};
  std::map<std::string, int> execs;  // per pod
  ExecConnector connector{[this](const ExecCall& c) {
    const auto pods = c.path.find("/pods/");
    const std::string pod = c.path.substr(pods + 6, c.path.find('/', pods + 6) - pods - 6);
    ++execs[pod];
    if (pod == "web-3") return ExecReply::missing();  // shell-less: its snapshot fails
    if (c.argv[0] == "sh" && c.argv.size() > 2 && c.argv[2].find("begin") != std::string::npos) {
      return ExecReply::output(walk(boundary_of(c.argv[2]), pod == "web-1"));
    }
    if (c.argv[0] == "cat" && c.argv[1].rfind("/proc/net/", 0) == 0) return ExecReply::output("  sl  local_address\n");
    return ExecReply::missing();
  }};
  json suspect = web_pod("shop", "web-1", "node-1", "ReplicaSet", "web-rs");
  std::vector<json> all;

  Cluster() {
    all = {suspect,
           web_pod("shop", "web-2", "node-1", "ReplicaSet", "web-rs"),
           web_pod("shop", "web-3", "node-2", "ReplicaSet", "web-rs"),
           web_pod("shop", "web-4", "node-3", "ReplicaSet", "web-rs"),
           web_pod("shop", "web-5", "node-2", "ReplicaSet", "web-rs", false),
           web_pod("batch", "report-1", "node-2", "Job", "report")};
    transport.json("GET /api/v1/pods", list_page(all));
    for (const auto& p : all) {
      transport.json("GET /api/v1/namespaces/" + p["metadata"]["namespace"].get<std::string>() + "/pods/" +
                         p["metadata"]["name"].get<std::string>(),
                     p.dump());
    }
    transport.json("GET /api/v1/nodes/node-1", node("node-1", true).dump());
    transport.json("GET /api/v1/nodes/node-2", node("node-2", true).dump());
    transport.json("GET /api/v1/nodes/node-3", node("node-3", false).dump());
    transport.json("GET /apis/apps/v1/namespaces/shop/replicasets/web-rs",
                   owned_object("apps/v1", "ReplicaSet", "shop", "web-rs", "Deployment", "web").dump());
    transport.json("GET /apis/apps/v1/namespaces/shop/deployments/web", owned_object("apps/v1", "Deployment", "shop", "web").dump());
    transport.json("GET /apis/batch/v1/namespaces/batch/jobs/report", owned_object("batch/v1", "Job", "batch", "report").dump());
  }

  Result<triage::DriftReport> drift(triage::DriftOptions o) {
    o.namespace_name = "shop";
    o.pod = "web-1";
    triage::DriftEnv env{client, connector, clock};
    return triage::drift(env, o, suspect);
  }
};

const forensics::Member* member(const triage::DriftReport& r, const std::string& name) {
  for (const auto& m : r.drift.baseline->members) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

const triage::SkippedCandidate* skipped(const triage::DriftReport& r, const std::string& name) {
  for (const auto& s : r.skipped) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("drift: siblings of the same workload first, spread over nodes; unready pods and nodes skipped; a failure replaced") {
  Cluster c;
  triage::DriftOptions o;
  o.siblings = 2;
  auto r = c.drift(o);
  REQUIRE(r);
  REQUIRE(r->drift.baseline);
  INFO(r->baseline_line());
  // web-3 (node-2, the emptier node) came first and failed: reported, never counted.
  const auto* failed = member(*r, "web-3");
  REQUIRE(failed != nullptr);
  CHECK(failed->status == forensics::MemberStatus::failed);
  CHECK_FALSE(failed->reason.empty());
  // The NotReady node and the pod that is not Ready are skipped with their reasons.
  REQUIRE(skipped(*r, "web-4") != nullptr);
  CHECK(skipped(*r, "web-4")->reason.find("node-3 is NotReady") != std::string::npos);
  REQUIRE(skipped(*r, "web-5") != nullptr);
  CHECK(skipped(*r, "web-5")->reason == "not Ready");
  CHECK(c.execs.count("web-4") == 0);
  CHECK(c.execs.count("web-5") == 0);
  // The failure was replaced: the other replica, then the other workload of the digest (weaker).
  REQUIRE(member(*r, "web-2") != nullptr);
  CHECK(member(*r, "web-2")->relation == forensics::Relation::same_workload);
  REQUIRE(member(*r, "report-1") != nullptr);
  CHECK(member(*r, "report-1")->relation == forensics::Relation::same_digest);
  CHECK(member(*r, "report-1")->status == forensics::MemberStatus::ok);
  CHECK(r->compared() == 2);
  // Fewer than wanted failed, but 2 of 2 were compared.
  // The miner is what only the suspect runs; judged against a mixed set: same-digest.
  const auto& f = r->drift.findings;
  const auto miner = std::find_if(f.begin(), f.end(), [](const forensics::Finding& x) { return x.rule == "drift.process.exe"; });
  REQUIRE(miner != f.end());
  CHECK(miner->subject["exe"] == "/tmp/.x/kworkerds");
  CHECK(miner->seen_in->count == 0);
  CHECK(miner->seen_in->of == 2);
  CHECK(miner->judged_against == forensics::Relation::same_digest);
  CHECK(std::none_of(f.begin(), f.end(), [](const forensics::Finding& x) { return x.subject.value("exe", "") == "/bin/busybox"; }));
  REQUIRE(r->indicators);
  CHECK(std::any_of(r->indicators->findings.begin(), r->indicators->findings.end(),
                    [](const forensics::Finding& x) { return x.rule == "exe-in-tmp"; }));
}

TEST_CASE("drift: excluded pods and --siblings 0; an unreadable baseline file fails with its position") {
  Cluster c;
  SUBCASE("exclude") {
    triage::DriftOptions o;
    o.siblings = 5;
    o.exclude = {"shop/web-2", "batch/report-1"};
    auto r = c.drift(o);
    REQUIRE(r);
    CHECK(skipped(*r, "web-2")->reason == "excluded");
    CHECK(r->compared() == 0);  // web-3 failed, the rest skipped
    CHECK(r->outcome() == util::Outcome::partial);
    CHECK(r->baseline_line() == "no sibling to compare with: indicators only");
    CHECK(c.execs.count("web-2") == 0);
  }
  SUBCASE("no siblings: indicators only, said plainly, nothing listed") {
    triage::DriftOptions o;
    o.siblings = 0;
    auto r = c.drift(o);
    REQUIRE(r);
    CHECK(r->compared() == 0);
    CHECK(r->drift.findings.empty());
    CHECK(std::find(r->notes.begin(), r->notes.end(), "no sibling asked for (--siblings 0): indicators only") != r->notes.end());
    CHECK(r->outcome() == util::Outcome::partial);
    const auto calls = c.transport.calls();
    CHECK(std::find(calls.begin(), calls.end(), "GET /api/v1/pods") == calls.end());
  }
  SUBCASE("a baseline file that does not parse") {
    triage::DriftOptions o;
    o.baseline_file = "b.json";
    o.baseline_text = "{\"format\": ";
    auto r = c.drift(o);
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("baseline file b.json") != std::string::npos);
    CHECK(r.error().message.find("line 1") != std::string::npos);
  }
}
