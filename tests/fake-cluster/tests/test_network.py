"""The fake cluster's network with real traffic: NetworkPolicy and AdminNetworkPolicy enforcement
in the fabric, kube-proxy's Service NAT, DNS, the API server's ClusterIP, and the CNI scenarios.
Policies are applied with real kubectl; connections are tried with the pods' own busybox nc.

Run as root from tests/fake-cluster:  /usr/bin/python3 -m unittest tests.test_network
"""

import json
import ssl
import time
import unittest

import yaml

from tests.helpers import ClusterTestCase

POOL = "198.51.100.7 3333"
API = "10.96.0.1 443"
NODE = "192.0.2.2 1"          # the node's address: nothing listens on port 1, so allowed = refused


def _netpol(name, ns, pod_selector, types, egress=None, ingress=None):
    spec = {"podSelector": pod_selector}
    if types is not None:
        spec["policyTypes"] = types
    if egress is not None:
        spec["egress"] = egress
    if ingress is not None:
        spec["ingress"] = ingress
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": ns}, "spec": spec}


def _anp(name, priority, subject, egress=None, ingress=None):
    spec = {"priority": priority, "subject": subject}
    if egress is not None:
        spec["egress"] = egress
    if ingress is not None:
        spec["ingress"] = ingress
    return {"apiVersion": "policy.networking.k8s.io/v1alpha1", "kind": "AdminNetworkPolicy",
            "metadata": {"name": name}, "spec": spec}


def _pods(ns, app):
    return {"pods": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}},
                     "podSelector": {"matchLabels": {"app": app}}}}


PATHS = {"NetworkPolicy": "/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies",
         "AdminNetworkPolicy": "/apis/policy.networking.k8s.io/v1alpha1/adminnetworkpolicies",
         "BaselineAdminNetworkPolicy": "/apis/policy.networking.k8s.io/v1alpha1/baselineadminnetworkpolicies"}


class NetworkCase(ClusterTestCase):
    """Helpers: write objects, run commands in pods, try connections from a pod. Most go straight
    to the API (kubectl's start-up would dominate the run time); kubectl apply itself is used
    where marked."""

    def kubectl_apply(self, *objs):
        self.kubectl_ok("apply", "-f", "-", input=yaml.safe_dump_all(objs))

    def apply(self, *objs):
        """Creates or replaces objects through the API."""
        for o in objs:
            path = PATHS[o["kind"]].format(ns=o["metadata"].get("namespace"))
            st, _, body = self.cluster.request("POST", path, o)
            if st == 409:
                st, _, body = self.cluster.request("PUT", f"{path}/{o['metadata']['name']}", o)
            self.assertIn(st, (200, 201), body)

    def delete_all(self, kind, ns=None):
        st, _, body = self.cluster.request("DELETE", PATHS[kind].format(ns=ns))
        self.assertEqual(st, 200, body)

    def sh(self, ns, pod, script, stdin=None):
        """(exit code, stdout) of `sh -c script` in the pod, through the exec API."""
        r = self.cluster.ws_exec(pod, ["sh", "-c", script], ["v5.channel.k8s.io"], namespace=ns,
                                 stdin_data=stdin)
        self.assertEqual(r[0], "ok", r)
        out = b"".join(d for ch, d in r[2] if ch == 1).decode(errors="replace")
        status = json.loads(b"".join(d for ch, d in r[2] if ch == 3) or b"{}")
        code = 0
        if status.get("status") == "Failure":
            code = int(status["details"]["causes"][0]["message"])
        return code, out

    def ip(self, ns, pod):
        st, _, body = self.cluster.request("GET", f"/api/v1/namespaces/{ns}/pods/{pod}")
        self.assertEqual(st, 200, body)
        return body["status"]["podIP"]

    def connect(self, ns, pod, targets, wait=1):
        """{label: "IP PORT"} -> {label: "open" | "refused" | "blocked" | other nc message}; the
        attempts run in parallel, each waiting at most `wait` seconds."""
        script = " ".join(
            f'(out=$(nc -w {wait} {t} -e true 2>&1); echo "{label} $? $out") &'
            for label, t in targets.items()) + " wait"
        _, out = self.sh(ns, pod, script)
        got = {}
        for line in out.splitlines():
            label, rc, *msg = line.split(" ", 2)
            msg = msg[0] if msg else ""
            got[label] = ("open" if rc == "0" else "refused" if "refused" in msg
                          else "blocked" if "timed out" in msg else msg)
        return got

    def assertReach(self, ns, pod, expected):
        """expected: {label: (target, outcome)}"""
        got = self.connect(ns, pod, {k: v[0] for k, v in expected.items()})
        self.assertEqual(got, {k: v[1] for k, v in expected.items()}, f"from {ns}/{pod}")

    def resolve(self, ns, pod, name):
        """The addresses nslookup gets for name (2 s at most), or None if it gets no answer."""
        code, out = self.sh(ns, pod, f"timeout 2 nslookup {name}")
        if code != 0:
            return None
        lines = out.split("Name:", 1)[-1].splitlines()
        return [line.split()[-1] for line in lines if line.startswith("Address")]


