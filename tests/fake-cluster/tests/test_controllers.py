"""Objects created through the API as the e2e workloads create them on a real cluster: a Deployment
gets its ReplicaSet and pods (controllers.py), whose busybox containers run (with `unmarked_pods:
by-image` shell-less images too: pods.fake_from_image) and whose `.invalid` images are not pulled."""

import json
import time

from .helpers import ClusterTestCase

NS = "ctl"


def deployment(name, image, command=None, replicas=2, run_as=None):
    container = {"name": "main", "image": image, "imagePullPolicy": "IfNotPresent"}
    if command:
        container["command"] = command
    if run_as:
        container["securityContext"] = {"runAsUser": run_as, "runAsGroup": run_as}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container]}}}}


class ControllersTest(ClusterTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        r = cls.cluster.kubectl("apply", "-f", "-", input=json.dumps(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}))
        if r.returncode != 0:
            cls.cluster.stop()
            raise RuntimeError(r.stderr)

    def apply(self, doc):
        self.kubectl_ok("apply", "-n", NS, "-f", "-", input=json.dumps(doc))

    def pods(self, selector):
        return json.loads(self.kubectl_ok("get", "pods", "-n", NS, "-l", selector, "-o", "json"))["items"]

    def wait_ready(self, selector, n):
        deadline = time.monotonic() + 60
        while True:
            pods = self.pods(selector)
            ready = [p for p in pods if any(c["type"] == "Ready" and c["status"] == "True"
                                            for c in p["status"].get("conditions", []))]
            if len(ready) == n == len(pods):
                return pods
            self.assertLess(time.monotonic(), deadline, json.dumps([p["status"] for p in pods])[:2000])
            time.sleep(0.5)

    def test_deployment_gets_a_replicaset_and_its_pods(self):
        self.apply(deployment("plain", "registry.example.com/plain:1", replicas=3))
        rs = json.loads(self.kubectl_ok("get", "replicasets", "-n", NS, "-l", "app=plain", "-o", "json"))["items"]
        self.assertEqual(len(rs), 1, rs)
        h = rs[0]["metadata"]["labels"]["pod-template-hash"]
        self.assertEqual(rs[0]["metadata"]["name"], "plain-" + h)
        self.assertEqual([(o["kind"], o["name"], o["controller"]) for o in rs[0]["metadata"]["ownerReferences"]],
                         [("Deployment", "plain", True)])
        self.assertEqual(rs[0]["spec"]["selector"]["matchLabels"], {"app": "plain", "pod-template-hash": h})
        pods = self.wait_ready("app=plain", 3)
        for p in pods:
            self.assertRegex(p["metadata"]["name"], rf"^plain-{h}-[a-z0-9]{{5}}$")
            self.assertEqual(p["metadata"]["ownerReferences"][0]["name"], "plain-" + h)
            self.assertEqual(p["metadata"]["labels"]["pod-template-hash"], h)
        dep = json.loads(self.kubectl_ok("get", "deployment", "plain", "-n", NS, "-o", "json"))
        self.assertEqual(dep["status"].get("readyReplicas"), 3, dep["status"])
        # a bare pod with the template's labels is not adopted (the selector has pod-template-hash)
        self.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "plain-bare", "labels": {"app": "plain"}},
                    "spec": {"containers": [{"name": "main", "image": "registry.example.com/plain:1"}]}})
        self.assertNotIn("ownerReferences", json.loads(self.kubectl_ok("get", "pod", "plain-bare", "-n", NS,
                                                                        "-o", "json"))["metadata"])
        self.assertEqual(len(self.pods(f"pod-template-hash={h}")), 3)

    def test_unmarked_pods_by_image(self):
        # the default (busybox): a Deployment's busybox pods run their command, as their user; pause has no processes
        self.apply(deployment("bb", "docker.io/library/busybox:1.36",
                              ["sh", "-c", "echo hi > /tmp/mark; exec sleep 1000"], replicas=1, run_as=1234))
        self.apply(deployment("before", "registry.k8s.io/pause:3.9", replicas=1))
        bb = self.wait_ready("app=bb", 1)[0]["metadata"]["name"]
        self.wait_ready("app=before", 1)
        out = self.kubectl_ok("exec", "-n", NS, bb, "--", "sh", "-c",
                              "cat /tmp/mark; cat /proc/1/cmdline | tr '\\0' ' '; echo; id -u")
        self.assertEqual(out, "hi\nsleep 1000 \n1234\n")
        r = self.cluster.kubectl("exec", "-n", NS, self.pods("app=before")[0]["metadata"]["name"], "--", "/pause")
        self.assertNotEqual(r.returncode, 0, "without by-image a pause pod has no processes")

        status, _, _ = self.cluster.request("POST", "/_fake/config", {"unmarked_pods": "by-image"})
        self.assertEqual(status, 200)
        try:
            self.apply(deployment("shellless", "registry.k8s.io/pause:3.9", replicas=1, run_as=65535))
            self.wait_ready("app=shellless", 1)
            _, _, pods = self.cluster.request("GET", "/_fake/pods")
            by_app = {p["name"].split("-")[0]: p for p in pods if p["namespace"] == NS}
            self.assertEqual(by_app["shellless"]["fake"], {"main": {"rootfs": "static", "run_as": {"uid": 65535, "gid": 65535}}})
            self.assertEqual(by_app["shellless"]["running"], {"main": True})
            self.assertEqual(by_app["before"]["running"], {"main": False})
        finally:
            self.cluster.request("POST", "/_fake/config", {"unmarked_pods": "busybox"})
        status, _, _ = self.cluster.request("POST", "/_fake/config", {"unmarked_pods": "sometimes"})
        self.assertEqual(status, 400)

    def test_a_deployment_of_an_invalid_registry_is_not_pulled(self):
        self.apply(deployment("nopull", "registry.invalid/x/busybox:1", ["sleep", "1"], replicas=1))
        deadline = time.monotonic() + 30
        while not self.pods("app=nopull"):
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.5)
        st = self.pods("app=nopull")[0]["status"]
        self.assertEqual(st["phase"], "Pending")
        self.assertEqual(st["containerStatuses"][0]["state"]["waiting"]["reason"], "ErrImagePull", st)
