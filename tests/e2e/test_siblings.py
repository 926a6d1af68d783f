"""e2e: kubectl ir siblings against the fake cluster's demo scenario (issue: siblings).

The demo: Deployment shop/web (3 replicas, one digest), two batch pods of CronJob
nightly-report running the same digest (cri-dockerd's docker-pullable:// form and a CRI-O
repo@digest naming a mirror), a StatefulSet pod shop/web-cache-0 that has not started (empty
imageID) with the same image reference, coredns reporting a config id twice (docker:// and CRI-O's
bare id), and kube-proxy / node-exporter sharing one digest under two repository names.
"""
import json
import re
import unittest

import yaml

from harness import fake_only, pods
from workloads import start, stop

cluster = w = None
WEB_DIGEST = "sha256:ce8bdfcc780090e7834a151f442da4043b2cd75956632e131e75b0dee9e09e31"
BATCH = {"batch/nightly-report-29301120-4fj8s", "batch/nightly-report-29301120-w9vzk"}


def setUpModule():
    global cluster, w
    cluster, w = start("demo", "siblings")


def tearDownModule():
    stop(cluster, w)


def web_pods():
    return sorted(pods(cluster, "shop", "app=web"))


def suspect():
    """The compromised replica of the demo (any web replica on a real cluster)."""
    names = web_pods()
    return next((n for n in names if n.endswith("-x2k9p")), names[0])


def expected_siblings():
    return {"shop/" + n for n in web_pods()} | BATCH


def doc_of(r):
    return json.loads(r.out)


def item_names(doc):
    return [i["namespace"] + "/" + i["name"] for i in doc["items"]]


class AnyCluster(unittest.TestCase):
    """Holds on a real cluster too: a running pod is its own sibling, marked as the suspect."""

    def test_a_running_pod_finds_itself(self):
        r = cluster.kubectl("get", "pods", "-A", "--field-selector=status.phase=Running", "-o", "json")
        self.assertEqual(r.code, 0, r)
        running = [p for p in json.loads(r.out)["items"]
                   if any(c.get("imageID") for c in p["status"].get("containerStatuses", []))]
        self.assertTrue(running, "no running pod to start from")
        pod = running[0]["metadata"]
        out = cluster.ir("siblings", f"{pod['namespace']}/pod/{pod['name']}", "-o", "json")
        self.assertIn(out.code, (0, 3), out)  # 3: the user may not list every namespace
        doc = doc_of(out)
        self.assertEqual(doc["complete"], out.code == 0)
        me = [i for i in doc["items"] if i["namespace"] == pod["namespace"] and i["name"] == pod["name"]]
        self.assertEqual(len(me), 1, doc["items"])
        self.assertTrue(me[0]["suspect"])

    def test_the_suspects_replicas_are_its_siblings(self):
        r = cluster.ir("siblings", w.suspect, "-n", w.namespace, "-o", "json")
        self.assertIn(r.code, (0, 3), r)
        doc = doc_of(r)
        self.assertEqual(doc["suspect"], {"namespace": w.namespace, "name": w.suspect})
        by_name = {i["name"]: i for i in doc["items"] if i["namespace"] == w.namespace}
        self.assertLessEqual(set(w.replicas), set(by_name), doc["items"])
        self.assertEqual([n for n, i in by_name.items() if i["suspect"]], [w.suspect])
        for name in w.healthy:
            self.assertEqual(by_name[name]["workload"], {"kind": "Deployment", "name": w.deployment, "resolved": True})
        digest = doc["digests"][0]["digest"]
        for name in w.replicas:
            self.assertEqual([c["digest"] for c in by_name[name]["containers"]], [digest])


