"""e2e: kubectl ir drift and kubectl ir baseline against the fake cluster.

The fake cluster tells a true story (tests/fake-cluster/README.md, "Drift"): the demo's
web-7d4b9c8f6-x2k9p differs from its healthy replicas by exactly what was planted (the miner
/tmp/.x/kworkerds running as pid 3, its connection to the pool 198.51.100.7:3333, the files under
/tmp/.x, /var/www/upload.php and /docker-entrypoint.d/99-healthcheck.sh); in `supply-chain` every
replica of shop/cart runs the miner, so its siblings agree with it and only the indicators and a
baseline made before the compromise catch it; `fleet` exercises the choice of siblings.

On a real cluster (IR_E2E_KUBECONFIG) the suspect is the workloads' stand-in (tests/e2e/workloads.py):
a bare pod of web's labels with another command, so the replicas are same-digest siblings, not
same-workload; it plants the miner and one dropped file only, and the busybox pods of the namespace
(the pool among them) are siblings too: the checks there are that what was planted is found, not
that nothing else is.
"""
import json
import os
import shutil
import tarfile
import tempfile
import unittest

import yaml

from harness import Cluster, fake_only, pods
from workloads import start, stop

cluster = w = None
SUSPECT = HEALTHY = NS = POOL = PLANTED_FILES = None   # the workloads' names (setUpModule)
DEMO_PLANTED_FILES = {"/tmp/.x/kworkerds", "/tmp/.x/payload.sh", "/tmp/.x/config.json", "/var/www/upload.php",
                      "/docker-entrypoint.d/99-healthcheck.sh"}
MINER = "/tmp/.x/kworkerds"
EXIT_FINDINGS = 4


def setUpModule():
    global cluster, w, SUSPECT, HEALTHY, NS, POOL, PLANTED_FILES
    cluster, w = start("demo", "drift")
    SUSPECT, HEALTHY, NS, POOL = w.suspect, w.healthy, w.namespace, w.pool
    PLANTED_FILES = DEMO_PLANTED_FILES if not w.real else {w.miner_exe, w.dropped}


def tearDownModule():
    stop(cluster, w)


def drift_json(c, *args, timeout=300):
    r = c.ir("drift", *args, "-o", "json", timeout=timeout)
    return r, (json.loads(r.out) if r.out.strip() else None)


def by_rule(findings):
    out = {}
    for f in findings:
        out.setdefault(f["rule"], []).append(f)
    return out


def members_of(doc):
    return {m["namespace"] + "/" + m["name"]: m for m in doc["drift"]["baseline"]["members"]}


class Work(unittest.TestCase):
    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="ir-drift-")

    def tearDown(self):
        shutil.rmtree(self.work, ignore_errors=True)


