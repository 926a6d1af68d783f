#pragma once
// kubectl ir isolate / release: contain exactly one pod with a NetworkPolicy, tell the truth about
// whether it is contained, and undo exactly what was done. Everything isolate changes is recorded
// on the objects themselves (pod labels/annotations, policy annotations), so release works from
// any machine and both verbs are idempotent.

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "kube/api.hpp"
#include "kube/connection.hpp"
#include "triage/cni.hpp"
#include "triage/netpol.hpp"
#include "triage/probe.hpp"
#include "util/cancel.hpp"
#include "util/clock.hpp"

namespace ir::triage {

// Annotations on the pod (and on policies patched by --exclusive).
inline constexpr const char* k_ann_case = "kubectl-ir/case";
inline constexpr const char* k_ann_isolated_at = "kubectl-ir/isolated-at";
inline constexpr const char* k_ann_isolated_by = "kubectl-ir/isolated-by";
inline constexpr const char* k_ann_policy = "kubectl-ir/policy";
inline constexpr const char* k_ann_detached = "kubectl-ir/detached-labels";  // JSON object of removed labels
inline constexpr const char* k_ann_cordoned = "kubectl-ir/cordoned-node";    // set only if isolate cordoned
inline constexpr const char* k_ann_admin_policy = "kubectl-ir/admin-policy";  // the AdminNetworkPolicy created
inline constexpr const char* k_ann_original_selector = "kubectl-ir/original-podselector";  // on patched policies

struct IsolateOptions {
  std::string namespace_name;
  std::string pod;
  std::string case_id;       // requested case ("" = none); the pod's existing case wins
  std::string new_case_id;   // used when the pod has no case and none was requested
  bool ingress = false;      // deny ingress too
  bool allow_dns = false;
  std::vector<std::string> allow_egress;  // CIDR[:PORT]
  bool exclusive = false;    // patch other selecting policies so they stop selecting the pod
  bool detach = false;       // remove the labels Services and the controller select
  bool cordon = false;       // cordon the pod's node
  bool admin_policy = false; // also a priority-0 AdminNetworkPolicy Deny (where served)
  // Verification on the wire: a destination tried from inside the pod before and after the
  // quarantine (probe.hpp). `probe` (HOST:PORT) names it and implies verify; without it, verify
  // picks a sibling pod's declared port, else the kubernetes Service.
  bool verify = false;
  std::string probe;
  std::string probe_label = "--probe";  // how messages name the `probe` destination
  bool ephemeral = false;               // probe from a debug container (debug_image), not the image's nc
  std::string debug_image = "busybox";
  std::chrono::seconds verify_timeout{10};  // how long a destination still reachable after the
                                            // quarantine is retried (policies take a moment)
  WireOptions wire;                         // the probe's other timings (its settle is verify_timeout)
  kube::DryRun dry_run = kube::DryRun::none;
  std::string actor;         // who, for the annotation (API identity or --examiner)
  const util::CancelToken* cancel = nullptr;
};

enum class Containment { contained, not_contained, unknown, not_requested };
const char* to_string(Containment c);

struct Verdict {
  Containment state = Containment::unknown;
  std::string reason;
  bool on_the_wire = false;  // the state was measured by the differential probe, not reasoned
};

struct IsolateReport {
  std::string case_id;
  std::string pod_uid;
  std::string node;
  bool already_isolated = false;             // the pod carried the quarantine label before
  nlohmann::json policy;                     // the quarantine policy as the server returned it
  std::vector<Allowance> still_allowing;     // other selecting policies that still allow traffic
  std::vector<std::string> neutralised;      // policies patched by --exclusive
  std::vector<std::string> detached_labels;  // label keys removed by --detach
  std::string cordoned_node;                 // set when this run cordoned the node
  CniInfo cni;
  std::string cni_note;                      // why CNI enforcement is unknown, if it is
  bool admin_network_policy = false;         // policy.networking.k8s.io AdminNetworkPolicy is served
  std::string admin_policy;                  // name of the AdminNetworkPolicy applied (--admin-policy)
  std::vector<std::string> node_local_dns;   // --allow-dns: NodeLocal DNSCache addresses allowed too
  std::string dns_note;                      // --allow-dns: the channel left open, in one sentence
  WireCheck wire;                            // --verify / --probe
  std::string debug_container;               // added for the probe (--ephemeral): permanent in the pod spec
  Verdict egress;
  Verdict ingress;
  std::vector<std::string> warnings;
  std::vector<nlohmann::json> written;       // every object written (or, in dry-run, that would be)

