// scripts/rbac/kubectl-ir-responder.yaml against the permissions the commands need
// (triage::required_permissions, what `kubectl ir doctor` lists): the in-cluster service account
// gets what the triage Job needs (isolate, collect, siblings), each at the scope doctor checks it,
// and nothing the Job does not use.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "support/rbac_rules.hpp"
#include "triage/doctor.hpp"

using namespace ir;
using ir::testing::grant;
using ir::testing::rules_of;

namespace {

const std::string k_namespace = "shop";  // where the file's RoleBindings are

// Beside the ClusterRole of doctor_test.cpp.
const std::filesystem::path k_file = std::filesystem::path(IR_RBAC_ROLE).parent_path() / "kubectl-ir-responder.yaml";

// The file's documents (split on "---" lines: it is ours, and Load of one document is enough).
std::vector<YAML::Node> documents() {
  std::ifstream in(k_file);
  REQUIRE(in);
  std::vector<YAML::Node> out;
  std::string line, current;
  auto flush = [&] {
    auto node = YAML::Load(current);
    if (node && node.IsMap()) out.push_back(node);
    current.clear();
  };
  while (std::getline(in, line)) {
    if (line == "---") {
      flush();
    } else {
      current += line + "\n";
    }
  }
  flush();
  return out;
}

struct Grants {
  std::set<std::string> cluster;     // from ClusterRoleBindings: every namespace and cluster scope
  std::set<std::string> namespaced;  // from RoleBindings in k_namespace
  std::set<std::string> unbound;     // in a role no binding gives the service account
};


Grants responder_grants() {
  std::map<std::string, YAML::Node> cluster_roles;
  std::vector<YAML::Node> bindings;
  for (const auto& doc : documents()) {
    const auto kind = doc["kind"].as<std::string>();
    if (kind == "ClusterRole") cluster_roles[doc["metadata"]["name"].as<std::string>()] = doc;
    if (kind == "Role") FAIL("the responder set uses ClusterRoles bound per namespace, not Roles");
    if (kind == "ClusterRoleBinding" || kind == "RoleBinding") bindings.push_back(doc);
  }
  Grants g;
  std::set<std::string> bound;
  for (const auto& b : bindings) {
    bool to_responder = false;
    for (const auto& s : b["subjects"]) {
      to_responder |= s["kind"].as<std::string>() == "ServiceAccount" &&
                      s["name"].as<std::string>() == "kubectl-ir-responder" &&
                      s["namespace"].as<std::string>() == "kubectl-ir";
    }
    REQUIRE(to_responder);
    const auto role = b["roleRef"]["name"].as<std::string>();
    REQUIRE(cluster_roles.count(role) == 1);
    bound.insert(role);
    auto& into = b["kind"].as<std::string>() == "ClusterRoleBinding" ? g.cluster : g.namespaced;
    if (b["kind"].as<std::string>() == "RoleBinding") CHECK(b["metadata"]["namespace"].as<std::string>() == k_namespace);
    for (const auto& r : rules_of(cluster_roles[role])) into.insert(r);
  }
  for (const auto& [name, role] : cluster_roles) {
    if (bound.count(name) == 0) {
      for (const auto& r : rules_of(role)) g.unbound.insert(r);
    }
  }
  return g;
}

// What the triage playbook's steps call: isolate (allow_dns, exclusive), collect (fs listing),
// siblings, and run itself; without the opt-in flags (--cordon, --detach, --admin-policy,
// --probe, --verify, --ephemeral).
bool used_by_the_triage_job(const triage::Permission& p) {
  static const std::set<std::string> k_commands = {"isolate", "collect", "siblings", "run"};
  if (k_commands.count(p.command) == 0) return false;
  static const std::set<std::string> k_opt_in = {"--cordon", "--detach", "--admin-policy", "--probe",
                                                 "--ephemeral", "cordon steps", "release steps",
                                                 "isolate, release, label, annotate steps",
                                                 "exec, collect steps", "logs, collect steps",
                                                 "isolate, release, collect steps", "isolate steps",
                                                 "isolate, release steps", "siblings steps",
                                                 "--verify's kubernetes Service target",
                                                 "--verify: is the API server on the pod's node?",
                                                 "--verify --ephemeral"};
  return k_opt_in.count(p.needed_for) == 0;
}

}  // namespace

TEST_CASE("responder RBAC: the triage Job's service account has what doctor says it needs, at its scope") {
  const auto g = responder_grants();
  for (const auto& p : triage::required_permissions()) {
    if (!used_by_the_triage_job(p)) continue;
    const auto what = grant(p.verb, p.group, p.resource, p.subresource);
    CAPTURE(p.command);
    CAPTURE(p.needed_for);
    if (p.cluster_scope) {
      CHECK_MESSAGE(g.cluster.count(what) == 1, ("cluster-wide: " + what));
    } else {
      CHECK_MESSAGE(g.namespaced.count(what) + g.cluster.count(what) >= 1, ("in the namespace: " + what));
    }
  }
  // Exec over WebSocket is authorised as `get` before Kubernetes 1.30 (doctor checks it so).
  CHECK(g.namespaced.count(grant("get", "", "pods", "exec")) == 1);
}

TEST_CASE("responder RBAC: least privilege") {
  const auto g = responder_grants();
  std::set<std::string> needed;
  for (const auto& p : triage::required_permissions()) {
    if (used_by_the_triage_job(p)) needed.insert(grant(p.verb, p.group, p.resource, p.subresource));
  }
  needed.insert(grant("get", "", "pods", "exec"));
  SUBCASE("nothing granted that the Job does not use") {
    for (const auto& r : g.cluster) CHECK_MESSAGE(needed.count(r) == 1, ("granted cluster-wide, not needed: " + r));
    for (const auto& r : g.namespaced) CHECK_MESSAGE(needed.count(r) == 1, ("granted, not needed: " + r));
  }
  SUBCASE("cluster-wide it only reads") {
    for (const auto& r : g.cluster) {
      const auto verb = r.substr(0, r.find(' '));
      CHECK_MESSAGE((verb == "get" || verb == "list"), ("cluster-wide write: " + r));
    }
  }
  SUBCASE("no opt-in power, no release, nothing on secrets") {
    for (const auto& r : {grant("patch", "", "nodes"), grant("patch", "", "pods", "ephemeralcontainers"),
                          grant("list", "", "services"), grant("create", "policy.networking.k8s.io", "adminnetworkpolicies"),
                          grant("delete", "networking.k8s.io", "networkpolicies"), grant("delete", "", "pods")}) {
      CHECK_MESSAGE(g.cluster.count(r) + g.namespaced.count(r) == 0, ("granted: " + r));
    }
    for (const auto& r : g.cluster) CHECK(r.find("secrets") == std::string::npos);
    for (const auto& r : g.namespaced) CHECK(r.find("secrets") == std::string::npos);
  }
  SUBCASE("release is there for a human to bind, with what release needs") {
    for (const auto& p : triage::required_permissions()) {
      if (p.command == "release" && !p.optional) CHECK(g.unbound.count(grant(p.verb, p.group, p.resource)) == 1);
    }
  }
}
