"""The fake cluster's pod runtime: pods backed by real local processes (see INTERFACE.md).

A pod is a pause process holding the pod's network (unless hostNetwork), UTS and IPC namespaces.
Each container is a process tree in its own PID and mount namespaces, rooted (pivot_root) in its
own copy of an image, with its main process as PID 1, the pod's namespaces joined, the default
capability set of containerd, and stdout+stderr written with timestamps to a log file. Exec
enters a container's namespaces and root (``fcrun exec``); an ephemeral container joins the
target container's PID namespace with a trusted busybox root of its own.

Layout of a workdir (everything the runtime creates lives under these names):
``bin/`` compiled helpers, ``images/`` image directories, ``pods/<uid>/`` containers' roots and
logs, ``state/`` the registry of live processes (to clean up after a crashed server) and
fcrun's own error output (``state/runtime.log``).
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import json
import os
import re
import secrets
import shutil
import signal
import stat
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from . import images, profiles
from .runtime_native import Credentials, LaunchError, Launcher, NativeTools, Started
from .runtime_net import Fabric

__all__ = ["ExecNotFound", "ContainerNotRunning", "Runtime", "DEFAULT_CAPABILITIES"]


class ExecNotFound(Exception):
    """args[0]: the binary as given (argv[0]); it does not resolve in the container."""


class ContainerNotRunning(Exception):
    """No such running process (no x-fake, exited, pod stopped)."""


# Linux capability numbers, by name (without the CAP_ prefix).
CAPABILITIES = {
    "CHOWN": 0, "DAC_OVERRIDE": 1, "DAC_READ_SEARCH": 2, "FOWNER": 3, "FSETID": 4, "KILL": 5,
    "SETGID": 6, "SETUID": 7, "SETPCAP": 8, "LINUX_IMMUTABLE": 9, "NET_BIND_SERVICE": 10,
    "NET_BROADCAST": 11, "NET_ADMIN": 12, "NET_RAW": 13, "IPC_LOCK": 14, "IPC_OWNER": 15,
    "SYS_MODULE": 16, "SYS_RAWIO": 17, "SYS_CHROOT": 18, "SYS_PTRACE": 19, "SYS_PACCT": 20,
    "SYS_ADMIN": 21, "SYS_BOOT": 22, "SYS_NICE": 23, "SYS_RESOURCE": 24, "SYS_TIME": 25,
    "SYS_TTY_CONFIG": 26, "MKNOD": 27, "LEASE": 28, "AUDIT_WRITE": 29, "AUDIT_CONTROL": 30,
    "SETFCAP": 31, "MAC_OVERRIDE": 32, "MAC_ADMIN": 33, "SYSLOG": 34, "WAKE_ALARM": 35,
    "BLOCK_SUSPEND": 36, "AUDIT_READ": 37, "PERFMON": 38, "BPF": 39, "CHECKPOINT_RESTORE": 40,
}

# containerd's default set for a container's processes (and so for exec into it)
DEFAULT_CAPABILITIES = frozenset(CAPABILITIES[n] for n in (
    "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
    "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE"))

_MAX_SYMLINKS = 40


def _now_rfc3339() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _safe_name(value: str) -> str:
    """A file-name-safe rendering of a pod uid or container name."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", value) or "_"


