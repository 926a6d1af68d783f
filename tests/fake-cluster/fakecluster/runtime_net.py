"""Pod networking of the fake runtime.

Every pod (but hostNetwork ones) has its own network namespace, held by a pause process, with
loopback up and ``eth0``: one end of a veth pair carrying the pod IP (/32), with a default route
via 169.254.1.1 (exactly as Calico sets pods up). The other end lives in the runtime's own
"fabric" namespace (also held by a pause process), which holds 169.254.1.1 (so it answers the
pods' ARP for their gateway), routes between pods (/32 routes, forwarding) and carries the outside
world the profiles need: the fake mining pool at 198.51.100.7:3333 on its loopback. The API server
side adds more addresses to the fabric's loopback (``set_addresses``), installs its packet filter
and NAT rules there (``apply_rules``, nftables) and listens there (``open_socket``).
Nothing here touches the host's network namespace; the fabric has no route out.

(This kernel has no ``dummy`` link type; veth is also what real pods have.)
"""

from __future__ import annotations

import ctypes
import hashlib
import ipaddress
import os
import socket
import threading

from .profiles import POOL_ADDRESS, POOL_PORT
from .runtime_native import Launcher, Started

POD_GATEWAY = "169.254.1.1"
_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def peer_name(pod_uid: str) -> str:
    """The fabric-side interface name of a pod's veth (at most 15 characters)."""
    return "fc" + hashlib.sha1(pod_uid.encode()).hexdigest()[:11]


def _ipv4(address: str) -> str | None:
    try:
        return str(ipaddress.IPv4Address(address))
    except ValueError:
        return None


class Fabric:
    """The runtime's own network namespace and the fake pool in it."""

    def __init__(self, launcher: Launcher, fcapp: str, env: dict[str, str]):
        self._launcher = launcher
        self._fcapp = fcapp
        self._env = env
        self.holder: Started | None = None
        self.pool: Started | None = None
        self._addresses: set[str] = set()

    async def start(self) -> list[Started]:
        """Creates the fabric namespace and starts the pool. Returns the processes started
        (for the runtime's registry). Raises LaunchError."""
        self.holder = await self._launcher.start(
            ["--new-net", "--new-ipc", "--new-uts", "--hostname", "fabric"],
            [self._fcapp, "--fc-pause"], self._env)
        pid = self.holder.pid
        await self._launcher.run_in(pid, ["ip", "-batch", "-"], (
            f"addr add {POOL_ADDRESS}/32 dev lo\naddr add {POD_GATEWAY}/32 dev lo\n").encode())
        await self._launcher.run_in(pid, ["/bin/sh", "-c",
                                          "echo 1 > /proc/sys/net/ipv4/ip_forward"])
        self.pool = await self._launcher.start(
            ["--net-from", str(pid)],
            [self._fcapp, "--fc-pool", POOL_ADDRESS, str(POOL_PORT)], self._env)
        return [self.holder, self.pool]

    async def attach(self, pod_uid: str, pod_holder_pid: int, pod_ip: str) -> None:
        """Gives the pod held by pod_holder_pid its eth0 with pod_ip, wired to the fabric.
        Raises LaunchError."""
        assert self.holder is not None
        peer = peer_name(pod_uid)
        ip = _ipv4(pod_ip)
        pod_cmds = f"link add eth0 type veth peer name {peer} netns {self.holder.pid}\n"
        if ip:
            pod_cmds += f"addr add {ip}/32 dev eth0\n"
        pod_cmds += (f"link set eth0 up\nroute add {POD_GATEWAY} dev eth0 scope link\n"
                     f"route add default via {POD_GATEWAY} dev eth0\n")
        await self._launcher.run_in(pod_holder_pid, ["ip", "-batch", "-"], pod_cmds.encode())
        fabric_cmds = f"link set {peer} up\n"
        if ip:
            fabric_cmds += f"route replace {ip}/32 dev {peer}\n"
        await self._launcher.run_in(self.holder.pid, ["ip", "-batch", "-"], fabric_cmds.encode())
        await self._launcher.run_in(self.holder.pid, [
            "/bin/sh", "-c", f"echo 1 > /proc/sys/net/ipv4/conf/{peer}/proxy_arp"])

    async def apply_rules(self, ruleset: str) -> None:
        """Loads an nftables script in the fabric (``nft -f -``: one transaction). Raises
        LaunchError with nft's message."""
        assert self.holder is not None
        await self._launcher.run_in(self.holder.pid, ["nft", "-f", "-"], ruleset.encode())

    async def set_addresses(self, addresses: set[str]) -> None:
        """Makes ``addresses`` (IPv4) the fabric's extra local addresses, besides the pool and the
        pods' gateway: adds the missing ones, removes those of the previous call that are not
        wanted any more. Raises LaunchError."""
        assert self.holder is not None
        wanted = {a for a in (_ipv4(x) for x in addresses) if a} - {POOL_ADDRESS, POD_GATEWAY}
        cmds = [f"addr add {a}/32 dev lo" for a in sorted(wanted - self._addresses)]
        cmds += [f"addr del {a}/32 dev lo" for a in sorted(self._addresses - wanted)]
        if cmds:
            await self._launcher.run_in(self.holder.pid, ["ip", "-batch", "-"],
                                        ("\n".join(cmds) + "\n").encode())
        self._addresses = wanted

    def open_socket(self, kind: int, address: str, port: int) -> socket.socket:
        """A non-blocking IPv4 socket of ``kind`` (SOCK_STREAM: listening; SOCK_DGRAM) bound to
        address:port in the fabric's network namespace (created there by a short-lived thread
        that enters it). Raises OSError."""
        assert self.holder is not None
        return in_netns(self.holder.pid, lambda: _bound(kind, address, port))


def _bound(kind: int, address: str, port: int) -> socket.socket:
    s = socket.socket(socket.AF_INET, kind)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((address, port))
        if kind == socket.SOCK_STREAM:
            s.listen(128)
        s.setblocking(False)
    except BaseException:
        s.close()
        raise
    return s


def in_netns(pid: int, fn):
    """Runs fn in a new thread whose network namespace is that of pid, and returns its result
    (sockets keep the namespace they were created in). Raises what fn raises, or OSError."""
    result: dict = {}

    def run() -> None:
        try:
            fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            try:
                if _libc.setns(fd, _CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns into the network namespace of {pid}: {os.strerror(err)}")
            finally:
                os.close(fd)
            result["value"] = fn()  # the thread ends here, in the fabric: nothing else runs in it
        except BaseException as e:  # noqa: BLE001 - handed to the caller
            result["error"] = e

    thread = threading.Thread(target=run, name="fabric-netns", daemon=True)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]
