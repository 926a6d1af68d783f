"""Shared helpers for kubectl-ir's end-to-end tests.

The tests run the built binary as a user would. By default each test module starts its own fake
cluster (tests/fake-cluster/start.sh) and stops it at the end. With IR_E2E_KUBECONFIG set, they run
against that real cluster instead, and tests that need the fake cluster's admin endpoint, extra
users or fault injection are skipped. The pods the tests act on come from workloads.Workloads: the
demo scenario's on the fake cluster, created for each module (and deleted after it) on a real one.

Environment: IR_BIN (the kubectl-ir binary; default build/dev/cmd/kubectl-ir).
"""
import json
import os
import shutil
import ssl
import subprocess
import tarfile
import tempfile
import unittest
import urllib.request

import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FAKE = os.path.join(REPO, "tests", "fake-cluster")
IR_BIN = os.environ.get("IR_BIN", os.path.join(REPO, "build", "dev", "cmd", "kubectl-ir"))
REAL_KUBECONFIG = os.environ.get("IR_E2E_KUBECONFIG")


def fake_only(test_or_reason):
    """Skips a test (or class) when running against a real cluster: `@fake_only`, or
    `@fake_only("why")` to say what of the fake it needs (admin endpoint, its users, demo data...)."""
    if isinstance(test_or_reason, str):
        return unittest.skipIf(REAL_KUBECONFIG, "needs the fake cluster: " + test_or_reason)
    return unittest.skipIf(REAL_KUBECONFIG, "needs the fake cluster")(test_or_reason)


class Result:
    def __init__(self, proc):
        self.code = proc.returncode
        self.out = proc.stdout.decode("utf-8", "replace")
        self.err = proc.stderr.decode("utf-8", "replace")
        self.raw_out = proc.stdout

    def __repr__(self):
        return f"exit {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


class Cluster:
    """A fake cluster in a temporary directory (or the real one from IR_E2E_KUBECONFIG)."""

    def __init__(self, scenario="demo", k8s_version=None):
        self.real = bool(REAL_KUBECONFIG)
        self.dir = None
        if self.real:
            self.kubeconfig = REAL_KUBECONFIG
            return
        self.dir = tempfile.mkdtemp(prefix="ir-e2e-")
        args = [os.path.join(FAKE, "start.sh"), self.dir, "--scenario", scenario]
        if k8s_version:
            args += ["--k8s-version", k8s_version]
        proc = subprocess.run(args, capture_output=True, timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"fake cluster did not start: {proc.stderr.decode(errors='replace')}")
        self.kubeconfig = os.path.join(self.dir, "kubeconfig")

    @classmethod
    def attach(cls, kubeconfig):
        """A Cluster for an already running fake cluster (benchmarks start their own)."""
        c = cls.__new__(cls)
        c.real, c.dir, c.kubeconfig = False, None, kubeconfig
        return c

    def stop(self):
        if self.dir:
            subprocess.run([os.path.join(FAKE, "stop.sh"), self.dir], capture_output=True, timeout=60)
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    # --- the kubeconfig, as data ---
    def config(self):
        with open(self.kubeconfig) as f:
            return yaml.safe_load(f)

    def user_of(self, context):
        cfg = self.config()
        ctx = next(c["context"] for c in cfg["contexts"] if c["name"] == context)
        return next(u["user"] for u in cfg["users"] if u["name"] == ctx["user"])

    def server(self):
        """The API server URL of the kubeconfig's current context."""
        cfg = self.config()
        ctx = next((c["context"] for c in cfg.get("contexts") or [] if c["name"] == cfg.get("current-context")), None)
        name = ctx["cluster"] if ctx else cfg["clusters"][0]["name"]
        return next(c["cluster"]["server"] for c in cfg["clusters"] if c["name"] == name)

    # --- the fake cluster's admin endpoint (/_fake/...) ---
    def admin(self, method, path, body=None):
        cfg = self.config()
        cluster = cfg["clusters"][0]["cluster"]
        ctx = ssl.create_default_context()
        if "certificate-authority" in cluster:
            ctx.load_verify_locations(cafile=cluster["certificate-authority"])
        else:
            import base64
            ctx.load_verify_locations(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
        token = self.user_of("fake-admin")["token"]
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(cluster["server"] + path, data=data, method=method,
                                     headers={"Authorization": "Bearer " + token,
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
            text = resp.read().decode()
            return json.loads(text) if text.strip() else None

    def faults(self, rules):
        self.admin("POST", "/_fake/faults", rules)

    def clear_faults(self):
        self.admin("DELETE", "/_fake/faults")

    def requests(self):
        return self.admin("GET", "/_fake/requests")

    def clear_requests(self):
        self.admin("DELETE", "/_fake/requests")

    # --- running things ---
    def ir(self, *args, context=None, env=None, timeout=120, kubeconfig=True, cwd=None):
        """Runs kubectl-ir against this cluster; cwd: its working directory (where a bundle without -o goes)."""
        cmd = [IR_BIN]
        if kubeconfig:
            cmd += ["--kubeconfig", self.kubeconfig]
        if context and not self.real:
            cmd += ["--context", context]
        cmd += list(args)
        full_env = dict(os.environ)
        full_env.pop("KUBECONFIG", None)
        full_env.update(env or {})
        return Result(subprocess.run(cmd, capture_output=True, timeout=timeout, env=full_env, cwd=cwd))

    def server_version(self):
        """(major, minor) of the API server, as kubectl reports it."""
        r = self.kubectl("version", "-o", "json")
        v = json.loads(r.out)["serverVersion"]
        return int(v["major"]), int("".join(ch for ch in v["minor"] if ch.isdigit()))

    def kubectl(self, *args, timeout=60):
        return Result(subprocess.run(["kubectl", "--kubeconfig", self.kubeconfig] + list(args),
                                     capture_output=True, timeout=timeout))


def run_ir(*args, env=None, timeout=60):
    """Runs kubectl-ir with exactly these arguments and environment additions."""
    full_env = dict(os.environ)
    full_env.pop("KUBECONFIG", None)
    full_env.update(env or {})
    return Result(subprocess.run([IR_BIN] + list(args), capture_output=True, timeout=timeout, env=full_env))


def pods(cluster, namespace, selector=None):
    """Names of pods in a namespace (via kubectl, the reference client)."""
    args = ["get", "pods", "-n", namespace, "-o", "json"]
    if selector:
        args += ["-l", selector]
    r = cluster.kubectl(*args)
    if r.code != 0:
        raise RuntimeError(f"kubectl get pods failed: {r}")
    return [p["metadata"]["name"] for p in json.loads(r.out)["items"]]


def journal_entries(home, case_id):
    """The case journal's entries under KUBECTL_IR_HOME=home."""
    path = os.path.join(home, "cases", case_id, "journal.jsonl")
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


class Members(dict):
    """name -> bytes; shows only the names when an assertion prints it."""
    def __repr__(self):
        return repr(sorted(self))


def members(path):
    """name -> bytes of every file in a bundle (a tar.gz)."""
    with tarfile.open(path, "r:gz") as tar:
        return Members({m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()})
