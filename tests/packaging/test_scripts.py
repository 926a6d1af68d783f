"""The first hour: the scripts a new user runs. setup-deps.sh waits for another package manager
instead of failing at once; demo.sh runs the triage on the demo cluster from a release build and
leaves nothing with keys behind (test_demo: label `package`, it runs after scripts/package.sh built
the release binary, which it reuses)."""
import glob
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import unittest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


class SetupDeps(unittest.TestCase):
    def test_it_waits_for_another_package_manager(self):
        with open(os.path.join(REPO, "scripts", "setup-deps.sh")) as f:
            script = f.read()
        wait_fn = re.search(r"^wait_for_apt\(\) \{.*?^\}$", script, re.S | re.M)
        self.assertIsNotNone(wait_fn, "setup-deps.sh has no wait_for_apt")
        tmp = tempfile.mkdtemp(prefix="ir-apt-")
        try:
            fake = os.path.join(tmp, "dpkg")          # a process named like dpkg holding "the lock"
            shutil.copy("/bin/sleep", fake)
            holder = subprocess.Popen([fake, "3"])
            # Reaped as soon as it exits: a zombie named dpkg would still be "another package manager".
            reaper = threading.Thread(target=holder.wait)
            reaper.start()
            started = time.monotonic()
            r = subprocess.run(["bash", "-c", wait_fn.group(0) + "\nwait_for_apt"], capture_output=True, timeout=60)
            waited = time.monotonic() - started
            reaper.join()
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertGreaterEqual(waited, 2.5)
            self.assertIn(b"waiting for another package manager to finish", r.stderr)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


@unittest.skipUnless(os.environ.get("IR_TEST_DEMO"), "runs scripts/demo.sh: set IR_TEST_DEMO=1 (the package tier does)")
class Demo(unittest.TestCase):
    def test_the_demo_runs_and_leaves_no_keys_behind(self):
        before = set(glob.glob("/tmp/kubectl-ir-demo-cluster.*"))
        r = subprocess.run([os.path.join(REPO, "scripts", "demo.sh")], capture_output=True, timeout=1800)
        out, err = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
        self.assertEqual(r.returncode, 0, err[-3000:])
        self.assertIn("playbook triage: ok", out)
        self.assertRegex(out, r"entries: \d+ verified")
        self.assertEqual(set(glob.glob("/tmp/kubectl-ir-demo-cluster.*")), before)   # the cluster dir is gone
        evidence = re.search(r"the evidence stays in (\S+)", err).group(1)
        try:
            self.assertTrue(glob.glob(os.path.join(evidence, "*.tar.gz")))
            for root, _, files in os.walk(evidence):
                for name in files:
                    with open(os.path.join(root, name), "rb") as f:
                        self.assertNotIn(b"PRIVATE KEY", f.read(), os.path.join(root, name))
            self.assertIn("build/release/cmd/kubectl-ir", open(os.path.join(REPO, "scripts", "demo.sh")).read())
        finally:
            shutil.rmtree(evidence, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
