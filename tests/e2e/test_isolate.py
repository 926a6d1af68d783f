"""e2e: kubectl ir isolate / release against the fake cluster (issue: isolate and release)."""
import json
import os
import shutil
import tempfile
import unittest

from harness import FAKE, Cluster, fake_only, journal_entries

cluster = None
COMPROMISED = "web-7d4b9c8f6-x2k9p"


def setUpModule():
    global cluster
    cluster = Cluster("demo")


def tearDownModule():
    cluster.stop()


def get(kind, name, ns="shop"):
    r = cluster.kubectl("get", kind, name, "-n", ns, "-o", "json")
    if r.code != 0:
        return None
    return json.loads(r.out)


def restorable(obj):
    """The parts of an object isolate may touch and release must restore exactly."""
    md = obj["metadata"]
    return {"labels": md.get("labels"), "annotations": md.get("annotations"), "spec": obj.get("spec")}


@fake_only
class IsolateRelease(unittest.TestCase):
    maxDiff = None
    def setUp(self):
        cluster.admin("POST", "/_fake/reset", {})
        self.home = tempfile.mkdtemp(prefix="ir-home-")

    def tearDown(self):
        shutil.rmtree(self.home, ignore_errors=True)

    def ir(self, *args, **kw):
        return cluster.ir(*args, env={"KUBECTL_IR_HOME": self.home}, **kw)

    def test_policy_shape_labels_and_journal(self):
        r = self.ir("isolate", COMPROMISED, "-n", "shop", "--case", "case-shape", "-o", "json")
        self.assertEqual(r.code, 3, r)  # the demo's allow-egress policy still selects the pod
        report = json.loads(r.out)
        self.assertEqual(report["case"], "case-shape")
        pod = get("pod", COMPROMISED)
        self.assertEqual(pod["metadata"]["labels"]["kubectl-ir/quarantine"], "case-shape")
        self.assertEqual(pod["metadata"]["annotations"]["kubectl-ir/case"], "case-shape")
        self.assertEqual(pod["metadata"]["annotations"]["kubectl-ir/isolated-by"], "admin")
        pol = get("networkpolicy", "kubectl-ir-quarantine-" + COMPROMISED)
        self.assertEqual(pol["spec"]["podSelector"], {"matchLabels": {"kubectl-ir/quarantine": "case-shape"}})
        self.assertEqual(pol["spec"]["policyTypes"], ["Egress"])
        self.assertEqual(pol["spec"].get("egress", []), [])
        owner = pol["metadata"]["ownerReferences"][0]
        self.assertEqual((owner["kind"], owner["name"], owner["uid"]),
                         ("Pod", COMPROMISED, pod["metadata"]["uid"]))
        actions = [e["action"] for e in journal_entries(self.home, "case-shape")]
        self.assertEqual(actions, ["label", "apply-policy", "verdict"])

    def test_allow_all_policy_reported_then_neutralised_and_restored_exactly(self):
        before = restorable(get("networkpolicy", "allow-egress"))
        r = self.ir("isolate", COMPROMISED, "-n", "shop")
        self.assertEqual(r.code, 3, r)
        self.assertIn("egress:   NOT contained: networkpolicy allow-egress allows all destinations, all ports "
                      "(use --exclusive)", r.out)
        r = self.ir("isolate", COMPROMISED, "-n", "shop", "--exclusive", "--ingress")
        self.assertEqual(r.code, 0, r)
        self.assertIn("excluded: networkpolicy allow-egress no longer selects the pod", r.out)
        self.assertIn("egress:   contained", r.out)
        self.assertIn("ingress:  contained", r.out)
        patched = get("networkpolicy", "allow-egress")
        self.assertIn({"key": "kubectl-ir/quarantine", "operator": "NotIn", "values": [
            get("pod", COMPROMISED)["metadata"]["labels"]["kubectl-ir/quarantine"]]},
            patched["spec"]["podSelector"]["matchExpressions"])
        r = self.ir("release", COMPROMISED, "-n", "shop")
        self.assertEqual(r.code, 0, r)
        self.assertEqual(restorable(get("networkpolicy", "allow-egress")), before)
        self.assertIsNone(get("networkpolicy", "kubectl-ir-quarantine-" + COMPROMISED))

    def test_detach_and_cordon_then_release_restores(self):
        before = restorable(get("pod", COMPROMISED))
        r = self.ir("isolate", COMPROMISED, "-n", "shop", "--detach", "--cordon")
        self.assertEqual(r.code, 0, r)  # without app=web the allow-egress policy no longer selects it
        labels = get("pod", COMPROMISED)["metadata"]["labels"]
        self.assertNotIn("app", labels)
        self.assertNotIn("pod-template-hash", labels)
        self.assertTrue(get("node", "node-1", ns="default")["spec"].get("unschedulable"))
        r = self.ir("release", COMPROMISED, "-n", "shop")
        self.assertEqual(r.code, 0, r)
        self.assertEqual(restorable(get("pod", COMPROMISED)), before)
        self.assertFalse(get("node", "node-1", ns="default")["spec"].get("unschedulable", False))

    def test_release_leaves_a_node_cordoned_by_someone_else(self):
        self.assertEqual(cluster.kubectl("cordon", "node-1").code, 0)
        r = self.ir("isolate", COMPROMISED, "-n", "shop", "--cordon")
        self.assertIn("already cordoned", r.err)
        self.ir("release", COMPROMISED, "-n", "shop")
        self.assertTrue(get("node", "node-1", ns="default")["spec"].get("unschedulable"))

    def test_host_network_pod_is_refused(self):
        pods = json.loads(cluster.kubectl("get", "pods", "-n", "monitoring", "-o", "json").out)["items"]
        name = pods[0]["metadata"]["name"]
        r = self.ir("isolate", name, "-n", "monitoring")
        self.assertEqual(r.code, 1, r)
        self.assertIn("the pod runs with hostNetwork: a NetworkPolicy cannot contain it\nhint: ", r.err)
        self.assertIsNone(get("networkpolicy", "kubectl-ir-quarantine-" + name, ns="monitoring"))

    def test_dry_run_changes_nothing(self):
        pod_before = get("pod", COMPROMISED)
        pol_before = get("networkpolicy", "allow-egress")
        r = self.ir("isolate", COMPROMISED, "-n", "shop", "--exclusive", "--detach", "--cordon", "--dry-run", "-o", "yaml")
        self.assertEqual(r.code, 0, r)
        self.assertIn("kind: NetworkPolicy", r.out)
        self.assertIn("kubectl-ir/quarantine", r.out)
        self.assertEqual(get("pod", COMPROMISED)["metadata"]["resourceVersion"], pod_before["metadata"]["resourceVersion"])
        self.assertEqual(get("networkpolicy", "allow-egress")["metadata"]["resourceVersion"],
                         pol_before["metadata"]["resourceVersion"])
        self.assertIsNone(get("networkpolicy", "kubectl-ir-quarantine-" + COMPROMISED))
        self.assertFalse(get("node", "node-1", ns="default")["spec"].get("unschedulable", False))

    def test_idempotent(self):
        first = self.ir("isolate", COMPROMISED, "-n", "shop", "--exclusive", "-o", "json")
        second = self.ir("isolate", COMPROMISED, "-n", "shop", "--exclusive", "-o", "json")
        self.assertEqual((first.code, second.code), (0, 0), (first, second))
        self.assertEqual(json.loads(first.out)["case"], json.loads(second.out)["case"])
        self.assertTrue(json.loads(second.out)["alreadyIsolated"])
        self.assertNotIn("warning", second.err)
        self.assertEqual(self.ir("release", COMPROMISED, "-n", "shop").code, 0)
        again = self.ir("release", COMPROMISED, "-n", "shop")
        self.assertEqual(again.code, 0, again)
        self.assertIn("is not isolated: nothing to do", again.out)

    def test_forbidden_user_gets_the_missing_permission_named(self):
        r = cluster.ir("isolate", COMPROMISED, "-n", "shop", context="fake-restricted",
                       env={"KUBECTL_IR_HOME": self.home})
        self.assertEqual(r.code, 1, r)
        self.assertRegex(r.err, r'User "alice" cannot patch resource "pods" in API group "" in the namespace "shop"')

    def test_missing_pod(self):
        r = self.ir("isolate", "no-such-pod", "-n", "shop")
        self.assertEqual(r.code, 1, r)
        self.assertIn('pods "no-such-pod" not found', r.err)

    def test_bad_flags_are_usage_errors(self):
        self.assertEqual(self.ir("isolate", COMPROMISED, "--allow-egress", "nonsense").code, 2)
        self.assertEqual(self.ir("isolate", COMPROMISED, "--case", "../x").code, 2)


