"""e2e: kubectl ir isolate / release against the fake cluster (issue: isolate and release)."""
import json
import os
import re
import shutil
import tempfile
import unittest

from harness import FAKE, Cluster, fake_only, journal_entries
from workloads import start, stop

cluster = w = None
COMPROMISED = NS = NODE = None   # the suspect pod, its namespace and node (set by setUpModule)


def setUpModule():
    global cluster, w, COMPROMISED, NS, NODE
    cluster, w = start("demo", "isolate", host_network=True)
    COMPROMISED, NS, NODE = w.suspect, w.namespace, w.node


def tearDownModule():
    stop(cluster, w)


def get(kind, name, ns=None):
    r = cluster.kubectl("get", kind, name, "-n", ns or NS, "-o", "json")
    if r.code != 0:
        return None
    return json.loads(r.out)


def writes_logged():
    """The writes in the fake server's request log (the permission reviews are not writes)."""
    return [q for q in cluster.requests() if q["method"] in ("POST", "PATCH", "PUT", "DELETE")
            and "selfsubject" not in q["path"]]


def restorable(obj):
    """The parts of an object isolate may touch and release must restore exactly."""
    md = obj["metadata"]
    return {"labels": md.get("labels"), "annotations": md.get("annotations"), "spec": obj.get("spec")}


