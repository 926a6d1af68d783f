#include <doctest/doctest.h>

#include "support/fake_pod_api.hpp"
#include "triage/cni.hpp"

using namespace ir;
using namespace ir::testing;
using namespace ir::triage;
using nlohmann::json;

namespace {

json daemonsets(std::vector<std::string> names) {
  json items = json::array();
  for (const auto& n : names) items.push_back({{"metadata", {{"name", n}, {"namespace", "kube-system"}}}});
  return items;
}

json node(json annotations, json labels = json::object(), const std::string& kubelet = "v1.26.4") {
  return {{"metadata", {{"name", "node-1"}, {"annotations", annotations}, {"labels", labels}}},
          {"status", {{"nodeInfo", {{"kubeletVersion", kubelet}}}}}};
}

}  // namespace

TEST_CASE("detect_cni: DaemonSet names, with the one used as evidence") {
  CHECK(detect_cni(daemonsets({"kube-proxy", "calico-node"})).name == "calico");
  CHECK(detect_cni(daemonsets({"kube-proxy", "calico-node"})).evidence == "DaemonSet kube-system/calico-node");
  CHECK(detect_cni(daemonsets({"cilium"})).enforces);
  CHECK(detect_cni(daemonsets({"kube-flannel-ds", "calico-node"})).name == "calico");  // canal-style: calico enforces
  const auto flannel = detect_cni(daemonsets({"kube-flannel-ds", "kube-proxy"}));
  CHECK(flannel.known);
  CHECK_FALSE(flannel.enforces);
  CHECK(flannel.evidence == "DaemonSet kube-system/kube-flannel-ds");
  const auto none = detect_cni(daemonsets({"kube-proxy"}));
  CHECK_FALSE(none.known);
  CHECK(none.evidence.empty());
  CHECK(detect_cni(daemonsets({"antrea-agent"})).name == "antrea");
  CHECK(detect_cni(daemonsets({"ovnkube-node"})).name == "ovn-kubernetes");
  CHECK(detect_cni(daemonsets({"weave-net"})).name == "weave");
  CHECK(detect_cni(daemonsets({"kube-router"})).name == "kube-router");
}

TEST_CASE("detect_cni_from_pods: a static pod is named as such; images count too") {
  const json pods = json::array(
      {{{"metadata", {{"name", "coredns-1"}, {"namespace", "kube-system"}}},
        {"spec", {{"containers", json::array({{{"image", "registry.k8s.io/coredns/coredns:v1.10.1"}}})}}}},
       {{"metadata",
         {{"name", "netpol-node-1"},
          {"namespace", "kube-system"},
          {"annotations", {{"kubernetes.io/config.mirror", "abc"}}}}},
        {"spec", {{"containers", json::array({{{"image", "docker.io/cloudnativelabs/kube-router:v1.5"}}})}}}}});
  const auto c = detect_cni_from_pods(pods);
  CHECK(c.name == "kube-router");
  CHECK(c.enforces);
  CHECK(c.evidence == "static pod kube-system/netpol-node-1");
  CHECK_FALSE(detect_cni_from_pods(json::array({pods[0]})).known);
}

TEST_CASE("detect_cni_from_node: annotations, labels and node info") {
  struct Case {
    json node;
    std::string name;
    bool enforces;
    bool known;
    std::string evidence;
  };
  const Case cases[] = {
      {node(
           {{"k3s.io/node-args", R"(["server","--tls-san","x"])"}, {"flannel.alpha.coreos.com/backend-type", "vxlan"}}),
       "k3s (kube-router)", true, true,
       "node node-1 runs k3s (annotation k3s.io/node-args): its embedded kube-router enforces NetworkPolicy"},
      {node({{"k3s.io/node-args", R"(["server","--disable-network-policy"])"}}), "k3s (network policy disabled)", false,
       true, "node node-1: k3s started with --disable-network-policy"},
      {node(json::object(), json::object(), "v1.26.4+k3s1"), "k3s (kube-router)", true, true,
       "node node-1 runs k3s (kubelet v1.26.4+k3s1): its embedded kube-router enforces NetworkPolicy"},
      {node(json::object(), {{"node.kubernetes.io/instance-type", "k3s"}}), "k3s (kube-router)", true, true,
       "node node-1 runs k3s (label node.kubernetes.io/instance-type=k3s): its embedded kube-router enforces "
       "NetworkPolicy"},
      {node({{"rke2.io/node-args", R"(["server","--cni","cilium"])"}}), "cilium", true, true,
       "node node-1 runs RKE2 with --cni cilium"},
      {node({{"rke2.io/node-args", R"(["server"])"}}), "canal", true, true, "node node-1 runs RKE2 with --cni canal"},
      {node({{"rke2.io/node-args", R"(["server","--cni=none"])"}}), "", false, false, ""},
      {node({{"projectcalico.org/IPv4Address", "192.0.2.2/24"}}), "calico", true, true,
       "node node-1 annotation projectcalico.org/IPv4Address"},
      {node({{"network.cilium.io/ipv4-cilium-host", "10.0.0.1"}}), "cilium", true, true,
       "node node-1 annotation network.cilium.io/ipv4-cilium-host"},
      {node({{"node.antrea.io/mac-address", "aa:bb"}}), "antrea", true, true,
       "node node-1 annotation node.antrea.io/mac-address"},
      {node({{"k8s.ovn.org/node-subnets", "{}"}}), "ovn-kubernetes", true, true,
       "node node-1 annotation k8s.ovn.org/node-subnets"},
      {node({{"flannel.alpha.coreos.com/public-ip", "192.0.2.2"}}), "flannel", false, true,
       "node node-1 annotation flannel.alpha.coreos.com/public-ip"},
      {node({{"node.alpha.kubernetes.io/ttl", "0"}}), "", false, false, ""},
  };
  for (const auto& k : cases) {
    CAPTURE(k.node.dump());
    const auto c = detect_cni_from_node(k.node);
    CHECK(c.name == k.name);
    CHECK(c.enforces == k.enforces);
    CHECK(c.known == k.known);
    CHECK(c.evidence == k.evidence);
  }
}