class Lab(NetworkCase):
    scenario = "netlab"

    def setUp(self):
        self.server, self.other, self.client_b = (
            self.ip("lab-a", "server"), self.ip("lab-b", "other"), self.ip("lab-b", "client"))

    def tearDown(self):
        for ns in ("lab-a", "lab-b"):
            self.delete_all("NetworkPolicy", ns)
        self.delete_all("AdminNetworkPolicy")
        self.delete_all("BaselineAdminNetworkPolicy")
        st, _, _ = self.cluster.request("POST", "/_fake/config", {"netpol_existing_connections": "keep"})
        self.assertEqual(st, 200)

    def test_unrestricted_without_policies(self):
        self.assertReach("lab-a", "client", {
            "server": (f"{self.server} 8080", "open"), "other": (f"{self.other} 8080", "open"),
            "pool": (POOL, "open"), "api": (API, "open"), "svc": ("10.96.50.10 80", "open"),
            "nobody": ("10.96.50.11 80", "refused"), "node": (NODE, "refused")})
        self.assertEqual(self.resolve("lab-a", "client", "server.lab-a.svc.cluster.local"), ["10.96.50.10"])
        self.assertEqual(self.resolve("lab-a", "client", "kubernetes.default.svc.cluster.local"), ["10.96.0.1"])
        self.assertIsNone(self.resolve("lab-a", "client", "pool.example.com"))   # NXDOMAIN
        # behind 10.96.0.1 is this API server: a TLS ClientHello gets its ServerHello
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        out_bio = ssl.MemoryBIO()
        tls = ctx.wrap_bio(ssl.MemoryBIO(), out_bio, server_hostname="kubernetes.default")
        with self.assertRaises(ssl.SSLWantReadError):
            tls.do_handshake()
        r = self.cluster.kubectl("exec", "-i", "-n", "lab-a", "client", "--", "timeout", "2", "sh", "-c",
                                 "(cat; sleep 1) | nc 10.96.0.1 443", input=out_bio.read())
        self.assertEqual(r.stdout[:3], b"\x16\x03\x03", r)   # a TLS 1.2+ handshake record

    def test_deny_all_egress_blocks_new_connections_but_not_node_or_loopback(self):
        self.kubectl_apply(_netpol("deny", "lab-a", {"matchLabels": {"app": "client"}}, ["Egress"]))
        self.assertReach("lab-a", "client", {
            "server": (f"{self.server} 8080", "blocked"), "pool": (POOL, "blocked"),
            "api": (API, "blocked"), "svc": ("10.96.50.10 80", "blocked"),
            "node": (NODE, "refused"), "loopback": ("127.0.0.1 8080", "open")})
        self.assertIsNone(self.resolve("lab-a", "client", "server.lab-a.svc.cluster.local"))
        # other pods are not selected: unrestricted
        self.assertReach("lab-b", "client", {"server": (f"{self.server} 8080", "open")})

    def test_policies_are_additive(self):
        self.apply(_netpol("deny", "lab-a", {"matchLabels": {"app": "client"}}, ["Egress"]),
                   _netpol("to-server", "lab-a", {}, ["Egress"],
                           egress=[{"to": [{"podSelector": {"matchLabels": {"app": "server"}}}],
                                    "ports": [{"port": 8080}]}]),
                   _netpol("dns", "lab-a", {"matchLabels": {"app": "client"}}, ["Egress"],
                           egress=[{"to": [{"namespaceSelector": {},
                                            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                                    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}]))
        # judged after DNAT: the Service's ClusterIP reaches the allowed endpoint
        self.assertReach("lab-a", "client", {
            "server": (f"{self.server} 8080", "open"), "svc": ("10.96.50.10 80", "open"),
            "other": (f"{self.other} 8080", "blocked"), "pool": (POOL, "blocked")})
        self.assertEqual(self.resolve("lab-a", "client", "server.lab-a.svc.cluster.local"), ["10.96.50.10"])

    def test_namespace_and_pod_selectors(self):
        both = _netpol("both", "lab-a", {"matchLabels": {"app": "client"}}, ["Egress"], egress=[{"to": [
            {"namespaceSelector": {"matchLabels": {"team": "b"}}, "podSelector": {"matchLabels": {"app": "other"}}}]}])
        self.apply(both)
        self.assertReach("lab-a", "client", {
            "other": (f"{self.other} 8080", "open"), "client-b": (f"{self.client_b} 8080", "blocked"),
            "server": (f"{self.server} 8080", "blocked")})
        ns_only = _netpol("both", "lab-a", {"matchLabels": {"app": "client"}}, ["Egress"], egress=[{"to": [
            {"namespaceSelector": {"matchLabels": {"team": "b"}}}]}])
        self.apply(ns_only)
        self.assertReach("lab-a", "client", {
            "other": (f"{self.other} 8080", "open"), "client-b": (f"{self.client_b} 8080", "open"),
            "server": (f"{self.server} 8080", "blocked")})
        # namespace labels count as they are now
        self.kubectl_ok("label", "namespace", "lab-b", "team=x", "--overwrite")
        try:
            self.assertReach("lab-a", "client", {"other": (f"{self.other} 8080", "blocked")})
        finally:
            self.kubectl_ok("label", "namespace", "lab-b", "team=b", "--overwrite")

    def test_ip_block_with_except_and_port_range(self):
        self.apply(_netpol("block", "lab-a", {"matchLabels": {"app": "client"}}, ["Egress"], egress=[
            {"to": [{"ipBlock": {"cidr": "10.244.0.0/16", "except": [f"{self.server}/32"]}}]},
            {"to": [{"ipBlock": {"cidr": "198.51.100.0/24"}}], "ports": [{"port": 3000, "endPort": 3400}]}]))
        self.assertReach("lab-a", "client", {
            "server": (f"{self.server} 8080", "blocked"), "other": (f"{self.other} 8080", "open"),
            "pool": (POOL, "open")})
        self.apply(_netpol("block", "lab-a", {"matchLabels": {"app": "client"}}, ["Egress"], egress=[
            {"to": [{"ipBlock": {"cidr": "198.51.100.0/24"}}], "ports": [{"port": 3400, "endPort": 4000}]}]))
        self.assertReach("lab-a", "client", {"pool": (POOL, "blocked"), "other": (f"{self.other} 8080", "blocked")})

    def test_named_ports(self):
        # egress to a named port: the destination pods' port called http (8080), nothing else
        self.apply(_netpol("named", "lab-a", {"matchLabels": {"app": "client"}}, ["Egress"],
                           egress=[{"ports": [{"port": "http"}]}]))
        self.assertReach("lab-a", "client", {
            "server": (f"{self.server} 8080", "open"), "other": (f"{self.other} 8080", "open"),
            "pool": (POOL, "blocked")})
        # ingress on a named port of the selected pod
        self.apply(_netpol("in-named", "lab-b", {"matchLabels": {"app": "other"}}, ["Ingress"],
                           ingress=[{"ports": [{"port": "metrics"}]}]))
        self.assertReach("lab-a", "client", {"other": (f"{self.other} 8080", "blocked")})
        self.apply(_netpol("in-named", "lab-b", {"matchLabels": {"app": "other"}}, ["Ingress"],
                           ingress=[{"ports": [{"port": "http"}]}]))
        self.assertReach("lab-a", "client", {"other": (f"{self.other} 8080", "open")})

    def test_ingress_and_replies(self):
        self.apply(_netpol("in", "lab-a", {"matchLabels": {"app": "server"}}, ["Ingress"],
                           ingress=[{"from": [{"podSelector": {"matchLabels": {"app": "client"}}}]}]))
        self.assertReach("lab-a", "client", {"server": (f"{self.server} 8080", "open"),
                                             "svc": ("10.96.50.10 80", "open")})
        self.assertReach("lab-b", "client", {"server": (f"{self.server} 8080", "blocked")})
        # a pod reaching itself through its Service is SNATed to the node: allowed, like its loopback
        self.assertReach("lab-a", "server", {"self-svc": ("10.96.50.10 80", "open"),
                                             "loopback": ("127.0.0.1 8080", "open")})
        # the client denies all ingress: the replies of its own connections still come in
        self.apply(_netpol("deny-in", "lab-a", {"matchLabels": {"app": "client"}}, ["Ingress"]))
        self.assertReach("lab-a", "client", {"server": (f"{self.server} 8080", "open")})
        self.assertReach("lab-a", "server", {"client": (f"{self.ip('lab-a', 'client')} 8080", "blocked")})
        st, _, _ = self.cluster.request("POST", "/_fake/config", {"netpol_existing_connections": "cut"})
        self.assertEqual(st, 200)
        self.assertReach("lab-a", "client", {"server": (f"{self.server} 8080", "open")})

    def test_policy_types_default_as_the_api_server_does(self):
        self.kubectl_apply(_netpol("no-types", "lab-a", {"matchLabels": {"app": "client"}}, None, ingress=[]))
        stored = json.loads(self.kubectl_ok("get", "networkpolicy", "no-types", "-n", "lab-a", "-o", "json"))
        self.assertEqual(stored["spec"]["policyTypes"], ["Ingress"])
        self.assertReach("lab-a", "client", {"pool": (POOL, "open")})          # egress untouched
        self.assertReach("lab-a", "server", {"client": (f"{self.ip('lab-a', 'client')} 8080", "blocked")})

    def _stream(self):
        """Starts lab-a/client sending a line every 0.1 s to nc listening in lab-b/other; returns
        a function giving how many bytes other has received, and a cleanup."""
        self.sh("lab-b", "other", "rm -f /tmp/recv; echo 'sleep 1000 | nc -l -p 9000 >/tmp/recv' >/tmp/listen.sh; "
                                  "sh /tmp/listen.sh >/dev/null 2>&1 </dev/null &")
        time.sleep(0.3)
        self.sh("lab-a", "client", f"echo '(while true; do echo x; sleep 0.1; done) | nc {self.other} 9000' "
                                   ">/tmp/stream.sh; sh /tmp/stream.sh >/dev/null 2>&1 </dev/null &")

        def received():
            return int(self.sh("lab-b", "other", "wc -c </tmp/recv")[1].strip())

        def stop():
            # the pods' own processes, by their command lines
            self.sh("lab-a", "client", "pkill -f 'stream.sh|nc 10'")
            self.sh("lab-b", "other", "pkill -f 'listen.sh|sleep 1000|nc -l'")
        return received, stop

    def _existing_connection_after_deny(self):
        received, stop = self._stream()
        try:
            deadline = time.time() + 5
            while received() == 0 and time.time() < deadline:
                time.sleep(0.2)
            self.assertGreater(received(), 0)
            self.apply(_netpol("deny", "lab-a", {"matchLabels": {"app": "client"}}, ["Egress"]))
            time.sleep(0.3)
            before = received()
            time.sleep(1)
            return before, received()
        finally:
            stop()

    def test_existing_connections_are_kept(self):
        before, after = self._existing_connection_after_deny()
        self.assertGreater(after, before)
        self.assertReach("lab-a", "client", {"other": (f"{self.other} 8080", "blocked")})

    def test_existing_connections_are_cut_when_the_scenario_says_so(self):
        st, _, body = self.cluster.request("POST", "/_fake/config", {"netpol_existing_connections": "cut"})
        self.assertEqual((st, body["netpol_existing_connections"]), (200, "cut"))
        before, after = self._existing_connection_after_deny()
        self.assertEqual(after, before)

    def test_admin_network_policy_order(self):
        client_a = {"pods": {"namespaceSelector": {"matchLabels": {"team": "a"}},
                             "podSelector": {"matchLabels": {"app": "client"}}}}
        to_b = [{"namespaces": {"matchLabels": {"team": "b"}}}]
        # Deny beats any NetworkPolicy allow
        self.apply(_netpol("allow-all", "lab-a", {}, ["Egress"], egress=[{}]),
                   _anp("deny-b", 10, client_a, egress=[{"name": "b", "action": "Deny", "to": to_b}]))
        self.assertReach("lab-a", "client", {"other": (f"{self.other} 8080", "blocked"),
                                             "server": (f"{self.server} 8080", "open")})
        # a Pass of higher priority (lower number) hands the decision to NetworkPolicy
        self.apply(_anp("pass-b", 5, client_a, egress=[{"name": "b", "action": "Pass", "to": to_b}]))
        self.assertReach("lab-a", "client", {"other": (f"{self.other} 8080", "open")})
        # Allow beats a NetworkPolicy deny-all; ports narrow it
        self.delete_all("NetworkPolicy", "lab-a")
        self.delete_all("AdminNetworkPolicy")
        self.apply(_netpol("deny", "lab-a", {"matchLabels": {"app": "client"}}, ["Egress"]),
                   _anp("allow-server", 20, client_a, egress=[{
                       "name": "server", "action": "Allow", "to": [_pods("lab-a", "server")],
                       "ports": [{"portNumber": {"protocol": "TCP", "port": 8080}}]}]))
        self.assertReach("lab-a", "client", {"server": (f"{self.server} 8080", "open"),
                                             "other": (f"{self.other} 8080", "blocked")})
        # ingress: a Deny from team b on the server
        self.apply(_anp("no-b-in", 30, _pods("lab-a", "server"), ingress=[
            {"name": "b", "action": "Deny", "from": [{"namespaces": {"matchLabels": {"team": "b"}}}]}]))
        self.assertReach("lab-b", "client", {"server": (f"{self.server} 8080", "blocked")})

    def test_kubectl_ir_quarantine_shape(self):
        # what `kubectl ir isolate --admin-policy --allow-dns` creates: priority 0, DNS allowed,
        # everything else denied, whatever NetworkPolicies allow
        self.apply(_netpol("allow-all", "lab-a", {}, ["Egress"], egress=[{}]), {
            "apiVersion": "policy.networking.k8s.io/v1alpha1", "kind": "AdminNetworkPolicy",
            "metadata": {"name": "kubectl-ir-quarantine-lab-a-client"},
            "spec": {"priority": 0,
                     "subject": {"pods": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "lab-a"}},
                                          "podSelector": {"matchLabels": {"app": "client"}}}},
                     "egress": [{"name": "kubectl-ir-allow-dns", "action": "Allow",
                                 "to": [{"pods": {"namespaceSelector": {},
                                                  "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}}],
                                 "ports": [{"portNumber": {"protocol": "UDP", "port": 53}},
                                           {"portNumber": {"protocol": "TCP", "port": 53}}]},
                                {"name": "kubectl-ir-deny-all-egress", "action": "Deny",
                                 "to": [{"namespaces": {}}, {"networks": ["0.0.0.0/0", "::/0"]}]}],
                     "ingress": [{"name": "kubectl-ir-deny-all-ingress", "action": "Deny",
                                  "from": [{"namespaces": {}}]}]}})
        self.assertReach("lab-a", "client", {"pool": (POOL, "blocked"), "api": (API, "blocked"),
                                             "server": (f"{self.server} 8080", "blocked"),
                                             "node": (NODE, "refused")})
        self.assertEqual(self.resolve("lab-a", "client", "server.lab-a.svc.cluster.local"), ["10.96.50.10"])
        self.assertReach("lab-a", "server", {"client": (f"{self.ip('lab-a', 'client')} 8080", "blocked")})

    def test_baseline_admin_network_policy_only_without_network_policies(self):
        self.apply({"apiVersion": "policy.networking.k8s.io/v1alpha1", "kind": "BaselineAdminNetworkPolicy",
                    "metadata": {"name": "default"},
                    "spec": {"subject": {"namespaces": {"matchLabels": {"team": "a"}}},
                             "egress": [{"name": "no-pool", "action": "Deny",
                                         "to": [{"networks": ["198.51.100.0/24"]}]}]}})
        self.assertReach("lab-a", "client", {"pool": (POOL, "blocked"), "other": (f"{self.other} 8080", "open")})
        self.apply(_netpol("allow-all", "lab-a", {"matchLabels": {"app": "client"}}, ["Egress"], egress=[{}]))
        self.assertReach("lab-a", "client", {"pool": (POOL, "open")})

    def test_enforcement_follows_pod_labels(self):
        self.apply(_netpol("deny", "lab-a", {"matchLabels": {"quarantine": "yes"}}, ["Egress"]))
        self.assertReach("lab-a", "client", {"pool": (POOL, "open")})
        self.kubectl_ok("label", "pod", "client", "-n", "lab-a", "quarantine=yes")
        try:
            self.assertReach("lab-a", "client", {"pool": (POOL, "blocked")})
        finally:
            self.kubectl_ok("label", "pod", "client", "-n", "lab-a", "quarantine-")
        self.assertReach("lab-a", "client", {"pool": (POOL, "open")})
        st, _, body = self.cluster.request("GET", "/_fake/network")
        self.assertEqual(st, 200)
        self.assertEqual(body["enforced_pods"], {})


class NotEnforcing(NetworkCase):
    """flannel alone: policies are stored and change nothing on the wire."""
    scenario = "demo-noenforce"

    def test_policies_change_nothing(self):
        dss = json.loads(self.kubectl_ok("get", "daemonsets", "-A", "-o", "json"))["items"]
        self.assertEqual(sorted(d["metadata"]["name"] for d in dss),
                         ["kube-flannel-ds", "kube-proxy", "node-exporter"])
        self.apply(_netpol("deny", "shop", {}, ["Egress", "Ingress"]))
        self.assertReach("shop", "web-7d4b9c8f6-b8lqz", {
            "pool": (POOL, "open"), "api": (API, "open"), "svc": ("10.96.34.12 80", "open"),
            "peer": (f"{self.ip('shop', 'web-7d4b9c8f6-m4hzt')} 8080", "open")})
        self.assertEqual(self.resolve("shop", "web-7d4b9c8f6-b8lqz", "web.shop.svc.cluster.local"),
                         ["10.96.34.12"])


class HostCni(NetworkCase):
    """k3s: no CNI DaemonSet at all, and policies are enforced."""
    scenario = "demo-hostcni"

    def test_enforced_without_a_daemonset(self):
        dss = json.loads(self.kubectl_ok("get", "daemonsets", "-A", "-o", "json"))["items"]
        self.assertEqual([d["metadata"]["name"] for d in dss], ["node-exporter"])
        node = json.loads(self.kubectl_ok("get", "node", "node-1", "-o", "json"))
        self.assertIn("k3s.io/node-args", node["metadata"]["annotations"])
        self.assertEqual(node["metadata"]["annotations"]["flannel.alpha.coreos.com/backend-type"], "vxlan")
        # the demo's allow-egress selects the web pods: neutralise it as --exclusive would
        self.kubectl_ok("delete", "networkpolicy", "allow-egress", "-n", "shop")
        self.apply(_netpol("deny", "shop", {"matchLabels": {"app": "web"}}, ["Egress"]))
        self.assertReach("shop", "web-7d4b9c8f6-x2k9p", {"pool": (POOL, "blocked"), "api": (API, "blocked")})


class NodeLocalDns(NetworkCase):
    scenario = "demo-nodelocaldns"

    def test_pods_ask_the_node_local_cache_which_egress_policy_governs(self):
        pod = "web-7d4b9c8f6-b8lqz"
        conf = self.kubectl_ok("exec", "-n", "shop", pod, "--", "cat", "/etc/resolv.conf")
        self.assertIn("nameserver 169.254.20.10\n", conf)
        self.assertEqual(self.resolve("shop", pod, "web.shop.svc.cluster.local"), ["10.96.34.12"])
        st, _, body = self.cluster.request("GET", "/_fake/config")
        self.assertTrue(body["nodelocal_dns"])
        # DNS allowed to the kube-dns pods only: the node-local cache is not them
        self.kubectl_ok("delete", "networkpolicy", "allow-egress", "-n", "shop")
        self.apply(_netpol("dns", "shop", {"matchLabels": {"app": "web"}}, ["Egress"], egress=[{
            "to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}]))
        self.assertIsNone(self.resolve("shop", pod, "web.shop.svc.cluster.local"))
        self.apply(_netpol("nodelocal", "shop", {"matchLabels": {"app": "web"}}, ["Egress"], egress=[{
            "to": [{"ipBlock": {"cidr": "169.254.20.10/32"}}],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}]))
        self.assertEqual(self.resolve("shop", pod, "web.shop.svc.cluster.local"), ["10.96.34.12"])


if __name__ == "__main__":
    unittest.main()
