"""e2e: kubectl ir run PLAYBOOK against the fake cluster: every shipped playbook, dry run, resume,
exit codes, and the broken-playbook corpus through the CLI."""
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
import unittest

import yaml

from harness import IR_BIN, REPO, fake_only, journal_entries
from workloads import start, stop

cluster = w = None
WEB = SHELL_LESS = NS = None   # the compromised replica, the shell-less pod, their namespace (setUpModule)
BROKEN = os.path.join(REPO, "tests", "testdata", "playbooks", "broken")


def setUpModule():
    global cluster, w, WEB, SHELL_LESS, NS
    cluster, w = start("demo", "run")
    WEB, SHELL_LESS, NS = w.suspect, w.shell_less, w.namespace


def tearDownModule():
    stop(cluster, w)


def names_in(path):
    with tarfile.open(path, "r:gz") as tar:
        return {m.name for m in tar.getmembers()}


def read_member(path, name):
    with tarfile.open(path, "r:gz") as tar:
        return tar.extractfile(name).read()


class RunBase(unittest.TestCase):
    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="ir-run-")
        self.home = os.path.join(self.work, "home")
        w.reset()

    def tearDown(self):
        shutil.rmtree(self.work, ignore_errors=True)

    def run_ir(self, *args, timeout=600):
        # In the test's directory: a run without -o writes its bundle to the working directory.
        return cluster.ir(*args, env={"KUBECTL_IR_HOME": self.home}, timeout=timeout, cwd=self.work)

    def bundle_of(self, r):
        m = re.search(r"^bundle: (.+)$", r.out, re.M)
        self.assertIsNotNone(m, r)
        path = os.path.join(self.work, m.group(1))   # relative to the run's working directory
        v = cluster.ir("verify", path)
        self.assertEqual(v.code, 0, v)
        return path

    def case_of(self, r):
        m = re.search(r"\(case (case-[0-9a-z-]+)\)", r.out)
        self.assertIsNotNone(m, r)
        return m.group(1)

    def policies(self):
        r = cluster.kubectl("get", "networkpolicies", "-n", NS, "-o", "json")
        return [p["metadata"]["name"] for p in json.loads(r.out)["items"]]


class TestShippedPlaybooks(RunBase):
    def test_triage(self):
        r = self.run_ir("run", "triage", "--pod", WEB, "-n", NS, "-o", os.path.join(self.work, "t.tar.gz"))
        self.assertEqual(r.code, 0, r)
        self.assertIn("playbook triage: ok", r.out)
        self.assertRegex(r.out, r"isolate\s+isolate\s+ok")
        self.assertIn("egress contained", r.out)
        self.assertRegex(r.out, r"siblings\s+siblings\s+ok.*sibling pod")
        self.assertIn("kubectl-ir-quarantine-" + WEB, self.policies())
        path = self.bundle_of(r)
        names = names_in(path)
        for n in ("pod/pod.json", "containers/web/processes/processes.json", "playbook/run.json", "journal.jsonl",
                  "manifest.json"):
            self.assertIn(n, names)
        run = json.loads(read_member(path, "playbook/run.json"))
        self.assertEqual([s["status"] for s in run["steps"]], ["ok"] * len(run["steps"]))
        actions = [(e["action"], e.get("step")) for e in journal_entries(self.home, self.case_of(r))]
        for step in ("isolate", "collect", "siblings"):
            self.assertIn(("playbook.step.end", step), actions)
        self.assertIn("apply-policy", [a for a, _ in actions])  # isolate's own actions are journaled too

    def test_every_shipped_playbook_runs_and_its_bundle_verifies(self):
        listing = self.run_ir("playbooks", "list")
        self.assertEqual(listing.code, 0, listing)
        shipped = [line.split()[0] for line in listing.out.splitlines()[1:] if line.strip()]
        self.assertEqual(set(shipped), {"triage", "cryptominer", "exfiltration", "shell-less", "contain-siblings"})
        for name in shipped:
            with self.subTest(playbook=name):
                w.reset()
                pod = SHELL_LESS if name == "shell-less" else WEB
                params = ["--param", "debug_image=" + w.debug_image] if name == "shell-less" else []
                out = os.path.join(self.work, name + ".tar.gz")
                r = self.run_ir("run", self.scoped(name), "--pod", pod, "-n", NS, *params, "-o", out)
                self.assertIn(r.code, (0, 3), r)
                self.assertNotIn("aborted", r.out)
                self.bundle_of(r)
                show = self.run_ir("playbooks", "show", name)
                self.assertEqual(show.code, 0, show)
                self.assertIn("name: " + name, show.out)

    def scoped(self, name):
        """The shipped playbook; on a real cluster, one that acts on siblings gets them from the test's
        namespace only (a copy with `all_namespaces: false`): every pod of the image cluster-wide
        would otherwise be isolated."""
        if not cluster.real:
            return name
        doc = yaml.safe_load(self.run_ir("playbooks", "show", name).out)
        if not any(step.get("uses") == "for_each" for step in doc["steps"]):
            return name
        for step in doc["steps"]:
            if step.get("uses") == "siblings":
                step.setdefault("with", {})["all_namespaces"] = False
        path = os.path.join(self.work, name + ".yaml")
        with open(path, "w") as f:
            yaml.safe_dump(doc, f, sort_keys=False)
        return path

    def test_dry_run_changes_nothing(self):
        before = self.policies()
        out = os.path.join(self.work, "dry.tar.gz")
        if not cluster.real:
            cluster.clear_requests()
        r = self.run_ir("run", "triage", "--pod", WEB, "-n", NS, "--dry-run", "-o", out)
        self.assertEqual(r.code, 0, r)
        self.assertIn("with:", r.out)              # the resolved plan
        self.assertEqual(self.policies(), before)   # isolate went to the server as a dry run
        self.assertNotIn("bundle:", r.out)
        self.assertFalse(os.path.exists(out) or os.path.exists(out + ".partial"))
        if not cluster.real:
            reqs = cluster.requests()
            writes = [q for q in reqs if q["method"] in ("POST", "PATCH", "PUT", "DELETE")
                      and "selfsubject" not in q["path"]]
            self.assertTrue(writes)  # the writes did reach the server ...
            for q in writes:         # ... each as a server-side dry run
                self.assertIn("dryRun=All", q.get("query", ""), q)
            self.assertFalse([q for q in reqs if q["path"].endswith("/exec")])