class IsolateRelease(unittest.TestCase):
    maxDiff = None
    def setUp(self):
        w.reset()
        self.home = tempfile.mkdtemp(prefix="ir-home-")

    def tearDown(self):
        shutil.rmtree(self.home, ignore_errors=True)

    def ir(self, *args, **kw):
        return cluster.ir(*args, env={"KUBECTL_IR_HOME": self.home}, **kw)

    def test_policy_shape_labels_and_journal(self):
        r = self.ir("isolate", COMPROMISED, "-n", NS, "--case", "case-shape", "-o", "json")
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
        r = self.ir("isolate", COMPROMISED, "-n", NS)
        self.assertEqual(r.code, 3, r)
        self.assertIn("egress:   NOT contained: networkpolicy allow-egress allows all destinations, all ports "
                      "(use --exclusive)", r.out)
        r = self.ir("isolate", COMPROMISED, "-n", NS, "--exclusive", "--ingress")
        self.assertEqual(r.code, 0, r)
        self.assertIn("excluded: networkpolicy allow-egress no longer selects the pod", r.out)
        self.assertIn("egress:   contained", r.out)
        self.assertIn("ingress:  contained", r.out)
        patched = get("networkpolicy", "allow-egress")
        self.assertIn({"key": "kubectl-ir/quarantine", "operator": "NotIn", "values": [
            get("pod", COMPROMISED)["metadata"]["labels"]["kubectl-ir/quarantine"]]},
            patched["spec"]["podSelector"]["matchExpressions"])
        r = self.ir("release", COMPROMISED, "-n", NS)
        self.assertEqual(r.code, 0, r)
        self.assertEqual(restorable(get("networkpolicy", "allow-egress")), before)
        self.assertIsNone(get("networkpolicy", "kubectl-ir-quarantine-" + COMPROMISED))

    def test_detach_and_cordon_then_release_restores(self):
        before = restorable(get("pod", COMPROMISED))
        r = self.ir("isolate", COMPROMISED, "-n", NS, "--detach", "--cordon")
        self.assertEqual(r.code, 0, r)  # without app=web the allow-egress policy no longer selects it
        labels = get("pod", COMPROMISED)["metadata"]["labels"]
        self.assertNotIn("app", labels)
        self.assertNotIn("pod-template-hash", labels)
        self.assertTrue(get("node", NODE)["spec"].get("unschedulable"))
        r = self.ir("release", COMPROMISED, "-n", NS)
        self.assertEqual(r.code, 0, r)
        self.assertEqual(restorable(get("pod", COMPROMISED)), before)
        self.assertFalse(get("node", NODE)["spec"].get("unschedulable", False))

    def test_release_leaves_a_node_cordoned_by_someone_else(self):
        self.assertEqual(cluster.kubectl("cordon", NODE).code, 0)
        r = self.ir("isolate", COMPROMISED, "-n", NS, "--cordon")
        self.assertIn("already cordoned", r.err)
        self.ir("release", COMPROMISED, "-n", NS)
        self.assertTrue(get("node", NODE)["spec"].get("unschedulable"))

    def test_host_network_pod_is_refused(self):
        name, ns = w.host_network_pod, w.host_network_namespace
        r = self.ir("isolate", name, "-n", ns)
        self.assertEqual(r.code, 1, r)
        self.assertIn("the pod runs with hostNetwork: a NetworkPolicy cannot contain it\nhint: ", r.err)
        self.assertIsNone(get("networkpolicy", "kubectl-ir-quarantine-" + name, ns=ns))

    def test_dry_run_changes_nothing(self):
        pod_before = get("pod", COMPROMISED)
        pol_before = get("networkpolicy", "allow-egress")
        if not cluster.real:
            cluster.clear_requests()
        # (no --detach: without app=web the allow-egress policy would no longer select the pod)
        r = self.ir("isolate", COMPROMISED, "-n", NS, "--exclusive", "--cordon", "--dry-run", "-o", "yaml")
        self.assertEqual(r.code, 0, r)
        self.assertIn("kind: NetworkPolicy", r.out)
        self.assertIn("kubectl-ir/quarantine", r.out)
        if not cluster.real:   # the fake's request log
            writes = writes_logged()
            # every write went to the server (a client that skipped them would pass the checks below) ...
            self.assertLessEqual({("PATCH", f"/api/v1/namespaces/{NS}/pods/" + COMPROMISED),
                                  ("PATCH", f"/apis/networking.k8s.io/v1/namespaces/{NS}/networkpolicies/kubectl-ir-quarantine-"
                                   + COMPROMISED),
                                  ("PATCH", f"/apis/networking.k8s.io/v1/namespaces/{NS}/networkpolicies/allow-egress"),
                                  ("PATCH", "/api/v1/nodes/" + NODE)},
                                 {(q["method"], q["path"]) for q in writes}, writes)
            for q in writes:  # ... each as a server-side dry run
                self.assertIn("dryRun=All", q["query"], q)
        self.assertEqual(get("pod", COMPROMISED)["metadata"]["resourceVersion"], pod_before["metadata"]["resourceVersion"])
        self.assertEqual(get("networkpolicy", "allow-egress")["metadata"]["resourceVersion"],
                         pol_before["metadata"]["resourceVersion"])
        self.assertIsNone(get("networkpolicy", "kubectl-ir-quarantine-" + COMPROMISED))
        self.assertFalse(get("node", NODE)["spec"].get("unschedulable", False))

    def test_release_dry_run_changes_nothing(self):
        r = self.ir("isolate", COMPROMISED, "-n", NS, "--exclusive", "--cordon")
        self.assertEqual(r.code, 0, r)
        quarantine = "kubectl-ir-quarantine-" + COMPROMISED
        pod_before = get("pod", COMPROMISED)
        pol_before = get("networkpolicy", "allow-egress")
        quarantine_before = get("networkpolicy", quarantine)
        if not cluster.real:
            cluster.clear_requests()
        r = self.ir("release", COMPROMISED, "-n", NS, "--dry-run", "-o", "json")
        self.assertEqual(r.code, 0, r)
        report = json.loads(r.out)
        self.assertEqual((report["dryRun"], report["wasIsolated"], report["policyDeleted"], report["restoredPolicies"],
                          report["uncordonedNode"]), (True, True, True, ["allow-egress"], NODE))
        if not cluster.real:   # the fake's request log
            writes = writes_logged()
            self.assertLessEqual({("DELETE", f"/apis/networking.k8s.io/v1/namespaces/{NS}/networkpolicies/" + quarantine),
                                  ("PATCH", f"/apis/networking.k8s.io/v1/namespaces/{NS}/networkpolicies/allow-egress"),
                                  ("PATCH", "/api/v1/nodes/" + NODE),
                                  ("PATCH", f"/api/v1/namespaces/{NS}/pods/" + COMPROMISED)},
                                 {(q["method"], q["path"]) for q in writes}, writes)
            for q in writes:
                self.assertIn("dryRun=All", q["query"], q)
        pod_after = get("pod", COMPROMISED)
        self.assertEqual(pod_after["metadata"]["resourceVersion"], pod_before["metadata"]["resourceVersion"])
        self.assertEqual(restorable(pod_after), restorable(pod_before))
        self.assertEqual(get("networkpolicy", "allow-egress"), pol_before)
        self.assertEqual(get("networkpolicy", quarantine), quarantine_before)
        self.assertTrue(get("node", NODE)["spec"].get("unschedulable"))
        # Said in the future tense: nothing was deleted, restored or uncordoned.
        text = self.ir("release", COMPROMISED, "-n", NS, "--dry-run")
        self.assertEqual(text.code, 0, text)
        self.assertEqual(text.out.splitlines(), [
            "(dry run: nothing was changed)",
            f"would release {NS}/{COMPROMISED} (case {report['case']})",
            "would delete: quarantine policy",
            "would restore: networkpolicy allow-egress",
            "would uncordon: node " + NODE])
        self.assertEqual(self.ir("release", COMPROMISED, "-n", NS).code, 0)

    def test_idempotent(self):
        first = self.ir("isolate", COMPROMISED, "-n", NS, "--exclusive", "-o", "json")
        second = self.ir("isolate", COMPROMISED, "-n", NS, "--exclusive", "-o", "json")
        self.assertEqual((first.code, second.code), (0, 0), (first, second))
        self.assertEqual(json.loads(first.out)["case"], json.loads(second.out)["case"])
        self.assertTrue(json.loads(second.out)["alreadyIsolated"])
        self.assertNotIn("warning", second.err)
        self.assertEqual(self.ir("release", COMPROMISED, "-n", NS).code, 0)
        again = self.ir("release", COMPROMISED, "-n", NS)
        self.assertEqual(again.code, 0, again)
        self.assertIn("is not isolated: nothing to do", again.out)

    @fake_only("its restricted user")
    def test_forbidden_user_gets_the_missing_permission_named(self):
        r = cluster.ir("isolate", COMPROMISED, "-n", NS, context="fake-restricted",
                       env={"KUBECTL_IR_HOME": self.home})
        self.assertEqual(r.code, 1, r)
        self.assertIn(f"kubectl-ir: error: isolate {NS}/{COMPROMISED}: missing permissions: patch pods in namespace shop, "
                      "create networkpolicies.networking.k8s.io in namespace shop", r.err)

    @fake_only("its labeller user and request log")
    def test_preflight_refuses_a_user_who_may_label_but_not_write_policies(self):
        for dry in ([], ["--dry-run"]):
            with self.subTest(dry_run=bool(dry)):
                if not cluster.real:
                    cluster.clear_requests()
                r = cluster.ir("isolate", COMPROMISED, "-n", NS, "--cordon", *dry, context="fake-labeller",
                               env={"KUBECTL_IR_HOME": self.home})
                self.assertEqual(r.code, 1, r)
                self.assertEqual(r.err.splitlines()[-2:], [
                    f"kubectl-ir: error: isolate {NS}/{COMPROMISED}: missing permissions: "
                    "create networkpolicies.networking.k8s.io in namespace shop, "
                    "patch networkpolicies.networking.k8s.io in namespace shop, "
                    "get nodes at cluster scope, patch nodes at cluster scope",
                    "hint: nothing was changed; the ClusterRole in scripts/rbac/kubectl-ir-clusterrole.yaml grants "
                    "what kubectl-ir needs (kubectl ir doctor checks it)"])
                md = get("pod", COMPROMISED)["metadata"]
                self.assertNotIn("kubectl-ir/quarantine", md.get("labels", {}))
                self.assertFalse([k for k in md.get("annotations", {}) if k.startswith("kubectl-ir/")], md)
                self.assertEqual(writes_logged(), [])
                # One rules review answers for the namespace; the node permissions are asked one by one.
                reviews = [q["path"].rsplit("/", 1)[1] for q in cluster.requests()
                           if "/selfsubject" in q["path"] and q["user"] == "bob"]
                self.assertEqual(reviews.count("selfsubjectrulesreviews"), 1, reviews)
                self.assertEqual(reviews.count("selfsubjectaccessreviews"), 2, reviews)

    @fake_only("its labeller user")
    def test_preflight_refuses_a_release_that_could_not_finish(self):
        self.assertEqual(self.ir("isolate", COMPROMISED, "-n", NS, "--exclusive", "--cordon").code, 0)
        pod_before = get("pod", COMPROMISED)
        r = cluster.ir("release", COMPROMISED, "-n", NS, context="fake-labeller", env={"KUBECTL_IR_HOME": self.home})
        self.assertEqual(r.code, 1, r)
        self.assertIn(f"kubectl-ir: error: release {NS}/{COMPROMISED}: missing permissions: "
                      "delete networkpolicies.networking.k8s.io in namespace shop, "
                      "patch networkpolicies.networking.k8s.io in namespace shop, patch nodes at cluster scope\n", r.err)
        self.assertEqual(restorable(get("pod", COMPROMISED)), restorable(pod_before))
        self.assertIsNotNone(get("networkpolicy", "kubectl-ir-quarantine-" + COMPROMISED))
        self.assertTrue(get("node", NODE)["spec"].get("unschedulable"))
        self.assertEqual(self.ir("release", COMPROMISED, "-n", NS).code, 0)

    @fake_only("fault injection")
    def test_without_access_reviews_isolate_goes_ahead_and_says_so(self):
        cluster.faults({"match": {"path": "^/apis/authorization.k8s.io/v1/selfsubject(access|rules)reviews$"},
                        "status": 404})
        try:
            r = self.ir("isolate", COMPROMISED, "-n", NS, "--exclusive")
        finally:
            cluster.clear_faults()
        self.assertEqual(r.code, 0, r)
        self.assertIn("kubectl-ir: warning: could not check permissions before writing (", r.err)
        self.assertIn("kubectl-ir/quarantine", get("pod", COMPROMISED)["metadata"]["labels"])
        self.assertIsNotNone(get("networkpolicy", "kubectl-ir-quarantine-" + COMPROMISED))

    def test_probe_measures_on_the_wire_before_and_after_the_quarantine(self):
        # The fake cluster enforces policies: the pool is reachable before the quarantine and not after.
        # The pod's busybox nc has no -z: the first probe learns the -e true form, the others use it.
        if not cluster.real:
            cluster.clear_requests()
        r = self.ir("isolate", COMPROMISED, "-n", NS, "--exclusive", "--case", "case-probe",
                    "--probe", w.pool, "-o", "json")
        self.assertEqual(r.code, 0, r)
        report = json.loads(r.out)
        v = report["verification"]
        self.assertEqual(v["verdict"], "contained")
        self.assertEqual(v["from"], "container web (the image's nc)")
        target = v["targets"][0]
        self.assertEqual((target["target"], target["what"]), (w.pool, "--probe"))
        self.assertEqual(target["before"]["outcome"], "connected")
        self.assertIn(target["after"]["outcome"], ("blocked", "refused"))
        self.assertTrue(report["verdict"]["egress"]["onTheWire"])
        self.assertRegex(report["verdict"]["egress"]["reason"],
                         "^" + re.escape(w.pool) + r" \(--probe\) connected before, (timed out|refused) after")
        if not cluster.real:   # the fake's request log
            execs = [q for q in cluster.requests() if q["path"].endswith("/exec")]
            nc = [q for q in execs if "command=nc" in q["query"]]
            self.assertEqual([("command=-z" in q["query"], "command=-e" in q["query"]) for q in nc],
                             [(True, False)] + [(False, True)] * (len(nc) - 1), nc)
            # The probes before ran before the policy was written, the one after after it.
            policy_write = next(i for i, q in enumerate(cluster.requests()) if q["method"] == "PATCH"
                                and q["path"].endswith("/networkpolicies/kubectl-ir-quarantine-" + COMPROMISED))
            exec_positions = [i for i, q in enumerate(cluster.requests()) if q["path"].endswith("/exec")
                              and "command=nc" in q["query"]]
            self.assertLess(exec_positions[1], policy_write)
            self.assertGreater(exec_positions[-1], policy_write)
        actions = [e["action"] for e in journal_entries(self.home, "case-probe")]
        self.assertLess(actions.index("probe-before"), actions.index("apply-policy"))
        self.assertLess(actions.index("apply-policy"), actions.index("probe-after"))

    def test_verify_picks_a_sibling_and_reports_the_connection_that_was_open(self):
        r = self.ir("isolate", COMPROMISED, "-n", NS, "--exclusive", "--verify")
        self.assertEqual(r.code, 0, r)
        self.assertRegex(r.out, rf"\nprobe:    [\d.]+:8080 \(pod {NS}/{w.deployment}-\S+ port 8080\): "
                                r"before connected, after (blocked|refused)\n")
        # The miner's connection to the pool was open before the quarantine: it is followed.
        self.assertRegex(r.out, r"\nexisting: [\d.]+:\d+ -> " + re.escape(w.pool) + ": ")
        self.assertIn("\negress:   contained (verified on the wire): ", r.out)

    def test_probe_of_an_unreachable_address_is_unverified_not_blocked(self):
        r = self.ir("isolate", COMPROMISED, "-n", NS, "--exclusive", "--probe", "192.0.2.1:80", "-o", "json")
        self.assertEqual(r.code, 0, r)  # the reasoned verdict stands (Calico, no other policy)
        report = json.loads(r.out)
        self.assertEqual(report["verification"]["verdict"], "unverified")
        self.assertFalse(report["verdict"]["egress"]["onTheWire"])
        self.assertIn("(not verified on the wire: 192.0.2.1:80 (--probe) was not reachable before the quarantine: "
                      "connection to 192.0.2.1:80 failed", report["verdict"]["egress"]["reason"])

    def test_probe_refuses_loopback_and_the_pods_own_addresses(self):
        pod = get("pod", COMPROMISED)
        for target, why, before_connecting in (
                ("127.0.0.1:8080", "is the pod's own loopback", True),
                ("localhost:8080", "is the pod's own loopback", True),
                (pod["status"]["podIP"] + ":8080", "is the pod's own address", False),
                (pod["status"]["hostIP"] + ":10250", "is the address of the pod's node", False)):
            with self.subTest(target=target):
                if not cluster.real:
                    cluster.clear_requests()
                r = self.ir("isolate", COMPROMISED, "-n", NS, "--probe", target)
                self.assertEqual(r.code, 2, r)
                # Refused before connecting: the option's check ("invalid --probe ..."); after reading
                # the pod: isolate's ("--probe HOST:PORT: ...").
                self.assertRegex(r.err, "--probe \"?" + re.escape(target) + "\"?: " +
                                 re.escape(target.rsplit(":", 1)[0] + " " + why))
                if not cluster.real:   # the fake's request log
                    self.assertEqual(writes_logged(), [])
                    if before_connecting:
                        self.assertEqual(cluster.requests(), [])
        self.assertNotIn("kubectl-ir/quarantine", get("pod", COMPROMISED)["metadata"]["labels"])

    def test_allow_dns_names_the_channel_it_leaves(self):
        r = self.ir("isolate", COMPROMISED, "-n", NS, "--exclusive", "--allow-dns", "-o", "json")
        self.assertEqual(r.code, 0, r)
        reason = json.loads(r.out)["verdict"]["egress"]["reason"]
        self.assertIn("all egress denied except DNS to kube-dns on 53", reason)
        self.assertIn("DNS remains an exfiltration channel", reason)

    def test_release_after_the_pod_is_gone_cleans_what_exclusive_left(self):
        before = restorable(get("networkpolicy", "allow-egress"))
        r = self.ir("isolate", COMPROMISED, "-n", NS, "--exclusive", "--case", "case-gone")
        self.assertEqual(r.code, 0, r)
        self.assertEqual(cluster.kubectl("delete", "pod", COMPROMISED, "-n", NS, "--grace-period=0").code, 0)
        self.assertIn("case-gone", json.dumps(get("networkpolicy", "allow-egress")["spec"]))
        # Another machine (no journal): told what is left and how to remove it, nothing touched.
        other = tempfile.mkdtemp(prefix="ir-home-")
        try:
            r = cluster.ir("release", COMPROMISED, "-n", NS, env={"KUBECTL_IR_HOME": other})
        finally:
            shutil.rmtree(other, ignore_errors=True)
        self.assertEqual(r.code, 0, r)
        self.assertIn("is gone and no case is known for it: nothing to do", r.out)
        self.assertIn("kubectl-ir: warning: networkpolicy allow-egress: case-gone: --exclusive left these cases", r.err)
        self.assertIn("kubectl ir release --case CASE -n " + NS, r.err)
        self.assertIn("case-gone", json.dumps(get("networkpolicy", "allow-egress")["spec"]))
        # A dry run speaks in the future tense and changes nothing.
        r = self.ir("release", COMPROMISED, "-n", NS, "--dry-run")
        self.assertEqual(r.code, 0, r)
        self.assertIn("would clean what case case-gone left", r.out)
        self.assertIn("would restore: networkpolicy allow-egress", r.out)
        self.assertNotIn("restored:", r.out)
        self.assertIn("case-gone", json.dumps(get("networkpolicy", "allow-egress")["spec"]))
        # This machine's journal knows the case.
        r = self.ir("release", COMPROMISED, "-n", NS)
        self.assertEqual(r.code, 0, r)
        self.assertIn("the journal of case case-gone says it was isolated", r.err)
        self.assertIn("restored: networkpolicy allow-egress", r.out)
        self.assertEqual(restorable(get("networkpolicy", "allow-egress")), before)
        self.assertIn("restore-policy", [e["action"] for e in journal_entries(self.home, "case-gone")])

    def test_release_by_case_without_a_pod(self):
        before = restorable(get("networkpolicy", "allow-egress"))
        self.assertEqual(self.ir("isolate", COMPROMISED, "-n", NS, "--exclusive", "--case", "case-many").code, 0)
        other = [p for p in w.replicas if p != COMPROMISED][0]
        self.assertEqual(self.ir("isolate", other, "-n", NS, "--exclusive", "--case", "case-many").code, 0)
        r = self.ir("release", "--case", "case-many", "-n", NS, "--dry-run")
        self.assertEqual(r.code, 0, r)
        self.assertIn("would release case case-many in namespace " + NS, r.out)
        self.assertIn("would release: pod " + COMPROMISED, r.out)
        r = self.ir("release", "--case", "case-many", "-n", NS, "-o", "json")
        self.assertEqual(r.code, 0, r)
        self.assertEqual(sorted(json.loads(r.out)["releasedPods"]), sorted([COMPROMISED, other]))
        self.assertEqual(restorable(get("networkpolicy", "allow-egress")), before)
        for p in (COMPROMISED, other):
            self.assertNotIn("kubectl-ir/quarantine", get("pod", p)["metadata"]["labels"])
        self.assertEqual(self.ir("release").code, 2)

    def test_missing_pod(self):
        r = self.ir("isolate", "no-such-pod", "-n", NS)
        self.assertEqual(r.code, 1, r)
        self.assertIn('pods "no-such-pod" not found', r.err)

    def test_bad_flags_are_usage_errors(self):
        self.assertEqual(self.ir("isolate", COMPROMISED, "--allow-egress", "nonsense").code, 2)
        self.assertEqual(self.ir("isolate", COMPROMISED, "--case", "../x").code, 2)


