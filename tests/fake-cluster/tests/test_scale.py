"""Scale mode (--scenario scale:N): N synthetic pods in N/100 namespaces of 10 ten-pod Deployments,
every 20th with the web image digest, beside base.yaml's kube-system; real kubectl pages through it,
and limit/continue pages are whole, consistent and gzipped."""

import collections
import gzip
import json
import unittest
import urllib.request

from .helpers import ClusterTestCase

N = 3000
WEB_IMAGE = "registry.example.com/shop/web:1.4.2"
WEB_DIGEST = "sha256:ce8bdfcc780090e7834a151f442da4043b2cd75956632e131e75b0dee9e09e31"


class ScaleTest(ClusterTestCase):
    scenario = f"scale:{N}"

    def get(self, path, gzip_ok=False):
        """-> (parsed JSON, Content-Encoding) of an admin GET."""
        req = urllib.request.Request(f"https://127.0.0.1:{self.cluster.port}{path}",
                                     headers={"Authorization": "Bearer fake-admin-token",
                                              "Accept-Encoding": "gzip" if gzip_ok else "identity"})
        with urllib.request.urlopen(req, context=self.cluster.ctx, timeout=60) as r:
            self.assertEqual(r.status, 200, path)
            enc = r.headers.get("Content-Encoding", "")
            raw = r.read()
        return json.loads(gzip.decompress(raw) if enc == "gzip" else raw), enc

    def pages(self, path, limit):
        """Every page of a paged list, following continue tokens."""
        out, cont = [], ""
        while True:
            sep = "&" if "?" in path else "?"
            page, enc = self.get(f"{path}{sep}limit={limit}" + (f"&continue={cont}" if cont else ""), gzip_ok=True)
            out.append((page, enc))
            cont = page["metadata"].get("continue", "")
            if not cont:
                return out

    def base_pods(self):
        return self.kubectl_ok("get", "pods", "-n", "kube-system", "-o", "name").split()

    def test_kubectl_pages_through_every_pod(self):
        base = self.base_pods()
        self.assertEqual(len(base), 4)            # base.yaml: CoreDNS x2, calico-node, kube-proxy
        self.cluster.request("DELETE", "/_fake/requests")
        names = self.kubectl_ok("get", "pods", "-A", "--chunk-size=500", "-o", "name", timeout=180).split()
        self.assertEqual(len(names), N + len(base))
        self.assertEqual(len(set(names)), len(names))
        self.assertTrue(set(base) <= set(names))
        _, _, log = self.cluster.request("GET", "/_fake/requests")
        lists = [r for r in log if r["path"] == "/api/v1/pods"]
        self.assertEqual(len(lists), -(-(N + len(base)) // 500))
        self.assertTrue(all("limit=500" in r["query"] and r["status"] == 200 for r in lists))
        self.assertEqual(["continue=" in r["query"] for r in lists], [False] + [True] * (len(lists) - 1))

    def test_every_20th_pod_has_the_web_digest(self):
        pods = [p for page, _ in self.pages("/api/v1/pods", 500) for p in page["items"]]
        scale = [p for p in pods if p["metadata"]["namespace"].startswith("scale-")]
        self.assertEqual(len(scale), N)
        by_ns = collections.Counter(p["metadata"]["namespace"] for p in scale)
        self.assertEqual(sorted(by_ns.values()), [100] * (N // 100))
        web = [p for p in pods if p["status"]["containerStatuses"][0]["imageID"].endswith("@" + WEB_DIGEST)]
        self.assertEqual(len(web), N // 20)
        for p in web:
            self.assertEqual(p["spec"]["containers"][0]["image"], WEB_IMAGE)
            self.assertEqual(p["status"]["containerStatuses"][0]["imageID"],
                             f"registry.example.com/shop/web@{WEB_DIGEST}")
        # Pods are numbered in order of namespace, app and replica: the 1st, 21st, ... are the first
        # replica of each even-numbered app, so each namespace holds 5 of them.
        self.assertEqual(collections.Counter(p["metadata"]["namespace"] for p in web),
                         {ns: 5 for ns in by_ns})
        self.assertEqual({p["metadata"]["labels"]["app"] for p in web},
                         {"app-00", "app-02", "app-04", "app-06", "app-08"})
        for p in scale:
            self.assertEqual(p["metadata"]["ownerReferences"][0]["kind"], "ReplicaSet")
            self.assertEqual(p["metadata"]["generateName"], p["metadata"]["ownerReferences"][0]["name"] + "-")

    def test_limit_and_continue(self):
        pages = self.pages("/api/v1/pods", 500)
        total = N + len(self.base_pods())
        self.assertEqual([len(p["items"]) for p, _ in pages], [500] * (total // 500) + [total % 500])
        self.assertEqual([p["metadata"].get("remainingItemCount") for p, _ in pages],
                         [total - 500 * (i + 1) for i in range(len(pages) - 1)] + [None])
        self.assertEqual(len({p["metadata"]["resourceVersion"] for p, _ in pages}), 1, "one snapshot")
        self.assertEqual([enc for _, enc in pages[:-1]], ["gzip"] * (len(pages) - 1), "large pages come gzipped")
        keys = [(i["metadata"]["namespace"], i["metadata"]["name"]) for p, _ in pages for i in p["items"]]
        self.assertEqual(keys, sorted(set(keys)), "pages are disjoint and in key order")
        # One namespace, smaller pages, and a label selector (no remainingItemCount when filtered).
        ns_pages = self.pages("/api/v1/namespaces/scale-0007/pods", 30)
        self.assertEqual([len(p["items"]) for p, _ in ns_pages], [30, 30, 30, 10])
        self.assertEqual({i["metadata"]["namespace"] for p, _ in ns_pages for i in p["items"]}, {"scale-0007"})
        app = self.pages("/api/v1/namespaces/scale-0007/pods?labelSelector=app%3Dapp-03", 4)
        self.assertEqual([len(p["items"]) for p, _ in app], [4, 4, 2])
        self.assertNotIn("remainingItemCount", app[0][0]["metadata"])
        out = self.kubectl_ok("get", "pods", "-n", "scale-0007", "-l", "app=app-03", "--chunk-size=3", "-o", "name")
        self.assertEqual(sorted(out.split()),
                         sorted(f"pod/{i['metadata']['name']}" for p, _ in app for i in p["items"]))


if __name__ == "__main__":
    unittest.main()