@fake_only("the demo's image digests and pods (several imageID forms, a pod not started)")
class Siblings(unittest.TestCase):
    def test_table_finds_the_replicas_and_the_batch_pods(self):
        r = cluster.ir("siblings", suspect(), "-n", "shop")
        self.assertEqual(r.code, 0, r)
        self.assertEqual(r.err, "", "stderr stays quiet without -v")
        self.assertIn(f"Digest:    {WEB_DIGEST} (repository digest, container web)", r.out)
        self.assertIn("Searched:  all namespaces:", r.out)
        self.assertIn("Found:     5 pods in 2 workloads; 1 pod not started (digest unknown)", r.out)
        for name in web_pods():
            self.assertRegex(r.out, rf"\nshop\s+{name}( \(suspect\))?\s+Deployment/web\s+node-1\s+Running\s+web\s+\S+\n")
        self.assertRegex(r.out, rf"\nshop\s+{suspect()} \(suspect\)\s")
        for b in BATCH:
            self.assertRegex(r.out, rf"\nbatch\s+{b.split('/')[1]}\s+CronJob/nightly-report\s+node-1\s+Running\s+report\s")
        # The suspect's workload comes first; the groups are separated by a blank line.
        self.assertLess(r.out.index("Deployment/web"), r.out.index("CronJob/nightly-report"))
        self.assertRegex(r.out, r"Running\s+web\s+\S+\n\nbatch")
        # Not started: listed as unknown with its image reference.
        self.assertIn("Not started (the image digest is known only once a container runs):", r.out)
        self.assertRegex(r.out, r"\nshop\s+web-cache-0\s+StatefulSet/web-cache\s+node-1\s+Pending\s+cache\s+"
                                r"registry\.example\.com/shop/web:1\.4\.2\s")
        self.assertNotIn("payments-api", r.out)
        self.assertIn("node architectures of the matches: amd64 (5)", r.out)

    def test_json(self):
        r = cluster.ir("siblings", suspect(), "-n", "shop", "-o", "json")
        self.assertEqual(r.code, 0, r)
        doc = doc_of(r)
        self.assertEqual(doc["kind"], "SiblingList")
        self.assertTrue(doc["complete"])
        self.assertFalse(doc["partial"])
        self.assertFalse(doc["inconsistent"])
        self.assertTrue(doc["scope"]["allNamespaces"])
        self.assertEqual(doc["suspect"], {"namespace": "shop", "name": suspect()})
        self.assertEqual([d["digest"] for d in doc["digests"]], [WEB_DIGEST])
        self.assertEqual(set(item_names(doc)), expected_siblings())
        self.assertEqual(len(doc["items"]), 5)
        by_name = {i["name"]: i for i in doc["items"]}
        self.assertTrue(by_name[suspect()]["suspect"])
        self.assertEqual(sum(i["suspect"] for i in doc["items"]), 1)
        for i in doc["items"]:
            self.assertEqual([c["digest"] for c in i["containers"]], [WEB_DIGEST])
            self.assertEqual(i["architecture"], "amd64")
        ids = {i["name"]: i["containers"][0]["imageID"] for i in doc["items"]}
        self.assertTrue(ids["nightly-report-29301120-4fj8s"].startswith("docker-pullable://"))
        self.assertTrue(ids["nightly-report-29301120-w9vzk"].startswith("mirror.example.net/shop-web@"))
        self.assertEqual(by_name[suspect()]["workload"], {"kind": "Deployment", "name": "web", "resolved": True})
        self.assertEqual(by_name["nightly-report-29301120-4fj8s"]["workload"]["kind"], "CronJob")
        self.assertEqual([u["name"] for u in doc["unknown"]], ["web-cache-0"])
        self.assertEqual(doc["unknown"][0]["containers"],
                         [{"name": "cache", "type": "container", "image": "registry.example.com/shop/web:1.4.2",
                           "pinned": False}])
        self.assertEqual([g["key"] for g in doc["groups"]], ["shop/Deployment/web", "batch/CronJob/nightly-report"])

    def test_yaml_is_the_same_document(self):
        j = cluster.ir("siblings", suspect(), "-n", "shop", "-o", "json")
        y = cluster.ir("siblings", suspect(), "-n", "shop", "-o", "yaml")
        self.assertEqual(y.code, 0, y)
        self.assertTrue(y.out.startswith("apiVersion: kubectl-ir/v1alpha1\n"), y.out[:80])
        self.assertEqual(yaml.safe_load(y.out), doc_of(j))

    def test_name_output_pipes_into_the_next_command(self):
        r = cluster.ir("siblings", suspect(), "-n", "shop", "-o", "name")
        self.assertEqual(r.code, 0, r)
        lines = r.out.splitlines()
        self.assertEqual(len(lines), 5)
        self.assertEqual({l.replace("/pod/", "/") for l in lines}, expected_siblings())
        for line in lines:
            self.assertRegex(line, r"^[a-z0-9-]+/pod/[a-z0-9-]+$")
        self.assertTrue(all(l.startswith("shop/pod/web-") for l in lines[:3]), "the suspect's workload first")
        self.assertIn("warning: not listed: 1 pod has not started, so its digest is unknown: shop/pod/web-cache-0", r.err)
        # What -o name prints is accepted back as a pod, namespace included.
        again = cluster.ir("siblings", lines[-1], "-o", "name")
        self.assertEqual(again.code, 0, again)
        self.assertEqual(sorted(again.out.splitlines()), sorted(lines))

    def test_digest_forms(self):
        hexdigest = WEB_DIGEST.split(":")[1]
        for form in (WEB_DIGEST, hexdigest, "docker-pullable://registry.example.com/shop/web@" + WEB_DIGEST):
            with self.subTest(form=form):
                r = cluster.ir("siblings", "--digest", form, "-o", "json")
                self.assertEqual(r.code, 0, r)
                doc = doc_of(r)
                self.assertIsNone(doc["suspect"])
                self.assertEqual(set(item_names(doc)), expected_siblings())
                self.assertEqual([u["name"] for u in doc["unknown"]], ["web-cache-0"])
        bad = cluster.ir("siblings", "--digest", "sha256:1234")
        self.assertEqual(bad.code, 2, bad)
        self.assertRegex(bad.err, r"^kubectl-ir: error: invalid --digest \"sha256:1234\"")

    def test_group_by_namespace_and_node(self):
        r = cluster.ir("siblings", suspect(), "-n", "shop", "--group-by", "namespace", "-o", "json")
        self.assertEqual([g["key"] for g in doc_of(r)["groups"]], ["shop", "batch"])
        n = cluster.ir("siblings", suspect(), "-n", "shop", "--group-by", "node")
        self.assertEqual(n.code, 0, n)
        self.assertIn("Found:     5 pods on 1 node;", n.out)

    def test_missing_pod(self):
        r = cluster.ir("siblings", "web-0000000000-nope", "-n", "shop")
        self.assertEqual(r.code, 1, r)
        self.assertEqual(r.err, 'kubectl-ir: error: get pod shop/web-0000000000-nope: pods "web-0000000000-nope" not found\n')
        self.assertEqual(r.out, "")