@fake_only("a second server serving AdminNetworkPolicy")
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


# A cluster whose only DaemonSet is kube-proxy: no CNI that enforces NetworkPolicy.
NO_CNI_SCENARIO = """\
objects:
  - apiVersion: v1
    kind: Node
    metadata: {name: node-1, labels: {kubernetes.io/arch: amd64, kubernetes.io/hostname: node-1}}
  - {apiVersion: v1, kind: Namespace, metadata: {name: shop}}
  - apiVersion: apps/v1
    kind: DaemonSet
    metadata: {name: kube-proxy, namespace: kube-system}
    spec:
      selector: {matchLabels: {k8s-app: kube-proxy}}
      template:
        metadata: {labels: {k8s-app: kube-proxy}}
        spec:
          hostNetwork: true
          containers: [{name: kube-proxy, image: "registry.k8s.io/kube-proxy:v1.32.4"}]
  - apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web, namespace: shop}
    spec:
      replicas: 1
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec:
          containers: [{name: web, image: "registry.example.com/shop/web:1.4.2"}]
    x-pods: [{name: web-1}]
"""

FLANNEL = """\
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: kube-flannel-ds, namespace: kube-system}
spec:
  selector: {matchLabels: {app: flannel}}
  template:
    metadata: {labels: {app: flannel}}
    spec:
      hostNetwork: true
      containers: [{name: kube-flannel, image: "docker.io/flannel/flannel:v0.22.0"}]
"""


