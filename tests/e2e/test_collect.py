"""e2e: kubectl ir collect against the fake cluster (scenario `hostile` = demo + a hostile pod).

What the bundle holds is checked against what the reference client (kubectl) sees, and every
bundle is checked with `kubectl ir verify`.
"""
import hashlib
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

from harness import IR_BIN, fake_only, journal_entries, members, pods
from workloads import start, stop

cluster = w = None
WEB = SHELL_LESS = NS = None   # the compromised replica, the shell-less pod, their namespace (setUpModule)


def setUpModule():
    global cluster, w, WEB, SHELL_LESS, NS
    cluster, w = start("hostile", "collect")
    WEB, SHELL_LESS, NS = w.suspect, w.shell_less, w.namespace


def tearDownModule():
    stop(cluster, w)


def manifest_of(files):
    return {a["path"]: a for a in json.loads(files["manifest.json"])["artifacts"]}


class CollectBase(unittest.TestCase):
    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="ir-collect-")
        self.home = os.path.join(self.work, "home")

    def tearDown(self):
        shutil.rmtree(self.work, ignore_errors=True)
        if not cluster.real:
            cluster.clear_faults()

    def collect(self, pod, *args, name="b.tar.gz", context=None, timeout=300):
        out = os.path.join(self.work, name)
        r = cluster.ir("collect", pod, "-n", NS, "-o", out, *args, context=context,
                       env={"KUBECTL_IR_HOME": self.home}, timeout=timeout)
        return r, out

    def assert_verifies(self, path):
        v = cluster.ir("verify", path)
        self.assertEqual(v.code, 0, v)
        return v

    def assert_terminal_safe(self, r):
        for stream in (r.out, r.err):
            self.assertNotIn("\x1b", stream)
            self.assertNotIn("\x07", stream)
            self.assertNotIn("\r", stream)


class TestCompromisedPod(CollectBase):
    def test_bundle_holds_api_state_processes_network_and_hashes(self):
        r, path = self.collect(WEB)
        self.assertEqual(r.code, 0, r)
        # stdout: "<sha256>  <path>", and it is the file's hash
        digest, printed = r.out.split()
        self.assertEqual(printed, path)
        with open(path, "rb") as f:
            self.assertEqual(hashlib.sha256(f.read()).hexdigest(), digest)
        self.assertIn(digest, self.assert_verifies(path).out)
        self.assertFalse(os.path.exists(path + ".partial"))

        files = members(path)
        manifest = manifest_of(files)
        self.assertEqual(set(manifest), set(files) - {"manifest.json"})
        owners = [f"pod/owner-{i}-{kind}-{name}.json" for i, (kind, name) in enumerate(w.suspect_owners, 1)]
        for name in ("pod/pod.json", "pod/events.json", "node/node.json", "pod/networkpolicies.json", *owners,
                     "logs/web.log", "acquisition.log", "journal.jsonl",
                     "containers/web/processes/proc-walk.txt", "containers/web/processes/processes.json",
                     "containers/web/network/proc-net-tcp.txt", "containers/web/network/sockets.json",
                     "containers/web/filesystem/listing.txt", "containers/web/filesystem/listing.jsonl",
                     "containers/web/filesystem/hashes.json"):
            self.assertIn(name, files)
        self.assertEqual(manifest["pod/pod.json"]["method"], "api")
        self.assertEqual(manifest["containers/web/network/proc-net-tcp.txt"]["method"], "exec")
        self.assertEqual(manifest["containers/web/network/proc-net-tcp.txt"]["exit_status"], 0)

        pod = json.loads(files["pod/pod.json"])
        self.assertEqual(pod["metadata"]["name"], WEB)
        policies = json.loads(files["pod/networkpolicies.json"])
        self.assertEqual([p["metadata"]["name"] for p in policies["selecting"]], ["allow-egress"])

        # the miner: its process, its connection (owned by its pid), its binary's hash
        procs = json.loads(files["containers/web/processes/processes.json"])["records"]
        miner = next(p for p in procs if p.get("exe") == w.miner_exe)
        sockets = json.loads(files["containers/web/network/sockets.json"])["sockets"]
        conn = next(s for s in sockets if s.get("remote_ip") == w.pool_ip)
        self.assertEqual((conn["remote_port"], conn["state"]), (w.pool_port, "ESTABLISHED"))
        self.assertIn(miner["pid"], conn["pids"])
        hashes = json.loads(files["containers/web/filesystem/hashes.json"])
        exe = next(e for e in hashes["executables"] if e["path"] == w.miner_exe)
        ref = cluster.kubectl("exec", WEB, "-n", NS, "--", "cat", w.miner_exe)
        self.assertEqual(exe["sha256"], hashlib.sha256(ref.raw_out).hexdigest())
        payload = next(f for f in hashes["files"] if f["name"] == w.dropped.lstrip("/"))
        ref = cluster.kubectl("exec", WEB, "-n", NS, "--", "cat", w.dropped)
        self.assertEqual(payload["sha256"], hashlib.sha256(ref.raw_out).hexdigest())
        self.assertTrue(payload["complete"])

        listing = [json.loads(line) for line in files["containers/web/filesystem/listing.jsonl"].splitlines()]
        paths = {e.get("path"): e for e in listing}
        self.assertEqual(paths[w.miner_exe]["type"], "file")
        self.assertNotIn("/proc/1/stat", paths)  # -xdev: /proc is another file system

        log = files["acquisition.log"].decode()
        for key in ("case:", "examiner:", "caller identity:", "started (UTC):", "ended (UTC):", "tool:",
                    "context:", "server:", "pod uid:", "resourceVersion:", "node:", "imageID web:"):
            self.assertIn(key, log)
        self.assertIn(pod["metadata"]["uid"], log)
        self.assertNotIn("fake-admin-token", log)
        self.assertNotIn(b"fake-admin-token", b"".join(files.values()))

        case = next(line.split()[1] for line in log.splitlines() if line.startswith("case:"))
        actions = [e["action"] for e in journal_entries(self.home, case)]
        self.assertEqual(actions[0], "collect.start")
        self.assertIn("collect.end", actions)
        self.assertEqual(actions[-1], "collect.sealed")
        self.assertEqual(journal_entries(self.home, case)[-1]["sha256"], digest)

    def test_nothing_is_written_into_the_container(self):
        before = cluster.kubectl("exec", WEB, "-n", NS, "--", "find", "/", "-xdev", "-newer", "/proc/1/cmdline")
        r, _ = self.collect(WEB, "--fs", "archive")
        self.assertEqual(r.code, 0, r)
        after = cluster.kubectl("exec", WEB, "-n", NS, "--", "find", "/", "-xdev", "-newer", "/proc/1/cmdline")
        self.assertEqual(before.out, after.out)

    def test_archive_holds_the_files_as_the_container_has_them(self):
        r, path = self.collect(WEB, "--fs", "archive", "--path", "/tmp")
        self.assertEqual(r.code, 0, r)
        files = members(path)
        # the container's tar stream, kept as parts: concatenated in order they are the stream
        parts = sorted(n for n in files if n.startswith("containers/web/filesystem/archive-001.tar."))
        self.assertTrue(parts)
        stream = b"".join(files[n] for n in parts)
        import io
        with tarfile.open(fileobj=io.BytesIO(stream)) as tar:
            got = tar.extractfile(w.dropped.lstrip("/")).read()
        self.assertEqual(manifest_of(files)[parts[-1]]["exit_status"], 0)
        ref = cluster.kubectl("exec", WEB, "-n", NS, "--", "cat", w.dropped)
        self.assertEqual(got, ref.raw_out)
        # the running miner's binary, named after its pid (3 in the demo)
        pid = "3" if not w.real else r"\d+"
        self.assertTrue([n for n in files if re.fullmatch(rf"containers/web/filesystem/executables/{pid}-kworkerds", n)],
                        files)

    def test_dry_run_plans_without_exec_or_bundle(self):
        if not cluster.real:
            cluster.clear_requests()
        r, path = self.collect(WEB, "--dry-run")
        self.assertEqual(r.code, 0, r)
        self.assertIn("dryRun: true", r.out)
        self.assertFalse(os.path.exists(path))
        if not cluster.real:
            self.assertFalse([q for q in cluster.requests() if "exec" in q["path"]])


