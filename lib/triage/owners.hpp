#pragma once
// What siblings needs to know beyond the pods themselves: the workload each pod belongs to (its
// controller chain: Pod → ReplicaSet → Deployment, Pod → Job → CronJob; StatefulSet, DaemonSet
// and other owners are taken as they are) and the architecture of each node. Every object is read
// at most once; when many objects of one kind are needed, one paged list replaces one get each.

#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "kube/client.hpp"
#include "util/cancel.hpp"

namespace ir::triage {

// metadata.ownerReferences[] entry (the one with controller: true).
struct OwnerRef {
  std::string api_version;  // "apps/v1"
  std::string kind;         // "ReplicaSet"
  std::string name;
  friend bool operator==(const OwnerRef&, const OwnerRef&) = default;
};

// The top of a pod's controller chain, as far as it could be read.
struct Workload {
  std::string kind;  // "Deployment", "CronJob", "StatefulSet", ...; "" for a pod without controller
  std::string name;
  bool resolved = true;  // false: an owner could not be read and the chain may go higher
  std::string note;      // why not resolved ("cannot get replicasets.apps in shop: forbidden")
  friend bool operator==(const Workload&, const Workload&) = default;
};

// "Deployment/web", or "<none>" for a pod without controller.
std::string to_string(const Workload& workload);

// The facts kept of one object read from a list page or a get.
struct ObjectFacts {
  std::string namespace_name;
  std::string name;
  std::optional<OwnerRef> controller;
  std::string architecture;  // nodes: kubernetes.io/arch label, else status.nodeInfo.architecture
};

// Parses one List page (JSON text, e.g. from kube::Pager::next_raw) into facts, one per item.
// `page` may be grown by a few bytes (the SIMD parser reads past the end). Fails with
// Errc::protocol on malformed JSON; items or fields of unexpected types are skipped.
Result<std::vector<ObjectFacts>> parse_object_facts(std::string& page);

struct ResolverOptions {
  int max_gets = 50;     // more distinct objects of one kind than this: one paged list instead
  int chunk_size = 500;  // page size of those lists
  const util::CancelToken* cancel = nullptr;  // stops further lookups when set
};

// One pod's namespace and controller ownerRef (nullopt: the pod has no controller).
struct PodOwner {
  std::string namespace_name;
  std::optional<OwnerRef> controller;
};

// Reads owners and nodes through `client` (which must outlive the resolver), caching every answer,
// denials included: after a 403 for a kind in a namespace, that kind is not asked for there again.
class ObjectResolver {
 public:
  explicit ObjectResolver(kube::Client& client, ResolverOptions options = {});

  // The workload of each pod (same order). Never fails: what cannot be read leaves the workload at
  // the last link known (resolved = false) and adds a line to problems().
  std::vector<Workload> workloads(const std::vector<PodOwner>& pods);

  // Architecture per node name ("" where it could not be read). Never fails (see problems()).
  std::map<std::string, std::string> architectures(const std::set<std::string>& nodes);

  // One line per thing that could not be read ("cannot get replicasets.apps in shop: ..."), in the
  // order met; each at most once.
  [[nodiscard]] const std::vector<std::string>& problems() const { return m_problems; }
  // API requests made so far (gets and list pages, retries included).
  [[nodiscard]] int requests() const { return m_requests; }

  struct Resource;  // how to get and list one kind of object (defined in owners.cpp)

 private:
  struct Entry {
    bool found = false;
    ObjectFacts facts;
    std::string problem;  // set when the object could not be read
  };
  // Fills the cache for `names` (namespace, name) of `resource`: a list when there are many,
  // else one get each.
  void fetch(const Resource& resource, const std::set<std::pair<std::string, std::string>>& names);
  const Entry* cached(const Resource& resource, const std::string& ns, const std::string& name) const;
  void note_problem(const std::string& line);
  bool cancelled() const;

  kube::Client& m_client;
  ResolverOptions m_options;
  std::map<std::string, Entry> m_cache;           // "<resource>/<namespace>/<name>"
  std::map<std::string, std::string> m_denied;    // "<resource>/<namespace>" → problem line
  std::vector<std::string> m_problems;
  int m_requests = 0;
};

}  // namespace ir::triage
