"""The fake's answers against responses captured from a real cluster (/work/shared/k8s-samples,
Kubernetes v1.26.4): the same calls are made on the fake in 1.26 and in 1.32 mode, and each answer
must have the real one's structure (keys at every level, kind, apiVersion, status, reason, code,
details, causes, the message with quoted names blanked). Names, uids and times differ, so this is not
byte equality.
"""

import json
import os
import re
import time
import unittest

from .helpers import HERE, ClusterTestCase

SAMPLES = os.environ.get("IR_SAMPLES_DIR") or os.path.join(HERE, "..", "..", "..", "shared", "k8s-samples")
WEB = "web-7d4b9c8f6-x2k9p"
WEB2 = "web-7d4b9c8f6-b8lqz"
PAYMENTS = "payments-api-6c8f5d7b4-q7r2n"   # shell-less, container "api"
# The sample pods were created with `kubectl apply` (an annotation) and a command, without ports; ours are
# made by controllers (ownerReferences, generateName), and some name their ports or have none.
APPLIED = (".metadata.annotations", ".spec.containers[].command", ".spec.containers[].ports")
OWNED = (".metadata.ownerReferences", ".metadata.generateName", ".spec.containers[].ports")
# Maps whose keys are data, not schema: their contents are not compared.
DATA_MAPS = {"labels", "annotations", "fieldsV1", "nodeSelector", "matchLabels", "requests", "limits"}


def sample(name):
    with open(os.path.join(SAMPLES, name)) as f:
        return json.load(f)