class TestShellLess(CollectBase):
    def test_without_ephemeral_says_what_is_missing_and_how(self):
        r, path = self.collect(SHELL_LESS)
        self.assertEqual(r.code, 3, r)
        self.assertIn("not collected", r.err)
        self.assertIn("--ephemeral", r.err)
        self.assert_verifies(path)
        files = members(path)
        self.assertIn("pod/pod.json", files)
        self.assertIn(f"logs/{w.shell_less_container}.log", files)

    def test_with_ephemeral_reads_through_a_debug_container(self):
        r, path = self.collect(SHELL_LESS, "--ephemeral", "--debug-image", w.debug_image)
        self.assertIn(r.code, (0, 3), r)
        self.assert_verifies(path)
        files = members(path)
        manifest = manifest_of(files)
        walk = manifest["containers/api/processes/proc-walk.txt"]
        self.assertEqual(walk["method"], "ephemeral")
        procs = json.loads(files["containers/api/processes/processes.json"])["records"]
        self.assertTrue(any(p.get("exe") == w.shell_less_exe for p in procs), procs)
        pod = json.loads(cluster.kubectl("get", "pod", SHELL_LESS, "-n", NS, "-o", "json").out)
        debug = [c["name"] for c in pod["spec"].get("ephemeralContainers", [])]
        self.assertTrue(debug)
        self.assertEqual(pod["spec"]["ephemeralContainers"][-1]["targetContainerName"], "api")
        log = files["acquisition.log"].decode()
        self.assertIn("ephemeral added:", log)
        journal = [json.loads(x) for x in files["journal.jsonl"].splitlines()]
        self.assertTrue(any(e["action"] == "collect.ephemeral" for e in journal))


