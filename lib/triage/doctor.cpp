#include "triage/doctor.hpp"

namespace ir::triage {

const std::vector<Permission>& required_permissions() {
  // What each command calls (see the README's RBAC section). Exec is listed as `create
  // pods/exec`; run_doctor checks `get` instead on servers before 1.30, which authorise the
  // WebSocket upgrade (a GET) with the `get` verb.
  static const std::vector<Permission> k_permissions = {
      {"isolate", "get", "", "pods", "", false, false, "read the pod"},
      {"isolate", "patch", "", "pods", "", false, false, "quarantine label and annotations"},
      {"isolate", "list", "networking.k8s.io", "networkpolicies", "", false, false, "evaluate other policies"},
      {"isolate", "create", "networking.k8s.io", "networkpolicies", "", false, false, "quarantine policy"},
      {"isolate", "patch", "networking.k8s.io", "networkpolicies", "", false, false, "server-side apply, --exclusive"},
      {"isolate", "list", "", "services", "", false, true, "--detach"},
      {"isolate", "list", "apps", "daemonsets", "", true, true, "CNI detection"},
      {"isolate", "patch", "", "nodes", "", true, true, "--cordon"},
      {"release", "delete", "networking.k8s.io", "networkpolicies", "", false, false, "remove the quarantine policy"},
      {"collect", "get", "", "pods", "log", false, false, "container logs"},
      {"collect", "list", "", "events", "", false, false, "pod events"},
      {"collect", "create", "", "pods", "exec", false, false, "processes, network, filesystem"},
      {"collect", "get", "", "nodes", "", true, true, "node object"},
      {"collect", "patch", "", "pods", "ephemeralcontainers", false, true, "--ephemeral"},
      {"siblings", "list", "", "pods", "", true, false, "all namespaces"},
      {"siblings", "get", "apps", "replicasets", "", true, true, "owner chain"},
      {"siblings", "get", "apps", "deployments", "", true, true, "owner chain"},
      {"siblings", "get", "batch", "jobs", "", true, true, "owner chain"},
      {"exec", "create", "", "pods", "exec", false, false, "kubectl ir exec"},
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
  for (auto p : required_permissions()) {
    if (exec_is_get && p.subresource == "exec") p.verb = "get";
    PermissionCheck check{p, p.cluster_scope ? "" : namespace_name, false, ""};
    kube::ResourceAttributes attrs{p.verb, p.group, p.resource, p.subresource, check.namespace_name, ""};
    if (auto d = kube::access_review(client, attrs); !d) {
      check.reason = d.error().message;
    } else {
      check.allowed = d->allowed;
      check.reason = d->reason;
    }
    report.checks.push_back(std::move(check));
  }
  return report;
}

}  // namespace ir::triage
