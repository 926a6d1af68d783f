"""Unit tests of the pure modules: selectors, patches, continue tokens."""

import json
import types
import unittest

from fakecluster import handlers, patches, resources, selectors, store
from fakecluster.statuses import ApiError


class SelectorTest(unittest.TestCase):
    def test_label_selector_forms(self):
        labels = {"app": "web", "tier": "frontend"}
        cases = {"app=web": True, "app==web": True, "app!=web": False, "app in (web,db)": True,
                 "app notin (web)": False, "tier": True, "!tier": False, "!missing": True,
                 "app=web,tier in (frontend),!quarantine": True, "": True}
        for text, want in cases.items():
            reqs = selectors.parse_label_selector(text)
            self.assertEqual(selectors.match_label_requirements(reqs, labels), want, text)

    def test_field_selector(self):
        reqs = selectors.parse_field_selector("status.phase=Running,spec.nodeName!=x", ("", "pods"))
        self.assertTrue(selectors.match_fields(reqs, {"status": {"phase": "Running"}, "spec": {"nodeName": "n"}}))
        with self.assertRaises(ApiError) as cm:
            selectors.parse_field_selector("status.nope=1", ("", "pods"))
        self.assertEqual(cm.exception.message, "field label not supported: status.nope")


class PatchTest(unittest.TestCase):
    def test_strategic_merge_lists_by_name(self):
        pod = {"spec": {"containers": [{"name": "a", "image": "x"}], "ephemeralContainers": []}}
        out = patches.strategic_merge(pod, {"spec": {"$setElementOrder/ephemeralContainers": [{"name": "d"}],
                                                     "ephemeralContainers": [{"name": "d", "image": "busybox"}]}})
        self.assertEqual(out["spec"]["ephemeralContainers"], [{"name": "d", "image": "busybox"}])
        out = patches.strategic_merge(pod, {"spec": {"containers": [{"name": "a", "image": "y"}]}})
        self.assertEqual(out["spec"]["containers"], [{"name": "a", "image": "y"}])

    def test_merge_and_json_patch(self):
        obj = {"metadata": {"labels": {"a": "1"}}}
        self.assertEqual(patches.merge_patch(obj, {"metadata": {"labels": {"a": None, "b": "2"}}}),
                         {"metadata": {"labels": {"b": "2"}}})
        out = patches.json_patch(obj, [{"op": "add", "path": "/metadata/labels/c~1d", "value": "3"}])
        self.assertEqual(out["metadata"]["labels"]["c/d"], "3")


class ContinueTokenTest(unittest.TestCase):
    def test_token_matches_real_encoding(self):
        real = "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6NzI3LCJzdGFydCI6ImlyLWRlbW8vbm9zaGVsbFx1MDAwMCJ9"
        self.assertEqual(store.decode_continue(real), (727, "ir-demo/noshell\u0000"))
        self.assertEqual(store.encode_continue(727, "ir-demo/noshell\u0000"), real)

    def test_pages(self):
        s = store.Store()
        for i in range(5):
            s.put(("", "pods"), {"metadata": {"name": f"p{i}", "namespace": "ns"}})
        rv, items, tok, rem = s.list(("", "pods"), None, [], [], 2, "")
        self.assertEqual(([e.obj["metadata"]["name"] for e in items], rem), (["p0", "p1"], 3))
        s.put(("", "pods"), {"metadata": {"name": "p00", "namespace": "ns"}})   # after the snapshot
        rv2, items, tok, rem = s.list(("", "pods"), None, [], [], 2, tok)
        self.assertEqual(([e.obj["metadata"]["name"] for e in items], rv2), (["p2", "p3"], rv))

    def test_prerendered_pages_are_what_a_list_is_served(self):
        s = store.Store()
        for i in range(200):
            s.put(("", "pods"), {"metadata": {"name": f"p{i:03d}", "namespace": "ns"}})
        self.assertEqual(s.prerender(("", "pods"), "PodList", "v1", 100), 2)
        cached = list(s.page_cache.values())
        # Walk the pages with the selectors the list handler derives from a request without any:
        # every page is a cache hit.
        pods = resources.Registry((1, 32), {}).lookup("", "v1", "pods")
        labels, fields, sel = handlers.Api._selectors(None, types.SimpleNamespace(query={}), pods)
        first = s.render_list(pods.key, "PodList", "v1", None, labels, fields, 100, "", sel)
        self.assertIs(first, cached[0])
        token = json.loads(first[0])["metadata"]["continue"]
        second = s.render_list(pods.key, "PodList", "v1", None, labels, fields, 100, token, sel)
        self.assertIs(second, cached[1])
        self.assertEqual(len(s.page_cache), 2)
        self.assertNotEqual(store.selection_key("app=web", ""), store.selection_key("", "app=web"))


