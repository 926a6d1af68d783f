#include "triage/cni.hpp"

#include <algorithm>
#include <utility>

#include <fmt/format.h>

#include "kube/api.hpp"
#include "util/strings.hpp"
#include "triage/json_fields.hpp"

namespace ir::triage {

using nlohmann::json;

namespace {

using json_fields::member;
using json_fields::str;

// Name fragments of CNIs that enforce NetworkPolicy, as they appear in DaemonSet, pod and image
// names. Ordered: an enforcing CNI wins over flannel (canal = Calico policy + flannel networking).
constexpr std::pair<const char*, const char*> k_enforcing[] = {
    {"calico", "calico"}, {"cilium", "cilium"},          {"antrea", "antrea"},           {"kube-router", "kube-router"},
    {"weave", "weave"},   {"ovnkube", "ovn-kubernetes"}, {"ovs-node", "ovn-kubernetes"}, {"canal", "canal"}};

// The enforcing CNI a name points at, or "".
std::string enforcing_cni_in(const std::string& text) {
  const std::string lower = util::to_lower(text);
  for (const auto& [needle, cni] : k_enforcing) {
    if (lower.find(needle) != std::string::npos) return cni;
  }
  return {};
}

bool has_prefix(const std::string& s, std::string_view prefix) {
  return s.rfind(prefix, 0) == 0;
}

// The arguments a k3s or RKE2 node was started with (the JSON array in its node-args annotation).
std::vector<std::string> node_args(const json& annotations, const char* key) {
  std::vector<std::string> out;
  const json parsed = json::parse(str(annotations, key), nullptr, false);
  if (!parsed.is_array()) return out;
  for (const auto& a : parsed) {
    if (a.is_string()) out.push_back(a.get<std::string>());
  }
  return out;
}

// The value of `--flag value` or `--flag=value` in args, or "".
std::string arg_value(const std::vector<std::string>& args, const std::string& flag) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == flag && i + 1 < args.size()) return args[i + 1];
    if (has_prefix(args[i], flag + "=")) return args[i].substr(flag.size() + 1);
  }
  return {};
}

bool has_arg(const std::vector<std::string>& args, const std::string& flag) {
  return std::any_of(args.begin(), args.end(), [&](const std::string& a) { return a == flag || a == flag + "=true"; });
}

}  // namespace

CniInfo detect_cni(const json& daemonsets) {
  if (!daemonsets.is_array()) return {};
  std::string flannel;
  for (const auto& ds : daemonsets) {
    const json& meta = member(ds, "metadata");
    const std::string name = str(meta, "name");
    const std::string where = "DaemonSet " + str(meta, "namespace") + "/" + name;
    if (const std::string cni = enforcing_cni_in(name); !cni.empty()) return {cni, true, true, where};
    if (flannel.empty() && util::to_lower(name).find("flannel") != std::string::npos) flannel = where;
  }
  if (!flannel.empty()) return {"flannel", false, true, flannel};
  return {};
}

CniInfo detect_cni_from_pods(const json& pods) {
  if (!pods.is_array()) return {};
  std::string flannel;
  for (const auto& pod : pods) {
    const json& meta = member(pod, "metadata");
    const bool mirror =
        member(meta, "annotations").is_object() && meta["annotations"].contains("kubernetes.io/config.mirror");
    const std::string where =
        std::string(mirror ? "static pod " : "pod ") + str(meta, "namespace") + "/" + str(meta, "name");
    std::vector<std::string> names = {str(meta, "name")};
    for (const auto& c : member(member(pod, "spec"), "containers")) names.push_back(str(c, "image"));
    for (const auto& n : names) {
      if (const std::string cni = enforcing_cni_in(n); !cni.empty()) return {cni, true, true, where};
      if (flannel.empty() && util::to_lower(n).find("flannel") != std::string::npos) flannel = where;
    }
  }
  if (!flannel.empty()) return {"flannel", false, true, flannel};
  return {};
}

