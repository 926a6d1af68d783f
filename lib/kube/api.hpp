#pragma once
// Typed calls on the Kubernetes API that kubectl-ir needs. Objects are returned as JSON (the
// shapes are Kubernetes'); small answers with a fixed meaning get structs. Every failure carries
// the operation as context ("get pod shop/web-1: pods \"web-1\" not found").

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kube/client.hpp"
#include "kube/pager.hpp"

namespace ir::kube {

// Server-side dry run for writes (`?dryRun=All`): the server validates and returns the object,
// stores nothing.
enum class DryRun { none, all };

// ---- discovery and identity ----

struct ServerVersion {
  std::string git_version;  // "v1.26.4"
  int major = 0;
  int minor = 0;            // "26" (a trailing "+" as on managed clusters is dropped)
  std::string platform;
};
// GET /version.
Result<ServerVersion> get_server_version(Client& client);

// True if the API server serves `resource` in group/version (core group: group ""). A 404 on the
// group/version document means false, not an error.
Result<bool> is_served(Client& client, const std::string& group, const std::string& version, const std::string& resource);

struct UserInfo {
  std::string username;
  std::string uid;
  std::vector<std::string> groups;
};
// Who am I: SelfSubjectReview (authentication.k8s.io/v1, 1.28+; v1beta1 1.27). nullopt when the
// server serves neither (1.26) — not an error.
Result<std::optional<UserInfo>> self_subject_review(Client& client);

struct ResourceAttributes {
  std::string verb;         // get, list, create, patch, delete, ...
  std::string group;        // "" for core
  std::string resource;     // pods, networkpolicies, ...
  std::string subresource;  // exec, log, ephemeralcontainers, ...
  std::string namespace_name;  // "" = cluster scope / all namespaces
  std::string name;
  bool operator==(const ResourceAttributes&) const = default;
};
struct AccessDecision {
  bool allowed = false;
  bool denied = false;  // explicitly denied (as opposed to no opinion)
  std::string reason;
};
// POST a SelfSubjectAccessReview.
Result<AccessDecision> access_review(Client& client, const ResourceAttributes& attrs);
// One rule of a SelfSubjectRulesReview (RBAC PolicyRule shape).
struct ResourceRule {
  std::vector<std::string> verbs;
  std::vector<std::string> api_groups;
  std::vector<std::string> resources;       // "pods", "pods/exec", "*", "*/scale"
  std::vector<std::string> resource_names;  // empty: any name
};
// What the caller may do in one namespace, in one request. `incomplete` is set when the authorizer
// could not list every rule (webhook authorizers, an evaluation error): the rules then only prove a
// permission, never its absence.
struct RulesReview {
  std::vector<ResourceRule> rules;
  bool incomplete = false;
};
// POST a SelfSubjectRulesReview for namespace `ns`.
Result<RulesReview> rules_review(Client& client, const std::string& ns);
// Whether one of `rules` grants `need`, matched as RBAC does: "*" in verbs, apiGroups and
// resources; "resource/subresource" and "*/subresource"; resourceNames only when a name is asked.
bool rules_allow(const std::vector<ResourceRule>& rules, const ResourceAttributes& need);
// The resource as kubectl names it: "pods", "pods/exec", "networkpolicies.networking.k8s.io".
std::string qualified_resource(const ResourceAttributes& attrs);

// ---- pods ----

Result<nlohmann::json> get_pod(Client& client, const std::string& ns, const std::string& name);

struct ListOptions {
  std::string namespace_name;  // "" = all namespaces
  std::string label_selector;
  std::string field_selector;
  int limit = 500;
};
// A pager over pods; call next() for each page.
Pager list_pods(Client& client, const ListOptions& options);

// JSON merge patch (RFC 7386) on metadata: `metadata_patch` holds "labels" and/or "annotations"
// maps; a null value removes a key.
Result<nlohmann::json> patch_pod_metadata(Client& client, const std::string& ns, const std::string& name,
                                          const nlohmann::json& metadata_patch, DryRun dry_run);

struct LogOptions {
  std::string container;
  bool previous = false;
  bool timestamps = true;
  long long limit_bytes = 0;  // 0 = no limit
};
struct LogResult {
  long long bytes = 0;  // bytes passed to the sink
  bool cut = false;     // limit_bytes reached: the log may go on past what was kept
};
// Streams the container's log into `sink`. With limit_bytes, at most that many bytes reach the
// sink even from a server that ignores `limitBytes` (the transfer is stopped there, which is not
// an error: LogResult::cut says so).
Result<LogResult> stream_pod_logs(Client& client, const std::string& ns, const std::string& pod,
                                  const LogOptions& options, const BodySink& sink);

// Events whose involvedObject.uid is `uid`, in namespace `ns` (an EventList).
Result<nlohmann::json> list_events_for(Client& client, const std::string& ns, const std::string& uid);

// ---- nodes ----

Result<nlohmann::json> get_node(Client& client, const std::string& name);
// Strategic merge patch on a node (e.g. {"spec":{"unschedulable":true}}).
Result<nlohmann::json> patch_node(Client& client, const std::string& name, const nlohmann::json& patch, DryRun dry_run);

// ---- network policies (networking.k8s.io/v1) ----

Result<nlohmann::json> list_network_policies(Client& client, const std::string& ns);
Result<nlohmann::json> get_network_policy(Client& client, const std::string& ns, const std::string& name);
Result<nlohmann::json> create_network_policy(Client& client, const std::string& ns, const nlohmann::json& policy,
                                             DryRun dry_run);
// Server-side apply (application/apply-patch+yaml with a JSON body, fieldManager=kubectl-ir,
// force=true): creates or updates, idempotently.
Result<nlohmann::json> apply_network_policy(Client& client, const std::string& ns, const nlohmann::json& policy,
                                            DryRun dry_run);
// JSON merge patch on a policy.
Result<nlohmann::json> patch_network_policy(Client& client, const std::string& ns, const std::string& name,
                                            const nlohmann::json& patch, DryRun dry_run);
// Delete. A policy that is already gone is Errc::not_found (callers wanting idempotency check it).
Result<void> delete_network_policy(Client& client, const std::string& ns, const std::string& name, DryRun dry_run);

// ---- AdminNetworkPolicy (policy.networking.k8s.io/v1alpha1, cluster-scoped; where served) ----

inline constexpr const char* k_admin_network_policy_group = "policy.networking.k8s.io";
inline constexpr const char* k_admin_network_policy_version = "v1alpha1";

// Server-side apply of an AdminNetworkPolicy (as apply_network_policy: the one field manager,
// force=true): creates or updates, idempotently.
Result<nlohmann::json> apply_admin_network_policy(Client& client, const nlohmann::json& policy, DryRun dry_run);
// Delete. One already gone is Errc::not_found.
Result<void> delete_admin_network_policy(Client& client, const std::string& name, DryRun dry_run);

// ---- generic ----

// GET any object by its API path ("/apis/apps/v1/namespaces/shop/replicasets/web-7d4b9c8f6").
Result<nlohmann::json> get_object(Client& client, const std::string& path, const std::string& what);

// PATCH any object by its API path with `content_type` (application/json-patch+json,
// application/merge-patch+json, application/strategic-merge-patch+json).
Result<nlohmann::json> patch_object(Client& client, const std::string& path, const nlohmann::json& patch,
                                    const std::string& content_type, DryRun dry_run, const std::string& what);

// The API path of a namespaced object from apiVersion + kind (e.g. "apps/v1", "ReplicaSet"), for
// owner references. Knows the built-in kinds kubectl-ir resolves; nullopt for others.
std::optional<std::string> object_path(const std::string& api_version, const std::string& kind, const std::string& ns,
                                       const std::string& name);

}  // namespace ir::kube
