#pragma once
// Does anything on this cluster enforce NetworkPolicy? The API cannot say (a policy is stored
// whether or not a CNI acts on it), so kubectl-ir reads the traces CNIs leave, cheapest first, and
// says which one it used:
//   1. DaemonSets (cluster-wide, else kube-system): calico-node, cilium, antrea-agent, ...;
//   2. pods in kube-system, static (mirror) pods included: a CNI run by the kubelet from a
//      manifest on the node has no DaemonSet;
//   3. the pod's node: annotations (projectcalico.org/, network.cilium.io/, node.antrea.io/,
//      k8s.ovn.org/, flannel.alpha.coreos.com/), labels and node info (k3s and RKE2, whose
//      embedded network policy controller runs on the host, outside any pod).
// An enforcing CNI found anywhere wins over flannel alone (canal = Calico policy on flannel; k3s
// = kube-router's policy controller on flannel). When nothing is recognised, only a probe on the
// wire can tell (isolate --verify, kubectl ir drill).

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kube/client.hpp"

namespace ir::triage {

// What is known about the CNI.
struct CniInfo {
  std::string name;       // "calico", "cilium", ..., "k3s (kube-router)", "flannel", or "" when none recognised
  bool enforces = false;  // a CNI known to enforce NetworkPolicy was found
  bool known = false;     // false: nothing recognised, enforcement unknown
  std::string evidence;   // what it was judged from ("DaemonSet kube-system/calico-node"), "" when unknown
};

// From DaemonSet names (a DaemonSetList's items, cluster-wide or kube-system).
CniInfo detect_cni(const nlohmann::json& daemonsets);

// From pods (a PodList's items, normally kube-system's): pod names and container images; a mirror
// pod (annotation kubernetes.io/config.mirror) is named a static pod in the evidence.
CniInfo detect_cni_from_pods(const nlohmann::json& pods);

// From one Node object: annotations, labels, status.nodeInfo. k3s enforces through its embedded
// kube-router unless its node-args hold --disable-network-policy; RKE2 by the CNI its --cni
// names (canal by default).
CniInfo detect_cni_from_node(const nlohmann::json& node);

// The verdict of several sources, in the order given: the first enforcing one, else the first
// known one (flannel), else unknown.
CniInfo combine_cni(const std::vector<CniInfo>& found);

struct CniDiscovery {
  CniInfo cni;
  std::string note;                 // when unknown: what was looked at and why it said nothing
  std::vector<std::string> unread;  // why a source could not be read (the API error, naming the call)
  int requests = 0;                 // API requests made
  nlohmann::json daemonsets;        // the DaemonSets read (items), null when they could not be read
};

// Reads the sources above in order, stopping at the first enforcing CNI: DaemonSets (cluster-wide,
// else kube-system), then kube-system pods, then node `node_name` ("" skips it). A source that
// cannot be read (forbidden, ...) is skipped and named in `unread`; never fails as a whole.
CniDiscovery discover_cni(kube::Client& client, const std::string& node_name);

// NodeLocal DNSCache (k8s-app=node-local-dns): the link-local addresses its DaemonSet listens on
// (its `-localip` argument, e.g. "169.254.20.10,10.96.0.10": only the 169.254.0.0/16 ones; the
// documented default 169.254.20.10 when the argument cannot be read). Empty when `daemonsets`
// holds no node-local-dns DaemonSet.
std::vector<std::string> node_local_dns_addresses(const nlohmann::json& daemonsets);

inline constexpr const char* k_node_local_dns_default = "169.254.20.10";

}  // namespace ir::triage
