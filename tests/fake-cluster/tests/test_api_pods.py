"""Pods created through the API: a busybox image runs its command (the drill's canaries, e2e
tests' own workloads); an image from a registry that cannot exist is not pulled."""

import json
import time
import unittest

from .helpers import Cluster

cluster = None


def setUpModule():
    global cluster
    cluster = Cluster("demo")


def tearDownModule():
    cluster.stop()


def pod(name, image, command):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "shop"},
            "spec": {"containers": [{"name": "c", "image": image, "command": command}]}}


def wait_for(name, ok, seconds=30):
    deadline = time.monotonic() + seconds
    while True:
        status, _, body = cluster.request("GET", f"/api/v1/namespaces/shop/pods/{name}")
        if status == 200 and ok(body):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"pod {name}: {json.dumps(body.get('status') if isinstance(body, dict) else body)}")
        time.sleep(0.2)


class ApiPods(unittest.TestCase):
    def test_busybox_runs_its_command_from_any_registry(self):
        for name, image in (("bb-hub", "busybox"), ("bb-mirror", "registry.example/mirror/busybox:1.36")):
            with self.subTest(image=image):
                status, _, _ = cluster.request("POST", "/api/v1/namespaces/shop/pods",
                                               pod(name, image, ["sh", "-c", "echo hello from " + name + "; exec sleep 600"]))
                self.assertEqual(status, 201)
                body = wait_for(name, lambda b: "running" in b["status"]["containerStatuses"][0]["state"])
                self.assertTrue(body["status"]["podIP"])
                out = cluster.kubectl("exec", "-n", "shop", name, "--", "cat", "/proc/1/cmdline")
                self.assertEqual(out.returncode, 0, out.stderr)
                self.assertIn("sleep", out.stdout)
                logs = cluster.kubectl("logs", "-n", "shop", name)
                self.assertEqual(logs.stdout, "hello from " + name + "\n")

    def test_other_images_stay_without_processes(self):
        status, _, _ = cluster.request("POST", "/api/v1/namespaces/shop/pods", pod("other", "nginx:1.25", ["nginx"]))
        self.assertEqual(status, 201)
        out = cluster.kubectl("exec", "-n", "shop", "other", "--", "true")
        self.assertNotEqual(out.returncode, 0)

    def test_an_invalid_registry_cannot_be_pulled(self):
        status, _, _ = cluster.request("POST", "/api/v1/namespaces/shop/pods",
                                       pod("nopull", "registry.invalid/x/busybox:1", ["sleep", "1"]))
        self.assertEqual(status, 201)
        body = wait_for("nopull", lambda b: True)
        waiting = body["status"]["containerStatuses"][0]["state"]["waiting"]
        self.assertEqual(waiting["reason"], "ErrImagePull")
        self.assertIn("registry.invalid", waiting["message"])
        self.assertEqual(body["status"]["phase"], "Pending")


if __name__ == "__main__":
    unittest.main()