class TestValidation(RunBase):
    def test_broken_corpus_reports_file_line_col(self):
        files = sorted(glob.glob(os.path.join(BROKEN, "*.yaml")))
        self.assertGreaterEqual(len(files), 15)
        for path in files:
            with self.subTest(file=os.path.basename(path)):
                with open(path, encoding="utf-8", errors="replace") as f:
                    expected = [line[len("# expect: "):].rstrip("\n") for line in f if line.startswith("# expect: ")]
                self.assertTrue(expected)
                r = self.run_ir("run", path, "--pod", WEB, "-n", NS)
                self.assertEqual(r.code, 2, r)
                for e in expected:
                    # the CLI names the file as given: the corpus expects its base name
                    self.assertIn(e.replace(os.path.basename(path), path, 1), r.err)

    def test_unknown_playbook_suggests(self):
        r = self.run_ir("run", "triag", "--pod", WEB, "-n", NS)
        self.assertEqual(r.code, 2, r)
        self.assertIn('did you mean "triage"', r.err)


class TestEveryVerb(RunBase):
    def test_exec_label_annotate_logs_cordon_release_against_the_cluster(self):
        path = os.path.join(self.work, "verbs.yaml")
        with open(path, "w") as f:
            f.write("""name: verbs
description: every verb the shipped playbooks do not use
steps:
  - {id: isolate, uses: isolate, with: {exclusive: true}}
  - {id: look, uses: exec, with: {command: [cat, /proc/net/tcp]}}
  - {id: mark, uses: label, with: {labels: {kubectl-ir/finding: miner}}}
  - {id: note, uses: annotate, with: {annotations: {kubectl-ir/ticket: "INC-42 {{ steps.look.exit_code }}"}}}
  - {id: log, uses: logs, with: {max_bytes: 64Ki}}
  - {id: node, uses: cordon}
  - {id: undo, uses: release}
""")
        r = self.run_ir("run", path, "--pod", WEB, "-n", NS, "-o", os.path.join(self.work, "v.tar.gz"))
        self.assertEqual(r.code, 0, r)
        pod = json.loads(cluster.kubectl("get", "pod", WEB, "-n", NS, "-o", "json").out)
        self.assertEqual(pod["metadata"]["labels"].get("kubectl-ir/finding"), "miner")
        self.assertEqual(pod["metadata"]["annotations"].get("kubectl-ir/ticket"), "INC-42 0")
        self.assertNotIn("kubectl-ir/quarantine", pod["metadata"]["labels"])   # released
        self.assertNotIn("kubectl-ir-quarantine-" + WEB, self.policies())
        node = json.loads(cluster.kubectl("get", "node", pod["spec"]["nodeName"], "-o", "json").out)
        self.assertTrue(node["spec"].get("unschedulable"))
        path = self.bundle_of(r)
        names = names_in(path)
        self.assertIn("steps/look/stdout", names)
        self.assertIn("steps/log/default.log", names)
        tcp = read_member(path, "steps/look/stdout")
        self.assertIn(b"local_address", tcp)
        run = json.loads(read_member(path, "playbook/run.json"))
        look = next(s for s in run["steps"] if s["id"] == "look")
        self.assertEqual(look["outputs"]["exit_code"], 0)
        self.assertFalse(look["outputs"]["truncated"])