TEST_CASE("combine_cni: enforcing evidence anywhere wins over flannel; order breaks ties") {
  const CniInfo flannel{"flannel", false, true, "DaemonSet kube-system/kube-flannel-ds"};
  const CniInfo k3s{"k3s (kube-router)", true, true, "node"};
  const CniInfo calico{"calico", true, true, "pod"};
  CHECK(combine_cni({flannel, {}, k3s}).name == "k3s (kube-router)");
  CHECK(combine_cni({calico, k3s}).name == "calico");
  CHECK(combine_cni({{}, flannel}).name == "flannel");
  CHECK_FALSE(combine_cni({{}, {}}).known);
}

TEST_CASE("discover_cni: stops at the first enforcing source, says what it read and what it could not") {
  RoutedTransport t;
  FakeCredentials creds;
  util::FakeClock clock;
  kube::Client client(test_config(), t, creds, clock);
  t.json("GET /apis/apps/v1/daemonsets", json({{"items", daemonsets({"kube-proxy"})}}).dump());
  t.json("GET /api/v1/namespaces/kube-system/pods", R"({"items":[]})");
  SUBCASE("k3s: only the node says it (issue: kube-router on the host)") {
    t.json("GET /api/v1/nodes/node-1", node({{"k3s.io/node-args", R"(["server"])"}}).dump());
    const auto d = discover_cni(client, "node-1");
    CHECK(d.cni.name == "k3s (kube-router)");
    CHECK(d.cni.enforces);
    CHECK(d.requests == 3);
    CHECK(d.note.empty());
    CHECK(d.daemonsets.size() == 1);
  }
  SUBCASE("an enforcing DaemonSet: nothing else is read") {
    t.json("GET /apis/apps/v1/daemonsets", json({{"items", daemonsets({"calico-node"})}}).dump());
    const auto d = discover_cni(client, "node-1");
    CHECK(d.cni.name == "calico");
    CHECK(d.requests == 1);
    CHECK(t.calls() == std::vector<std::string>{"GET /apis/apps/v1/daemonsets"});
  }
  SUBCASE("nothing recognised, the node not readable: the note names both") {
    t.json("GET /api/v1/nodes/node-1", status_json(403, "Forbidden", "nodes \\\"node-1\\\" is forbidden"), 403);
    const auto d = discover_cni(client, "node-1");
    CHECK_FALSE(d.cni.known);
    CHECK(d.note ==
          "no NetworkPolicy-enforcing CNI recognised in the DaemonSets, the pods in kube-system (not readable: get "
          "node node-1: "
          "nodes \"node-1\" is forbidden)");
  }
}

TEST_CASE("node_local_dns_addresses") {
  const auto ds = [](json args) {
    return json::array({{{"metadata", {{"name", "node-local-dns"}, {"namespace", "kube-system"}}},
                         {"spec", {{"template", {{"spec", {{"containers", json::array({{{"args", args}}})}}}}}}}}});
  };
  CHECK(node_local_dns_addresses(ds({"-localip", "169.254.20.10,10.96.0.10", "-conf", "/etc/Corefile"})) ==
        std::vector<std::string>{"169.254.20.10"});
  CHECK(node_local_dns_addresses(ds({"-localip=169.254.25.10"})) == std::vector<std::string>{"169.254.25.10"});
  CHECK(node_local_dns_addresses(ds(json::array())) == std::vector<std::string>{"169.254.20.10"});  // the default
  CHECK(node_local_dns_addresses(daemonsets({"calico-node"})).empty());
}