@fake_only("a second server without an enforcing CNI")
class WithoutEnforcingCni(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ir-no-cni-")
        path = os.path.join(cls.tmp, "no-cni.yaml")
        with open(path, "w") as f:
            f.write(NO_CNI_SCENARIO)
        cls.cluster = Cluster(path)

    @classmethod
    def tearDownClass(cls):
        cls.cluster.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.cluster.admin("POST", "/_fake/reset", {})
        self.home = tempfile.mkdtemp(prefix="ir-home-", dir=self.tmp)

    def isolate(self):
        r = self.cluster.ir("isolate", "web-1", "-n", "shop", "-o", "json", env={"KUBECTL_IR_HOME": self.home})
        self.assertEqual(r.code, 3, r)  # not provably contained
        return r, json.loads(r.out)

    def test_unknown_verdict_and_a_warning(self):
        r, report = self.isolate()
        note = ("no NetworkPolicy-enforcing CNI recognised in the DaemonSets, the pods in kube-system, node node-1 "
                "(annotations, labels, node info)")
        self.assertEqual(report["cni"], {"name": "", "enforces": False, "known": False, "evidence": "", "note": note})
        self.assertEqual(report["verdict"]["egress"], {"state": "unknown", "reason": note + "; --verify measures it on the wire",
                                                       "onTheWire": False})
        warning = note + ": the quarantine policy may change nothing on the wire"
        self.assertEqual(report["warnings"], [warning])
        self.assertIn("kubectl-ir: warning: " + warning + "\n", r.err)
        # the policy is in place all the same, for when an enforcing CNI is there after all
        self.assertEqual(self.cluster.kubectl("get", "networkpolicy", "kubectl-ir-quarantine-web-1", "-n", "shop").code, 0)

    def test_flannel_alone_is_not_contained(self):
        path = os.path.join(self.tmp, "flannel.yaml")
        with open(path, "w") as f:
            f.write(FLANNEL)
        self.assertEqual(self.cluster.kubectl("apply", "-f", path).code, 0)
        r, report = self.isolate()
        self.assertEqual(report["verdict"]["egress"], {
            "state": "NOT contained", "reason": "flannel does not enforce NetworkPolicy (DaemonSet kube-system/kube-flannel-ds)",
            "onTheWire": False})
        self.assertIn("kubectl-ir: warning: flannel does not enforce NetworkPolicy (DaemonSet kube-system/kube-flannel-ds): "
                      "the quarantine policy may change nothing on the wire\n", r.err)


class ScenarioCase(unittest.TestCase):
    """A fake cluster of its own, from one of the fake cluster's scenarios."""
    scenario = None

    @classmethod
    def setUpClass(cls):
        cls.c = Cluster(os.path.join(FAKE, "scenarios", cls.scenario))

    @classmethod
    def tearDownClass(cls):
        cls.c.stop()

    def setUp(self):
        self.c.admin("POST", "/_fake/reset", {})
        self.home = tempfile.mkdtemp(prefix="ir-home-")

    def tearDown(self):
        shutil.rmtree(self.home, ignore_errors=True)

    def ir(self, *args):
        return self.c.ir(*args, env={"KUBECTL_IR_HOME": self.home})

    def exec_in(self, pod, *cmd):
        return self.c.kubectl("exec", "-n", "shop", pod, "--", *cmd)


@fake_only("a second server of the demo-hostcni scenario")
class HostEnforcedCni(ScenarioCase):
    """k3s: kube-router's policy controller runs in the k3s process on the host, no CNI DaemonSet."""
    scenario = "demo-hostcni.yaml"

    def test_the_node_says_k3s_and_the_wire_agrees(self):
        r = self.ir("isolate", COMPROMISED, "-n", "shop", "--exclusive", "-o", "json")
        self.assertEqual(r.code, 0, r)  # was: CNI unknown, egress unknown, exit 3
        report = json.loads(r.out)
        self.assertEqual(report["cni"]["name"], "k3s (kube-router)")
        self.assertTrue(report["cni"]["enforces"])
        self.assertEqual(report["cni"]["evidence"], "node node-1 runs k3s (annotation k3s.io/node-args): its embedded "
                                                    "kube-router enforces NetworkPolicy")
        self.assertEqual(self.ir("release", COMPROMISED, "-n", "shop").code, 0)
        r = self.ir("isolate", COMPROMISED, "-n", "shop", "--exclusive", "--verify", "-o", "json")
        self.assertEqual(r.code, 0, r)
        self.assertTrue(json.loads(r.out)["verdict"]["egress"]["onTheWire"])


@fake_only("a second server of the demo-noenforce scenario")
class NonEnforcingCni(ScenarioCase):
    """flannel alone: the policy is stored and nothing happens on the wire."""
    scenario = "demo-noenforce.yaml"

    def test_the_probe_proves_it_is_not_contained(self):
        r = self.ir("isolate", COMPROMISED, "-n", "shop", "--exclusive", "--verify", "--verify-timeout", "2s", "-o", "json")
        self.assertEqual(r.code, 3, r)
        report = json.loads(r.out)
        egress = report["verdict"]["egress"]
        self.assertEqual(egress["state"], "NOT contained")
        self.assertTrue(egress["onTheWire"])
        self.assertRegex(egress["reason"], r"still connected after the quarantine \(\d+ attempts over 2\.\ds\)$")
        # The scenario's node keeps a Calico annotation (as after a CNI migration): the reasoning
        # believes it, the wire does not.
        self.assertEqual(report["cni"]["evidence"], "node node-1 annotation projectcalico.org/IPv4Address")


@fake_only("a second server of the demo-nodelocaldns scenario")
class NodeLocalDns(ScenarioCase):
    """NodeLocal DNSCache: pods ask 169.254.20.10, which a kube-dns pod selector does not cover."""
    scenario = "demo-nodelocaldns.yaml"

    def test_allow_dns_keeps_name_resolution_working(self):
        self.assertEqual(self.exec_in(COMPROMISED, "nslookup", "kube-dns.kube-system.svc.cluster.local").code, 0)
        r = self.ir("isolate", COMPROMISED, "-n", "shop", "--exclusive", "--allow-dns", "-o", "json")
        self.assertEqual(r.code, 0, r)
        report = json.loads(r.out)
        self.assertEqual(report["nodeLocalDns"], ["169.254.20.10"])
        self.assertIn("NodeLocal DNSCache 169.254.20.10 on 53", report["verdict"]["egress"]["reason"])
        self.assertIn("DNS remains an exfiltration channel", report["verdict"]["egress"]["reason"])
        pol = self.c.kubectl("get", "networkpolicy", "kubectl-ir-quarantine-" + COMPROMISED, "-n", "shop", "-o", "json")
        self.assertIn({"ipBlock": {"cidr": "169.254.20.10/32"}}, json.loads(pol.out)["spec"]["egress"][1]["to"])
        lookup = self.exec_in(COMPROMISED, "nslookup", "kube-dns.kube-system.svc.cluster.local")
        self.assertEqual(lookup.code, 0, lookup)


class Pipe(unittest.TestCase):
    def test_siblings_name_output_pipes_into_isolate_and_release(self):
        w.reset()
        home = tempfile.mkdtemp(prefix="ir-home-")
        try:
            env = {"KUBECTL_IR_HOME": home}
            names = cluster.ir("siblings", COMPROMISED, "-n", NS, "-o", "name", env=env)
            self.assertIn(names.code, (0, 3), names)
            # a sibling in a namespace the kubeconfig does not default to (the demo's batch pods)
            other = "batch/pod/" if not cluster.real else NS + "/pod/" + w.healthy[0]
            batch = [n for n in names.out.split() if n.startswith(other)]
            self.assertTrue(batch, names.out)
            r = cluster.ir("isolate", batch[0], env=env)  # no -n: the namespace comes from the reference
            self.assertIn(r.code, (0, 3), r)
            self.assertIn("pod:      " + batch[0].replace("/pod/", "/"), r.out)
            self.assertEqual(cluster.ir("release", batch[0], env=env).code, 0)
        finally:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