@fake_only("the demo's synthetic imageIDs")
class DemoData(unittest.TestCase):
    """Cases that rest on the demo's synthetic imageIDs."""

    def test_a_not_started_suspect_needs_a_digest(self):
        r = cluster.ir("siblings", "web-cache-0", "-n", "shop")
        self.assertEqual(r.code, 1, r)
        self.assertRegex(r.err, r"^kubectl-ir: error: pod shop/web-cache-0: no container of the pod has an image digest yet\n"
                                r"hint: .*--digest")

    def test_config_ids_match_config_ids_in_any_runtime_form(self):
        coredns = sorted(pods(cluster, "kube-system", "k8s-app=kube-dns"))
        self.assertEqual(len(coredns), 2)
        r = cluster.ir("siblings", coredns[0], "-n", "kube-system", "-o", "json")
        self.assertEqual(r.code, 0, r)
        doc = doc_of(r)
        self.assertEqual(doc["digests"][0]["kind"], "configID")
        self.assertEqual(sorted(i["name"] for i in doc["items"]), coredns)
        self.assertTrue(any("reports an image config id" in n for n in doc["notes"]), doc["notes"])

    def test_same_digest_under_another_repository_matches(self):
        proxy = pods(cluster, "kube-system", "k8s-app=kube-proxy")[0]
        r = cluster.ir("siblings", proxy, "-n", "kube-system", "-o", "name")
        self.assertEqual(r.code, 0, r)
        self.assertEqual(len(r.out.splitlines()), 2)
        self.assertIn("monitoring/pod/node-exporter-", r.out)


@fake_only("its restricted user")
class Restricted(unittest.TestCase):
    """alice may list pods in shop only: a partial result, exit 3."""

    def test_partial_table(self):
        r = cluster.ir("siblings", suspect(), context="fake-restricted")
        self.assertEqual(r.code, 3, r)
        self.assertIn("Searched:  namespace shop (namespace by namespace):", r.out)
        self.assertIn("Result:    PARTIAL: no permission to list pods in all namespaces", r.out)
        self.assertRegex(r.out, r"ReplicaSet/web-7d4b9c8f6\?")
        self.assertNotIn("nightly-report", r.out)
        self.assertIn("web-cache-0", r.out)
        self.assertRegex(r.err, r"^kubectl-ir: warning: partial result: no permission to list pods in all namespaces "
                                r"\(nor to list namespaces\): searched only namespace shop\n$")

    def test_partial_json(self):
        r = cluster.ir("siblings", suspect(), "-o", "json", context="fake-restricted")
        self.assertEqual(r.code, 3, r)
        doc = doc_of(r)
        self.assertFalse(doc["complete"])
        self.assertTrue(doc["partial"])
        self.assertEqual(doc["scope"], {"allNamespaces": False, "namespaces": ["shop"], "denied": []})
        self.assertEqual(set(item_names(doc)), {"shop/" + n for n in web_pods()})
        self.assertFalse(doc["items"][0]["workload"]["resolved"])
        self.assertIn("not resolved: cannot get replicasets.apps in shop: forbidden", doc["notes"])

    def test_name_output_is_partial_too(self):
        r = cluster.ir("siblings", suspect(), "-o", "name", context="fake-restricted")
        self.assertEqual(r.code, 3, r)
        self.assertEqual(len(r.out.splitlines()), 3)
        self.assertIn("warning: partial result:", r.err)


