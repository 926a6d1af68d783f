#pragma once
// kubectl ir siblings: every pod that runs the suspect's image, found by image digest across all
// namespaces (shared/README.md §2 "Image digests"). Pods are listed page by page (limit/continue)
// and each page is parsed and dropped, so memory follows the number of matches, not the cluster.
// The result says when it is not the whole truth: partial (namespaces that could not be listed, a
// list that failed midway) or inconsistent (an expired continue token resumed on a newer state).

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kube/client.hpp"
#include "triage/digest.hpp"
#include "triage/owners.hpp"
#include "util/cancel.hpp"

namespace ir::triage {

enum class ContainerType { container, init, ephemeral };
// "container", "init", "ephemeral".
const char* to_string(ContainerType type);

// One container of a pod as siblings sees it.
struct ContainerImage {
  std::string name;
  ContainerType type = ContainerType::container;
  std::string image;     // the image reference (spec; the status's when the spec has none)
  std::string image_id;  // status imageID as reported; "" until the container started
  ImageDigest id;        // image_id normalised
  int target = -1;       // index of the target digest it matched (SiblingsReport::targets), or -1
  bool pinned = false;   // not started, but its reference is pinned to a target digest
};

// A pod that runs (or, for SiblingsReport::unknown, may run) a target image.
struct SiblingPod {
  std::string namespace_name;
  std::string name;
  std::string uid;
  std::string node;     // spec.nodeName; "" while unscheduled
  std::string phase;    // status.phase
  std::string created;  // metadata.creationTimestamp (RFC 3339)
  bool terminating = false;  // metadata.deletionTimestamp is set
  bool suspect = false;      // the pod the search started from
  std::optional<OwnerRef> controller;
  Workload workload;         // filled by find_siblings (owner chain)
  std::string architecture;  // the node's; "" when unknown or not looked up
  std::vector<ContainerImage> containers;  // the matching containers / the ones not started
};

// An image digest searched for.
struct Target {
  ImageDigest id;
  std::string image_id;  // as the suspect's status reported it, or as given with --digest
  std::vector<std::string> containers;  // the suspect's containers running it (empty for --digest)
  std::string image;     // the suspect's image reference ("" for --digest)
  bool any_kind = false; // typed by the user: compare the digest whatever its kind
};

// The targets of a suspect pod (its Pod object as JSON text): one per distinct digest among its
// containers and init containers, or only `container` when given (which may also name an
// ephemeral container: those are left out by default because responders add them, e.g. kubectl
// debug). Containers that have not started or report an unrecognised imageID are skipped and
// described in `skipped`. Fails with Errc::usage when `container` is not in the pod, and with
// Errc::failure when no container has a digest yet.
Result<std::vector<Target>> suspect_targets(std::string pod_json, const std::string& container,
                                            std::vector<std::string>* skipped = nullptr);

// Turns a --digest argument into a target: "sha256:<hex>", a bare 64-hex id, or any imageID form.
// Fails with Errc::usage otherwise.
Result<Target> digest_target(const std::string& digest);

// Progress after each page, for a progress line on a terminal.
struct ScanProgress {
  long long pods = 0;     // pods read so far
  int pages = 0;
  long long matches = 0;  // matching pods so far
  std::string scope;      // "all namespaces" or "namespace shop"
};

struct SiblingsOptions {
  std::string namespace_name;  // the suspect's namespace (also the first to try without cluster-wide list)
  std::string pod;             // the suspect; "" when `digest` is given
  std::string container;       // only this container of the suspect; "" = all (see suspect_targets)
  std::string digest;          // search for this digest instead of a pod's
  std::vector<std::string> fallback_namespaces;  // more namespaces to try without cluster-wide list
  int chunk_size = 500;        // pods per page
  int max_owner_gets = 50;     // more distinct owners of one kind: one list instead of gets
  bool architectures = true;   // look up node architectures (repository digests only)
  std::function<void(const ScanProgress&)> on_progress;  // may be empty
  const util::CancelToken* cancel = nullptr;             // Ctrl-C: the search stops (Errc::cancelled)
};

struct SiblingsReport {
  std::string suspect_namespace;  // "" for --digest
  std::string suspect_name;
  std::vector<Target> targets;
  std::vector<SiblingPod> siblings;  // sorted by namespace, name; the suspect included and marked
  std::vector<SiblingPod> unknown;   // not started, same repository or pinned to a target digest
  bool all_namespaces = true;        // one cluster-wide list (else namespace by namespace)
  std::vector<std::string> namespaces_listed;  // namespace by namespace: those listed
  std::vector<std::string> namespaces_denied;  // namespace by namespace: those refused (403)
  bool partial = false;              // some pods could not be read: see partial_reason
  std::string partial_reason;
  bool inconsistent = false;         // continued after an expired token: pods may be missing or repeated
  int restarts = 0;                  // lists restarted after an expired token
  long long pods_scanned = 0;
  int pages = 0;
  int requests = 0;                  // API requests made, retries included
  long long other_kind = 0;          // started containers whose digest is of the other kind (not comparable)
  long long unrecognised = 0;        // started containers with an imageID that is not a digest
  std::vector<std::string> notes;    // caveats for the reader, one sentence each

