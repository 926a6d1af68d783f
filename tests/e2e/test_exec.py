"""e2e: kubectl ir exec over WebSocket (v5 and v4-only servers), limits, cuts, journal."""
import hashlib
import json
import os
import shutil
import tempfile
import unittest

from harness import Cluster, fake_only, journal_entries
from workloads import Workloads

clusters = {}
workloads = {}


def setUpModule():
    clusters["v5"] = Cluster("demo")
    clusters["v4"] = Cluster("demo", k8s_version="1.26") if not clusters["v5"].real else None
    for version, c in clusters.items():
        workloads[version] = Workloads(c, "exec") if c else None


def tearDownModule():
    for w in workloads.values():
        if w:
            w.close()
    for c in clusters.values():
        if c:
            c.stop()


class ExecBase:
    version = None

    @classmethod
    def setUpClass(cls):
        cls.cluster = clusters[cls.version]
        if cls.cluster is None:
            raise unittest.SkipTest("v4-only server needs the fake cluster")
        cls.pod = workloads[cls.version].healthy[0]   # any pod with a shell
        cls.ns = workloads[cls.version].namespace
        cls.home = tempfile.mkdtemp(prefix="ir-home-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.home, ignore_errors=True)

    def tearDown(self):
        if not self.cluster.real:
            self.cluster.clear_faults()

    def ir(self, *args, **kw):
        return self.cluster.ir(*args, env={"KUBECTL_IR_HOME": self.home}, **kw)

    def test_exit_codes(self):
        for code in (0, 1, 3):
            r = self.ir("exec", self.pod, "-n", self.ns, "--", "sh", "-c", f"exit {code}")
            self.assertEqual(r.code, code, r)

    def test_stdout_and_stderr_are_separate(self):
        r = self.ir("exec", self.pod, "-n", self.ns, "--", "sh", "-c", "echo out; echo err >&2")
        self.assertEqual(r.code, 0, r)
        self.assertEqual(r.out, "out\n")
        self.assertEqual(r.err, "err\n")

    def test_arguments_are_passed_verbatim(self):
        r = self.ir("exec", self.pod, "-n", self.ns, "--", "echo", "a b", "$HOME", "'q'", "-x")
        self.assertEqual(r.out, "a b $HOME 'q' -x\n", r)

    def test_terminal_output_is_escaped_and_file_output_raw(self):
        script = r"printf 'red\033[31m\007bell\r\n'"
        r = self.ir("exec", self.pod, "-n", self.ns, "--", "sh", "-c", script)
        self.assertEqual(r.out, "red\\x1b[31m\\x07bell\\r\n", r)
        out = os.path.join(self.home, "raw.bin")
        r = self.ir("exec", self.pod, "-n", self.ns, "-o", out, "--", "sh", "-c", script)
        self.assertEqual(r.code, 0, r)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), b"red\x1b[31m\x07bell\r\n")

    def test_journal_records_command_exit_and_hash(self):
        r = self.ir("exec", self.pod, "-n", self.ns, "--case", f"case-exec-{self.version}", "--",
                    "sh", "-c", "echo journaled; exit 4")
        self.assertEqual(r.code, 4, r)
        entry = journal_entries(self.home, f"case-exec-{self.version}")[-1]
        self.assertEqual(entry["action"], "exec")
        self.assertEqual(entry["command"], ["sh", "-c", "echo journaled; exit 4"])
        self.assertEqual(entry["exit_code"], 4)
        self.assertEqual(entry["stdout"]["sha256"], hashlib.sha256(b"journaled\n").hexdigest())
        self.assertEqual(entry["pod"], self.pod)
        self.assertEqual(entry["end"], "completed")
        self.assertNotIn("token", json.dumps(entry).lower())

    def test_missing_binary(self):
        r = self.ir("exec", self.pod, "-n", self.ns, "--", "no-such-binary")
        self.assertEqual(r.code, 1, r)
        self.assertRegex(r.err, rf"^kubectl-ir: error: exec in {self.ns}/\S+: .*executable file not found")

    def test_missing_container(self):
        r = self.ir("exec", self.pod, "-n", self.ns, "-c", "nope", "--", "true")
        self.assertEqual(r.code, 1, r)
        self.assertIn("container nope is not valid for pod", r.err)

    def test_missing_pod(self):
        r = self.ir("exec", "no-such-pod", "-n", self.ns, "--", "true")
        self.assertEqual(r.code, 1, r)
        self.assertIn('pods "no-such-pod" not found', r.err)

    def test_endless_output_hits_the_limit(self):
        out = os.path.join(self.home, "yes.out")
        r = self.ir("exec", self.pod, "-n", self.ns, "--max-bytes", "1Mi", "-o", out, "--", "yes")
        self.assertEqual(r.code, 3, r)
        self.assertIn("stdout limit of 1048576 bytes reached", r.err)
        self.assertEqual(os.path.getsize(out), 1 << 20)

    def test_endless_stderr_hits_the_stderr_limit(self):
        case = f"case-stderr-{self.version}"
        limit = 16 << 20  # the stderr bound, not an option
        r = self.ir("exec", self.pod, "-n", self.ns, "--case", case, "--", "sh", "-c", "echo out; yes >&2")
        self.assertEqual(r.code, 3, r.err[-2000:])
        # Exactly the limit reached the terminal, then the error.
        self.assertEqual(r.err[:limit], "y\n" * (limit // 2))
        self.assertRegex(r.err[limit:], rf"^kubectl-ir: error: exec in {self.ns}/\S+: stderr limit of 16777216 bytes "
                                        r"reached; output truncated\n")
        self.assertEqual(r.out, "out\n")
        entry = journal_entries(self.home, case)[-1]
        self.assertEqual(entry["end"], "stderr limit reached")
        self.assertIsNone(entry["exit_code"])
        self.assertEqual(entry["stderr"]["bytes_kept"], limit)
        self.assertGreater(entry["stderr"]["bytes_received"], limit)
        self.assertEqual(entry["stderr"]["sha256"], hashlib.sha256(b"y\n" * (limit // 2)).hexdigest())
        self.assertEqual(entry["stdout"]["bytes_kept"], 4)

    def test_total_timeout(self):
        import time
        case = f"case-timeout-{self.version}"
        start = time.monotonic()
        r = self.ir("exec", self.pod, "-n", self.ns, "--case", case, "--timeout", "1500ms", "--",
                    "sh", "-c", "echo started; sleep 30")
        elapsed = time.monotonic() - start
        self.assertEqual(r.code, 3, r)
        self.assertGreaterEqual(elapsed, 1.5)
        self.assertLess(elapsed, 10, "stops at the timeout, not when the command ends")
        self.assertEqual(r.out, "started\n")
        self.assertRegex(r.err, rf"^kubectl-ir: error: exec in {self.ns}/\S+: no exit status within 1500ms "
                                r"\(after 8 stdout and 0 stderr bytes\)\n")
        self.assertIn("hint: the remote exit code is unknown", r.err)
        entry = journal_entries(self.home, case)[-1]
        self.assertEqual(entry["end"], "total timeout")
        self.assertIsNone(entry["exit_code"])
        self.assertEqual(entry["stdout"]["bytes_kept"], 8)

    def test_invalid_timeout_is_a_usage_error(self):
        r = self.ir("exec", self.pod, "-n", self.ns, "--timeout", "soon", "--", "true")
        self.assertEqual(r.code, 2, r)
        self.assertIn("invalid --timeout or --idle-timeout", r.err)

    @fake_only("fault injection (a delayed upgrade)")
    def test_request_timeout_bounds_the_upgrade(self):
        import time
        self.cluster.faults([{"match": {"path": "/exec$"}, "delay_ms": 8000, "times": 1}])
        start = time.monotonic()
        r = self.ir("exec", self.pod, "-n", self.ns, "--request-timeout", "1s", "--", "echo", "never")
        elapsed = time.monotonic() - start
        self.assertEqual(r.code, 1, r)
        self.assertRegex(r.err, rf"^kubectl-ir: error: exec in {self.ns}/\S+: no answer to the upgrade request within 1s\n")
        self.assertEqual(r.out, "")
        self.assertLess(elapsed, 6, "gives up at the request timeout, not when the server answers")

    def test_ctrl_c_cancels_cleanly_and_is_journaled(self):
        import signal
        import subprocess
        import time
        from harness import IR_BIN
        case = f"case-ctrlc-{self.version}"
        p = subprocess.Popen([IR_BIN, "--kubeconfig", self.cluster.kubeconfig, "exec", self.pod, "-n", self.ns,
                              "--case", case, "--", "sleep", "30"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env={**os.environ, "KUBECTL_IR_HOME": self.home})
        time.sleep(1.5)
        p.send_signal(signal.SIGINT)
        start = time.monotonic()
        _, err = p.communicate(timeout=10)
        self.assertLess(time.monotonic() - start, 3, "stops promptly")
        self.assertEqual(p.returncode, 130, err)
        self.assertIn(b"interrupted", err)
        self.assertEqual(journal_entries(self.home, case)[-1]["end"], "cancelled")

    @fake_only("its restricted user")
    def test_forbidden_user(self):
        r = self.cluster.ir("exec", self.pod, "-n", self.ns, "--", "true", context="fake-restricted",
                            env={"KUBECTL_IR_HOME": self.home})
        self.assertEqual(r.code, 1, r)
        self.assertRegex(r.err, r'forbidden: User "alice" cannot (create|get) resource "pods/exec"')

    @fake_only("fault injection (a cut stream)")
    def test_stream_cut_after_n_bytes(self):
        self.cluster.faults([{"kind": "exec_cut", "after_bytes": 100000}])
        out = os.path.join(self.home, "cut.out")
        r = self.ir("exec", self.pod, "-n", self.ns, "-o", out, "--", "head", "-c", "1000000", "/dev/zero")
        self.assertEqual(r.code, 3, r)
        self.assertRegex(r.err, rf"exec in {self.ns}/\S+: .*(closed|reset|lost)")
        kept = os.path.getsize(out)
        self.assertGreater(kept, 0)
        self.assertLess(kept, 1000000)


class ExecV5(ExecBase, unittest.TestCase):
    version = "v5"

    def test_negotiates_v5_and_sends_stdin(self):
        if self.cluster.server_version() < (1, 30):
            self.skipTest("API servers before 1.30 answer v4 only")
        import subprocess
        from harness import IR_BIN
        p = subprocess.run([IR_BIN, "--kubeconfig", self.cluster.kubeconfig, "exec", self.pod, "-n", self.ns,
                            "--case", "case-v5", "-i", "--", "cat"], input=b"from stdin\n",
                           capture_output=True, timeout=60, env={**os.environ, "KUBECTL_IR_HOME": self.home})
        self.assertEqual(p.returncode, 0, p)
        self.assertEqual(p.stdout, b"from stdin\n")
        self.assertEqual(journal_entries(self.home, "case-v5")[-1]["protocol"], "v5.channel.k8s.io")


class ExecV4(ExecBase, unittest.TestCase):
    version = "v4"

    def test_negotiates_v4(self):
        r = self.ir("exec", self.pod, "-n", self.ns, "--case", "case-v4", "--", "true")
        self.assertEqual(r.code, 0, r)
        self.assertEqual(journal_entries(self.home, "case-v4")[-1]["protocol"], "v4.channel.k8s.io")

    def test_stdin_needs_v5(self):
        import subprocess
        from harness import IR_BIN
        p = subprocess.run([IR_BIN, "--kubeconfig", self.cluster.kubeconfig, "exec", self.pod, "-n", self.ns,
                            "-i", "--", "cat"], input=b"x", capture_output=True, timeout=60,
                           env={**os.environ, "KUBECTL_IR_HOME": self.home})
        self.assertEqual(p.returncode, 1, p)
        self.assertIn(b"Kubernetes 1.30", p.stderr)


if __name__ == "__main__":
    unittest.main()