CniInfo detect_cni_from_node(const json& node) {
  const json& meta = member(node, "metadata");
  const std::string node_name = "node " + str(meta, "name");
  const json annotations = member(meta, "annotations").is_object() ? meta["annotations"] : json::object();
  const json labels = member(meta, "labels").is_object() ? meta["labels"] : json::object();
  const std::string kubelet = str(member(member(node, "status"), "nodeInfo"), "kubeletVersion");

  // k3s: kube-router's network policy controller is compiled into the k3s binary and runs on every
  // node, outside any pod, unless the server was started with --disable-network-policy.
  const bool k3s = annotations.contains("k3s.io/node-args") ||
                   str(labels, "node.kubernetes.io/instance-type") == "k3s" ||
                   kubelet.find("+k3s") != std::string::npos;
  if (k3s) {
    const auto args = node_args(annotations, "k3s.io/node-args");
    std::string how = annotations.contains("k3s.io/node-args")    ? "annotation k3s.io/node-args"
                      : kubelet.find("+k3s") != std::string::npos ? "kubelet " + kubelet
                                                                  : "label node.kubernetes.io/instance-type=k3s";
    if (has_arg(args, "--disable-network-policy")) {
      // Another CNI may still enforce (found by the other sources, which win when they enforce).
      return {"k3s (network policy disabled)", false, true, node_name + ": k3s started with --disable-network-policy"};
    }
    return {"k3s (kube-router)", true, true,
            node_name + " runs k3s (" + how + "): its embedded kube-router enforces NetworkPolicy"};
  }
  // RKE2: the CNI named by --cni (canal by default) is deployed by RKE2 itself.
  const bool rke2 = annotations.contains("rke2.io/node-args") ||
                    str(labels, "node.kubernetes.io/instance-type") == "rke2" ||
                    kubelet.find("+rke2") != std::string::npos;
  if (rke2) {
    const auto args = node_args(annotations, "rke2.io/node-args");
    std::string cni = arg_value(args, "--cni");
    if (cni.empty()) cni = "canal";
    const std::string first = cni.substr(0, cni.find(','));  // "multus,cilium": multus delegates
    const std::string actual =
        first == "multus" && cni.find(',') != std::string::npos ? cni.substr(cni.find(',') + 1) : first;
    const std::string evidence = node_name + " runs RKE2 with --cni " + cni;
    if (actual == "none" || actual == "multus") return {};  // another CNI, installed by hand: other sources tell
    if (actual == "flannel") return {"flannel", false, true, evidence};
    if (const std::string enforcing = enforcing_cni_in(actual); !enforcing.empty())
      return {enforcing, true, true, evidence};
    return {};
  }
  // Annotations the CNIs' agents write on their node.
  static constexpr std::pair<const char*, const char*> k_annotation_prefixes[] = {
      {"projectcalico.org/", "calico"}, {"network.cilium.io/", "cilium"},   {"io.cilium.network.", "cilium"},
      {"node.antrea.io/", "antrea"},    {"k8s.ovn.org/", "ovn-kubernetes"}, {"kube-router.io/", "kube-router"}};
  for (const auto& [prefix, cni] : k_annotation_prefixes) {
    for (const auto& [key, value] : annotations.items()) {
      if (has_prefix(key, prefix)) return {cni, true, true, node_name + " annotation " + key};
    }
  }
  for (const auto& [key, value] : annotations.items()) {
    if (has_prefix(key, "flannel.alpha.coreos.com/")) return {"flannel", false, true, node_name + " annotation " + key};
  }
  return {};
}

CniInfo combine_cni(const std::vector<CniInfo>& found) {
  for (const auto& c : found) {
    if (c.known && c.enforces) return c;
  }
  for (const auto& c : found) {
    if (c.known) return c;
  }
  return {};
}

CniDiscovery discover_cni(kube::Client& client, const std::string& node_name) {
  CniDiscovery d;
  std::vector<CniInfo> found;
  std::vector<std::string> looked;
  // CNIs run as DaemonSets: in kube-system, or in their own namespace when installed by an
  // operator (calico-system, cilium, ...). Cluster-wide first; without that right, kube-system.
  ++d.requests;
  auto daemonsets = kube::get_object(client, "/apis/apps/v1/daemonsets?limit=500", "list daemonsets");
  if (!daemonsets && daemonsets.error().code == Errc::forbidden) {
    ++d.requests;
    daemonsets =
        kube::get_object(client, "/apis/apps/v1/namespaces/kube-system/daemonsets", "list daemonsets in kube-system");
  }
  if (daemonsets) {
    d.daemonsets = member(*daemonsets, "items");
    found.push_back(detect_cni(d.daemonsets));
    looked.emplace_back("the DaemonSets");
  } else {
    d.unread.push_back(daemonsets.error().message);
  }
  const auto done = [&] { return !found.empty() && found.back().known && found.back().enforces; };
  if (!done()) {
    ++d.requests;
    if (auto pods =
            kube::get_object(client, "/api/v1/namespaces/kube-system/pods?limit=500", "list pods in kube-system")) {
      found.push_back(detect_cni_from_pods(member(*pods, "items")));
      looked.emplace_back("the pods in kube-system");
    } else {
      d.unread.push_back(pods.error().message);
    }
  }
  if (!done() && !node_name.empty()) {
    ++d.requests;
    if (auto node = kube::get_node(client, node_name)) {
      found.push_back(detect_cni_from_node(*node));
      looked.push_back("node " + node_name + " (annotations, labels, node info)");
    } else {
      d.unread.push_back(node.error().message);
    }
  }
  d.cni = combine_cni(found);
  if (!d.cni.known) {
    d.note = looked.empty() ? "cannot tell whether the CNI enforces NetworkPolicy"
                            : "no NetworkPolicy-enforcing CNI recognised in " + util::join(looked, ", ");
    if (!d.unread.empty()) d.note += " (not readable: " + util::join(d.unread, "; ") + ")";
  }
  return d;
}

std::vector<std::string> node_local_dns_addresses(const json& daemonsets) {
  std::vector<std::string> out;
  if (!daemonsets.is_array()) return out;
  for (const auto& ds : daemonsets) {
    const json& meta = member(ds, "metadata");
    const bool named =
        str(meta, "name") == "node-local-dns" || str(member(meta, "labels"), "k8s-app") == "node-local-dns";
    if (!named) continue;
    // The containers' args: "-localip", "169.254.20.10,10.96.0.10" (or "-localip=...").
    const json& spec = member(member(member(ds, "spec"), "template"), "spec");
    for (const auto& c : member(spec, "containers")) {
      std::vector<std::string> args;
      for (const char* key : {"command", "args"}) {
        for (const auto& a : member(c, key)) {
          if (a.is_string()) args.push_back(a.get<std::string>());
        }
      }
      std::string list = arg_value(args, "-localip");
      if (list.empty()) list = arg_value(args, "--localip");
      for (const auto& ip : util::split(list, ',')) {
        const std::string t(util::trim(ip));
        if (has_prefix(t, "169.254.") && std::find(out.begin(), out.end(), t) == out.end()) out.push_back(t);
      }
    }
    if (out.empty()) out.emplace_back(k_node_local_dns_default);
  }
  return out;
}

}  // namespace ir::triage
