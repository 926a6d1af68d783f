"""e2e: shell completion. `kubectl ir <TAB>` through kubectl's own bash completion (kubectl runs
kubectl_complete-ir from PATH), and the Cobra protocol of `kubectl-ir __complete` directly."""
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import IR_BIN, fake_only
from workloads import start, stop

cluster = w = None
COMPLETE_HELPER = os.path.join(os.path.dirname(IR_BIN), "kubectl_complete-ir")


def setUpModule():
    global cluster, w
    cluster, w = start("demo", "completion")


def tearDownModule():
    stop(cluster, w)


class TestCompletion(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # kubectl finds plugins (and their completion helpers) on PATH
        cls.bin = tempfile.mkdtemp(prefix="ir-path-")
        os.symlink(IR_BIN, os.path.join(cls.bin, "kubectl-ir"))
        os.symlink(COMPLETE_HELPER, os.path.join(cls.bin, "kubectl_complete-ir"))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.bin, ignore_errors=True)

    def env(self):
        e = dict(os.environ, PATH=self.bin + ":" + os.environ["PATH"], KUBECONFIG=cluster.kubeconfig)
        return e

    def protocol(self, *words):
        r = subprocess.run([IR_BIN, "__complete", *words], capture_output=True, env=self.env(), timeout=30)
        self.assertEqual(r.returncode, 0, r)
        lines = r.stdout.decode().splitlines()
        self.assertTrue(lines[-1].startswith(":"), lines)
        return [l.split("\t")[0] for l in lines[:-1]], int(lines[-1][1:])

    def bash_complete(self, line):
        """COMPREPLY of kubectl's bash completion for `line` (completing its last word)."""
        words = line.split(" ")
        quoted = " ".join("'" + w + "'" for w in words)
        script = ("source /usr/share/bash-completion/bash_completion; source <(kubectl completion bash); "
                  "COMP_WORDS=(" + quoted + "); COMP_CWORD=" + str(len(words) - 1) + "; "
                  "COMP_LINE='" + line + "'; COMP_POINT=${#COMP_LINE}; "
                  '__start_kubectl kubectl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}" 2>/dev/null; '
                  "printf '%s\\n' \"${COMPREPLY[@]}\"")
        r = subprocess.run(["bash", "-c", script], capture_output=True, env=self.env(), timeout=60)
        return [w for w in r.stdout.decode().splitlines() if w]

    def test_kubectl_ir_tab_completes_verbs_in_bash(self):
        got = self.bash_complete("kubectl ir ")
        for verb in ("isolate", "release", "collect", "siblings", "run", "verify", "exec", "playbooks"):
            self.assertIn(verb, got)
        self.assertEqual(self.bash_complete("kubectl ir sib"), ["siblings"])

    def test_pod_names_come_from_the_cluster(self):
        got = self.bash_complete(f"kubectl ir collect -n {w.namespace} web-")
        self.assertIn(w.suspect, got)
        self.assertTrue(all(p.startswith("web-") for p in got), got)

    def test_flags_playbooks_and_values(self):
        names, directive = self.protocol("collect", "--fs", "")
        self.assertEqual(names, ["listing", "archive", "none"])
        self.assertEqual(directive, 4)
        names, _ = self.protocol("isolate", "--ing")
        self.assertEqual(names, ["--ingress"])
        names, directive = self.protocol("run", "")
        self.assertIn("triage", names)
        self.assertEqual(directive, 0)  # a playbook file works too
        names, _ = self.protocol("playbooks", "show", "cry")
        self.assertEqual(names, ["cryptominer"])
        names, _ = self.protocol("-n", w.namespace, "run", "triage", w.suspect[:-4])
        self.assertEqual(names, [w.suspect])

    def test_completion_scripts(self):
        for shell in ("bash", "zsh"):
            r = cluster.ir("completion", shell)
            self.assertEqual(r.code, 0, r)
            self.assertIn("__complete", r.out)
        r = cluster.ir("completion", "fish")
        self.assertEqual(r.code, 2, r)


if __name__ == "__main__":
    unittest.main()