  // The one formula for "contained": egress contained, and ingress contained unless it was not
  // asked for.
  [[nodiscard]] bool contained() const;
  // Why not: "egress NOT contained: <reason>; ingress unknown: <reason>"; "" when contained.
  [[nodiscard]] std::string gap() const;
};

// Called once per action taken (for the case journal): action name and details.
using ActionLog = std::function<void(const std::string& action, const nlohmann::json& fields)>;

// Isolates the pod. Refuses a hostNetwork pod (Errc::failure with a hint) and a probe of an
// address no policy governs (loopback, the pod's own or its node's: Errc::usage, with the reason).
// Before the first write it asks (SelfSubjectAccessReview) for every permission the plan needs, in
// dry runs too, and refuses with Errc::forbidden naming each missing one; when the reviews cannot
// be made it goes ahead with a warning. API errors carry the server's message.
//
// The verdict per direction: reasoned from the other policies that select the pod, the CNI
// (cni.hpp, with the evidence named) and AdminNetworkPolicy; with verify, measured on the wire
// (probe.hpp): still reachable after = NOT contained whatever the reasoning; blocked after =
// contained (verified), unless another policy provably still allows traffic; unverified = the
// reasoned verdict with why it could not be measured. `connector` is needed only to verify (may
// be null otherwise).
Result<IsolateReport> isolate(kube::Client& client, kube::Connector* connector, const IsolateOptions& options,
                              const ActionLog& log, util::Clock& clock);

struct ReleaseOptions {
  std::string namespace_name;
  std::string pod;  // "" with case_id: release everything of that case in the namespace
  kube::DryRun dry_run = kube::DryRun::none;
  // The case, when the caller knows it (--case, or the local journal): what --exclusive left on
  // competing policies is cleaned even when the pod, which recorded the case, is gone.
  std::string case_id = {};
};

struct ReleaseReport {
  std::string case_id;
  bool was_isolated = false;
  bool pod_found = true;
  bool policy_deleted = false;
  std::string admin_policy_deleted;
  std::vector<std::string> restored_policies;
  std::vector<std::string> restored_labels;
  std::string uncordoned_node;
  std::vector<std::string> released_pods;     // release by case: the pods released
  std::vector<std::string> deleted_policies;  // release by case: quarantine policies deleted
  // --exclusive residue found but not removed: "policy: case, ..." for cases it could not tie to a
  // live pod or to the case asked for (release --case CASE removes it).
  std::vector<std::string> residue;
  std::vector<std::string> warnings;
  std::vector<nlohmann::json> written;
};

// Undoes what isolate recorded: deletes the quarantine policy, restores policies patched by
// --exclusive to their original podSelector, restores detached labels, removes the quarantine
// label and annotations, uncordons the node if isolate cordoned it. A pod that is not isolated is
// not an error (nothing to do). A pod that is gone took its quarantine policy with it
// (ownerReference), but not the NotIn its case left on competing policies: with the case known
// (options.case_id) they are restored; without, the residue is reported (ReleaseReport::residue).
// With no pod and a case, everything of the case in the namespace is released: its quarantined
// pods, its quarantine policies, its residue. Like isolate, it checks the permissions what it will
// undo needs before the first write and refuses (Errc::forbidden) when any is missing.
Result<ReleaseReport> release(kube::Client& client, const ReleaseOptions& options, const ActionLog& log);

}  // namespace ir::triage
