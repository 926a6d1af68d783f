#include "triage/doctor.hpp"

#include <map>
#include <utility>

namespace ir::triage {

const std::vector<Permission>& required_permissions() {
  // What each command calls (the README's RBAC section and scripts/rbac/kubectl-ir-clusterrole.yaml
  // grant the same; a unit test holds the three together). Exec is listed as `create pods/exec`;
  // run_doctor checks `get` instead on servers before 1.30, which authorise the WebSocket upgrade
  // (a GET) with the `get` verb. A permission listed for several commands is reviewed once.
  static const std::vector<Permission> k_permissions = {
      {"isolate", "get", "", "pods", "", false, false, "read the pod"},
      {"isolate", "patch", "", "pods", "", false, false, "quarantine label and annotations"},
      {"isolate", "list", "networking.k8s.io", "networkpolicies", "", false, false, "evaluate other policies"},
      {"isolate", "create", "networking.k8s.io", "networkpolicies", "", false, false, "quarantine policy (server-side apply)"},
      {"isolate", "patch", "networking.k8s.io", "networkpolicies", "", false, false, "server-side apply, --exclusive"},
      {"isolate", "list", "apps", "daemonsets", "", true, true, "CNI detection, NodeLocal DNSCache (--allow-dns)"},
      {"isolate", "list", "", "pods", "", true, true, "CNI detection (kube-system), --verify's sibling target"},
      {"isolate", "list", "", "services", "", false, true, "--detach"},
      {"isolate", "get", "", "services", "", true, true, "--verify's kubernetes Service target"},
      {"isolate", "get", "", "endpoints", "", true, true, "--verify: is the API server on the pod's node?"},
      {"isolate", "get", "", "nodes", "", true, true, "--cordon, CNI detection from the node"},
      {"isolate", "patch", "", "nodes", "", true, true, "--cordon"},
      {"isolate", "create", "policy.networking.k8s.io", "adminnetworkpolicies", "", true, true, "--admin-policy"},
      {"isolate", "patch", "policy.networking.k8s.io", "adminnetworkpolicies", "", true, true, "--admin-policy"},
      {"isolate", "create", "", "pods", "exec", false, true, "--verify, --probe"},
      {"isolate", "patch", "", "pods", "ephemeralcontainers", false, true, "--verify --ephemeral"},
      {"release", "delete", "networking.k8s.io", "networkpolicies", "", false, false, "remove the quarantine policy"},
      {"release", "delete", "policy.networking.k8s.io", "adminnetworkpolicies", "", true, true, "after --admin-policy"},
      {"collect", "get", "", "pods", "log", false, false, "container logs"},
      {"collect", "list", "", "events", "", false, false, "pod events"},
      {"collect", "list", "networking.k8s.io", "networkpolicies", "", false, false, "policies selecting the pod"},
      {"collect", "create", "", "pods", "exec", false, false, "processes, network, filesystem"},
      {"collect", "get", "", "nodes", "", true, true, "node object"},
      {"collect", "patch", "", "pods", "ephemeralcontainers", false, true, "--ephemeral"},
      {"collect", "get", "apps", "replicasets", "", false, true, "owner chain (and isolate --detach)"},
      {"collect", "get", "apps", "deployments", "", false, true, "owner chain"},
      {"collect", "get", "apps", "statefulsets", "", false, true, "owner chain (and isolate --detach)"},
      {"collect", "get", "apps", "daemonsets", "", false, true, "owner chain (and isolate --detach)"},
      {"collect", "get", "batch", "jobs", "", false, true, "owner chain (and isolate --detach)"},
      {"collect", "get", "batch", "cronjobs", "", false, true, "owner chain"},
      {"collect", "get", "", "replicationcontrollers", "", false, true, "owner chain (and isolate --detach)"},
      {"siblings", "list", "", "pods", "", true, false, "all namespaces"},
      {"siblings", "list", "", "namespaces", "", true, true, "fallback: namespace by namespace"},
      {"siblings", "get", "apps", "replicasets", "", true, true, "owner chain"},
      {"siblings", "list", "apps", "replicasets", "", true, true, "owner chain, many owners"},
      {"siblings", "get", "batch", "jobs", "", true, true, "owner chain"},
      {"siblings", "list", "batch", "jobs", "", true, true, "owner chain, many owners"},
      {"siblings", "get", "", "nodes", "", true, true, "architecture"},
      {"siblings", "list", "", "nodes", "", true, true, "architecture, many nodes"},
      {"exec", "create", "", "pods", "exec", false, false, "kubectl ir exec"},
      // run needs the union of what its steps call; these are the step types' own calls.
      {"run", "get", "", "pods", "", false, false, "the target pods"},
      {"run", "patch", "", "pods", "", false, true, "isolate, release, label, annotate steps"},
      {"run", "get", "", "pods", "log", false, true, "logs, collect steps"},
      {"run", "create", "", "pods", "exec", false, true, "exec, collect steps"},
      {"run", "list", "", "pods", "", true, true, "siblings steps"},
      {"run", "patch", "", "nodes", "", true, true, "cordon steps"},
      {"run", "list", "networking.k8s.io", "networkpolicies", "", false, true, "isolate, release, collect steps"},
      {"run", "create", "networking.k8s.io", "networkpolicies", "", false, true, "isolate steps"},
      {"run", "patch", "networking.k8s.io", "networkpolicies", "", false, true, "isolate, release steps"},
      {"run", "delete", "networking.k8s.io", "networkpolicies", "", false, true, "release steps"},
  };
  return k_permissions;
}

bool DoctorReport::ok() const {
  if (!version) return false;
  for (const auto& c : checks) {
    if (!c.allowed && !c.permission.optional) return false;
  }
  return true;
}

DoctorReport run_doctor(kube::Client& client, const std::string& namespace_name) {
  DoctorReport report;
  report.server = client.config().server;
  report.context = client.config().context_name;
  report.namespace_name = namespace_name;

  auto version = kube::get_server_version(client);
  if (!version) {
    report.version_error = version.error();
    return report;
  }
  report.version = *version;

  if (auto who = kube::self_subject_review(client); !who) {
    report.identity_note = who.error().message;
  } else if (!who->has_value()) {
    report.identity_note = "unknown: the server does not serve SelfSubjectReview (Kubernetes < 1.27)";
  } else {
    report.identity = **who;
  }

  const bool exec_is_get = version->major == 1 && version->minor < 30;
  std::map<std::string, std::pair<bool, std::string>> reviewed;  // allowed and reason, by what was asked
  for (auto p : required_permissions()) {
    if (exec_is_get && p.subresource == "exec") p.verb = "get";
    PermissionCheck check{p, p.cluster_scope ? "" : namespace_name, false, ""};
    kube::ResourceAttributes attrs{p.verb, p.group, p.resource, p.subresource, check.namespace_name, ""};
    const std::string key = attrs.verb + " " + kube::qualified_resource(attrs) + " " + attrs.namespace_name;
    auto it = reviewed.find(key);
    if (it == reviewed.end()) {
      auto d = kube::access_review(client, attrs);
      it = reviewed.emplace(key, d ? std::make_pair(d->allowed, d->reason) : std::make_pair(false, d.error().message)).first;
    }
    check.allowed = it->second.first;
    check.reason = it->second.second;
    report.checks.push_back(std::move(check));
  }
  return report;
}

}  // namespace ir::triage