@fake_only("fault injection and the request log")
class Faults(unittest.TestCase):
    def setUp(self):
        cluster.clear_requests()

    def tearDown(self):
        cluster.clear_faults()
        cluster.admin("POST", "/_fake/config", {"continue_ttl_seconds": 300})

    def pod_list_requests(self):
        return [q for q in cluster.requests() if q["path"] == "/api/v1/pods"]

    def test_pages_and_cached_owner_gets(self):
        name, expected = suspect(), expected_siblings()
        cluster.clear_requests()  # only kubectl-ir's requests from here on
        r = cluster.ir("siblings", name, "-n", "shop", "--chunk-size", "2", "-o", "json")
        self.assertEqual(r.code, 0, r)
        self.assertEqual(r.err, "")
        doc = doc_of(r)
        self.assertEqual(set(item_names(doc)), expected)
        lists = self.pod_list_requests()
        self.assertEqual(len(lists), doc["scanned"]["pages"])
        self.assertGreaterEqual(len(lists), 6)
        self.assertTrue(all("limit=2" in q["query"] for q in lists))
        gets = [q["path"] for q in cluster.requests() if q["method"] == "GET" and q["path"] != "/api/v1/pods"]
        # Three replicas share one ReplicaSet, two batch pods one Job: one GET each; one node.
        self.assertEqual(sorted(gets), sorted([
            f"/api/v1/namespaces/shop/pods/{name}",
            "/apis/apps/v1/namespaces/shop/replicasets/web-7d4b9c8f6",
            "/apis/batch/v1/namespaces/batch/jobs/nightly-report-29301120",
            "/api/v1/nodes/node-1",
        ]))

    def test_410_mid_scan_restarts_once(self):
        cluster.faults({"kind": "expire_continue", "nth": 2})
        r = cluster.ir("siblings", suspect(), "-n", "shop", "--chunk-size", "2", "-o", "json", "-v", "6")
        self.assertEqual(r.code, 0, r)
        self.assertEqual(len(re.findall(r"GET https://\S+/api/v1/pods\?limit=2&continue=\S+ 410 ", r.err)), 1, r.err)
        doc = doc_of(r)
        self.assertTrue(doc["complete"])
        self.assertEqual(doc["scanned"]["restarts"], 1)
        self.assertEqual(sorted(item_names(doc)), sorted(expected_siblings()))  # nothing twice
        self.assertTrue(any("restarted from the beginning" in n for n in doc["notes"]), doc["notes"])

    def test_410_twice_continues_inconsistently_and_exits_3(self):
        cluster.admin("POST", "/_fake/config", {"continue_ttl_seconds": 0})  # every token has expired
        r = cluster.ir("siblings", suspect(), "-n", "shop", "--chunk-size", "5", "-o", "json")
        self.assertEqual(r.code, 3, r)
        doc = doc_of(r)
        self.assertFalse(doc["complete"])
        self.assertTrue(doc["inconsistent"])
        self.assertFalse(doc["partial"])
        self.assertEqual(set(item_names(doc)), expected_siblings())
        self.assertIn("kubectl-ir: warning: inconsistent result:", r.err)
        t = cluster.ir("siblings", suspect(), "-n", "shop", "--chunk-size", "5")
        self.assertEqual(t.code, 3, t)
        self.assertIn("Result:    INCONSISTENT:", t.out)

    def test_429_is_retried_with_backoff(self):
        cluster.faults([{"match": {"method": "GET", "path": "^/api/v1/pods$"}, "status": 429, "retry_after": 1, "times": 2}])
        r = cluster.ir("siblings", suspect(), "-n", "shop", "-o", "name", "-v", "6")
        self.assertEqual(r.code, 0, r)
        self.assertEqual(len(re.findall(r"GET https://\S+/api/v1/pods\?limit=500 429 ", r.err)), 2, r.err)
        self.assertEqual(len(r.out.splitlines()), 5)
        times = [q["time"] for q in self.pod_list_requests()]
        self.assertEqual(len(times), 3)
        self.assertGreaterEqual(times[2] - times[0], 1.8, "Retry-After: 1 was honoured twice")

    def test_a_list_that_breaks_midway_is_partial(self):
        cluster.faults([{"match": {"method": "GET", "path": "^/api/v1/pods$", "query": "continue="},
                         "status": 400, "message": "injected: bad continue", "times": 1}])
        r = cluster.ir("siblings", suspect(), "-n", "shop", "--chunk-size", "4", "-o", "json")
        self.assertEqual(r.code, 3, r)
        doc = doc_of(r)
        self.assertTrue(doc["partial"])
        self.assertIn("the list stopped after 1 pages", doc["partialReason"])
        self.assertIn("injected: bad continue", doc["partialReason"])


if __name__ == "__main__":
    unittest.main()