class Demo(Work):
    def test_finds_exactly_what_was_planted(self):
        r, doc = drift_json(cluster, SUSPECT, "-n", NS)
        self.assertEqual(r.code, EXIT_FINDINGS, r)
        self.assertTrue(doc["findings_present"])
        drift = doc["drift"]
        self.assertEqual(drift["format"], "kubectl-ir-analysis/v1")
        self.assertEqual(drift["kind"], "drift")
        self.assertEqual(drift["baseline"]["source"], "siblings")
        members = members_of(doc)
        # Both healthy replicas, as the same workload (on a real cluster the stand-in's command
        # differs: the same digest); the batch pods of the digest as a weaker baseline.
        for h in HEALTHY:
            self.assertEqual(members[f"{NS}/{h}"]["relation"], "same-workload" if not w.real else "same-digest",
                             members)
            self.assertEqual(members[f"{NS}/{h}"]["status"], "ok")
        self.assertNotIn(f"{NS}/{SUSPECT}", members)
        for name, m in members.items():
            if name.startswith("batch/"):
                self.assertEqual(m["relation"], "same-digest")
        rules = by_rule(drift["findings"])
        planted_rules = {"drift.process.exe", "drift.connection", "drift.file.added"}
        if not w.real:
            self.assertEqual(set(rules), planted_rules, drift["findings"])
        else:
            self.assertLessEqual(planted_rules, set(rules), drift["findings"])
        (proc,) = rules["drift.process.exe"]
        self.assertEqual(proc["subject"]["exe"], w.miner_exe)
        if not w.real:
            self.assertEqual(proc["subject"]["pid"], 3)
        self.assertEqual(len(proc["subject"]["sha256"]), 64)
        self.assertEqual(proc["seen_in"], {"count": 0, "of": len(members)})
        (conn,) = rules["drift.connection"]
        self.assertEqual(conn["subject"]["remote"], POOL)
        added = {f["subject"]["path"] for f in rules["drift.file.added"]}
        if not w.real:
            self.assertEqual(added, PLANTED_FILES)
        else:
            self.assertLessEqual(PLANTED_FILES, added)
        for f in drift["findings"]:
            self.assertIn(f["judged_against"], ("same-workload", "same-digest"))
            self.assertEqual(f["container"], w.container)
        # The single-pod indicators see the miner too.
        ind = by_rule(doc["indicators"]["findings"])
        self.assertIn("exe-in-tmp", ind)
        self.assertIn("mining-pool-port", ind)
        # the demo's miner has an xmrig command line; the stand-in's is nc's, under a kernel thread's name
        self.assertIn("miner-cmdline" if not w.real else "kernel-thread-name", ind)

    def test_every_healthy_replica_has_zero_findings(self):
        for h in HEALTHY:
            r, doc = drift_json(cluster, h, "-n", NS)
            self.assertEqual(r.code, 0, r)
            self.assertEqual(doc["drift"]["findings"], [], h)
            self.assertEqual(doc["indicators"]["findings"], [], h)
            self.assertEqual(doc["drift"]["gaps"], [], h)
            self.assertFalse(doc["findings_present"])

    @fake_only("the demo's planted files (their count)")
    def test_table_groups_findings_by_kind(self):
        r = cluster.ir("drift", SUSPECT, "-n", NS, timeout=300)
        self.assertEqual(r.code, EXIT_FINDINGS, r)
        self.assertIn("drift:       7 findings (1 process, 1 connection, 5 file)", r.out)
        self.assertIn("KIND", r.out)
        self.assertIn("read-only: no bundle", r.err)
        lines = [l for l in r.out.splitlines() if l.startswith(("process ", "connection ", "file "))]
        kinds = [l.split()[0] for l in lines]
        # grouped by kind: what runs, what it talks to, what it left
        self.assertEqual(kinds, ["process", "connection"] + ["file"] * 5 + ["process"] * 3 + ["connection"])
        r = cluster.ir("drift", SUSPECT, "-n", NS, "-o", "yaml", timeout=300)
        self.assertEqual(r.code, EXIT_FINDINGS, r)
        self.assertEqual(yaml.safe_load(r.out)["drift"]["counts"]["total"], 7)

    def test_ignore_and_quorum(self):
        r, doc = drift_json(cluster, SUSPECT, "-n", NS, "--ignore", "/tmp/.x*", "--ignore", "/var/www/*",
                            "--ignore", "/docker-entrypoint.d/*", "--ignore", POOL)
        self.assertEqual(r.code, EXIT_FINDINGS, r)  # the indicators still fire
        if not w.real:   # (the stand-in's siblings differ from it by more than what was planted)
            self.assertEqual(doc["drift"]["findings"], [])
        ignored = [f for f in doc["drift"]["findings"]
                   if f["subject"].get("path", "").startswith("/tmp/.x") or f["subject"].get("remote") == POOL]
        self.assertEqual(ignored, [])
        r, doc = drift_json(cluster, HEALTHY[0], "-n", NS, "--quorum", "2")
        self.assertEqual(r.code, 0, r)
        self.assertEqual(doc["drift"]["baseline"]["quorum"], 2)

    def test_no_siblings_is_indicators_only_said_plainly(self):
        r, doc = drift_json(cluster, SUSPECT, "-n", NS, "--siblings", "0")
        self.assertEqual(r.code, EXIT_FINDINGS, r)
        self.assertEqual(doc["drift"]["findings"], [])
        self.assertEqual(doc["drift"]["baseline"]["members"], [])
        self.assertIn("indicators only", doc["baseline"])
        self.assertTrue(doc["indicators"]["findings"])

    def test_bundle_keeps_the_snapshots_and_verifies(self):
        out = os.path.join(self.work, "d.tar.gz")
        home = os.path.join(self.work, "home")
        # (on a real cluster the pool runs the same busybox and its name sorts first: not a sibling here)
        pool = ["--exclude", f"{NS}/pool"] if w.real else []
        r = cluster.ir("drift", SUSPECT, "-n", NS, "--siblings", "2", *pool, "-O", out, env={"KUBECTL_IR_HOME": home},
                       timeout=300)
        self.assertEqual(r.code, EXIT_FINDINGS, r)
        with tarfile.open(out, "r:gz") as tar:
            names = set(tar.getnames())
            drift = json.loads(tar.extractfile("analysis/drift.json").read())
            manifest = json.loads(tar.extractfile("manifest.json").read())
        self.assertIn("analysis/indicators.json", names)
        self.assertIn("containers/web/processes/processes.json", names)
        for h in HEALTHY:
            self.assertIn(f"pods/{NS}/{h}/containers/web/processes/processes.json", names)
        listed = {a["path"] for a in manifest["artifacts"]}
        self.assertIn("analysis/drift.json", listed)
        if not w.real:   # the demo's seven planted things
            self.assertEqual(drift["counts"]["total"], 7)
        else:
            self.assertGreaterEqual(drift["counts"]["total"], 1 + 1 + len(PLANTED_FILES))
        v = cluster.ir("verify", out, env={"KUBECTL_IR_HOME": home})
        self.assertEqual(v.code, 0, v)

    def test_collect_writes_indicators_and_drift(self):
        out = os.path.join(self.work, "c.tar.gz")
        home = os.path.join(self.work, "home")
        r = cluster.ir("collect", SUSPECT, "-n", NS, "--drift", "-O", out, env={"KUBECTL_IR_HOME": home}, timeout=300)
        self.assertIn(r.code, (0, 3), r)
        self.assertIn("notable:", r.out + r.err)
        with tarfile.open(out, "r:gz") as tar:
            ind = json.loads(tar.extractfile("analysis/indicators.json").read())
            drift = json.loads(tar.extractfile("analysis/drift.json").read())
            manifest = json.loads(tar.extractfile("manifest.json").read())
        listed = {a["path"] for a in manifest["artifacts"]}
        self.assertTrue({"analysis/indicators.json", "analysis/drift.json"} <= listed)
        self.assertIn("exe-in-tmp", by_rule(ind["findings"]))
        added = {f["subject"]["path"] for f in by_rule(drift["findings"])["drift.file.added"]}
        if not w.real:
            self.assertEqual(added, PLANTED_FILES)
        else:
            self.assertLessEqual(PLANTED_FILES, added)
        v = cluster.ir("verify", out, env={"KUBECTL_IR_HOME": home})
        self.assertEqual(v.code, 0, v)

    def test_triage_playbook_tightens_when_drift_finds_an_outbound_connection(self):
        cwd = self.work
        env = {"KUBECTL_IR_HOME": os.path.join(self.work, "home")}
        try:
            for pod, tightened in ((SUSPECT, True), (HEALTHY[0], False)):
                out = os.path.join(self.work, pod + ".tar.gz")
                r = cluster.ir("run", "triage", "--pod", pod, "-n", NS, "-o", out, env=env, cwd=cwd, timeout=600)
                self.assertEqual(r.code, 0, r)
                with tarfile.open(out, "r:gz") as tar:
                    run = json.loads(tar.extractfile("playbook/run.json").read())
                    names = set(tar.getnames())
                steps = {s["id"]: s for s in run["steps"]}
                self.assertEqual([s["id"] for s in run["steps"]][:3], ["isolate", "drift", "tighten"])
                self.assertEqual(steps["drift"]["status"], "ok", steps["drift"])
                self.assertEqual(steps["tighten"]["status"], "ok" if tightened else "skipped", steps["tighten"])
                self.assertIn("analysis/drift.json", names)
                self.assertIn("analysis/indicators.json", names)
                policy = cluster.kubectl("get", "networkpolicy", "kubectl-ir-quarantine-" + pod, "-n", NS, "-o", "json")
                types = json.loads(policy.out)["spec"]["policyTypes"]
                self.assertEqual("Ingress" in types, tightened, types)
        finally:
            w.reset()

    def test_ld_preload_is_read_and_nothing_else_of_the_environment(self):
        out = os.path.join(self.work, "c.tar.gz")
        r = cluster.ir("drift", HEALTHY[0], "-n", NS, "--siblings", "0", "-O", out,
                       env={"KUBECTL_IR_HOME": os.path.join(self.work, "home")}, timeout=300)
        self.assertEqual(r.code, 3, r)  # nothing found, nothing compared: partial
        with tarfile.open(out, "r:gz") as tar:
            procs = json.loads(tar.extractfile("containers/web/processes/processes.json").read())
            walk = tar.extractfile("containers/web/processes/proc-walk.txt").read()
        walked = [p for p in procs["records"] if p.get("kind") == "process"]
        self.assertTrue(walked)
        self.assertTrue(any("ld_preload" in p and p["ld_preload"] is None for p in walked), walked)
        # The environment never leaves the container: PATH is in every process's environ.
        self.assertNotIn(b"PATH=", walk)