if __name__ == "__main__":
    unittest.main()


class NetpolTest(unittest.TestCase):
    """The ruleset's shape; what it does on the wire is test_network's."""

    def snap(self, **kw):
        from fakecluster import netpol
        pods = [netpol.Pod("a", "p", "10.244.0.10", {"app": "p"}, "n1", ports=[("http", "TCP", 8080)]),
                netpol.Pod("a", "q", "10.244.0.11", {"app": "q"}, "n1", ready=False),
                netpol.Pod("kube-system", "dns", "10.244.0.12", {"k8s-app": "kube-dns"}, "n1",
                           ports=[("dns", "UDP", 53)])]
        svcs = [{"metadata": {"name": "kube-dns", "namespace": "kube-system"},
                 "spec": {"clusterIP": "10.96.0.10", "selector": {"k8s-app": "kube-dns"},
                          "ports": [{"port": 53, "protocol": "UDP", "targetPort": "dns"}]}},
                {"metadata": {"name": "q", "namespace": "a"},
                 "spec": {"clusterIP": "10.96.1.1", "selector": {"app": "q"}, "ports": [{"port": 80}]}}]
        return netpol.Snapshot(pods, {"a": {}, "kube-system": {}}, {"n1": netpol.Node("n1", "192.0.2.2")},
                               services=svcs, **kw)

    def test_policy_types_default(self):
        from fakecluster import netpol
        self.assertEqual(netpol.policy_types({}), ["Ingress"])
        self.assertEqual(netpol.policy_types({"egress": []}), ["Ingress"])
        self.assertEqual(netpol.policy_types({"egress": [{}]}), ["Ingress", "Egress"])
        self.assertEqual(netpol.policy_types({"policyTypes": ["Egress"], "ingress": [{}]}), ["Egress"])

    def test_kube_proxy_and_no_enforcement(self):
        from fakecluster import netpol
        plan = netpol.plan(self.snap(enforce=False))
        self.assertIn("ip daddr 10.96.0.10 meta l4proto udp th dport 53 dnat ip to 10.244.0.12:53", plan.nft)
        self.assertIn("ip daddr 10.96.1.1 meta l4proto tcp th dport 80 reject with tcp reset", plan.nft)  # q not ready
        self.assertEqual(plan.dns_addresses, {"10.244.0.12"})   # no processes: the fabric answers
        self.assertNotIn("pol_orig", plan.nft)
        self.assertEqual(plan.enforced_pods, {})

    def test_enforcement_modes(self):
        from fakecluster import netpol
        deny = {"metadata": {"name": "d", "namespace": "a"},
                "spec": {"podSelector": {"matchLabels": {"app": "p"}}, "policyTypes": ["Egress"]}}
        keep = netpol.plan(self.snap(policies=[deny]))
        self.assertIn("ct state established,related accept", keep.nft)
        self.assertNotIn("pol_reply", keep.nft)
        self.assertEqual(keep.enforced_pods, {"a/p": ["egress"]})
        cut = netpol.plan(self.snap(policies=[deny], keep_established=False))
        self.assertIn("ct state related accept", cut.nft)
        self.assertIn("ct direction reply jump pol_reply", cut.nft)
