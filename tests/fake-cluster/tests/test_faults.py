"""Faults against real kubectl: rules declared in a scenario file (`faults:`), the connection `reset`
rule, and the API server restart (POST /_fake/restart). The cluster runs a scenario file written here
that includes demo.yaml."""

import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from .helpers import HERE, KUBECTL, ClusterTestCase

WEB = "web-7d4b9c8f6-x2k9p"
WEB2 = "web-7d4b9c8f6-b8lqz"
SCENARIO = """\
include: [{demo}]
faults:
  - match: {{method: GET, path: "^/api/v1/namespaces/batch/pods$"}}
    status: 500
    message: "etcdserver: request timed out"
    times: 1
  - match: {{method: GET, path: "^/api/v1/namespaces/monitoring/pods$"}}
    status: 429
    retry_after: 1
    times: 2
"""


class FaultsTest(ClusterTestCase):
    @classmethod
    def setUpClass(cls):
        cls.scenario_dir = tempfile.mkdtemp(prefix="fakecluster-scenario-")
        cls.scenario = os.path.join(cls.scenario_dir, "faulty.yaml")
        with open(cls.scenario, "w") as f:
            f.write(SCENARIO.format(demo=os.path.join(HERE, "scenarios", "demo.yaml")))
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(cls.scenario_dir, ignore_errors=True)

    def admin(self, method, path, body=None, token="fake-admin-token"):
        status, _, out = self.cluster.request(method, path, body, token=token)
        self.assertLess(status, 300, f"{method} {path}: {status} {out!r:.300}")
        return out

    def requests_to(self, path):
        return [(r["method"], r["status"]) for r in self.admin("GET", "/_fake/requests") if r["path"] == path]

    # -- faults declared by the scenario ----------------------------------------------------------
    def test_scenario_faults(self):
        self.admin("POST", "/_fake/reset")          # the scenario's rules, none used yet
        rules = self.admin("GET", "/_fake/faults")["rules"]
        self.assertEqual([(r["match"]["path"], r["status"], r["hits"]) for r in rules],
                         [("^/api/v1/namespaces/batch/pods$", 500, 0),
                          ("^/api/v1/namespaces/monitoring/pods$", 429, 0)])
        self.admin("DELETE", "/_fake/requests")

        r = self.cluster.kubectl("get", "pods", "-n", "batch")
        self.assertEqual(r.returncode, 1)
        self.assertIn("etcdserver: request timed out", r.stderr)
        self.assertIn("nightly-report-29301120-4fj8s", self.kubectl_ok("get", "pods", "-n", "batch"))   # times: 1
        # client-go honours Retry-After on 429: kubectl succeeds after two refusals.
        self.assertIn("node-exporter-9xq4t", self.kubectl_ok("get", "pods", "-n", "monitoring"))
        self.assertEqual(self.requests_to("/api/v1/namespaces/monitoring/pods"),
                         [("GET", 429), ("GET", 429), ("GET", 200)])
        self.assertEqual(self.requests_to("/api/v1/namespaces/batch/pods"), [("GET", 500), ("GET", 200)])
        self.assertEqual(self.admin("GET", "/_fake/faults")["rules"], [], "used-up rules are dropped")

        self.admin("POST", "/_fake/reset")          # a reset reloads the scenario, rules included
        self.assertEqual(len(self.admin("GET", "/_fake/faults")["rules"]), 2)
        self.assertEqual(self.cluster.kubectl("get", "pods", "-n", "batch").returncode, 1)
        self.admin("DELETE", "/_fake/faults")

    # -- connection reset -----------------------------------------------------------------------
    def test_reset_rule_drops_the_connection(self):
        self.admin("DELETE", "/_fake/faults")
        self.admin("DELETE", "/_fake/requests")
        path = f"/api/v1/namespaces/shop/pods/{WEB2}"
        self.admin("POST", "/_fake/faults", {"match": {"method": "PATCH", "path": f"^{path}$"}, "reset": True,
                                             "times": 1})
        r = self.cluster.kubectl("label", "pod", WEB2, "probe=reset")
        self.assertEqual(r.returncode, 1)
        self.assertIn("connection reset by peer", r.stderr)
        labels = json.loads(self.kubectl_ok("get", "pod", WEB2, "-o", "json"))["metadata"]["labels"]
        self.assertNotIn("probe", labels, "the reset request was never served")
        self.assertIn("labeled", self.kubectl_ok("label", "pod", WEB2, "probe=after"))   # the rule is used up
        self.assertEqual([s for m, s in self.requests_to(path) if m == "PATCH"], [499, 200])

        # A GET is idempotent: client-go retries it after a reset connection, so kubectl succeeds.
        self.admin("DELETE", "/_fake/requests")
        self.admin("POST", "/_fake/faults", {"match": {"method": "GET", "path": f"^{path}$"}, "reset": True,
                                             "times": 1})
        self.assertIn(WEB2, self.kubectl_ok("get", "pod", WEB2))
        self.assertEqual(self.requests_to(path), [("GET", 499), ("GET", 200)])
        self.kubectl_ok("label", "pod", WEB2, "probe-")

    # -- API server restart ---------------------------------------------------------------------
    def test_restart(self):
        self.admin("DELETE", "/_fake/faults")
        status, _, body = self.cluster.request("POST", "/_fake/restart", {"down_seconds": 1},
                                               token="fake-alice-token")
        self.assertEqual(status, 403, "only admins may restart")
        self.kubectl_ok("label", "pod", WEB, "survives=restart")
        before = json.loads(self.kubectl_ok("get", "pod", WEB, "-o", "json"))
        watch = subprocess.Popen([KUBECTL, "--kubeconfig", self.cluster.kubeconfig, "get", "pods", "-w",
                                  "-o", "name"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            time.sleep(1)                              # the watch is established
            self.assertIsNone(watch.poll())
            self.assertEqual(self.admin("POST", "/_fake/restart", {"down_seconds": 3}),
                             {"restarting": True, "down_seconds": 3.0})
            t0 = time.monotonic()
            refused = None
            while time.monotonic() - t0 < 2.5 and refused is None:
                r = self.cluster.kubectl("get", "pods", "--request-timeout=2s")
                if r.returncode != 0:
                    refused = r.stderr
                time.sleep(0.1)
            self.assertIsNotNone(refused, "the server kept answering")
            self.assertIn(f"127.0.0.1:{self.cluster.port} was refused", refused)
            out, _ = watch.communicate(timeout=5)      # its connection was dropped: kubectl's watch ends
            self.assertIn(f"pod/{WEB}\n", out)
        finally:
            if watch.poll() is None:
                watch.kill()
                watch.communicate()
        while True:                                    # the same port comes back
            r = self.cluster.kubectl("get", "pod", WEB, "-o", "json", "--request-timeout=2s")
            if r.returncode == 0 or time.monotonic() - t0 > 20:
                break
            time.sleep(0.2)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertGreaterEqual(time.monotonic() - t0, 2.5, "down for about down_seconds")
        after = json.loads(r.stdout)
        # Only the server restarted: the same pod, its labels, its container still running, unrestarted.
        self.assertEqual(after["metadata"]["uid"], before["metadata"]["uid"])
        self.assertEqual(after["metadata"]["labels"]["survives"], "restart")
        self.assertEqual(after["status"]["containerStatuses"], before["status"]["containerStatuses"])
        self.assertEqual(after["metadata"]["resourceVersion"], before["metadata"]["resourceVersion"])
        self.assertEqual(self.kubectl_ok("exec", WEB, "--", "echo", "alive"), "alive\n")
        self.kubectl_ok("label", "pod", WEB, "survives-")


if __name__ == "__main__":
    unittest.main()
