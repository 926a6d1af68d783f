"""e2e: kubectl ir drill, the fire drill before the incident.

Every test makes the drill create its own objects (a temporary namespace, or a namespace the test
creates), so they run unchanged against a real cluster (IR_E2E_KUBECONFIG; canary image from
IR_E2E_IMAGE, as the workloads', pulled IfNotPresent). The check of a namespace with competing
policies uses the workloads of tests/e2e/workloads.py (their allow-egress policy). Tests that need a
scenario of the fake cluster (a CNI that does not enforce, a k3s-like node) are marked fake-only.
"""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from harness import FAKE, IR_BIN, Cluster, fake_only, journal_entries
from workloads import IMAGE, Workloads

REQUIRED = {"rbac", "pods", "exec", "logs", "egress", "collect", "release", "cleanup"}

cluster = None


def setUpModule():
    global cluster
    cluster = Cluster("demo")


def tearDownModule():
    cluster.stop()


def drill_namespaces(c):
    r = c.kubectl("get", "namespaces", "-l", "kubectl-ir/drill", "-o", "name")
    return [n for n in r.out.split() if n]


class DrillBase(unittest.TestCase):
    c = None  # the cluster of the class (the module's by default)

    def setUp(self):
        self.home = tempfile.mkdtemp(prefix="ir-home-")

    def tearDown(self):
        shutil.rmtree(self.home, ignore_errors=True)

    def cluster(self):
        return self.c or cluster

    def drill(self, *args, timeout=180):
        return self.cluster().ir("drill", "--image", IMAGE, *args, env={"KUBECTL_IR_HOME": self.home}, timeout=timeout)

    def drill_json(self, *args, code=0):
        r = self.drill("-o", "json", *args)
        self.assertEqual(r.code, code, r)
        report = json.loads(r.out)
        return r, report, {row["check"]: row for row in report["checks"]}

    def journal(self, case):
        return journal_entries(self.home, case)