  // Neither partial nor inconsistent: every pod the API server had was compared.
  [[nodiscard]] bool complete() const { return !partial && !inconsistent; }
};

// Finds the siblings: resolves the targets (GET the suspect, or --digest), lists pods in all
// namespaces, or — when that is forbidden — in the namespaces it can (all, if it may list
// namespaces; else the suspect's and `fallback_namespaces`), then resolves workloads and node
// architectures. Fails when the suspect cannot be read, no namespace can be listed, or the first
// page of the list fails; a list failing later makes the result partial instead.
Result<SiblingsReport> find_siblings(kube::Client& client, const SiblingsOptions& options);

// How the output groups pods.
enum class GroupBy { workload, namespace_name, node };

struct SiblingGroup {
  std::string key;                   // "shop/Deployment/web", "shop", "node-1" ("<none>" if unset)
  std::vector<std::size_t> members;  // indices into the pods given
  bool has_suspect = false;
};

// Groups pods (sorted by namespace, name) by workload, namespace or node: the suspect's group
// first, then by key; members keep the pods' order.
std::vector<SiblingGroup> group_siblings(const std::vector<SiblingPod>& pods, GroupBy by);

// The page-level engine of find_siblings, exposed for tests: parses PodList pages with a SIMD JSON
// parser and keeps only the pods that match a target (and the not-started candidates).
class PodScanner {
 public:
  // `suspect_namespace`/`suspect_name` mark the suspect among the matches ("" for none).
  PodScanner(std::vector<Target> targets, std::string suspect_namespace = {}, std::string suspect_name = {});
  ~PodScanner();
  PodScanner(const PodScanner&) = delete;
  PodScanner& operator=(const PodScanner&) = delete;

  // Compares every pod of one PodList page (JSON text; may be grown by a few bytes of padding).
  // Fails with Errc::protocol on malformed JSON, leaving what earlier pages found.
  Result<void> consume(std::string& page);
  // Remembers the current results; rollback() returns to them (a list that restarts from the
  // beginning drops the pages it had read, not those of lists before it).
  void checkpoint();
  void rollback();

  // Matching pods so far (unsorted; workloads not resolved).
  [[nodiscard]] const std::vector<SiblingPod>& matches() const;
  // Moves the matches out (the scanner has none afterwards): no copy of a large result.
  std::vector<SiblingPod> take_matches();
  // Pods not matched with at least one not-started container whose image reference is pinned to a
  // target digest or names a repository seen among the targets and matches.
  [[nodiscard]] std::vector<SiblingPod> unknown() const;
  [[nodiscard]] long long pods() const;
  [[nodiscard]] long long other_kind() const;
  [[nodiscard]] long long unrecognised() const;
  // Not-started candidates beyond the cap kept in memory (then unknown() is incomplete).
  [[nodiscard]] long long unknown_dropped() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

}  // namespace ir::triage
