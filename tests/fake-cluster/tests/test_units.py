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
