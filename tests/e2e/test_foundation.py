"""e2e: kubeconfig, transport, version and doctor against the fake cluster (issue: foundation)."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import yaml

from harness import Cluster, fake_only, run_ir

cluster = None


def count_lines(path):
    with open(path) as f:
        return f.read().count("\n")


def setUpModule():
    global cluster
    cluster = Cluster("demo")


def tearDownModule():
    cluster.stop()


class Version(unittest.TestCase):
    def test_client_and_server_version(self):
        r = cluster.ir("version")
        self.assertEqual(r.code, 0, r)
        self.assertRegex(r.out, r"^Client Version: v\d+\.\d+\.\d+ \(commit \w+\)\nServer Version: v1\.\d+")

    def test_json(self):
        r = cluster.ir("version", "-o", "json")
        self.assertEqual(r.code, 0, r)
        doc = json.loads(r.out)
        self.assertIn("version", doc["clientVersion"])
        self.assertTrue(doc["serverVersion"]["gitVersion"].startswith("v1."))

    def test_without_any_configuration(self):
        home = tempfile.mkdtemp()
        try:
            r = run_ir("version", env={"HOME": home})
        finally:
            shutil.rmtree(home)
        self.assertEqual(r.code, 0, r)
        self.assertIn("Client Version:", r.out)
        self.assertIn("kubectl-ir: warning: server version:", r.err)


class Doctor(unittest.TestCase):
    def test_admin_everything_allowed(self):
        r = cluster.ir("doctor", "-n", "shop", context="fake-admin")
        self.assertEqual(r.code, 0, r)
        self.assertIn("Version:    v1.", r.out)
        if not cluster.real:
            self.assertIn("Identity:   admin (groups: system:masters", r.out)
        self.assertRegex(r.out, r"collect\s+create\s+pods/exec\s+shop\s+yes")
        self.assertNotIn(" NO ", r.out)
        self.assertEqual(r.err, "")

    def test_json_output(self):
        r = cluster.ir("doctor", "-o", "json", "-n", "shop")
        self.assertEqual(r.code, 0, r)
        doc = json.loads(r.out)
        self.assertTrue(doc["ok"])
        exec_rows = [p for p in doc["permissions"] if p["resource"] == "pods/exec"]
        self.assertTrue(exec_rows and all(p["allowed"] for p in exec_rows))

    @fake_only("its restricted user")
    def test_restricted_user_names_what_is_missing(self):
        r = cluster.ir("doctor", context="fake-restricted")
        self.assertEqual(r.code, 1, r)
        self.assertIn("Identity:   alice", r.out)
        self.assertRegex(r.out, r"collect\s+create\s+pods/exec\s+shop\s+NO")
        self.assertRegex(r.out, r"isolate\s+get\s+pods\s+shop\s+yes")
        self.assertRegex(r.err, r"^kubectl-ir: error: \d+ required permission\(s\) missing\nhint: ")

    @fake_only("its users")
    def test_impersonation(self):
        r = cluster.ir("doctor", "--as", "alice", "--as-group", "system:authenticated", context="fake-admin")
        self.assertEqual(r.code, 1, r)
        self.assertIn("Identity:   alice", r.out)

    @fake_only("its client-certificate contexts")
    def test_client_certificate_user(self):
        for ctx in ("fake-cert", "fake-cert-data"):
            r = cluster.ir("doctor", context=ctx)
            self.assertEqual(r.code, 0, (ctx, r))
            self.assertIn("Identity:   cert-user", r.out)

    @fake_only("its exec-plugin context")
    def test_exec_plugin_user_runs_the_plugin_once(self):
        calls = os.path.join(cluster.dir, "exec-plugin.calls")
        before = count_lines(calls) if os.path.exists(calls) else 0
        r = cluster.ir("doctor", context="fake-exec")
        self.assertEqual(r.code, 0, r)
        self.assertIn("Identity:   exec-user", r.out)
        after = count_lines(calls)
        self.assertEqual(after - before, 1, "the credential is cached for the whole run")


class Failures(unittest.TestCase):
    def tearDown(self):
        if not cluster.real:
            cluster.clear_faults()

    @fake_only("its revoked-token context")
    def test_rejected_token(self):
        r = cluster.ir("doctor", context="fake-badtoken")
        self.assertEqual(r.code, 1, r)
        self.assertRegex(r.err, r"^kubectl-ir: error: .*Unauthorized\nhint: the API server rejected the credentials")
        self.assertEqual(r.out, "")

    def test_wrong_ca(self):
        tmp = tempfile.mkdtemp()
        try:
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                            "-subj", "/CN=other-ca", "-keyout", os.path.join(tmp, "k.pem"),
                            "-out", os.path.join(tmp, "ca.pem")], check=True, capture_output=True)
            r = cluster.ir("doctor", "--certificate-authority", os.path.join(tmp, "ca.pem"))
        finally:
            shutil.rmtree(tmp)
        self.assertEqual(r.code, 1, r)
        self.assertRegex(r.err, "^kubectl-ir: error: cannot reach the API server at " + re.escape(cluster.server()) +
                                r": .*TLS.*\n"
                                r"hint: check certificate-authority in the kubeconfig \(or --certificate-authority\)\n$")

    def test_insecure_skip_verify_overrides(self):
        tmp = tempfile.mkdtemp()
        try:
            cfg = cluster.config()
            for c in cfg["clusters"]:
                c["cluster"].pop("certificate-authority", None)
                c["cluster"].pop("certificate-authority-data", None)
            path = os.path.join(tmp, "kc")
            with open(path, "w") as f:
                yaml.safe_dump(cfg, f)
            no_ca = run_ir("--kubeconfig", path, "version")
            insecure = run_ir("--kubeconfig", path, "--insecure-skip-tls-verify", "version")
        finally:
            shutil.rmtree(tmp)
        self.assertIn("warning: server version:", no_ca.err)  # system CAs do not know the cluster's CA
        self.assertNotIn("Server Version", no_ca.out)
        self.assertIn("Server Version: v1.", insecure.out)

    def test_unreachable_server(self):
        r = cluster.ir("doctor", "--server", "https://127.0.0.1:1")
        self.assertEqual(r.code, 1, r)
        self.assertRegex(r.err, r"^kubectl-ir: error: cannot reach the API server at https://127\.0\.0\.1:1: ")
        self.assertEqual(r.err.count("\n"), 1)

    @fake_only("fault injection")
    def test_429_is_retried_with_retry_after(self):
        cluster.faults([{"match": {"method": "GET", "path": "^/version$"}, "status": 429, "retry_after": 1, "times": 2}])
        r = cluster.ir("version", "-v", "6")
        self.assertEqual(r.code, 0, r)
        self.assertIn("Server Version", r.out)
        self.assertEqual(len(re.findall(r"GET https://\S+/version 429", r.err)), 2, r.err)

    @fake_only("fault injection")
    def test_html_instead_of_json(self):
        cluster.faults([{"match": {"method": "GET", "path": "^/version$"}, "status": 200,
                         "body": "<html><body>Sign in</body></html>", "content_type": "text/html"}])
        r = cluster.ir("doctor")
        self.assertEqual(r.code, 1, r)
        self.assertIn("text/html instead of JSON", r.err)

    @fake_only("fault injection")
    def test_request_timeout(self):
        cluster.faults([{"match": {"method": "GET", "path": "^/version$"}, "delay_ms": 4000}])
        r = cluster.ir("doctor", "--request-timeout", "1s")
        self.assertEqual(r.code, 1, r)
        self.assertIn("timed out", r.err)

    def test_malformed_kubeconfig(self):
        tmp = tempfile.mkdtemp()
        try:
            path = os.path.join(tmp, "kc")
            with open(path, "w") as f:
                f.write("apiVersion: v1\nclusters: [\n  - name: x\n")
            r = run_ir("--kubeconfig", path, "doctor")
        finally:
            shutil.rmtree(tmp)
        self.assertEqual(r.code, 1, r)
        self.assertRegex(r.err, r"^kubectl-ir: error: kubeconfig .*/kc: .*line \d+")

    @fake_only("its context names")
    def test_unknown_context_lists_what_there_is(self):
        r = cluster.ir("doctor", "--context", "fake-admn")
        self.assertEqual(r.code, 1, r)
        self.assertIn('context "fake-admn" not found (have: ', r.err)
        self.assertIn('hint: did you mean "fake-admin"', r.err)


@fake_only("a second server, at 1.26")
class OldServer(unittest.TestCase):
    """A 1.26 API server: no SelfSubjectReview."""

    @classmethod
    def setUpClass(cls):
        cls.old = Cluster("demo", k8s_version="1.26")

    @classmethod
    def tearDownClass(cls):
        cls.old.stop()

    def test_doctor_degrades_identity(self):
        r = self.old.ir("doctor")
        self.assertEqual(r.code, 0, r)
        self.assertIn("Version:    v1.26", r.out)
        self.assertIn("Identity:   unknown: the server does not serve SelfSubjectReview", r.out)


if __name__ == "__main__":
    unittest.main()