class TestResumeAndExitCodes(RunBase):
    def write(self, name, text):
        path = os.path.join(self.work, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_resume_skips_completed_steps(self):
        path = self.write("slow.yaml", """name: slow
description: isolate, pause, find siblings
params:
  pause: {type: string, default: 30s}
steps:
  - {id: isolate, uses: isolate, with: {exclusive: true}}
  - {id: pause, uses: wait, with: {duration: "{{ params.pause }}"}}
  - {id: siblings, uses: siblings}
""")
        env = dict(os.environ, KUBECTL_IR_HOME=self.home)
        env.pop("KUBECONFIG", None)
        proc = subprocess.Popen([IR_BIN, "--kubeconfig", cluster.kubeconfig, "run", path, "--pod", WEB, "-n", NS,
                                 "--case", "case-resume-1", "-o", os.path.join(self.work, "first.tar.gz")],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        seen = b""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and b"step pause (wait) ..." not in seen:
            seen += proc.stderr.read1(4096)
        proc.kill()  # killed mid-step: no chance to clean up
        proc.communicate(timeout=30)
        r = self.run_ir("run", path, "--pod", WEB, "-n", NS, "--resume", "case-resume-1", "--param", "pause=1s",
                        "-o", os.path.join(self.work, "second.tar.gz"))
        self.assertEqual(r.code, 0, r)
        self.assertRegex(r.out, r"isolate\s+isolate\s+resumed")
        self.assertRegex(r.out, r"pause\s+wait\s+ok")
        self.assertRegex(r.out, r"siblings\s+siblings\s+ok")
        starts = [e["step"] for e in journal_entries(self.home, "case-resume-1") if e["action"] == "playbook.step.start"]
        self.assertEqual(starts.count("isolate"), 1)
        self.assertEqual(starts.count("pause"), 2)

    def test_exit_codes(self):
        body = """name: fails
description: a step that fails
steps:
  - {id: label, uses: label, on_error: %s, with: {pod: no-such-pod, labels: {x: "y"}}}
  - {id: siblings, uses: siblings}
"""
        r = self.run_ir("run", self.write("c.yaml", body % "continue"), "--pod", WEB, "-n", NS)
        self.assertEqual(r.code, 3, r)
        self.assertRegex(r.out, r"siblings\s+siblings\s+ok")
        partial = self.default_bundle(r)
        r = self.run_ir("run", self.write("a.yaml", body % "abort"), "--pod", WEB, "-n", NS)
        self.assertEqual(r.code, 1, r)
        self.assertRegex(r.out, r"siblings\s+siblings\s+not run")
        aborted = self.default_bundle(r)
        self.assertEqual(sorted(glob.glob(os.path.join(self.work, "*.tar.gz"))), sorted([partial, aborted]))

    def default_bundle(self, r):
        """The bundle a run without -o wrote: named after case and playbook, in the working directory."""
        path = self.bundle_of(r)
        self.assertEqual(os.path.dirname(os.path.realpath(path)), os.path.realpath(self.work))
        self.assertRegex(os.path.basename(path), rf"^{re.escape(self.case_of(r))}_run-fails_\d{{8}}T\d{{6}}Z\.tar\.gz$")
        self.assertIn("playbook/run.json", names_in(path))
        return path


if __name__ == "__main__":
    unittest.main()
