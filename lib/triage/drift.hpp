#pragma once
// kubectl ir drift: what the suspect pod has that its healthy siblings do not (the comparison
// itself is lib/forensics/drift.hpp; this is the cluster side). It takes read-only snapshots —
// collect's own container steps in CollectScope::snapshot, through the same exec / debug-container
// ladder — of the suspect and of up to N siblings, in parallel, each worker on a connection of
// its own, and compares them; or compares the suspect with a baseline file made before the
// incident (kubectl ir baseline create).
//
// Choosing the members matters more than anything else here (README "Drift"):
//   1. candidates are the pods running the suspect's image digest (triage/siblings.hpp), minus the
//      suspect, pods excluded by the caller, terminating or unscheduled pods and pods not Running;
//   2. ranked: replicas of the suspect's own controller (same ReplicaSet, StatefulSet...), then
//      the rest of its workload, then other workloads with the same digest (a weaker baseline);
//      among equals, pods sharing more of the suspect's digests first;
//   3. spread over nodes: each next member comes from the node with the fewest members so far,
//      the suspect's own node counting as one (a node-level compromise would fool its neighbours);
//   4. a candidate is skipped (not a member, listed with its reason) when its node is NotReady or
//      unknown, the pod is not Ready, or it uses hostNetwork while the suspect does not (its
//      sockets would be the node's);
//   5. a member whose snapshot fails (deleted, exec refused, shell-less without `ephemeral`,
//      nothing readable) is reported as failed, never counted as agreeing, and the next candidate
//      is taken, until N succeed or the candidates run out.
// Each member's relation is what it turned out to be: same-workload only when it belongs to the
// suspect's workload AND its pod template runs the same command, args and env in every container
// the suspect has; anything else is same-digest.
//
// Sibling output is as hostile as the suspect's: the same bounds, escaping and parsers as collect.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "evidence/bundle.hpp"
#include "forensics/analysis.hpp"
#include "forensics/baseline.hpp"
#include "forensics/drift.hpp"
#include "forensics/snapshot.hpp"
#include "triage/collect.hpp"
#include "util/outcome.hpp"

namespace ir::triage {

struct DriftOptions {
  std::string namespace_name;
  std::string pod;
  std::size_t siblings = 5;   // members wanted (0: indicators only)
  std::size_t parallel = 4;   // snapshots at once, each on its own connection (the suspect's included)
  std::size_t quorum = 1;     // a finding is what fewer than `quorum` members share
  std::vector<std::string> ignore;   // forensics::DriftOptions::ignore
  std::vector<std::string> exclude;  // "namespace/name" of pods never taken as members
  // A baseline file (kubectl ir baseline create) to compare with instead of live siblings; its
  // text, with the name the user gave it.
  std::string baseline_file;
  std::string baseline_text;
  // Each snapshot, as collect takes it (CollectOptions of the same names).
  std::vector<std::string> containers;  // of the suspect (members: all of theirs)
  std::vector<std::string> paths{"/tmp", "/var/tmp", "/dev/shm", "/root", "/home"};
  std::uint64_t max_file_bytes = 64ULL << 20;
  std::chrono::seconds command_timeout{120};
  bool ephemeral = false;
  std::string debug_image = "busybox";
  bool ptrace = false;
};

// collect's options for the snapshot of pod `ns`/`pod`: scope snapshot, a file listing with its
// hashes, the options above (`containers` only for the suspect: `suspect` true).
CollectOptions snapshot_options(const DriftOptions& options, const std::string& ns, const std::string& pod, bool suspect);
// The drift options collect --drift compares with: its pod and snapshot options, defaults for the rest.
DriftOptions drift_options_of(const CollectOptions& collect);

// A candidate not taken as a member, and why ("fleet/api-7f6c8d9b5-n7c4q: not Ready").
struct SkippedCandidate {
  std::string namespace_name;
  std::string name;
  std::string node;
  std::string reason;
};

struct DriftReport {
  forensics::AnalysisDocument drift;                      // analysis/drift.json
  std::optional<forensics::AnalysisDocument> indicators;  // analysis/indicators.json (drift() only)
  std::shared_ptr<const forensics::PodSnapshot> suspect;  // the suspect's snapshot
  CollectReport suspect_collect;                          // its steps (drift() only)
  std::size_t wanted = 0;                                 // members asked for
  std::vector<SkippedCandidate> skipped;
  std::size_t candidates = 0;                             // pods with the digest, the suspect excluded
  // The pods whose snapshots were written (DriftEnv::snapshots set): the suspect (drift() only)
  // and every member compared, for the bundle's acquisition record.
  std::vector<evidence::Subject> subjects;
  // Caveats, one sentence each: a sibling search that was partial, address names that could not
  // be read, "no sibling to compare with: indicators only".
  std::vector<std::string> notes;
  bool cancelled = false;

