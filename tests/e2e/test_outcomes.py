"""e2e: outcomes that never lie. A step or command whose goal was not reached (not contained, not
collected, forbidden) is never "ok"; a collection that got everything through a debug container is
not "partial"; summaries name the evidence; the first hour of a new user works as the README says."""
import glob
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from harness import IR_BIN, fake_only, journal_entries, members
from workloads import FakeWorkloads, start, stop

cluster = w = None
WEB = SHELL_LESS = NS = None   # the compromised replica, the shell-less pod, their namespace (setUpModule)


def setUpModule():
    global cluster, w, WEB, SHELL_LESS, NS
    cluster, w = start("demo", "outcomes")
    WEB, SHELL_LESS, NS = w.suspect, w.shell_less, w.namespace


def tearDownModule():
    stop(cluster, w)


class Base(unittest.TestCase):
    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="ir-outcomes-")
        self.home = os.path.join(self.work, "home")
        w.reset()
        if not cluster.real:
            cluster.clear_faults()

    def tearDown(self):
        shutil.rmtree(self.work, ignore_errors=True)

    def ir(self, *args, context=None, timeout=600):
        return cluster.ir(*args, context=context, env={"KUBECTL_IR_HOME": self.home}, timeout=timeout, cwd=self.work)

    def write(self, name, text):
        path = os.path.join(self.work, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def assert_verifies(self, path):
        v = cluster.ir("verify", path)
        self.assertEqual(v.code, 0, v)


class TestPlaybookOutcomes(Base):
    def test_a_pod_not_contained_is_not_ok(self):
        # The demo's allow-egress policy still allows everything: without exclusive, NOT contained.
        path = self.write("p.yaml", """name: p
description: isolate without exclusive, then collect
steps:
  - {id: isolate, uses: isolate}
  - {id: collect, uses: collect, with: {fs: none}}
""")
        r = self.ir("run", path, "--pod", WEB, "-n", NS, "-O", os.path.join(self.work, "p.tar.gz"))
        self.assertEqual(r.code, 3, r)
        self.assertIn("playbook p: partial", r.out)
        self.assertNotIn("playbook p: ok", r.out)
        self.assertRegex(r.out, r"isolate\s+isolate\s+partial\s+[0-9.]+\s+.*NOT contained")
        self.assertRegex(r.out, r"collect\s+collect\s+ok")    # the evidence is still taken
        run = json.loads(members(os.path.join(self.work, "p.tar.gz"))["playbook/run.json"])
        self.assertEqual(run["result"], "partial")
        self.assertEqual(run["steps"][0]["status"], "partial")

    def test_for_each_counts_siblings_not_contained_as_failed(self):
        path = self.write("s.yaml", """name: s
description: fence every sibling in shop without exclusive
steps:
  - {id: siblings, uses: siblings, with: {all_namespaces: false}}
  - id: fence
    uses: for_each
    with:
      items: "{{ steps.siblings.pods }}"
      parallel: 4
      steps:
        - {id: isolate, uses: isolate, with: {pod: "{{ item.name }}", namespace: "{{ item.namespace }}"}}
""")
        r = self.ir("run", path, "--pod", WEB, "-n", NS, "--parallel", "4", "-o", "json")
        self.assertEqual(r.code, 3, r)
        doc = json.loads(r.out)
        fence = next(s for s in doc["steps"] if s["id"] == "fence")
        results = fence["outputs"]["results"]
        not_contained = [x for x in results if x["steps"]["isolate"]["outputs"].get("contained") is False]
        self.assertGreaterEqual(len(not_contained), 2)
        self.assertEqual(fence["outputs"]["failed"], len(not_contained))
        self.assertIn(fence["status"], ("partial", "failed"))
        self.assertEqual(doc["result"], fence["status"])

    def test_shipped_playbooks_choose_exclusive_or_say_why_not(self):
        for name in ("triage", "cryptominer", "exfiltration", "shell-less", "contain-siblings"):
            show = self.ir("playbooks", "show", name)
            self.assertEqual(show.code, 0, show)
            self.assertIn("exclusive", show.out, name)


class TestCollectTruth(Base):
    def collect(self, pod, *args, context=None, name="b.tar.gz"):
        out = os.path.join(self.work, name)
        return self.ir("collect", pod, "-n", NS, "-O", out, *args, context=context), out

    @fake_only("its restricted user and request log")
    def test_without_exec_nothing_forbidden_is_attempted_and_nothing_looks_empty(self):
        cluster.clear_requests()
        r, path = self.collect(WEB, context="fake-restricted")   # alice: pods, events, pods/log only
        self.assertEqual(r.code, 3, r)
        self.assert_verifies(path)
        paths = [q["path"] for q in cluster.requests() if q.get("user") == "alice"]
        self.assertFalse([p for p in paths if p.endswith("/exec")], paths)
        self.assertNotIn("/api/v1/nodes/node-1", paths)
        files = members(path)
        self.assertFalse([n for n in files if n.startswith("containers/")], sorted(files))
        acq = json.loads(files["acquisition.json"])
        self.assertEqual(acq["result"], "partial")
        joined = "\n".join(acq["not_collected"])
        self.assertIn("processes, network and filesystem of container web: forbidden", joined)
        self.assertIn("pods/exec", joined)
        self.assertIn("the node: forbidden", joined)
        self.assertIn("forbidden", files["acquisition.log"].decode())
        self.assertIn("not collected: processes, network and filesystem of container web: forbidden", r.err)

    def test_a_collection_through_a_debug_container_is_complete(self):
        r, path = self.collect(SHELL_LESS, "--ephemeral", "--debug-image", w.debug_image)
        self.assertEqual(r.code, 0, r)
        self.assertNotIn("PARTIAL", r.err)
        acq = json.loads(members(path)["acquisition.json"])
        self.assertEqual(acq["result"], "complete")
        self.assertEqual(acq["not_collected"], [])

    @fake_only("fault injection")
    def test_ctrl_c_before_anything_is_collected_is_journaled(self):
        cluster.faults({"match": {"method": "GET", "path": f"^/api/v1/namespaces/{NS}/pods/" + WEB + "$"}, "delay_ms": 5000})
        env = dict(os.environ, KUBECTL_IR_HOME=self.home)
        env.pop("KUBECONFIG", None)
        proc = subprocess.Popen([IR_BIN, "--kubeconfig", cluster.kubeconfig, "collect", WEB, "-n", NS],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=self.work)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, 130, err)
        self.assertIn(b"interrupted: nothing collected yet", err)
        journals = glob.glob(os.path.join(self.home, "cases", "*", "journal.jsonl"))
        self.assertEqual(len(journals), 1)
        with open(journals[0]) as f:
            entries = [json.loads(line) for line in f]
        self.assertEqual(entries[-1]["action"], "collect.interrupted")
        self.assertEqual(glob.glob(os.path.join(self.work, "*.tar.gz*")), [])

    @fake_only("fault injection")
    def test_ctrl_c_mid_way_seals_the_bundle_and_says_exactly_what_is_missing(self):
        # Slow every exec down so Ctrl-C lands inside the container's steps.
        cluster.faults({"match": {"path": "/exec$"}, "delay_ms": 1500})
        out = os.path.join(self.work, "b.tar.gz")
        env = dict(os.environ, KUBECTL_IR_HOME=self.home)
        env.pop("KUBECONFIG", None)
        proc = subprocess.Popen([IR_BIN, "--kubeconfig", cluster.kubeconfig, "collect", WEB, "-n", NS, "-O", out],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        seen = b""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and b"processes, network" not in seen:
            seen += proc.stderr.read1(4096)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        self.assertEqual(proc.returncode, 130, (seen + err).decode(errors="replace"))
        self.assert_verifies(out)
        acq = json.loads(members(out)["acquisition.json"])
        self.assertEqual(acq["result"], "interrupted")
        missing = "\n".join(acq["not_collected"])
        self.assertIn("network of container web: interrupted", missing)
        self.assertIn("filesystem of container web: interrupted", missing)
        self.assertIn(b"INTERRUPTED", seen + err)

    def test_file_names_that_are_not_utf8_are_hashed_and_archived(self):
        name = b"/tmp/\xff\xfe-drop"
        content = b"planted by the test\n"
        w = cluster.kubectl("exec", WEB, "-n", NS, "--", "sh", "-c",
                            "printf 'planted by the test\\n' > \"$(printf '/tmp/\\377\\376-drop')\"")
        self.assertEqual(w.code, 0, w)
        r, path = self.collect(WEB, "--fs", "archive", "--path", "/tmp")
        self.assertIn(r.code, (0, 3), r)
        files = members(path)
        hashes = json.loads(files["containers/web/filesystem/hashes.json"])
        got = [f for f in hashes["files"] if f.get("name") == "tmp/\\xff\\xfe-drop"]
        self.assertEqual(len(got), 1, [f.get("name") for f in hashes["files"]])
        self.assertEqual(got[0]["sha256"], hashlib.sha256(content).hexdigest())
        self.assertFalse([s for s in hashes["skipped"] if "UTF-8" in s["reason"]])
        archived = b"".join(v for k, v in sorted(files.items()) if "/filesystem/archive-" in k)
        self.assertIn(name[1:], archived)   # the raw bytes, as the container's tar wrote them


class TestSummaries(Base):
    def test_collect_names_the_miner_and_its_connection(self):
        r = self.ir("collect", WEB, "-n", NS, "-O", os.path.join(self.work, "b.tar.gz"))
        self.assertIn(r.code, (0, 3), r)
        self.assertRegex(r.err, r"notable: pid \d+ " + re.escape(w.miner_exe) + ".* -> " + re.escape(w.pool))

    def test_collect_and_run_print_their_summary_as_data(self):
        r = self.ir("collect", WEB, "-n", NS, "-o", "json")
        self.assertIn(r.code, (0, 3), r)
        doc = json.loads(r.out)
        self.assertTrue(os.path.exists(os.path.join(self.work, doc["bundle"])))
        self.assertFalse(os.path.exists(os.path.join(self.work, "json")))
        self.assertRegex(doc["sha256"], r"^[0-9a-f]{64}$")
        self.assertTrue(any(w.pool in n for n in doc["notable"]), doc["notable"])
        self.assertIn(doc["result"], ("complete", "partial"))
        y = self.ir("run", "triage", "--pod", WEB, "-n", NS, "-o", "yaml", "-O", os.path.join(self.work, "t.tar.gz"))
        self.assertIn(y.code, (0, 3), y)
        self.assertIn("bundle: ", y.out)
        self.assertIn("steps:", y.out)
        self.assertIn(w.pool, y.out)

    def test_an_ambiguous_output_is_refused(self):
        r = self.ir("collect", WEB, "-n", NS, "-o", "case")
        self.assertEqual(r.code, 2, r)
        self.assertIn('invalid -o "case": want table, json or yaml', r.err)
        self.assertIn("--bundle", r.err)
        self.assertEqual(os.listdir(self.work), [])


class TestFirstHour(Base):
    def test_a_pod_in_another_namespace_gets_a_hint(self):
        r = self.ir("collect", WEB, "-n", "default")
        self.assertEqual(r.code, 1, r)
        self.assertIn(f'hint: a pod named "{WEB}" exists in namespace {NS}: add -n {NS}', r.err)

    def test_run_bundles_carry_the_acquisition_record(self):
        out = os.path.join(self.work, "t.tar.gz")
        r = self.ir("run", "triage", "--pod", WEB, "-n", NS, "-O", out)
        self.assertIn(r.code, (0, 3), r)
        files = members(out)
        self.assertIn("acquisition.log", files)
        acq = json.loads(files["acquisition.json"])
        # The playbook's pod first; then the other pods the run read evidence of (the siblings drift
        # compared it with), each once.
        subjects = [(s["namespace"], s["pod"]) for s in acq["subjects"]]
        self.assertEqual(subjects[0], (NS, WEB))
        self.assertEqual(len(subjects), len(set(subjects)), subjects)
        self.assertTrue(acq["subjects"][0]["images"][0]["digest"].startswith("sha256:"))

    def test_usage_lines_and_unknown_commands(self):
        h = self.ir("isolate", "--help")
        self.assertEqual(h.code, 0, h)
        self.assertIn("Usage: kubectl ir isolate [OPTIONS] POD", h.out)
        b = self.ir("bogus")
        self.assertEqual(b.code, 2, b)
        self.assertIn('kubectl-ir: error: unknown command "bogus"', b.err)
        self.assertIn("kubectl ir --help lists the commands", b.err)

    def test_the_readme_walkthrough_runs_as_written(self):
        # Its collect and verify lines, run twice in one directory: the second verify must still
        # name the bundle just made, not fail on two bundles matching a pattern.
        with open(os.path.join(os.path.dirname(__file__), "..", "..", "README.md")) as f:
            readme = f.read()
        walk = readme.split("## A 60-second walkthrough", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
        lines = [l for l in walk.splitlines() if "kubectl ir collect" in l or "kubectl ir verify" in l]
        self.assertEqual(len(lines), 2, walk)
        script = "\n".join(l.split("  #")[0] for l in lines).replace(
            "kubectl ir", f'"{IR_BIN}" --kubeconfig "{cluster.kubeconfig}"')
        # the README names the demo's pod: the workloads' stand-in on a real cluster
        script = script.replace(FakeWorkloads.suspect, WEB).replace("-n " + FakeWorkloads.namespace, "-n " + NS)
        env = dict(os.environ, KUBECTL_IR_HOME=self.home)
        env.pop("KUBECONFIG", None)
        for _ in range(2):
            v = subprocess.run(["bash", "-ec", script], capture_output=True, cwd=self.work, timeout=300, env=env)
            self.assertEqual(v.returncode, 0, v.stderr.decode())
            self.assertIn(b"verified", v.stdout)
        self.assertEqual(len(glob.glob(os.path.join(self.work, "*.tar.gz"))), 2)

if __name__ == "__main__":
    unittest.main()