class Drill(DrillBase):
    def test_ready_cluster_every_required_row_measured_and_nothing_left(self):
        r, report, rows = self.drill_json("--ingress")
        self.assertTrue(report["ready"], r)
        for check in REQUIRED | {"ingress"}:
            self.assertEqual(rows[check]["state"], "ready", rows[check])
            self.assertTrue(rows[check]["required"], check)
        self.assertFalse(rows["ephemeral"]["required"])
        self.assertRegex(rows["egress"]["detail"], r"^blocked on the wire: .+ connected before, (timed out|refused) after")
        self.assertRegex(rows["ingress"]["detail"], r"^blocked on the wire: connected before, (timed out|refused) after")
        self.assertIn("the client reaches the server again", rows["release"]["detail"])
        self.assertIn("the bundle verifies", rows["collect"]["detail"])
        for row in report["checks"]:
            self.assertGreaterEqual(row["seconds"], 0)
        # A namespace of its own, deleted: nothing left behind.
        ns = report["namespace"]
        self.assertTrue(ns.startswith("kubectl-ir-drill-"), ns)
        self.assertTrue(report["namespaceCreated"])
        self.assertEqual(report["leftBehind"], [])
        self.assertNotEqual(self.cluster().kubectl("get", "namespace", ns).code, 0)
        self.assertEqual(sorted(report["created"]), sorted(report["removed"]))
        # The journal says what was created and removed, in order, and every check.
        entries = self.journal(report["case"])
        created = [e["object"] for e in entries if e["action"] == "drill.create"]
        removed = [e["object"] for e in entries if e["action"] == "drill.delete"]
        self.assertEqual(created, report["created"])
        self.assertEqual(sorted(removed), sorted(created))
        self.assertEqual(created[0], "namespace/" + ns)
        checks = [e["check"] for e in entries if e["action"] == "drill.check"]
        self.assertEqual(checks, [row["check"] for row in report["checks"]])

    def test_table_says_ready_and_exits_zero(self):
        r = self.drill()
        self.assertEqual(r.code, 0, r)
        self.assertRegex(r.out.splitlines()[0], r"^CHECK\s+REQUIRED\s+STATUS\s+SECONDS\s+DETAIL$")
        self.assertIn("NetworkPolicy enforced: egress (measured)", r.out)
        self.assertRegex(r.out, r"\ndrill: READY in \d+\.\d+s \(case case-")
        self.assertIn("kubectl-ir: drill: canary pods running", r.err)  # progress on stderr

    def test_refuses_the_cluster_namespaces_before_touching_anything(self):
        for ns in ("kube-system", "kube-public"):
            with self.subTest(ns=ns):
                before = drill_namespaces(self.cluster())
                r = self.cluster().ir("drill", "-n", ns, env={"KUBECTL_IR_HOME": self.home})
                self.assertEqual(r.code, 2, r)
                self.assertIn(f"kubectl-ir: error: drill: namespace {ns} belongs to the cluster itself", r.err)
                self.assertEqual(drill_namespaces(self.cluster()), before)
                self.assertFalse(os.path.exists(os.path.join(self.home, "cases")))

    def test_an_image_that_cannot_be_pulled_fails_fast_and_cleans_up(self):
        start = time.monotonic()
        r = self.cluster().ir("drill", "-o", "json", "--image", "registry.invalid/nothing/busybox:0",
                              "--timeout", "60s", env={"KUBECTL_IR_HOME": self.home}, timeout=180)
        self.assertEqual(r.code, 3, r)
        report = json.loads(r.out)
        rows = {row["check"]: row for row in report["checks"]}
        self.assertEqual(rows["pods"]["state"], "NOT ready")
        self.assertRegex(rows["pods"]["detail"], r"cannot start: (ErrImagePull|ImagePullBackOff)")
        self.assertIn("--image", rows["pods"]["detail"])
        for check in ("exec", "egress", "collect", "release"):
            self.assertEqual(rows[check]["state"], "skipped", rows[check])
        self.assertEqual(rows["cleanup"]["state"], "ready", rows["cleanup"])
        self.assertEqual(report["leftBehind"], [])
        self.assertNotEqual(self.cluster().kubectl("get", "namespace", report["namespace"]).code, 0)
        self.assertLess(time.monotonic() - start, 50)  # the pull error, not the 60 s timeout

    def test_a_given_namespace_only_its_own_objects_are_created_and_removed(self):
        ns = "ir-drill-given"
        c = self.cluster()
        c.kubectl("delete", "namespace", ns, "--wait=true")
        manifest = os.path.join(self.home, "given.yaml")
        with open(manifest, "w") as f:
            f.write(f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n---\n"
                    f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: keep-me, namespace: {ns}}}\ndata: {{a: b}}\n")
        created = c.kubectl("apply", "-f", manifest)
        self.assertEqual(created.code, 0, created)
        try:
            r, report, rows = self.drill_json("-n", ns)
            self.assertEqual(report["namespace"], ns)
            self.assertFalse(report["namespaceCreated"])
            self.assertTrue(all(o.startswith(("pod/" + ns + "/", "networkpolicy/" + ns + "/")) for o in report["created"]),
                            report["created"])
            self.assertEqual(c.kubectl("get", "namespace", ns).code, 0)          # still there
            self.assertEqual(c.kubectl("get", "configmap", "keep-me", "-n", ns).code, 0)  # untouched
            left = c.kubectl("get", "pods,networkpolicies", "-n", ns, "-o", "name")
            self.assertEqual(left.out.strip(), "", left)
        finally:
            c.kubectl("delete", "namespace", ns)

    def test_ctrl_c_still_cleans_up_and_exits_130(self):
        c = self.cluster()
        before = set(drill_namespaces(c))
        env = dict(os.environ, KUBECTL_IR_HOME=self.home)
        env.pop("KUBECONFIG", None)
        proc = subprocess.Popen([IR_BIN, "--kubeconfig", c.kubeconfig, "drill", "--image", IMAGE, "-o", "json"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not (set(drill_namespaces(c)) - before):
                time.sleep(0.2)
            self.assertTrue(set(drill_namespaces(c)) - before, "the drill never created its namespace")
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
        self.assertEqual(proc.returncode, 130, err.decode(errors="replace"))
        report = json.loads(out)
        self.assertTrue(report["cancelled"])
        self.assertFalse(report["ready"])
        self.assertEqual(report["leftBehind"], [])
        rows = {row["check"]: row for row in report["checks"]}
        self.assertEqual(rows["cleanup"]["state"], "ready")
        self.assertEqual(set(drill_namespaces(c)), before)
        entries = self.journal(report["case"])
        self.assertIn("namespace/" + report["namespace"],
                      [e["object"] for e in entries if e["action"] == "drill.delete"])


class DrillOnTheDemo(DrillBase):
    """Against the workloads' namespace (the demo's shop on the fake cluster)."""

    @classmethod
    def setUpClass(cls):
        cls.w = Workloads(cluster, "drill")

    @classmethod
    def tearDownClass(cls):
        cls.w.close()

    def test_competing_policies_in_a_namespace_to_check(self):
        ns = self.w.namespace
        r, report, rows = self.drill_json("--check-namespace", ns)
        row = rows["competing:" + ns]
        self.assertEqual(row["state"], "NOT ready")
        self.assertFalse(row["required"])
        self.assertIn(f"{self.w.allow_egress} (pods {self.w.selector}) allows egress all destinations, all ports",
                      row["detail"])
        self.assertIn("isolate --exclusive", row["detail"])
        self.assertIn(ns, rows["rbac"]["detail"])
        self.assertTrue(report["ready"])  # optional rows do not fail the drill

    @fake_only("its labeller user")
    def test_a_user_who_may_not_create_namespaces_is_told_before_anything_is_made(self):
        r = self.cluster().ir("drill", "-o", "json", context="fake-labeller", env={"KUBECTL_IR_HOME": self.home})
        self.assertEqual(r.code, 3, r)
        report = json.loads(r.out)
        rows = {row["check"]: row for row in report["checks"]}
        self.assertEqual(rows["rbac"]["state"], "NOT ready")
        self.assertIn("the drill cannot run: missing", rows["rbac"]["detail"])
        self.assertIn("create namespaces at cluster scope", rows["rbac"]["detail"])
        self.assertEqual(rows["pods"]["state"], "skipped")
        self.assertEqual(report["created"], [])


@fake_only("a second server of the demo-noenforce scenario")
class DrillWithoutEnforcement(DrillBase):
    @classmethod
    def setUpClass(cls):
        cls.c = Cluster(os.path.join(FAKE, "scenarios", "demo-noenforce.yaml"))

    @classmethod
    def tearDownClass(cls):
        cls.c.stop()

    def test_the_egress_row_fails_and_so_does_the_drill(self):
        r, report, rows = self.drill_json("--settle", "2s", code=3)
        self.assertFalse(report["ready"])
        self.assertEqual(rows["egress"]["state"], "NOT ready")
        self.assertRegex(rows["egress"]["detail"], r"^NOT enforced: .+ still connected after the quarantine")
        self.assertIn("a quarantine on this cluster changes nothing on the wire", rows["egress"]["detail"])
        self.assertEqual(rows["cleanup"]["state"], "ready")
        self.assertIn("drill: NOT READY", self.drill("--settle", "2s").out)


@fake_only("a second server of the demo-hostcni scenario")
class DrillOnHostEnforcement(DrillBase):
    """k3s-like: kube-router's policy controller in the k3s process, no CNI DaemonSet at all."""

    @classmethod
    def setUpClass(cls):
        cls.c = Cluster(os.path.join(FAKE, "scenarios", "demo-hostcni.yaml"))

    @classmethod
    def tearDownClass(cls):
        cls.c.stop()

    def test_ready_and_the_cni_named_from_the_node(self):
        r, report, rows = self.drill_json()
        self.assertTrue(report["ready"], r)
        self.assertIn("k3s (kube-router)", rows["egress"]["detail"])


if __name__ == "__main__":
    unittest.main()