def shape(obj, path=""):
    """Every key path of obj ("a.b[].c"); list items merged, data maps not entered."""
    out = set()
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.add(f"{path}.{k}")
            if k not in DATA_MAPS:
                out |= shape(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for v in obj:
            out |= shape(v, path + "[]")
    return out


def _under(p, prefixes):
    return any(p == x or p.startswith(x + ".") or p.startswith(x + "[") for x in prefixes)


def message_template(msg):
    """The message with every double-quoted name blanked: `pods "x" not found` -> `pods "*" not found`."""
    return re.sub(r'"(?:[^"\\]|\\.)*"', '"*"', msg)


@unittest.skipUnless(os.path.isdir(SAMPLES), f"no real-cluster samples at {SAMPLES}")
class SampleMixin:
    """Tests shared by the 1.26 and 1.32 classes below."""

    def assert_shape(self, real, fake, missing_ok=(), extra_ok=()):
        """fake has real's key paths, save missing_ok; and no others, save extra_ok (prefixes)."""
        missing = sorted(p for p in shape(real) - shape(fake) if not _under(p, missing_ok))
        extra = sorted(p for p in shape(fake) - shape(real) if not _under(p, extra_ok))
        self.assertEqual((missing, extra), ([], []), "(paths only in the real sample, paths only in the fake)")

    def assert_status_like(self, real, fake):
        self.assertEqual(list(fake), list(real), "Status keys and their order")
        for k in ("kind", "apiVersion", "status", "reason", "code"):
            self.assertEqual(fake.get(k), real.get(k), k)
        self.assertEqual(set(fake["metadata"]), set(real["metadata"]))
        if "message" in real:
            self.assertEqual(message_template(fake["message"]), message_template(real["message"]))
        if "details" in real:
            rd, fd = real["details"], fake["details"]
            self.assertEqual(list(fd), list(rd), "details keys and their order")
            for k in ("kind", "group"):
                self.assertEqual(fd.get(k), rd.get(k), f"details.{k}")
            self.assertEqual([(list(c), c.get("reason"), c.get("field")) for c in fd.get("causes", [])],
                             [(list(c), c.get("reason"), c.get("field")) for c in rd.get("causes", [])])

    def call(self, method, path, body=None, **kw):
        status, _, obj = self.cluster.request(method, path, body, **kw)
        self.assertIsInstance(obj, dict, f"{method} {path}: not JSON: {obj!r:.200}")
        return status, obj

    # -- error Statuses -------------------------------------------------------------------------
    def test_error_statuses_match_real_ones(self):
        np_path = "/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies"
        np = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "samples-dup"},
              "spec": {"podSelector": {"matchLabels": {"kubectl-ir/quarantine": "case-1"}}, "policyTypes": ["Egress"]}}
        self.assertEqual(self.call("POST", np_path, np)[0], 201)
        bad = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "Bad_Name"},
               "spec": {"podSelector": {}, "policyTypes": ["Sideways"]}}
        cases = {
            "status-400-badcontinue.json": ("GET", "/api/v1/pods?limit=1&continue=gWFi", None, {}),
            "status-400-log-previous.json": ("GET", f"/api/v1/namespaces/shop/pods/{WEB}/log?previous=true", None,
                                             {}),
            "status-403-forbidden.json": ("GET", "/api/v1/namespaces/shop/pods/doesnotexist", None, {"token": None}),
            "status-404-notfound.json": ("GET", "/api/v1/namespaces/shop/pods/doesnotexist", None, {}),
            "status-409-alreadyexists.json": ("POST", np_path, np, {}),
            "status-422-invalid.json": ("POST", np_path, bad, {}),
        }
        if self.version == "1.26":
            cases["selfsubjectreview-v1-on-1.26.json"] = (
                "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}, {})
        for name, (method, path, body, kw) in cases.items():
            with self.subTest(sample=name):
                real = sample(name)
                status, fake = self.call(method, path, body, **kw)
                self.assertEqual(status, real["code"])
                self.assert_status_like(real, fake)
        self.call("DELETE", f"{np_path}/samples-dup")

    # -- objects --------------------------------------------------------------------------------
    def test_pod_shapes(self):
        _, web = self.call("GET", f"/api/v1/namespaces/shop/pods/{WEB}")
        self.assert_shape(sample("pod-busybox.json"), web, APPLIED, OWNED)
        _, payments = self.call("GET", f"/api/v1/namespaces/shop/pods/{PAYMENTS}")
        self.assert_shape(sample("pod-noshell.json"), payments, APPLIED, OWNED)

    def test_pod_list_pages(self):
        real_pages = [sample("podlist-allns-page1.json"), sample("podlist-allns-page2.json")]
        # The real pages hold bare pods (page 1) and ReplicaSet pods (page 2): every key path all real
        # pods of a sort have, each fake pod of that sort must have (items are served without kind).
        real_items = [i for page in real_pages for i in page["items"]]
        common = {owned: set.intersection(*(shape(i) for i in real_items
                                            if bool(i["metadata"].get("ownerReferences")) == owned))
                  for owned in (False, True)}
        fake_pages, cont, seen = [], "", set()
        while len(fake_pages) < 4 and (cont or not fake_pages):
            _, page = self.call("GET", "/api/v1/pods?limit=2" + (f"&continue={cont}" if cont else ""))
            fake_pages.append(page)
            cont = page["metadata"].get("continue", "")
        for n, (real, fake) in enumerate(zip(real_pages, fake_pages), 1):
            self.assertEqual((fake["kind"], fake["apiVersion"]), (real["kind"], real["apiVersion"]))
            self.assertEqual(list(fake), list(real), f"page {n}")
            self.assertEqual(list(fake["metadata"]), list(real["metadata"]), f"page {n}")
            self.assertEqual(len(fake["items"]), len(real["items"]))
        for page in fake_pages:
            self.assertEqual(page["metadata"]["resourceVersion"], fake_pages[0]["metadata"]["resourceVersion"])
            for item in page["items"]:
                owned = bool(item["metadata"].get("ownerReferences"))
                seen.add(owned)
                self.assertEqual(sorted(p for p in common[owned] - shape(item) if not _under(p, APPLIED)), [],
                                 item["metadata"]["name"])
                self.assertNotIn("kind", item)
        self.assertEqual(seen, {True}, "the first pods of the demo scenario are all owned")

    def test_node_and_version_shapes(self):
        _, node = self.call("GET", "/api/v1/nodes/node-1")
        self.assert_shape(sample("node.json"), node)
        self.assertTrue(node["status"]["images"], "a node lists the images of its pods")
        def managers(obj):
            return [(m["manager"], m.get("subresource")) for m in obj["metadata"]["managedFields"]]
        self.assertEqual(managers(node), managers(sample("node.json")))
        _, version = self.call("GET", "/version")
        self.assertEqual(list(version), list(sample("version.json")))

    def test_events_for_pod(self):
        _, pod = self.call("GET", f"/api/v1/namespaces/shop/pods/{WEB}")
        _, events = self.call("GET", "/api/v1/namespaces/shop/events?fieldSelector=involvedObject.uid%3D"
                                     + pod["metadata"]["uid"])
        real = sample("events-for-pod.json")
        self.assertEqual((events["kind"], events["apiVersion"], list(events["metadata"])),
                         (real["kind"], real["apiVersion"], list(real["metadata"])))
        fake_by_reason = {e["reason"]: e for e in events["items"]}
        for want in real["items"]:
            if want["reason"] == "MissingClusterDNS":   # the sample cluster's misconfiguration
                continue
            with self.subTest(reason=want["reason"]):
                self.assertIn(want["reason"], fake_by_reason)
                got = fake_by_reason[want["reason"]]
                self.assert_shape(want, got)
                self.assertEqual(got["source"].keys(), want["source"].keys())
                self.assertEqual(got["reportingComponent"], want["reportingComponent"])

    def test_networkpolicy_lifecycle(self):
        path = "/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies"
        np = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "samples-np"},
              "spec": {"podSelector": {"matchLabels": {"kubectl-ir/quarantine": "case-1"}}, "policyTypes": ["Egress"]}}
        # NetworkPolicy.status was dropped from the API after 1.26.
        no_status = [".status"] if self.version != "1.26" else []
        status, dry = self.call("POST", path + "?dryRun=All", np)
        self.assertEqual(status, 201)
        self.assert_shape(sample("networkpolicy-create-dryrun.json"), dry, no_status)
        self.assertEqual(self.call("GET", f"{path}/samples-np")[0], 404, "a dry run stores nothing")
        status, created = self.call("POST", path, np)
        self.assertEqual(status, 201)
        self.assert_shape(sample("networkpolicy-created.json"), created, no_status)
        apply = json.dumps(np).encode()
        status, applied = self.call("PATCH", f"{path}/samples-np?fieldManager=kubectl-ir&force=true", apply,
                                    headers={"Content-Type": "application/apply-patch+yaml"})
        self.assertEqual(status, 200)
        self.assert_shape(sample("networkpolicy-apply.json"), applied, no_status)
        creator = created["metadata"]["managedFields"][0]["manager"]   # the sample's was curl
        self.assertEqual([(m["manager"], m["operation"]) for m in applied["metadata"]["managedFields"]],
                         [("kubectl-ir", "Apply"), (creator, "Update")])
        status, deleted = self.call("DELETE", f"{path}/samples-np")
        self.assertEqual(status, 200)
        real = sample("networkpolicy-deleted.json")
        self.assertEqual(deleted["details"]["uid"], created["metadata"]["uid"])
        self.assertEqual(list(deleted), list(real))
        self.assertEqual(list(deleted["details"]), list(real["details"]))

    def test_selfsubjectaccessreview(self):
        body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                "spec": {"resourceAttributes": {"namespace": "shop", "verb": "create", "resource": "pods",
                                                "subresource": "exec"}}}
        status, review = self.call("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", body)
        self.assertEqual(status, 201)
        self.assert_shape(sample("selfsubjectaccessreview.json"), review)
        self.assertIsNone(review["metadata"]["creationTimestamp"])
        self.assertTrue(review["status"]["allowed"])

    def test_label_patch_dry_run(self):
        patch = json.dumps({"metadata": {"labels": {"kubectl-ir/quarantine": "case-1"}}}).encode()
        status, pod = self.call("PATCH", f"/api/v1/namespaces/shop/pods/{WEB}?dryRun=All", patch,
                                headers={"Content-Type": "application/merge-patch+json"})
        self.assertEqual(status, 200)
        self.assert_shape(sample("pod-label-patch-dryrun.json"), pod, APPLIED, OWNED)
        self.assertEqual(pod["metadata"]["labels"]["kubectl-ir/quarantine"], "case-1")

    def test_ephemeral_container_patch_and_status(self):
        patch = json.dumps({"spec": {"ephemeralContainers": [
            {"name": "kubectl-ir-debug-1", "image": "docker.io/library/busybox:1.36", "command": ["sleep", "3600"],
             "imagePullPolicy": "Never", "targetContainerName": "web"}]}}).encode()
        status, pod = self.call("PATCH", f"/api/v1/namespaces/shop/pods/{WEB2}/ephemeralcontainers", patch,
                                headers={"Content-Type": "application/strategic-merge-patch+json"})
        self.assertEqual(status, 200)
        self.assert_shape(sample("pod-ephemeralcontainers-patch.json"), pod, APPLIED, OWNED)
        deadline = time.time() + 20
        while time.time() < deadline:
            _, pod = self.call("GET", f"/api/v1/namespaces/shop/pods/{WEB2}")
            st = pod["status"].get("ephemeralContainerStatuses", [])
            if st and "running" in st[0]["state"]:
                break
            time.sleep(0.2)
        self.assert_shape(sample("pod-with-ephemeral-running.json"), pod, APPLIED, OWNED)
        self.assertEqual(list(st[0]), list(sample("pod-with-ephemeral-running.json")["status"][
            "ephemeralContainerStatuses"][0]))


class Samples132Test(SampleMixin, ClusterTestCase):
    version = "1.32"


class Samples126Test(SampleMixin, ClusterTestCase):
    version = "1.26"


if __name__ == "__main__":
    unittest.main()
