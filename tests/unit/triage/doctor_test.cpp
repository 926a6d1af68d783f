#include <doctest/doctest.h>

#include <set>

#include <yaml-cpp/yaml.h>

#include "support/fake_pod_api.hpp"
#include "support/rbac_rules.hpp"
#include "triage/doctor.hpp"

using namespace ir;
using namespace ir::testing;
using nlohmann::json;

namespace {

const std::string k_ssar = "POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews";

using ir::testing::grant;
std::string grant(const triage::Permission& p) {
  return grant(p.verb, p.group, p.resource, p.subresource);
}

// "verb resource[/subresource][.group]" for every rule of scripts/rbac/kubectl-ir-clusterrole.yaml.
std::set<std::string> clusterrole_grants() { return rules_of(YAML::LoadFile(IR_RBAC_ROLE)); }

bool has_row(const std::string& command, const std::string& verb, const std::string& qualified) {
  for (const auto& p : triage::required_permissions()) {
    if (p.command == command && p.verb == verb &&
        kube::qualified_resource({p.verb, p.group, p.resource, p.subresource, "", ""}) == qualified) {
      return true;
    }
  }
  return false;
}

}  // namespace

TEST_CASE("required_permissions: what the commands call") {
  const std::vector<std::tuple<const char*, const char*, const char*>> rows = {
      {"isolate", "create", "networkpolicies.networking.k8s.io"},
      {"isolate", "patch", "networkpolicies.networking.k8s.io"},
      {"isolate", "get", "nodes"},
      {"isolate", "patch", "nodes"},
      {"isolate", "create", "adminnetworkpolicies.policy.networking.k8s.io"},
      {"isolate", "patch", "adminnetworkpolicies.policy.networking.k8s.io"},
      {"release", "delete", "adminnetworkpolicies.policy.networking.k8s.io"},
      {"collect", "list", "networkpolicies.networking.k8s.io"},
      {"collect", "get", "statefulsets.apps"},
      {"collect", "get", "daemonsets.apps"},
      {"collect", "get", "jobs.batch"},
      {"collect", "get", "cronjobs.batch"},
      {"collect", "get", "replicationcontrollers"},
      {"siblings", "get", "nodes"},
      {"siblings", "list", "namespaces"},
      {"siblings", "get", "jobs.batch"},
      {"run", "get", "pods"},
      {"run", "patch", "pods"},
      {"run", "patch", "nodes"},
      {"run", "get", "pods/log"},
      {"run", "create", "pods/exec"},
      {"run", "delete", "networkpolicies.networking.k8s.io"},
  };
  for (const auto& [command, verb, resource] : rows) {
    CAPTURE(command);
    CAPTURE(verb);
    CAPTURE(resource);
    CHECK(has_row(command, verb, resource));
  }
  // siblings reads only ReplicaSets and Jobs above pods; a Deployment is named from the ReplicaSet.
  CHECK_FALSE(has_row("siblings", "get", "deployments.apps"));
}

TEST_CASE("required_permissions: the shipped ClusterRole grants exactly these") {
  const auto role = clusterrole_grants();
  std::set<std::string> needed;
  for (const auto& p : triage::required_permissions()) {
    CAPTURE(p.command);
    CHECK_MESSAGE(role.count(grant(p)) == 1, grant(p));
    needed.insert(grant(p));
  }
  // Granted but not a doctor row: exec's verb before 1.30, and the reviews themselves.
  needed.insert({grant("get", "", "pods", "exec"), grant("create", "authorization.k8s.io", "selfsubjectaccessreviews"),
                 grant("create", "authorization.k8s.io", "selfsubjectrulesreviews"),
                 grant("create", "authentication.k8s.io", "selfsubjectreviews")});
  for (const auto& g : role) CHECK_MESSAGE(needed.count(g) == 1, ("granted but not needed: " + g));
}

TEST_CASE("run_doctor: each permission reviewed once, its answer shown on every row that needs it") {
  RoutedTransport transport;
  FakeCredentials credentials{false};
  util::FakeClock clock;
  kube::Client client{test_config(), transport, credentials, clock};
  std::string minor = "32";
  SUBCASE("1.32") {}
  SUBCASE("1.29: exec is checked as get") {
    minor = "29";
  }
  transport.json("GET /version", R"({"major":"1","minor":")" + minor + R"(","gitVersion":"v1.)" + minor + R"(.4"})");
  transport.json("POST /apis/authentication.k8s.io/v1/selfsubjectreviews",
                 R"({"status":{"userInfo":{"username":"bob","groups":["system:authenticated"]}}})", 201);
  std::set<std::string> asked;
  int reviews = 0;
  transport.routes[k_ssar] = [&](const kube::HttpRequest& r) {
    const json a = json::parse(r.body)["spec"]["resourceAttributes"];
    const std::string key = a.value("verb", "") + " " +
                            kube::qualified_resource({"", a.value("group", ""), a.value("resource", ""),
                                                      a.value("subresource", ""), "", ""}) +
                            " " + a.value("namespace", "*");
    ++reviews;
    asked.insert(key);
    kube::HttpResponse out;
    out.status = 201;
    out.body = json{{"status", {{"allowed", key != "patch pods shop"}}}}.dump();
    return out;
  };
  const auto report = triage::run_doctor(client, "shop");
  REQUIRE(report.version);
  CHECK(report.checks.size() == triage::required_permissions().size());
  CHECK(reviews == static_cast<int>(asked.size()));
  CHECK(asked.size() < report.checks.size());
  int patch_pods_rows = 0;
  for (const auto& c : report.checks) {
    if (c.permission.subresource == "exec") CHECK(c.permission.verb == (minor == "29" ? "get" : "create"));
    if (c.permission.verb == "patch" && c.permission.resource == "pods" && c.permission.subresource.empty()) {
      ++patch_pods_rows;
      CHECK_FALSE(c.allowed);
    } else {
      CHECK(c.allowed);
    }
  }
  CHECK(patch_pods_rows == 2);  // isolate and run
  CHECK_FALSE(report.ok());     // isolate's is required
}