@fake_only("its hostile pod")
class TestHostilePod(CollectBase):
    def test_bounded_escaped_and_contained(self):
        pod = pods(cluster, "shop", "app=hostile")[0]
        started = time.monotonic()
        r, path = self.collect(pod, "--fs", "archive", "--timeout", "20s", timeout=600)
        elapsed = time.monotonic() - started
        self.assertIn(r.code, (0, 3), r)
        self.assertLess(elapsed, 300)
        self.assert_terminal_safe(r)
        self.assert_verifies(path)
        # nothing written outside the bundle: the work dir holds the bundle and the case home only
        self.assertEqual(sorted(os.listdir(self.work)), ["b.tar.gz", "home"])

        files = members(path)
        manifest = manifest_of(files)
        dirs = {n.split("/")[1] for n in files if n.startswith("containers/")}
        self.assertEqual(len(dirs), 1)
        c = "containers/" + dirs.pop() + "/"
        # the endless ps was cut at its bound and said so
        ps = manifest.get(c + "processes/ps.txt")
        self.assertIsNotNone(ps)
        self.assertTrue(ps["truncated"], ps)
        # the malformed /proc/net/tcp was kept raw and its bad lines reported, not trusted
        sockets = json.loads(files[c + "network/sockets.json"])
        self.assertGreater(sockets["unparsed"], 0)
        # the 6 GiB sparse file is listed, not hashed
        hashes = json.loads(files[c + "filesystem/hashes.json"])
        self.assertTrue(any("max-file-bytes" in s["reason"] for s in hashes["skipped"]), hashes["skipped"][:5])
        # the lying tar's members are names in JSON, never paths
        names = [f.get("name", "") for f in hashes["files"]]
        self.assertTrue(any(n.startswith("/") or "../" in n for n in names), names)
        self.assertTrue(any(f.get("unexpected") for f in hashes["files"]))
        for n in files:
            self.assertFalse(n.startswith("/") or "/../" in n or n.startswith("../"), n)


@fake_only("fault injection, its restricted user, its hostile pod")
class TestFailuresMidWay(CollectBase):
    def tearDown(self):
        super().tearDown()
        cluster.admin("POST", "/_fake/reset")

    def test_stream_cut_leaves_a_partial_bundle(self):
        # one rule per exec, armed for the next ones (the first ps attempt prints nothing)
        cluster.faults([{"kind": "exec_cut", "after_bytes": 100}] * 3)
        r, path = self.collect(WEB)
        self.assertEqual(r.code, 3, r)
        self.assert_verifies(path)
        manifest = manifest_of(members(path))
        self.assertTrue(any(a["truncated"] for a in manifest.values()))

    def test_request_timeout_bounds_each_exec_upgrade(self):
        # An API server that never answers exec upgrades: every command gives up after
        # --request-timeout instead of the 30 s default, and the API-side evidence is still sealed.
        import time
        cluster.faults({"match": {"path": "/exec$"}, "delay_ms": 60000})
        start = time.monotonic()
        r, path = self.collect(WEB, "--request-timeout", "1s", "--fs", "none")
        elapsed = time.monotonic() - start
        self.assertEqual(r.code, 3, r)
        self.assertLess(elapsed, 60, "each upgrade gives up after 1 s")
        self.assert_verifies(path)
        files = members(path)
        self.assertIn("pod/pod.json", files)
        self.assertIn("no answer to the upgrade request within 1s", files["acquisition.log"].decode())

    def test_pod_deleted_mid_way(self):
        cluster.faults({"kind": "delete_pod", "namespace": "shop", "name": WEB, "after_requests": 6})
        r, path = self.collect(WEB)
        self.assertEqual(r.code, 3, r)
        self.assert_verifies(path)
        self.assertIn("pod/pod.json", members(path))

    def test_restricted_user_gets_what_rbac_allows(self):
        r, path = self.collect(WEB, context="fake-restricted")
        self.assertEqual(r.code, 3, r)
        self.assert_verifies(path)
        files = members(path)
        self.assertIn("pod/pod.json", files)
        self.assertIn("logs/web.log", files)
        self.assertNotIn("node/node.json", files)
        self.assertIn("forbidden", r.err)

    def test_ctrl_c_still_seals_the_bundle(self):
        pod = pods(cluster, "shop", "app=hostile")[0]
        out = os.path.join(self.work, "b.tar.gz")
        env = dict(os.environ, KUBECTL_IR_HOME=self.home)
        env.pop("KUBECONFIG", None)
        proc = subprocess.Popen([IR_BIN, "--kubeconfig", cluster.kubeconfig, "collect", pod, "-n", NS, "-o", out],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        # wait until it is inside the container's steps
        deadline = time.monotonic() + 60
        seen = b""
        while time.monotonic() < deadline and b"processes, network" not in seen:
            seen += proc.stderr.read1(4096)
        proc.send_signal(signal.SIGINT)
        out_b, err_b = proc.communicate(timeout=120)
        self.assertEqual(proc.returncode, 130, (seen + err_b).decode(errors="replace"))  # interrupted, bundle sealed
        self.assert_verifies(out)
        self.assertIn(b"interrupted", members(out)["acquisition.log"])


if __name__ == "__main__":
    unittest.main()