@fake_only("a second server of the supply-chain scenario")
class SupplyChain(Work):
    """Every replica of shop/cart runs the miner: siblings agree; the indicators and a baseline do not."""

    @classmethod
    def setUpClass(cls):
        cls.c = Cluster("supply-chain")

    @classmethod
    def tearDownClass(cls):
        cls.c.stop()

    def test_siblings_agree_indicators_catch_it(self):
        cart = sorted(pods(self.c, "shop", "app=cart"))
        r, doc = drift_json(self.c, cart[0], "-n", "shop")
        self.assertEqual(r.code, EXIT_FINDINGS, r)  # the indicators
        self.assertEqual(doc["drift"]["findings"], [], doc["drift"])
        self.assertGreaterEqual(sum(1 for m in doc["drift"]["baseline"]["members"] if m["status"] == "ok"), 2)
        self.assertIn("exe-in-tmp", by_rule(doc["indicators"]["findings"]))

    def test_a_baseline_made_before_the_compromise_catches_it(self):
        base = os.path.join(self.work, "web-baseline.json")
        r = self.c.ir("baseline", "create", *HEALTHY, "-n", "shop", "-o", base, timeout=300)
        self.assertEqual(r.code, 0, r)
        with open(base) as f:
            b = json.load(f)
        self.assertEqual(b["format"], "kubectl-ir-baseline/v1")
        # Now every healthy replica is compromised: its siblings agree with it.
        for h in HEALTHY:
            self.c.admin("POST", "/_fake/compromise", {"namespace": "shop", "pod": h, "container": "web"})
        r, doc = drift_json(self.c, HEALTHY[0], "-n", "shop", "--siblings", "2")
        self.assertEqual(doc["drift"]["findings"], [], r)
        r, doc = drift_json(self.c, HEALTHY[0], "-n", "shop", "--baseline", base)
        self.assertEqual(r.code, EXIT_FINDINGS, r)
        self.assertEqual(doc["drift"]["baseline"]["source"], "baseline-file")
        rules = by_rule(doc["drift"]["findings"])
        self.assertEqual(rules["drift.process.exe"][0]["subject"]["exe"], MINER)
        self.assertEqual(rules["drift.connection"][0]["subject"]["remote"], POOL)
        self.assertTrue(PLANTED_FILES <= {f["subject"]["path"] for f in rules["drift.file.added"]})
        for f in doc["drift"]["findings"]:
            self.assertEqual(f["judged_against"], "baseline-file")
        # Another image than the baseline's: said loudly.
        cart = sorted(pods(self.c, "shop", "app=cart"))
        r = self.c.ir("drift", cart[0], "-n", "shop", "--baseline", base, timeout=300)
        self.assertIn("IMAGE DIFFERS", r.out + r.err, r)


