#pragma once
// NetworkPolicy reasoning for isolation, pure functions over Kubernetes JSON: label-selector
// evaluation, which policies select a pod and what they still allow, the quarantine policy (CNI
// detection is in cni.hpp). Facts: shared/README.md §2 "NetworkPolicy".

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "util/result.hpp"

namespace ir::triage {

inline constexpr const char* k_quarantine_label = "kubectl-ir/quarantine";
inline constexpr const char* k_managed_by_label = "app.kubernetes.io/managed-by";

// Evaluates a metav1.LabelSelector (matchLabels, matchExpressions with In/NotIn/Exists/
// DoesNotExist) against a labels map. An empty selector matches everything; a null/absent one
// matches nothing (as Kubernetes treats a nil LabelSelector). An unknown operator is an error
// (Errc::invalid), never a silent match.
Result<bool> selector_matches(const nlohmann::json& selector, const nlohmann::json& labels);

// Directions of traffic a policy governs.
enum class Direction { ingress, egress };
const char* to_string(Direction d);

// The policy types of a NetworkPolicy as Kubernetes defaults them: explicit policyTypes, else
// Ingress always plus Egress when spec.egress is present.
std::vector<Direction> policy_types(const nlohmann::json& policy);

// What one other policy still allows the pod, per direction; empty lists mean "denies all" for
// a direction the policy governs.
struct Allowance {
  std::string policy;               // name
  Direction direction = Direction::egress;
  std::vector<std::string> rules;   // one human summary per rule ("all destinations, all ports",
                                    // "10.0.0.0/8 on TCP/443", "pods app=db in namespace *")
};

// What one policy allows, per direction it governs, whatever pods it selects (rules of directions
// it governs without rules are left out: those deny).
std::vector<Allowance> allowances_of(const nlohmann::json& policy);

// A label selector for messages: "app=web,tier in (a,b)", "all" for an empty one, "(none)" for null.
std::string describe_selector(const nlohmann::json& selector);

// Every policy in `policies` (a NetworkPolicyList's items) other than `skip_name` that selects a
// pod with `labels` and allows traffic in some direction. Policies that fail to evaluate (bad
// selector) are returned as an error naming the policy.
Result<std::vector<Allowance>> selecting_allowances(const nlohmann::json& policies, const nlohmann::json& labels,
                                                    const std::string& skip_name);

// What the quarantine policy lets through.
struct QuarantineSpec {
  std::string namespace_name;
  std::string pod_name;
  std::string pod_uid;
  std::string case_id;
  bool ingress = false;                        // also deny ingress
  bool allow_dns = false;                      // egress to kube-dns pods on 53/UDP+TCP
  std::vector<std::string> allow_egress;       // "CIDR" or "CIDR:PORT" (TCP)
  // With allow_dns: NodeLocal DNSCache's link-local addresses (169.254.20.10), allowed on 53/UDP+TCP
  // as ipBlocks (the cache runs on the node's network, not in a pod a selector could name).
  std::vector<std::string> node_local_dns = {};
};

// The name of the quarantine policy for a pod: "kubectl-ir-quarantine-<pod>", shortened with a
// hash when the pod name is too long for an object name.
std::string quarantine_policy_name(const std::string& pod_name);

// Renders the quarantine NetworkPolicy: podSelector on the quarantine label only, explicit
// policyTypes, no rules (deny) except the allowances asked for, and an ownerReference to the pod
// so it goes away with the pod. Fails (Errc::usage) on a malformed --allow-egress value.
Result<nlohmann::json> render_quarantine_policy(const QuarantineSpec& spec);

// The cluster-scoped AdminNetworkPolicy (policy.networking.k8s.io/v1alpha1) for --admin-policy:
// priority 0 (evaluated before every NetworkPolicy), subject the quarantined pod in its namespace,
// Allow rules for what the spec allows, then Deny all egress (and ingress with `ingress`). It cannot
// have an ownerReference to a namespaced pod: release deletes it.
std::string admin_policy_name(const std::string& namespace_name, const std::string& pod_name);
Result<nlohmann::json> render_admin_quarantine_policy(const QuarantineSpec& spec);

// Parses "CIDR" or "CIDR:PORT" (IPv4 or IPv6 CIDR; IPv6 with a port as "[CIDR]:PORT").
struct EgressAllowance {
  std::string cidr;
  std::optional<int> port;
};
Result<EgressAllowance> parse_allow_egress(const std::string& text);

// --exclusive: the merge of a NotIn expression on the quarantine label into a policy's
// podSelector, so it stops selecting pods quarantined under `case_id`. Returns nullopt if the
// selector already excludes that case.
std::optional<nlohmann::json> exclude_case(const nlohmann::json& pod_selector, const std::string& case_id);
// The reverse: `case_id` removed from the NotIn (the expression removed when no case is left).
nlohmann::json include_case(const nlohmann::json& pod_selector, const std::string& case_id);

}  // namespace ir::triage