if __name__ == "__main__":
    unittest.main()


@fake_only
class AdminNetworkPolicy(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.anp_cluster = Cluster(os.path.join(FAKE, "scenarios", "anp.yaml"))
        cls.home = tempfile.mkdtemp(prefix="ir-home-")

    @classmethod
    def tearDownClass(cls):
        cls.anp_cluster.stop()
        shutil.rmtree(cls.home, ignore_errors=True)

    def ir(self, c, *args):
        return c.ir(*args, env={"KUBECTL_IR_HOME": self.home})

    def test_not_served_fails_before_writing(self):
        r = self.ir(cluster, "isolate", COMPROMISED, "-n", "shop", "--admin-policy")
        self.assertEqual(r.code, 1, r)
        self.assertIn("does not serve AdminNetworkPolicy", r.err)
        self.assertNotIn("kubectl-ir/quarantine", json.dumps(get("pod", COMPROMISED)["metadata"].get("labels", {})))

    def test_priority_zero_deny_overrides_competing_policies_and_release_deletes_it(self):
        c = self.anp_cluster
        r = self.ir(c, "isolate", COMPROMISED, "-n", "shop", "--admin-policy")
        self.assertEqual(r.code, 0, r)  # allow-egress still selects the pod, but the ANP Deny comes first
        self.assertIn("egress:   contained: AdminNetworkPolicy kubectl-ir-quarantine-shop-" + COMPROMISED, r.out)
        anp = c.kubectl("get", "adminnetworkpolicies.policy.networking.k8s.io", "-o", "json")
        self.assertEqual(anp.code, 0, anp)
        items = json.loads(anp.out)["items"]
        self.assertEqual([i["spec"]["priority"] for i in items], [0])
        r = self.ir(c, "release", COMPROMISED, "-n", "shop")
        self.assertEqual(r.code, 0, r)
        self.assertIn("deleted:  AdminNetworkPolicy", r.out)
        self.assertEqual(json.loads(c.kubectl("get", "adminnetworkpolicies.policy.networking.k8s.io", "-o", "json").out)["items"], [])


@fake_only
class Pipe(unittest.TestCase):
    def test_siblings_name_output_pipes_into_isolate_and_release(self):
        cluster.admin("POST", "/_fake/reset", {})
        home = tempfile.mkdtemp(prefix="ir-home-")
        try:
            env = {"KUBECTL_IR_HOME": home}
            names = cluster.ir("siblings", COMPROMISED, "-n", "shop", "-o", "name", env=env)
            self.assertIn(names.code, (0, 3), names)
            batch = [n for n in names.out.split() if n.startswith("batch/pod/")]
            self.assertTrue(batch, names.out)
            r = cluster.ir("isolate", batch[0], env=env)  # no -n: the namespace comes from the reference
            self.assertIn(r.code, (0, 3), r)
            self.assertIn("pod:      " + batch[0].replace("/pod/", "/"), r.out)
            self.assertEqual(cluster.ir("release", batch[0], env=env).code, 0)
        finally:
            shutil.rmtree(home, ignore_errors=True)