  // Members compared (status ok).
  [[nodiscard]] std::size_t compared() const;
  // interrupted; failed when nothing of the suspect could be read; partial when the suspect's
  // snapshot is incomplete, nothing could be compared (no member and no baseline file), or members
  // failed and fewer than wanted were compared; else ok. Findings never change it (the CLI gives
  // them an exit code of their own).
  [[nodiscard]] util::Outcome outcome() const;
  // One line for a terminal: "against 2 siblings (same-workload): shop/web-...-b8lqz (node-1), ...",
  // "against baseline file base.json (2 pods, created ...)", "no sibling to compare with: indicators only".
  [[nodiscard]] std::string baseline_line() const;
};

// What drift works with. References must outlive the call.
struct DriftEnv {
  kube::Client& client;
  kube::Connector& connector;
  util::Clock& clock;
  // Where snapshots go: the suspect's at the top (pod/, containers/), members under
  // pods/<ns>/<pod>/. nullptr: kept in memory only, nothing written.
  evidence::BundleWriter* snapshots = nullptr;
  std::string snapshots_prefix;  // where `snapshots` sits in the real bundle ("", "steps/drift/")
  // Where analysis/drift.json goes, and (drift() only) analysis/indicators.json; nullptr: nowhere.
  evidence::BundleWriter* analysis = nullptr;
  evidence::BundleWriter* indicators = nullptr;
  ActionLog log;                                     // thread-safe: workers journal too
  std::function<void(const std::string&)> progress;  // thread-safe: one line per snapshot
  const util::CancelToken* cancel = nullptr;
  ConnectionFactory connect;  // empty: members one at a time on client/connector
};

// kubectl ir drift: snapshots the suspect (`pod`, as read by read_target_pod) and its members
// concurrently, then writes and returns the drift and indicator documents. Fails only when the
// baseline file does not parse (Errc::invalid, with its position) or the options are invalid
// (Errc::usage); a sibling search that fails leaves drift with no member (a note says why).
Result<DriftReport> drift(DriftEnv& env, const DriftOptions& options, const nlohmann::json& pod);

// The comparison for a suspect whose snapshot was already taken (collect --drift): members (or
// the baseline file) only, then analysis/drift.json. Same failures as drift().
Result<DriftReport> compare_with_siblings(DriftEnv& env, const DriftOptions& options, const nlohmann::json& pod,
                                          std::shared_ptr<const forensics::PodSnapshot> suspect);

// Names for the cluster addresses the snapshots' sockets talk to: each Service's cluster IPs
// (one list of Services, cluster-wide, else in `namespaces`) as "service <ns>/<name>", and each
// other remote address that is a pod's IP (one pod lookup by status.podIP each, at most 64) as
// "pod <ns>/<name>", grouped by its controller ("replicaset <ns>/<name>"). Loopback and the
// pods' own addresses are not looked up. Never fails: what could not be read is a line in
// `problems`.
forensics::AddressNames resolve_addresses(kube::Client& client, const std::vector<const forensics::PodSnapshot*>& pods,
                                          const std::vector<std::string>& namespaces, std::vector<std::string>* problems);

// What a baseline names: pods, or a workload's pods.
struct BaselineTarget {
  std::string namespace_name;
  std::vector<std::string> pods;  // names given
  std::string workload_kind;      // "deployment", "statefulset", "daemonset", "replicaset" (or "")
  std::string workload_name;
};

struct BaselineOptions {
  BaselineTarget target;
  std::size_t max_pods = 5;  // a workload's pods profiled at most (spread over nodes)
  DriftOptions snapshot;     // parallel and the snapshot options (the rest is unused)
  std::string generator;     // "kubectl-ir 0.1.0"
  std::string subject;       // as the user named it ("deployment/web")
};

struct BaselineReport {
  forensics::Profile profile;
  forensics::BaselineMeta meta;
  std::string text;  // the file (forensics::write_baseline)
  std::vector<SkippedCandidate> skipped;
  std::vector<std::string> notes;
  bool cancelled = false;
  // ok when every pod chosen was profiled; partial when some failed; failed when none was.
  [[nodiscard]] util::Outcome outcome() const;
};

// kubectl ir baseline create: profiles healthy pods (Ready, on Ready nodes, running the image
// digests of the first one profiled; the rest are skipped with a reason) into a baseline. Pods
// named one by one are taken as given (a pod that is not Ready is still skipped); a workload's
// pods are found by its selector. Fails with Errc::not_found / Errc::usage for a workload or pod
// that is not there or a kind it cannot read.
Result<BaselineReport> create_baseline(DriftEnv& env, const BaselineOptions& options);

}  // namespace ir::triage
