"""Tests of the pod runtime (fakecluster.runtime): real processes in real namespaces.

Run as root from tests/fake-cluster:  /usr/bin/python3 -m unittest tests.test_runtime
Each test gets its own workdir and Runtime, and checks on tear-down that the runtime left no
process, mount or file behind.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import time
import unittest

from fakecluster import profiles
from fakecluster.runtime import (ContainerNotRunning, ExecNotFound, Runtime, proc_start_ticks,
                                 resolve_executable)

TS_LINE = re.compile(rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z ")
POOL_HEX = "076433C6:0D05"      # 198.51.100.7:3333 as /proc/net/tcp writes it
HTTP_LISTEN = "00000000:1F90"   # 0.0.0.0:8080

_HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _ppid_map() -> dict[int, int]:
    out = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as f:
                    data = f.read()
                out[int(name)] = int(data[data.rfind(b")") + 2:].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    return out


def descendants(pid: int) -> dict[int, int]:
    """{pid: start ticks} of every live descendant of pid."""
    children: dict[int, list[int]] = {}
    for child, parent in _ppid_map().items():
        children.setdefault(parent, []).append(child)
    out, todo = {}, [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            start = proc_start_ticks(child)
            if start is not None:
                out[child] = start
                todo.append(child)
    return out


def alive(procs: dict[int, int]) -> dict[int, int]:
    """Those of procs (pid: start ticks) that still exist and are not zombies."""
    out = {}
    for pid, start in procs.items():
        if proc_start_ticks(pid) == start:
            try:
                with open(f"/proc/{pid}/stat", "rb") as f:
                    data = f.read()
                if data[data.rfind(b")") + 2:][:1] not in (b"Z", b"X"):
                    out[pid] = start
            except OSError:
                pass
    return out


def cmdline(pid: int) -> list[bytes]:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().split(b"\0")[:-1]


def mounts_under(path: str) -> list[str]:
    with open("/proc/mounts") as f:
        return [line for line in f if f" {path}" in line]


@unittest.skipUnless(os.geteuid() == 0, "the runtime needs root (namespaces, mounts)")
class RuntimeCase(unittest.IsolatedAsyncioTestCase):
    """A fresh Runtime per test; tear-down checks that shutdown leaves nothing behind."""

    async def asyncSetUp(self):
        # IsolatedAsyncioTestCase runs its loop in debug mode: slow, and noisy about slow steps
        asyncio.get_running_loop().set_debug(False)
        self.workdir = tempfile.mkdtemp(prefix="fc-runtime-test-")
        self.rt = Runtime(self.workdir)

    async def asyncTearDown(self):
        before = descendants(os.getpid())
        await self.rt.shutdown()
        left = await self._wait_gone(before)
        self.assertEqual(left, {}, "processes left after shutdown")
        self.assertEqual(mounts_under(self.workdir), [], "mounts left after shutdown")
        self.assertEqual(os.listdir(self.workdir), [], "files left after shutdown")
        os.rmdir(self.workdir)

    @staticmethod
    async def _wait_gone(procs: dict[int, int], timeout: float = 5) -> dict[int, int]:
        deadline = time.monotonic() + timeout
        while (left := alive(procs)) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return left

    async def start(self, uid: str, fake: dict, name: str = "c", pod: str | None = None,
                    ip: str = "10.244.0.5", host_network: bool = False) -> dict:
        return await self.rt.start_container(uid, "shop", pod or f"pod-{uid}", name, fake,
                                             host_network, ip)

    async def ex(self, uid: str, argv: list[str], name: str = "c",
                  stdin: bytes | None = None) -> tuple[int, bytes, bytes]:
        proc = await self.rt.exec(uid, name, argv, stdin is not None)
        out, err = await asyncio.wait_for(proc.communicate(stdin), 30)
        return proc.returncode, out, err

    async def eventually(self, uid: str, argv: list[str], predicate, name: str = "c",
                         timeout: float = 5) -> bytes:
        """Runs argv until predicate(stdout) holds; returns that stdout (fails on timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            _, out, _ = await self.ex(uid, argv, name)
            if predicate(out):
                return out
            if time.monotonic() > deadline:
                self.fail(f"{argv} never satisfied the condition; last output:\n{out.decode(errors='replace')}")
            await asyncio.sleep(0.1)


class TestWeb(RuntimeCase):
    async def test_start_returns_pid_time_and_id(self):
        r = await self.start("u1", {"profile": "web"})
        self.assertTrue(os.path.exists(f"/proc/{r['pid']}"))
        self.assertRegex(r["started_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertRegex(r["container_id"], r"^containerd://[0-9a-f]{64}$")
        self.assertTrue(self.rt.is_running("u1", "c"))
        self.assertFalse(self.rt.is_running("u1", "nope"))
        self.assertFalse(self.rt.is_running("nope", "c"))

    async def test_ps_shows_only_the_container(self):
        await self.start("u1", {"profile": "web"})
        await self.start("u2", {"profile": "batch"}, ip="10.244.0.6")
        out = await self.eventually("u1", ["ps"], lambda o: b"httpd" in o)
        lines = out.decode().splitlines()
        self.assertTrue(lines[0].split()[0] == "PID")
        first = lines[1].split()
        self.assertEqual(first[0], "1")
        self.assertIn("/docker-entrypoint.sh", lines[1])
        self.assertNotIn("worker", out.decode())     # the other pod's processes
        self.assertNotIn("python", out.decode())     # the host's
        self.assertLess(len(lines), 10)

    async def test_net_tcp_shows_the_listener(self):
        await self.start("u1", {"profile": "web"})
        out = await self.eventually("u1", ["cat", "/proc/net/tcp"],
                                    lambda o: HTTP_LISTEN.encode() in o)
        self.assertIn(b" 0A ", out)

    async def test_exit_code_and_streams(self):
        await self.start("u1", {"profile": "web"})
        rc, out, err = await self.ex("u1", ["sh", "-c", "echo hi; echo err >&2; exit 3"])
        self.assertEqual((rc, out, err), (3, b"hi\n", b"err\n"))
        rc, out, _ = await self.ex("u1", ["true"])
        self.assertEqual(rc, 0)

    async def test_no_shell_interpretation(self):
        await self.start("u1", {"profile": "web"})
        rc, out, _ = await self.ex("u1", ["echo", "$HOME", "*", "a;b"])
        self.assertEqual((rc, out), (0, b"$HOME * a;b\n"))

    async def test_stdin(self):
        await self.start("u1", {"profile": "web"})
        data = b"line one\nline two\n" * 1000
        rc, out, _ = await self.ex("u1", ["cat"], stdin=data)
        self.assertEqual((rc, out), (0, data))
        rc, out, _ = await self.ex("u1", ["wc", "-l"], stdin=b"a\nb\nc\n")
        self.assertEqual(out.strip(), b"3")

    async def test_exec_environment_and_identity(self):
        await self.start("u1", {"profile": "web"}, pod="web-7d4b9")
        rc, out, _ = await self.ex("u1", ["sh", "-c", 'echo "$PATH"; pwd; hostname; id -u'])
        self.assertEqual(out.decode().splitlines(), [
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "/", "web-7d4b9", "0"])
        _, hosts, _ = await self.ex("u1", ["cat", "/etc/hosts"])
        self.assertIn(b"10.244.0.5\tweb-7d4b9", hosts)
        _, resolv, _ = await self.ex("u1", ["cat", "/etc/resolv.conf"])
        self.assertIn(b"search shop.svc.cluster.local", resolv)
        _, status, _ = await self.ex("u1", ["grep", "CapEff", "/proc/self/status"])
        self.assertIn(b"00000000a80425fb", status)  # containerd's default capability set

    async def test_filesystem_layout(self):
        await self.start("u1", {"profile": "web"})
        rc, out, _ = await self.ex("u1", ["ls", "/"])
        for d in ("bin", "dev", "etc", "home", "proc", "root", "sys", "tmp", "var"):
            self.assertIn(d, out.decode().split())
        rc, out, _ = await self.ex("u1", ["ls", "/dev"])
        for node in ("null", "zero", "random", "urandom", "tty", "fd"):
            self.assertIn(node, out.decode().split())
        rc, out, _ = await self.ex("u1", ["head", "-c", "5", "/dev/zero"])
        self.assertEqual(out, b"\0" * 5)
        rc, out, _ = await self.ex("u1", ["ls", "/var/tmp", "/root", "/home"])
        self.assertEqual(rc, 0)
        rc, out, _ = await self.ex("u1", ["ls", "/sys/class/net"])
        self.assertEqual(sorted(out.split()), [b"eth0", b"lo"])

    async def test_pod_network(self):
        await self.start("u1", {"profile": "web"}, ip="10.244.0.5")
        await self.start("u2", {"profile": "distroless"}, ip="10.244.0.6")
        rc, out, _ = await self.ex("u1", ["ip", "-4", "addr"])
        self.assertIn(b"inet 10.244.0.5/32", out)
        self.assertIn(b"eth0", out)
        # pod to pod, through the runtime's fabric namespace
        # (no -T: Debian's busybox 1.35 wget segfaults with it, on the host too)
        out = await self.eventually("u1", ["wget", "-q", "-O", "-", "http://10.244.0.6:8080/"],
                                    lambda o: o == b"ok\n")
        self.assertEqual(out, b"ok\n")
        # each pod sees its own sockets only: every local address is the pod's (or any/loopback)
        _, tcp, _ = await self.ex("u1", ["cat", "/proc/net/tcp"])
        local_ips = {line.split()[1].split(":")[0] for line in tcp.decode().splitlines()[1:]}
        self.assertLessEqual(local_ips, {"0500F40A", "00000000", "0100007F"})

    async def test_host_network(self):
        await self.start("h", {"profile": "batch"}, host_network=True, ip="10.0.0.10")
        _, out, _ = await self.ex("h", ["cat", "/proc/net/dev"], )
        with open("/proc/net/dev", "rb") as f:
            host_ifaces = sorted(l.split(b":")[0].strip() for l in f.read().splitlines()[2:])
        ifaces = sorted(l.split(b":")[0].strip() for l in out.splitlines()[2:])
        self.assertEqual(ifaces, host_ifaces)
        _, name, _ = await self.ex("h", ["hostname"])
        self.assertEqual(name.strip().decode(), os.uname().nodename)
        _, out, _ = await self.ex("h", ["ps"])
        self.assertNotIn(b"python", out)  # still its own PID namespace

    async def test_concurrent_execs(self):
        await self.start("u1", {"profile": "web"})
        results = await asyncio.gather(*(self.ex("u1", ["sh", "-c", f"echo {i}; exit {i % 4}"])
                                         for i in range(20)))
        for i, (rc, out, _) in enumerate(results):
            self.assertEqual((rc, out), (i % 4, f"{i}\n".encode()))

    async def test_killing_an_exec_kills_the_command(self):
        await self.start("u1", {"profile": "web"})
        proc = await self.rt.exec("u1", "c", ["sleep", "1000"], False)
        await asyncio.sleep(0.2)
        _, ps, _ = await self.ex("u1", ["ps"])
        self.assertIn(b"sleep 1000", ps)
        proc.kill()
        await asyncio.wait_for(proc.communicate(), 5)
        _, ps, _ = await self.ex("u1", ["ps"])
        self.assertNotIn(b"sleep 1000", ps)
        # a terminated command reports 128+15, as the kubelet would
        proc = await self.rt.exec("u1", "c", ["sleep", "1000"], False)
        await asyncio.sleep(0.2)
        proc.terminate()
        await asyncio.wait_for(proc.communicate(), 5)
        self.assertEqual(proc.returncode, 143)


class TestCompromisedWeb(RuntimeCase):
    async def test_miner_process_connection_and_drop(self):
        await self.start("u1", {"profile": "compromised-web"}, ip="10.244.0.7")
        out = await self.eventually("u1", ["cat", "/proc/net/tcp"],
                                    lambda o: POOL_HEX.encode() + b" 01" in o)
        established = [l for l in out.decode().splitlines() if f"{POOL_HEX} 01" in l]
        self.assertEqual(len(established), 1)
        self.assertTrue(established[0].split()[1].startswith("0700F40A:"))  # from the pod IP
        self.assertIn(f"{HTTP_LISTEN} 00000000:0000 0A", out.decode())
        self.assertNotIn(f"{POOL_HEX} 00000000:0000 0A", out.decode())  # the pool is elsewhere
        rc, pid, _ = await self.ex("u1", ["pidof", "kworkerds"])
        self.assertEqual(rc, 0)
        pid = pid.split()[0].decode()
        _, comm, _ = await self.ex("u1", ["cat", f"/proc/{pid}/comm"])
        self.assertEqual(comm, b"kworkerds\n")
        _, exe, _ = await self.ex("u1", ["readlink", f"/proc/{pid}/exe"])
        self.assertEqual(exe, b"/tmp/.x/kworkerds\n")
        _, ps, _ = await self.ex("u1", ["ps"])
        self.assertIn(b"/tmp/.x/kworkerds -o 198.51.100.7:3333", ps)
        _, ls, _ = await self.ex("u1", ["ls", "-a", "/tmp", "/tmp/.x"])
        for name in (b".x", b"payload.sh", b"kworkerds", b"config.json"):
            self.assertIn(name, ls.split())
        _, mtime, _ = await self.ex("u1", ["stat", "-c", "%Y", "/tmp/.x/payload.sh"])
        self.assertLess(int(mtime), time.time() - 2 * 86400)
        log = self.rt.log_path("u1", "c", False)
        await asyncio.sleep(0.2)
        with open(log, "rb") as f:
            self.assertIn(b"198.51.100.7:3333", f.read())

    async def test_plant_compromises_a_running_web_container_like_the_profile(self):
        await self.start("u1", {"profile": "web"}, ip="10.244.0.8")
        _, before, _ = await self.ex("u1", ["ps", "-o", "pid,ppid,stat,comm"])
        self.assertEqual([l.split()[3] for l in before.decode().splitlines()[1:]], ["sh", "httpd", "ps"])
        got = await self.rt.plant("u1", "c")
        self.assertEqual(got["argv"], profiles.miner_argv(False))
        self.assertIn("/tmp/.x/kworkerds", got["files"])
        ps = await self.eventually("u1", ["ps", "-o", "pid,ppid,stat,comm"], lambda o: b"kworkerds" in o)
        rows = [l.split() for l in ps.decode().splitlines()[1:]]
        miner = next(r for r in rows if r[3] == "kworkerds")
        self.assertEqual((int(miner[0]), miner[1]), (got["pid"], "1"))     # adopted by the init
        self.assertFalse([r for r in rows if r[2].startswith("Z")], ps)    # no shell left behind
        await self.eventually("u1", ["cat", "/proc/net/tcp"], lambda o: POOL_HEX.encode() + b" 01" in o)
        with self.assertRaises(ContainerNotRunning):
            await self.rt.plant("nope", "c")

    async def test_host_network_never_dials_the_pool(self):
        await self.start("h", {"profile": "compromised-web"}, host_network=True)
        ps = await self.eventually("h", ["ps"], lambda o: b"/tmp/.x/kworkerds" in o)
        self.assertNotIn(b"-o 198.51.100.7", ps)


class TestDistroless(RuntimeCase):
    async def test_exec_not_found(self):
        await self.start("d", {"profile": "distroless"})
        for binary in ("sh", "ps", "cat", "tar", "ls", "/bin/sh"):
            with self.assertRaises(ExecNotFound) as ctx:
                await self.rt.exec("d", "c", [binary, "-c", "true"], False)
            self.assertEqual(ctx.exception.args[0], binary)
        self.assertTrue(self.rt.is_running("d", "c"))

    async def test_ephemeral_container_reads_the_target(self):
        await self.start("d", {"profile": "distroless"}, pod="target")
        r = await self.rt.start_ephemeral("d", "debugger", "c", "busybox:1.36",
                                          ["sleep", "3600"], [], {})
        self.assertRegex(r["container_id"], r"^containerd://[0-9a-f]{64}$")
        self.assertTrue(self.rt.is_running("d", "debugger"))
        rc, ps, _ = await self.ex("d", ["ps"], name="debugger")
        lines = ps.decode().splitlines()
        self.assertRegex(lines[1], r"^\s+1 root\s+/app 8080$")
        self.assertIn("sleep 3600", ps.decode())
        rc, ls, _ = await self.ex("d", ["ls", "/proc/1/root/"], name="debugger")
        self.assertEqual(rc, 0)
        self.assertEqual(sorted(ls.decode().split()), ["app", "dev", "etc", "proc", "sys", "tmp", "var"])
        rc, tcp, _ = await self.ex("d", ["cat", "/proc/1/net/tcp"], name="debugger")
        self.assertIn(f"{HTTP_LISTEN} 00000000:0000 0A".encode(), tcp)
        _, own, _ = await self.ex("d", ["ls", "/bin/sh"], name="debugger")
        self.assertEqual(own, b"/bin/sh\n")    # its own busybox root
        _, name, _ = await self.ex("d", ["hostname"], name="debugger")
        self.assertEqual(name, b"target\n")
        with open(self.rt.log_path("d", "debugger", False), "rb") as f:
            self.assertEqual(f.read(), b"")

    async def test_ephemeral_run_as_user_needs_sys_ptrace(self):
        await self.start("d", {"profile": "distroless"})
        await self.rt.start_ephemeral("d", "plain", "c", "busybox", ["sleep", "3600"], [],
                                      {"runAsUser": 1000})
        await self.rt.start_ephemeral("d", "ptrace", "c", "busybox", ["sleep", "3600"], [],
                                      {"runAsUser": 1000, "capabilities": {"add": ["SYS_PTRACE"]}})
        _, uid, _ = await self.ex("d", ["id", "-u"], name="plain")
        self.assertEqual(uid, b"1000\n")
        rc, _, err = await self.ex("d", ["ls", "/proc/1/root/"], name="plain")
        self.assertNotEqual(rc, 0)
        self.assertIn(b"ermission denied", err)
        rc, ls, _ = await self.ex("d", ["ls", "/proc/1/root/"], name="ptrace")
        self.assertEqual(rc, 0, ls)
        self.assertIn(b"app", ls.split())

    async def test_ephemeral_without_command_keeps_a_shell(self):
        await self.start("d", {"profile": "distroless"})
        await self.rt.start_ephemeral("d", "dbg", "c", "busybox", [], [], {})
        await asyncio.sleep(0.2)
        self.assertTrue(self.rt.is_running("d", "dbg"))
        _, ps, _ = await self.ex("d", ["ps"], name="dbg")
        self.assertIn(b" sh\n", ps)

    async def test_ephemeral_without_target(self):
        await self.start("d", {"profile": "distroless"})
        await self.rt.start_ephemeral("d", "dbg", None, "busybox", ["sleep", "3600"], [], {})
        _, ps, _ = await self.ex("d", ["ps"], name="dbg")
        self.assertNotIn(b"/app", ps)
        self.assertIn(b"    1 root     sleep 3600", ps)


class TestLifecycle(RuntimeCase):
    async def test_log_lines_are_timestamped(self):
        await self.start("b", {"profile": "batch"})
        path = self.rt.log_path("b", "c", False)
        self.assertIsNotNone(path)
        self.assertIsNone(self.rt.log_path("b", "c", True))
        self.assertIsNone(self.rt.log_path("b", "other", False))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with open(path, "rb") as f:
                lines = f.read().splitlines()
            if len(lines) >= 2:
                break
            await asyncio.sleep(0.1)
        self.assertGreaterEqual(len(lines), 2)
        for line in lines:
            self.assertRegex(line, TS_LINE)
        self.assertTrue(lines[0].endswith(b" worker: started, queue=jobs"))

    async def test_stdout_and_stderr_both_logged(self):
        await self.start("g", {"script": "echo to-stdout; echo to-stderr >&2; printf partial; exec sleep 1000"})
        path = self.rt.log_path("g", "c", False)
        await asyncio.sleep(0.3)
        with open(path, "rb") as f:
            data = f.read()
        self.assertRegex(data, rb"Z to-stdout\n")
        self.assertRegex(data, rb"Z to-stderr\n")

    async def test_restart_keeps_previous_log(self):
        await self.start("w", {"script": "echo instance-$(cat /proc/sys/kernel/random/uuid | cut -c1-8); exec sleep 1000"})
        await asyncio.sleep(0.3)
        with open(self.rt.log_path("w", "c", False), "rb") as f:
            first = f.read()
        self.assertIn(b"instance-", first)
        await self.rt.restart_container("w", "c")
        self.assertTrue(self.rt.is_running("w", "c"))
        await asyncio.sleep(0.3)
        with open(self.rt.log_path("w", "c", True), "rb") as f:
            self.assertEqual(f.read(), first)
        with open(self.rt.log_path("w", "c", False), "rb") as f:
            second = f.read()
        self.assertIn(b"instance-", second)
        self.assertNotEqual(first, second)
        self.assertEqual(self.rt.container_state("w", "c")["restart_count"], 1)

    async def test_exited_container(self):
        await self.start("x", {"script": "echo bye; exit 7"})
        self.assertEqual(await asyncio.wait_for(self.rt.wait_container("x", "c"), 5), 7)
        self.assertFalse(self.rt.is_running("x", "c"))
        with self.assertRaises(ContainerNotRunning):
            await self.rt.exec("x", "c", ["true"], False)
        state = self.rt.container_state("x", "c")
        self.assertEqual((state["running"], state["exit_code"]), (False, 7))
        with open(self.rt.log_path("x", "c", False), "rb") as f:
            self.assertRegex(f.read(), rb"Z bye\n$")

    async def test_bad_command_fails_to_start(self):
        with self.assertRaises(Exception) as ctx:
            await self.start("x", {"command": ["/no/such/binary"]})
        self.assertIn("/no/such/binary", str(ctx.exception))
        with self.assertRaises(ValueError):
            await self.start("y", {"profile": "no-such-profile"})

    async def test_stop_pod(self):
        r = await self.start("s", {"profile": "web"})
        await self.start("s", {"profile": "batch"}, name="sidecar")
        self.assertTrue(self.rt.is_running("s", "sidecar"))
        before = descendants(os.getpid())
        await self.rt.stop_pod("s")
        self.assertFalse(self.rt.is_running("s", "c"))
        self.assertFalse(os.path.exists(f"/proc/{r['pid']}"))
        with self.assertRaises(ContainerNotRunning):
            await self.rt.exec("s", "c", ["true"], False)
        self.assertIsNotNone(self.rt.log_path("s", "c", False))  # logs outlive the pod's processes
        # only the runtime's shared fabric remains
        left = await self._wait_gone(before)
        roles = {cmdline(p)[-1] for p in left}
        self.assertLessEqual(roles, {b"--fc-pause", b"3333", b"198.51.100.7"})

    async def test_generic_form(self):
        await self.start("g", {"rootfs": "busybox", "script": "exec sleep 1000",
                               "files": {"/etc/app.conf": "key=value\n",
                                         "/opt/run.sh": {"content": "#!/bin/sh\necho ran\n", "mode": "0755"}},
                               "env": {"GREETING": "hello"}})
        _, out, _ = await self.ex("g", ["cat", "/etc/app.conf"])
        self.assertEqual(out, b"key=value\n")
        _, out, _ = await self.ex("g", ["/opt/run.sh"])
        self.assertEqual(out, b"ran\n")
        _, out, _ = await self.ex("g", ["sh", "-c", "echo $GREETING"])
        self.assertEqual(out, b"hello\n")
        await self.start("s", {"rootfs": "static", "files": {"/etc/config.yaml": "a: 1\n"}}, ip="10.244.0.9")
        with self.assertRaises(ExecNotFound):
            await self.rt.exec("s", "c", ["cat", "/etc/config.yaml"], False)
        await self.rt.start_ephemeral("s", "dbg", "c", "busybox", ["sleep", "100"], [], {})
        _, out, _ = await self.ex("s", ["cat", "/proc/1/root/etc/config.yaml"], name="dbg")
        self.assertEqual(out, b"a: 1\n")

    async def test_unknown_pod_and_container(self):
        with self.assertRaises(ContainerNotRunning):
            await self.rt.exec("nope", "c", ["true"], False)
        await self.start("u", {"profile": "web"})
        with self.assertRaises(ContainerNotRunning):
            await self.rt.exec("u", "nope", ["true"], False)
        with self.assertRaises(ContainerNotRunning):
            await self.rt.start_ephemeral("u", "dbg", "nope", "busybox", [], [], {})


class TestHostile(RuntimeCase):
    async def asyncSetUp(self):
        await super().asyncSetUp()
        await self.start("h", {"profile": "hostile"})
        await asyncio.sleep(0.3)

    async def test_ps_prints_forever(self):
        proc = await self.rt.exec("h", "c", ["ps"], False)
        got = 0
        while got < 4 * 1024 * 1024:
            chunk = await proc.stdout.read(1 << 20)
            self.assertTrue(chunk, "ps stopped")
            got += len(chunk)
        proc.kill()
        await asyncio.wait_for(proc.communicate(), 5)  # drain: asyncio waits for the pipes
        self.assertEqual(proc.returncode, -signal.SIGKILL)

    async def test_tar_emits_escaping_members(self):
        rc, out, _ = await self.ex("h", ["tar", "cf", "-", "/tmp"])
        self.assertEqual(rc, 0)
        names = [m.name for m in tarfile.open(fileobj=io.BytesIO(out), encoding="utf-8",
                                              errors="surrogateescape")]
        self.assertTrue(any(n.startswith("/") for n in names))
        self.assertTrue(any(n.startswith("../") for n in names))
        self.assertTrue(any("\x1b" in n for n in names))

    async def test_sparse_file(self):
        rc, out, _ = await self.ex("h", ["stat", "-c", "%s %b %B", "/tmp/.cache/core.dump"])
        size, blocks, block_size = map(int, out.split())
        self.assertGreaterEqual(size, 4 * 1024 ** 3)
        self.assertLess(blocks * block_size, 1024 * 1024)

    async def test_malformed_proc_net_tcp(self):
        expected = profiles_hostile_net_tcp()
        for argv in (["cat", "/proc/net/tcp"], ["cat", "/proc/1/net/tcp"],
                     ["sh", "-c", "cat /proc/net/tcp"], ["sh", "-c", "cat /proc/1/net/tcp | cat"]):
            rc, out, _ = await self.ex("h", argv)
            self.assertEqual((rc, out), (0, expected), argv)
        # the rest of /proc/net is real
        rc, out, _ = await self.ex("h", ["cat", "/proc/net/dev"])
        self.assertIn(b"eth0", out)
        # a trusted ephemeral container sees the real table
        await self.rt.start_ephemeral("h", "dbg", "c", "busybox", ["sleep", "100"], [], {})
        _, real, _ = await self.ex("h", ["cat", "/proc/1/net/tcp"], name="dbg")
        self.assertNotEqual(real, expected)
        self.assertTrue(real.startswith(b"  sl  local_address"))

    async def test_hostile_names(self):
        _, comms, _ = await self.ex("h", ["sh", "-c", "cat /proc/[0-9]*/comm"])
        self.assertIn(b"\x1b[31mred\x1b[0m\n", comms)
        self.assertIn(b"\x1b]0;pwned\x07\n", comms)
        self.assertIn(b"line1\nline2\n", comms)
        self.assertIn(b"../../etc/pass\n", comms)
        self.assertIn(b"\xff\xfe", comms)
        _, found, _ = await self.ex("h", ["find", "/tmp", "-maxdepth", "1"])
        self.assertIn(b"/tmp/new\nline-file", found)
        self.assertIn(b"/tmp/\xff\xfe\xe9\xc3(-file", found)
        self.assertIn(b"/tmp/\x1b]0;pwned\x07title-file", found)
        _, link, _ = await self.ex("h", ["readlink", "/tmp/escape"])
        self.assertEqual(link, b"../../../../../../etc/shadow\n")
        with open(self.rt.log_path("h", "c", False), "rb") as f:
            log = f.read()
        self.assertIn(b"\x1b]0;pwned-by-log\x07", log)
        self.assertIn(b"\xff\xfe\xe9", log)


def profiles_hostile_net_tcp() -> bytes:
    from fakecluster.profiles_hostile import malformed_net_tcp
    return malformed_net_tcp()


class TestPerformance(RuntimeCase):
    async def test_exec_latency_and_stream_throughput(self):
        await self.start("p", {"profile": "web"})
        latencies = []
        for _ in range(30):
            t0 = time.perf_counter()
            proc = await self.rt.exec("p", "c", ["echo", "x"], False)
            first = await proc.stdout.read(1)
            latencies.append(time.perf_counter() - t0)
            self.assertEqual(first, b"x")
            await proc.communicate()
        median = statistics.median(latencies) * 1000
        t0 = time.perf_counter()
        proc = await self.rt.exec("p", "c", ["head", "-c", "1073741824", "/dev/zero"], False)
        total = 0
        while chunk := await proc.stdout.read(1 << 20):
            total += len(chunk)
        await proc.wait()
        elapsed = time.perf_counter() - t0
        print(f"\n  exec start (spawn to first stdout byte): median {median:.2f} ms, "
              f"max {max(latencies) * 1000:.2f} ms"
              f"\n  1 GiB stream (head -c 1073741824 /dev/zero): {elapsed:.2f} s, "
              f"{total / elapsed / 1e6:.0f} MB/s", file=sys.stderr)
        self.assertEqual(total, 1 << 30)
        self.assertEqual(proc.returncode, 0)
        self.assertLess(median, 50)


class TestResolution(unittest.TestCase):
    def test_resolve_executable_stays_in_root(self):
        root = tempfile.mkdtemp(prefix="fc-resolve-")
        try:
            os.makedirs(os.path.join(root, "bin"))
            os.makedirs(os.path.join(root, "usr/bin"))
            with open(os.path.join(root, "bin/busybox"), "w") as f:
                f.write("#!/bin/true\n")
            os.chmod(os.path.join(root, "bin/busybox"), 0o755)
            os.symlink("busybox", os.path.join(root, "bin/ls"))
            os.symlink("/bin/busybox", os.path.join(root, "usr/bin/abs"))
            os.symlink("../../../../../../usr/bin/env", os.path.join(root, "bin/escape"))
            os.symlink("/bin/true", os.path.join(root, "bin/hosttrue"))  # exists on the host only
            with open(os.path.join(root, "bin/data"), "w") as f:
                f.write("x")
            path = "/usr/bin:/bin"
            self.assertEqual(resolve_executable(root, "ls", path), os.path.join(root, "bin/busybox"))
            self.assertEqual(resolve_executable(root, "abs", path), os.path.join(root, "bin/busybox"))
            self.assertEqual(resolve_executable(root, "/bin/ls", path), os.path.join(root, "bin/busybox"))
            self.assertIsNone(resolve_executable(root, "escape", path))
            self.assertIsNone(resolve_executable(root, "hosttrue", path))
            self.assertIsNone(resolve_executable(root, "data", path))
            self.assertIsNone(resolve_executable(root, "sh", path))
            self.assertIsNone(resolve_executable(root, "", path))
        finally:
            subprocess.run(["rm", "-rf", root], check=True)


@unittest.skipUnless(os.geteuid() == 0, "the runtime needs root (namespaces, mounts)")
class TestCrashRecovery(unittest.TestCase):
    CHILD = textwrap.dedent("""
        import asyncio, sys
        sys.path.insert(0, {here!r})
        from fakecluster.runtime import Runtime
        async def main():
            rt = Runtime({workdir!r})
            await rt.start_container("u1", "shop", "web-1", "c", {{"profile": "compromised-web"}}, False, "10.244.0.5")
            await rt.start_ephemeral("u1", "dbg", "c", "busybox", ["sleep", "1000"], [], {{}})
            print("ready", flush=True)
            await asyncio.sleep(1000)
        asyncio.run(main())
    """)

    def test_crashed_server_leaves_nothing_and_is_cleaned(self):
        workdir = tempfile.mkdtemp(prefix="fc-runtime-crash-")
        try:
            child = subprocess.Popen([sys.executable, "-c", self.CHILD.format(here=_HERE, workdir=workdir)],
                                     stdout=subprocess.PIPE, text=True)
            self.assertEqual(child.stdout.readline().strip(), "ready")
            child.stdout.close()
            procs = descendants(child.pid)
            self.assertGreater(len(procs), 8)
            child.kill()
            child.wait()
            deadline = time.monotonic() + 5
            while alive(procs) and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertEqual(alive(procs), {}, "processes outlived the crashed runtime")
            self.assertTrue(os.path.exists(os.path.join(workdir, "state", "procs.json")))
            Runtime(workdir)  # cleans the leftovers (and starts afresh: an empty state/)
            self.assertLessEqual(set(os.listdir(workdir)), {"state"})
            self.assertEqual(mounts_under(workdir), [])
        finally:
            subprocess.run(["rm", "-rf", workdir], check=True)

    def test_leftover_processes_and_mounts_are_cleaned_on_init(self):
        """What a runtime killed without warning could leave if its processes outlived it: a
        recorded process tree in a PID namespace of its own, a mount under the workdir."""
        workdir = tempfile.mkdtemp(prefix="fc-runtime-leftover-")
        stray = None
        try:
            stray = subprocess.Popen(["unshare", "--pid", "--fork", "--kill-child", "--",
                                      "/bin/busybox", "sh", "-c", "sleep 1000 & sleep 1000"],
                                     start_new_session=True)
            time.sleep(0.2)
            tree = {stray.pid: proc_start_ticks(stray.pid), **descendants(stray.pid)}
            inner = next(c for c, parent in _ppid_map().items() if parent == stray.pid)  # its init
            os.makedirs(os.path.join(workdir, "state"))
            with open(os.path.join(workdir, "state", "procs.json"), "w") as f:
                json.dump([{"pid": inner, "start": tree[inner], "role": "container"}], f)
            mnt = os.path.join(workdir, "pods", "u1", "mnt")
            os.makedirs(mnt)
            subprocess.run(["mount", "-t", "tmpfs", "tmpfs", mnt], check=True)
            os.makedirs(os.path.join(workdir, "images", "busybox", "bin"))
            with open(os.path.join(workdir, "not-ours"), "w") as f:
                f.write("a file the runtime did not create\n")

            Runtime(workdir)
            stray.wait(5)
            self.assertEqual(alive(tree), {})
            self.assertEqual(mounts_under(workdir), [])
            self.assertEqual(sorted(os.listdir(workdir)), ["not-ours", "state"])
        finally:
            if stray and stray.poll() is None:
                os.killpg(stray.pid, signal.SIGKILL)
                stray.wait()
            subprocess.run(["umount", "-R", "-l", os.path.join(workdir, "pods", "u1", "mnt")],
                           stderr=subprocess.DEVNULL)
            subprocess.run(["rm", "-rf", workdir], check=True)


if __name__ == "__main__":
    unittest.main()