def proc_start_ticks(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat (start time in clock ticks), or None if there is no PID."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2:].split()
    return int(fields[19]) if len(fields) > 19 else None


def resolve_in_root(root: str, path: str) -> str | None:
    """Resolves ``path`` as if ``root`` were ``/`` (absolute symlinks and ``..`` stay inside),
    following symlinks. Returns the host path of the result, or None if it does not exist."""
    pending = [p for p in path.split("/") if p not in ("", ".")]
    resolved: list[str] = []
    hops = 0
    while pending:
        part = pending.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        host = os.path.join(root, *resolved, part)
        try:
            st = os.lstat(host)
        except OSError:
            return None
        if stat.S_ISLNK(st.st_mode):
            hops += 1
            if hops > _MAX_SYMLINKS:
                return None
            target = os.readlink(host)
            if target.startswith("/"):
                resolved = []
            pending = [p for p in target.split("/") if p not in ("", ".")] + pending
        else:
            resolved.append(part)
    return os.path.join(root, *resolved)


def resolve_executable(root: str, name: str, path_env: str) -> str | None:
    """What execvp would run for ``name`` in a container whose root is ``root``: the host path
    of a regular file, or None ("executable file not found in $PATH")."""
    if not name:
        return None
    candidates = [name] if "/" in name else [f"{d or '.'}/{name}" for d in path_env.split(":")]
    for candidate in candidates:
        if not candidate.startswith("/"):
            candidate = "/" + candidate  # cwd of exec is /
        host = resolve_in_root(root, candidate)
        if host and os.path.isfile(host) and os.access(host, os.X_OK):
            return host
    return None


def make_masked_net_dir(path: str, tcp: bytes) -> None:
    """A directory to mount over /proc/PID/net: ``tcp`` holds the given bytes; every other entry
    of the kernel's /proc/self/net is a symlink to /proc/thread-self/net/<entry> (the reader's
    own, unmasked view of the same network namespace)."""
    if os.path.lexists(path):
        shutil.rmtree(path)
    os.makedirs(path)
    for name in os.listdir("/proc/self/net"):
        if name != "tcp":
            os.symlink(f"/proc/thread-self/net/{name}", os.path.join(path, name))
    with open(os.path.join(path, "tcp"), "wb") as f:
        f.write(tcp)
    os.chmod(os.path.join(path, "tcp"), 0o444)


class ProcessRegistry:
    """The long-lived processes the runtime started, on disk (``state/procs.json``), so that a
    runtime started after a crash can kill what the crashed one left."""

    def __init__(self, path: str):
        self._path = path
        self._entries: dict[int, dict] = {}

    def add(self, pid: int, start_ticks: int, role: str) -> None:
        self._entries[pid] = {"pid": pid, "start": start_ticks, "role": role}
        self._save()

    def remove(self, *pids: int) -> None:
        for pid in pids:
            self._entries.pop(pid, None)
        self._save()

    def _save(self) -> None:
        os.makedirs(os.path.dirname(self._path), exist_ok=True)
        tmp = self._path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(list(self._entries.values()), f)
        os.replace(tmp, self._path)

    @staticmethod
    def kill_leftovers(path: str) -> int:
        """SIGKILLs every process recorded in ``path`` that is still the same process (same
        start time), and waits for them. Returns how many were killed."""
        try:
            with open(path) as f:
                entries = json.load(f)
        except (OSError, ValueError):
            return 0
        killed = []
        for entry in entries:
            pid, start = int(entry.get("pid", 0)), entry.get("start")
            if pid > 1 and start is not None and proc_start_ticks(pid) == start:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed.append((pid, start))
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 5
        while killed and time.monotonic() < deadline:
            killed = [(p, s) for p, s in killed if proc_start_ticks(p) == s
                      and not _is_zombie(p)]
            if killed:
                time.sleep(0.02)
        return len(entries)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        return data[data.rfind(b")") + 2:][:1] in (b"Z", b"X")
    except OSError:
        return True


def _unmount_under(path: str) -> None:
    """Detaches every mount of this mount namespace at or below ``path`` (deepest first)."""
    prefix = path.rstrip("/") + "/"
    points = []
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                point = line.split(" ")[4].encode().decode("unicode_escape")
                if point == path or point.startswith(prefix):
                    points.append(point)
    except OSError:
        return
    if not points:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for point in sorted(points, key=len, reverse=True):
        libc.umount2(point.encode(), 2)  # MNT_DETACH


@dataclass
class _Container:
    """One container (regular, init or ephemeral) of a pod: its current instance and history."""
    name: str
    spec: profiles.ContainerSpec
    ephemeral: bool
    creds: Credentials
    target: str | None = None          # ephemeral: the target container's name
    hold_stdin: bool = False
    instance: int = -1                 # index of the current log file (restarts so far)
    rootfs: str | None = None
    started: Started | None = None
    started_at: str = ""
    container_id: str = ""
    exit_code: int | None = None
    finished_at: str | None = None
    mask_net_dir: str | None = None    # what the container's processes see as /proc/PID/net
    watcher: asyncio.Task | None = None
    exited: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def running(self) -> bool:
        return (self.started is not None and self.exit_code is None
                and self.started.relay.returncode is None)


@dataclass
class _Pod:
    uid: str
    namespace: str
    name: str
    host_network: bool
    pod_ip: str
    dir: str
    holder: Started | None = None
    containers: dict[str, _Container] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    stopped: bool = False

    nameserver: str = images.CLUSTER_DNS

    @property
    def identity(self) -> images.PodIdentity:
        return images.PodIdentity(self.namespace, self.name, self.pod_ip, self.host_network,
                                  self.nameserver)


class Runtime:
    """Pods backed by real processes. All methods are coroutines of one event loop, except
    __init__, is_running and log_path."""

    _OWNED = ("bin", "images", "pods", "state")

    def __init__(self, workdir: str):
        """Everything lives under ``workdir``. Cleans what a previous (crashed) runtime left
        there: kills its processes, unmounts, removes its files. Needs root."""
        workdir = os.path.abspath(workdir)
        if workdir == "/":
            raise ValueError("the runtime's workdir cannot be /")
        self.workdir = workdir
        os.makedirs(workdir, exist_ok=True)
        self._registry_path = os.path.join(workdir, "state", "procs.json")
        self._cleanup_leftovers()
        os.makedirs(os.path.join(workdir, "state"), exist_ok=True)
        self._registry = ProcessRegistry(self._registry_path)
        self.tools = NativeTools(os.path.join(workdir, "bin"))
        self.images = images.ImageStore(os.path.join(workdir, "images"), self.tools)
        self._launcher = Launcher(self.tools, os.path.join(workdir, "state", "runtime.log"))
        self._pods: dict[str, _Pod] = {}
        self._fabric: Fabric | None = None
        self._setup_lock: asyncio.Lock | None = None
        self.cluster_dns = images.CLUSTER_DNS   # the nameserver of pods started from now on

    # -- public API (INTERFACE.md) ------------------------------------------------------------

    async def start_container(self, pod_uid: str, namespace: str, pod_name: str,
                              container_name: str, fake: dict, host_network: bool,
                              pod_ip: str) -> dict:
        """Starts a container from its ``x-fake`` block; returns {"pid", "started_at",
        "container_id"}. Raises ValueError for a bad x-fake, LaunchError if it cannot start."""
        ctx = profiles.ProfileContext(namespace, pod_name, container_name, host_network)
        spec = profiles.resolve(fake, ctx)
        pod = await self._pod(pod_uid, namespace, pod_name, host_network, pod_ip)
        async with pod.lock:
            if pod.stopped:
                raise ContainerNotRunning(f"pod {pod_uid} is stopped")
            existing = pod.containers.get(container_name)
            if existing and existing.running:
                raise ValueError(f"container {container_name} of pod {pod_uid} is running")
            run_as = fake.get("run_as") or {}   # x-fake run_as: {uid, gid} (securityContext runAsUser/Group)
            container = _Container(container_name, spec, ephemeral=False,
                                   creds=Credentials(uid=run_as.get("uid"), gid=run_as.get("gid"),
                                                     caps=DEFAULT_CAPABILITIES))
            if existing:
                container.instance = existing.instance
            pod.containers[container_name] = container
            await self._start_instance(pod, container)
            return self._summary(container)

    def is_running(self, pod_uid: str, container_name: str) -> bool:
        """Whether that container's main process is alive."""
        pod = self._pods.get(pod_uid)
        container = pod.containers.get(container_name) if pod else None
        return bool(container and container.running)

    async def exec(self, pod_uid: str, container_name: str, argv: list[str],
                   stdin: bool) -> asyncio.subprocess.Process:
        """Runs argv (no shell) in the container's PID, mount, network, UTS and IPC namespaces and
        root, cwd /, with the image's PATH and the container's credentials. Returns the process
        with stdout/stderr pipes (stdin too if asked). Its returncode is argv's exit code, 128+N
        if a signal N killed it. Raises ContainerNotRunning, or ExecNotFound(argv[0]) before
        starting anything if argv[0] does not resolve in the container."""
        container = self._running(pod_uid, container_name)
        if not argv:
            raise ExecNotFound("")
        started = container.started
        if resolve_executable(f"/proc/{started.pid}/root", argv[0], images.IMAGE_PATH) is None:
            if not container.running or proc_start_ticks(started.pid) != started.start_ticks:
                raise ContainerNotRunning(f"container {container_name} is not running")
            raise ExecNotFound(argv[0])
        pod = self._pods[pod_uid]
        return await self._launcher.exec(started.pid, started.start_ticks, list(argv),
                                         self._env(pod, container), stdin, container.creds,
                                         container.mask_net_dir)

    async def start_ephemeral(self, pod_uid: str, name: str, target_container: str | None,
                              image: str, command: list[str], args: list[str],
                              security_context: dict) -> dict:
        """Starts a debug container from the trusted busybox root in the target container's PID
        namespace (a new one without a target) and the pod's network, UTS and IPC namespaces,
        with a mount namespace of its own. ``image`` is recorded only: the root is always the
        trusted busybox. No command and args: ``sh`` with an attached (silent) stdin, as
        ``kubectl debug -i`` would leave it. security_context: runAsUser, runAsGroup,
        capabilities.add/drop. Same return shape as start_container."""
        pod = self._pods.get(pod_uid)
        if pod is None or pod.stopped:
            raise ContainerNotRunning(f"pod {pod_uid} has no running containers")
        async with pod.lock:
            if target_container is not None:
                self._running(pod_uid, target_container)
            if name in pod.containers and pod.containers[name].running:
                raise ValueError(f"container {name} of pod {pod_uid} exists")
            argv = list(command or []) + list(args or [])
            hold_stdin = not argv
            spec = profiles.ContainerSpec(rootfs=images.DEBUG, argv=argv or ["sh"])
            container = _Container(name, spec, ephemeral=True,
                                   creds=self._ephemeral_creds(security_context or {}),
                                   target=target_container, hold_stdin=hold_stdin)
            pod.containers[name] = container
            await self._start_instance(pod, container)
            return self._summary(container)

    def log_path(self, pod_uid: str, container_name: str, previous: bool) -> str | None:
        """The log of the container's current (or, with previous, preceding) instance: lines
        "<RFC3339Nano UTC> <line>". None if there is no such instance."""
        pod = self._pods.get(pod_uid)
        container = pod.containers.get(container_name) if pod else None
        if container is None or container.instance < 0:
            return None
        index = container.instance - 1 if previous else container.instance
        if index < 0:
            return None
        path = self._log_file(pod, container, index)
        return path if os.path.exists(path) else None

    async def stop_pod(self, pod_uid: str) -> None:
        """Kills every process of the pod (containers, exec'd processes, its pause process) and
        removes the containers' roots. Logs stay readable until shutdown."""
        pod = self._pods.get(pod_uid)
        if pod is None:
            return
        async with pod.lock:
            await self._stop_pod_locked(pod)

    async def shutdown(self) -> None:
        """Stops every pod and the fabric, and removes everything the runtime put in workdir."""
        for uid in list(self._pods):
            await self.stop_pod(uid)
        if self._fabric:
            for started in (self._fabric.pool, self._fabric.holder):
                if started:
                    await self._kill(started)
            self._fabric = None
        self._pods.clear()
        self._remove_owned()

    # -- extras (used by tests and available to the API server) -------------------------------

    async def restart_container(self, pod_uid: str, container_name: str) -> dict:
        """Kills the container's processes and starts a new instance of it (fresh root, next
        log file; the old log becomes ``previous``). Works on an exited container too."""
        pod = self._pods.get(pod_uid)
        container = pod.containers.get(container_name) if pod else None
        if container is None or pod.stopped:
            raise ContainerNotRunning(f"no container {container_name} in pod {pod_uid}")
        async with pod.lock:
            await self._stop_container(container)
            self._remove_rootfs(container)
            container.exit_code = None
            container.finished_at = None
            container.exited = asyncio.Event()
            await self._start_instance(pod, container)
            return self._summary(container)

    async def wait_container(self, pod_uid: str, container_name: str) -> int:
        """Waits for the container's main process to exit; returns its exit code."""
        pod = self._pods.get(pod_uid)
        container = pod.containers.get(container_name) if pod else None
        if container is None or container.started is None:
            raise ContainerNotRunning(f"no container {container_name} in pod {pod_uid}")
        await container.exited.wait()
        return container.exit_code

    def container_state(self, pod_uid: str, container_name: str) -> dict | None:
        """{"running", "pid", "started_at", "container_id", "exit_code", "finished_at",
        "restart_count"} of a container, or None if it was never started."""
        pod = self._pods.get(pod_uid)
        container = pod.containers.get(container_name) if pod else None
        if container is None or container.started is None:
            return None
        return {**self._summary(container), "running": container.running,
                "exit_code": container.exit_code, "finished_at": container.finished_at,
                "restart_count": container.instance}

    async def plant(self, pod_uid: str, container_name: str) -> dict:
        """Compromises a running container at runtime, exactly as the compromised-web profile is
        compromised (profiles.plant): lays the planted files into its root and starts the miner
        as an orphan its init adopts, logging to its log. Returns {"pid" (in the container),
        "argv", "files"}. Raises ContainerNotRunning, LaunchError."""
        container = self._running(pod_uid, container_name)
        if container.ephemeral or container.rootfs is None:
            raise ContainerNotRunning(f"container {container_name} cannot be compromised")
        pod = self._pods[pod_uid]
        planted = profiles.plant(profiles.ProfileContext(pod.namespace, pod.name, container.name,
                                                         pod.host_network))
        async with pod.lock:
            started = self._running(pod_uid, container_name).started
            await asyncio.to_thread(self._lay_files, container.rootfs, planted.files)
            await asyncio.to_thread(self._date_dirs, container.rootfs, planted.dir_times)
            # Through the image's shell when there is one, as the planted hook starts it (an ash
            # background job: the environment ash exports, SIGINT and SIGQUIT ignored), then
            # exec'd so that no shell is left to become a zombie of the container's init.
            shell = resolve_executable(container.rootfs, "/bin/sh", images.IMAGE_PATH)
            argv = (["/bin/sh", "-c", "trap '' INT QUIT; exec " + " ".join(planted.argv)]
                    if shell else planted.argv)
            await self._launcher.detach(started.pid, started.start_ticks, argv,
                                        self._env(pod, container), container.creds)
            pid = await self._find_child(started.pid, profiles.MINER_COMM)
        return {"pid": pid, "argv": planted.argv,
                "files": [f.path.decode(errors="replace") for f in planted.files]}

    @staticmethod
    async def _find_child(init_pid: int, comm: str) -> int | None:
        """The pid, inside its container, of a child of init_pid (a host pid) named comm, once
        it appears (within 2 s); None if it does not."""
        deadline = time.monotonic() + 2
        while True:
            for name in os.listdir("/proc"):
                if not name.isdigit():
                    continue
                try:
                    with open(f"/proc/{name}/stat", "rb") as f:
                        data = f.read()
                    if (data[data.index(b"(") + 1:data.rfind(b")")] != comm.encode()
                            or int(data[data.rfind(b")") + 2:].split()[1]) != init_pid):
                        continue
                    with open(f"/proc/{name}/status") as f:
                        for line in f:
                            if line.startswith("NSpid:"):
                                return int(line.split()[-1])
                except (OSError, ValueError, IndexError):
                    continue
            if time.monotonic() > deadline:
                return None
            await asyncio.sleep(0.02)

    # -- the fabric (network) ---------------------------------------------------------------

    def has_network(self) -> bool:
        """Whether the fabric exists (it is created with the first pod that has a network of
        its own)."""
        return self._fabric is not None and self._fabric.holder is not None

    async def net_apply(self, ruleset: str) -> None:
        """Loads an nftables script into the fabric (one transaction). Raises LaunchError."""
        await self._fabric.apply_rules(ruleset)

    async def net_addresses(self, addresses: set[str]) -> None:
        """Sets the fabric's extra local addresses (replacing the previous set)."""
        await self._fabric.set_addresses(addresses)

    def net_socket(self, kind: int, address: str, port: int):
        """A non-blocking socket bound (and for SOCK_STREAM listening) to address:port in the
        fabric, for the API server's in-cluster services. Raises OSError."""
        return self._fabric.open_socket(kind, address, port)

    # -- pods -------------------------------------------------------------------------------

    async def _setup(self) -> None:
        """Builds the helpers (once) in a thread."""
        if self._setup_lock is None:
            self._setup_lock = asyncio.Lock()
        async with self._setup_lock:
            if not all(os.path.exists(self.tools.path(n)) for n in ("fcrun", "fcapp")):
                await asyncio.to_thread(self.tools.build)

    async def _ensure_fabric(self) -> Fabric:
        async with self._setup_lock:
            if self._fabric is None:
                fabric = Fabric(self._launcher, self.tools.fcapp, {"PATH": images.IMAGE_PATH})
                try:
                    for started in await fabric.start():
                        self._register(started, "fabric")
                except BaseException:
                    for started in (fabric.pool, fabric.holder):
                        if started:
                            await self._kill(started)
                    raise
                self._fabric = fabric
            return self._fabric

    async def _pod(self, uid: str, namespace: str, name: str, host_network: bool,
                   pod_ip: str) -> _Pod:
        """The pod's record, with its sandbox (pause process, network) created on first use."""
        await self._setup()
        pod = self._pods.get(uid)
        if pod is None:
            pod = _Pod(uid, namespace, name, host_network, pod_ip,
                       os.path.join(self.workdir, "pods", _safe_name(uid)),
                       nameserver=self.cluster_dns)
            self._pods[uid] = pod
        async with pod.lock:
            if pod.holder is None and not pod.stopped:
                os.makedirs(pod.dir, exist_ok=True)
                await self._start_sandbox(pod)
        return pod

    async def _start_sandbox(self, pod: _Pod) -> None:
        options = ["--new-ipc"]
        if not pod.host_network:
            options += ["--new-net", "--new-uts", "--hostname", pod.name[:64]]
        fabric = None if pod.host_network else await self._ensure_fabric()
        holder = await self._launcher.start(options, [self.tools.fcapp, "--fc-pause"],
                                            {"PATH": images.IMAGE_PATH})
        self._register(holder, f"sandbox {pod.uid}")
        try:
            if fabric:
                await fabric.attach(pod.uid, holder.pid, pod.pod_ip)
        except BaseException:
            await self._kill(holder)
            raise
        pod.holder = holder

    async def _stop_pod_locked(self, pod: _Pod) -> None:
        pod.stopped = True
        ordered = sorted(pod.containers.values(), key=lambda c: not c.ephemeral)
        for container in ordered:
            await self._stop_container(container)
        for container in ordered:
            self._remove_rootfs(container)
        if pod.holder:
            await self._kill(pod.holder)
            pod.holder = None

    # -- containers -------------------------------------------------------------------------

    async def _start_instance(self, pod: _Pod, container: _Container) -> None:
        """Lays out a fresh root for the container's next instance and starts it."""
        container.instance += 1
        base = os.path.join(pod.dir, "containers", _safe_name(container.name))
        os.makedirs(base, exist_ok=True)
        rootfs = os.path.join(base, f"rootfs-{container.instance}")
        spec = container.spec
        await asyncio.to_thread(self._prepare_rootfs, pod, spec, rootfs)
        container.rootfs = rootfs
        if spec.mask_net_tcp is not None:
            container.mask_net_dir = os.path.join(base, "proc-net")
            await asyncio.to_thread(make_masked_net_dir, container.mask_net_dir,
                                    spec.mask_net_tcp)
        log = self._log_file(pod, container, container.instance)
        os.makedirs(os.path.dirname(log), exist_ok=True)
        open(log, "ab").close()

        options = ["--ipc-from", str(pod.holder.pid), "--uts-from", str(pod.holder.pid),
                   "--net-from", str(pod.holder.pid)]
        if container.ephemeral and container.target:
            target = pod.containers[container.target].started
            options += ["--pid-from", str(target.pid)]
        else:
            options += ["--new-pid"]
        options += ["--root", rootfs, "--proc", "--sys", "--dev", "--log", log,
                    *container.creds.args()]
        if container.mask_net_dir:
            options += ["--bind", f"{container.mask_net_dir}:/proc/1/net"]
        started = await self._launcher.start(options, spec.argv, self._env(pod, container),
                                             hold_stdin=container.hold_stdin)
        self._register(started, f"container {pod.uid}/{container.name}")
        container.started = started
        container.started_at = _now_rfc3339()
        container.container_id = "containerd://" + secrets.token_hex(32)
        container.exit_code = None
        container.watcher = asyncio.get_running_loop().create_task(
            self._watch(container, started))

    async def _watch(self, container: _Container, started: Started) -> None:
        """Records the exit of a container instance."""
        code = await started.relay.wait()
        self._registry.remove(started.pid, started.relay.pid)
        if container.started is started:
            container.exit_code = code if code >= 0 else 128 - code
            container.finished_at = _now_rfc3339()
            container.exited.set()

    async def _stop_container(self, container: _Container) -> None:
        if container.started is not None:
            await self._kill(container.started)
            if container.watcher:
                await container.watcher

    async def _kill(self, started: Started) -> None:
        """SIGKILLs a main process (and with it its PID namespace, if it is its init) and its
        relay, and waits for the relay."""
        if proc_start_ticks(started.pid) == started.start_ticks:
            try:
                os.kill(started.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if started.relay.returncode is None:
            try:
                await asyncio.wait_for(started.relay.wait(), 5)
            except asyncio.TimeoutError:
                started.relay.kill()
                await started.relay.wait()
        self._registry.remove(started.pid, started.relay.pid)

    def _prepare_rootfs(self, pod: _Pod, spec: profiles.ContainerSpec, rootfs: str) -> None:
        """Copies the image, lays the spec's image files into it (dating the directories they
        touch IMAGE_TIME, so that every copy of an image lists alike), then its other files
        (synchronous)."""
        if os.path.lexists(rootfs):
            shutil.rmtree(rootfs)
        self.images.instantiate(spec.rootfs, rootfs, pod.identity)
        image = [e for e in spec.files if e.image]
        self._lay_files(rootfs, image)
        touched = {os.path.dirname(self._host_path(rootfs, e.path)) for e in image}
        root = os.fsencode(rootfs)
        for d in sorted(touched, key=len, reverse=True):
            while d.startswith(root):
                os.utime(d, (profiles.IMAGE_TIME, profiles.IMAGE_TIME), follow_symlinks=False)
                if d == root:
                    break
                d = os.path.dirname(d)
        self._lay_files(rootfs, [e for e in spec.files if not e.image])
        self._date_dirs(rootfs, spec.dir_times)

    def _date_dirs(self, rootfs: str, dir_times: dict) -> None:
        for path, mtime in dir_times.items():
            host = self._host_path(rootfs, path)
            if os.path.isdir(host):
                os.utime(host, (mtime, mtime), follow_symlinks=False)

    def _lay_files(self, rootfs: str, files: list[profiles.FileSpec]) -> None:
        dated_dirs = []
        for entry in files:
            self._lay_file(rootfs, entry)
            if entry.directory and entry.mtime is not None:
                dated_dirs.append(entry)
        for entry in dated_dirs:  # after their contents were written
            host = self._host_path(rootfs, entry.path)
            os.utime(host, (entry.mtime, entry.mtime), follow_symlinks=False)

    @staticmethod
    def _host_path(rootfs: str, path: bytes) -> bytes:
        parts = [p for p in path.split(b"/") if p not in (b"", b".", b"..")]
        return os.path.join(os.fsencode(rootfs), *parts)

    def _lay_file(self, rootfs: str, entry: profiles.FileSpec) -> None:
        host = self._host_path(rootfs, entry.path)
        os.makedirs(os.path.dirname(host), exist_ok=True)
        if entry.directory:
            os.makedirs(host, exist_ok=True)
            os.chmod(host, entry.mode)
            return
        if os.path.lexists(host) and not os.path.isdir(host):
            os.unlink(host)  # e.g. an applet symlink the profile replaces
        if entry.symlink is not None:
            os.symlink(entry.symlink, host)
        elif entry.fifo:
            os.mkfifo(host, entry.mode)
            os.chmod(host, entry.mode)
        else:
            if entry.copy_of == profiles.COPY_FCAPP:
                shutil.copyfile(self.tools.fcapp, host)
                if entry.append:
                    with open(host, "ab") as f:
                        f.write(entry.append)
            else:
                with open(host, "wb") as f:
                    if entry.content:
                        f.write(entry.content)
                    if entry.sparse_size:
                        f.truncate(entry.sparse_size)
            os.chmod(host, entry.mode)
        if entry.mtime is not None:
            os.utime(host, (entry.mtime, entry.mtime), follow_symlinks=False)

    def _remove_rootfs(self, container: _Container) -> None:
        if container.rootfs:
            shutil.rmtree(container.rootfs, ignore_errors=True)
            container.rootfs = None

    # -- helpers ----------------------------------------------------------------------------

    def _running(self, pod_uid: str, container_name: str) -> _Container:
        pod = self._pods.get(pod_uid)
        container = pod.containers.get(container_name) if pod else None
        if container is None or not container.running or pod.stopped:
            raise ContainerNotRunning(f"container {container_name} is not running")
        return container

    @staticmethod
    def _summary(container: _Container) -> dict:
        return {"pid": container.started.pid, "started_at": container.started_at,
                "container_id": container.container_id}

    @staticmethod
    def _env(pod: _Pod, container: _Container) -> dict[str, str]:
        """The environment of the container's processes (and of exec into it)."""
        env = {"PATH": images.IMAGE_PATH,
               "HOSTNAME": os.uname().nodename if pod.host_network else pod.name,
               "HOME": "/root" if (container.creds.uid or 0) == 0 else "/",
               "KUBERNETES_SERVICE_HOST": "10.96.0.1",
               "KUBERNETES_SERVICE_PORT": "443",
               "KUBERNETES_SERVICE_PORT_HTTPS": "443",
               "KUBERNETES_PORT": "tcp://10.96.0.1:443",
               "KUBERNETES_PORT_443_TCP": "tcp://10.96.0.1:443",
               "KUBERNETES_PORT_443_TCP_PROTO": "tcp",
               "KUBERNETES_PORT_443_TCP_PORT": "443",
               "KUBERNETES_PORT_443_TCP_ADDR": "10.96.0.1"}
        env.update(container.spec.env)
        return env

    @staticmethod
    def _ephemeral_creds(security_context: dict) -> Credentials:
        caps = set(DEFAULT_CAPABILITIES)
        capabilities = security_context.get("capabilities") or {}
        for name in capabilities.get("drop") or []:
            name = str(name).upper().removeprefix("CAP_")
            if name == "ALL":
                caps.clear()
            elif name in CAPABILITIES:
                caps.discard(CAPABILITIES[name])
        for name in capabilities.get("add") or []:
            name = str(name).upper().removeprefix("CAP_")
            if name == "ALL":
                caps.update(CAPABILITIES.values())
            elif name in CAPABILITIES:
                caps.add(CAPABILITIES[name])
        uid = security_context.get("runAsUser")
        gid = security_context.get("runAsGroup")
        return Credentials(uid=int(uid) if uid is not None else None,
                           gid=int(gid) if gid is not None else None,
                           caps=frozenset(caps))

    def _log_file(self, pod: _Pod, container: _Container, index: int) -> str:
        return os.path.join(pod.dir, "logs", _safe_name(container.name), f"{index}.log")

    def _register(self, started: Started, role: str) -> None:
        self._registry.add(started.pid, started.start_ticks, role)
        relay_start = proc_start_ticks(started.relay.pid)
        if relay_start is not None:
            self._registry.add(started.relay.pid, relay_start, role + " (relay)")

    def _cleanup_leftovers(self) -> None:
        ProcessRegistry.kill_leftovers(self._registry_path)
        _unmount_under(self.workdir)
        self._remove_owned()

    def _remove_owned(self) -> None:
        for name in self._OWNED:
            path = os.path.join(self.workdir, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            elif os.path.lexists(path):
                os.unlink(path)
