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
#include "triage/netpol.hpp"
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
  std::string probe;         // HOST:PORT to try from inside the pod after isolation, or ""
  kube::DryRun dry_run = kube::DryRun::none;
  std::string actor;         // who, for the annotation (API identity or --examiner)
};

enum class Containment { contained, not_contained, unknown, not_requested };
const char* to_string(Containment c);

struct Verdict {
  Containment state = Containment::unknown;
  std::string reason;
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
  std::string probe;                         // result of --probe, or ""
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

// Isolates the pod. Refuses a hostNetwork pod (Errc::failure with a hint). Before the first write
// it asks (SelfSubjectAccessReview) for every permission the plan needs, in dry runs too, and
// refuses with Errc::forbidden naming each missing one; when the reviews cannot be made it goes
// ahead with a warning. API errors carry the server's message. `connector` is needed only for
// --probe (may be null otherwise).
Result<IsolateReport> isolate(kube::Client& client, kube::Connector* connector, const IsolateOptions& options,
                              const ActionLog& log, util::Clock& clock);

struct ReleaseOptions {
  std::string namespace_name;
  std::string pod;
  kube::DryRun dry_run = kube::DryRun::none;
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
  std::vector<std::string> warnings;
  std::vector<nlohmann::json> written;
};

// Undoes what isolate recorded: deletes the quarantine policy, restores policies patched by
// --exclusive to their original podSelector, restores detached labels, removes the quarantine
// label and annotations, uncordons the node if isolate cordoned it. A pod that is not isolated is
// not an error (nothing to do). Like isolate, it checks the permissions what it will undo needs
// before the first write and refuses (Errc::forbidden) when any is missing.
Result<ReleaseReport> release(kube::Client& client, const ReleaseOptions& options, const ActionLog& log);

// --probe, exposed for tests. How one `nc` attempt from inside the pod ended.
enum class ProbeOutcome {
  connected,    // nc exited 0: the connection was made
  blocked,      // timed out, no route, unreachable: what a dropping policy looks like
  refused,      // the target or a REJECT rule answered: a packet may have left the pod
  unsupported,  // this nc does not take the options (busybox's small nc has no -z)
  unknown,      // anything else (the host did not resolve, an unrecognised failure)
};
struct ProbeResult {
  ProbeOutcome outcome = ProbeOutcome::unknown;
  std::string summary;  // the line isolate reports ("CONNECTED to ...", "unknown: ...")
};
// Interprets an nc run against `target` (HOST:PORT) from its exit code and stderr, as busybox,
// OpenBSD and traditional nc and nmap's ncat word their failures.
ProbeResult interpret_probe(const std::string& target, int exit_code, std::string_view nc_stderr);

}  // namespace ir::triage