@fake_only("a second server of the fleet scenario")
class Fleet(Work):
    """Sibling choice: NotReady node and not-Ready pod skipped, same workload first, spread over nodes."""

    @classmethod
    def setUpClass(cls):
        cls.c = Cluster("fleet")

    @classmethod
    def tearDownClass(cls):
        cls.c.stop()

    def api_pods(self):
        return {n: n.rsplit("-", 1)[1] for n in pods(self.c, "fleet", "app=api")}

    def test_selection(self):
        api = self.api_pods()
        suspect = next(n for n, s in api.items() if s == "b2m9x")
        r, doc = drift_json(self.c, suspect, "-n", "fleet", "--siblings", "5")
        self.assertIn(r.code, (0, 3), r)
        members = members_of(doc)
        ok = {n: m for n, m in members.items() if m["status"] == "ok"}
        skipped = {s["namespace"] + "/" + s["name"]: s["reason"] for s in doc["skipped"]}
        by_suffix = {n.rsplit("-", 1)[1]: n for n in list(ok) + list(skipped)}
        # not Ready, and on the NotReady node: skipped with a reason, never members
        self.assertIn("not Ready", skipped[by_suffix["n7c4q"]])
        for s in ("s5t3v", "z9h6j"):
            name = "fleet/" + next(n for n, x in api.items() if x == s)
            self.assertNotIn(name, ok)
        # same workload first: d4k7p (node-1) and g8w2r (node-2); then the StatefulSet as same-digest
        for s in ("d4k7p", "g8w2r"):
            name = "fleet/" + next(n for n, x in api.items() if x == s)
            self.assertEqual(ok[name]["relation"], "same-workload", ok)
        workers = [m for n, m in ok.items() if "api-worker" in n]
        self.assertTrue(workers, ok)
        for m in workers:
            self.assertEqual(m["relation"], "same-digest")
        # spread over nodes: the first same-workload members come from node-1 and node-2
        self.assertEqual({ok[n]["node"] for n in ok if ok[n]["relation"] == "same-workload"}, {"node-1", "node-2"})

    def test_a_failing_sibling_is_replaced_and_reported(self):
        api = self.api_pods()
        suspect = next(n for n, s in api.items() if s == "b2m9x")
        g8 = next(n for n, s in api.items() if s == "g8w2r")
        # Exec into g8w2r is refused: it fails, is reported, and the next candidate is taken.
        self.c.faults([{"match": {"method": "GET", "path": f"/api/v1/namespaces/fleet/pods/{g8}/exec"}, "status": 403}])
        try:
            r, doc = drift_json(self.c, suspect, "-n", "fleet", "--siblings", "2")
        finally:
            self.c.clear_faults()
        members = members_of(doc)
        self.assertEqual(members["fleet/" + g8]["status"], "failed", members)
        self.assertTrue(members["fleet/" + g8]["reason"])
        self.assertEqual(sum(1 for m in members.values() if m["status"] == "ok"), 2, members)
        self.assertIn("failed:", r.err)


if __name__ == "__main__":
    unittest.main()
