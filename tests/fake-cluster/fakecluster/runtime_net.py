"""Pod networking of the fake runtime.

Every pod (but hostNetwork ones) has its own network namespace, held by a pause process, with
loopback up and ``eth0``: one end of a veth pair carrying the pod IP (/32, default route on the
link, like Calico). The other end lives in the runtime's own "fabric" namespace (also held by a
pause process), which routes between pods (/32 routes, proxy ARP, forwarding) and carries the
outside world the profiles need: the fake mining pool at 198.51.100.7:3333 on its loopback.
Nothing here touches the host's network namespace; the fabric has no route out.

(This kernel has no ``dummy`` link type; veth is also what real pods have.)
"""

from __future__ import annotations

import hashlib
import ipaddress

from .profiles import POOL_ADDRESS, POOL_PORT
from .runtime_native import Launcher, Started


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

    async def start(self) -> list[Started]:
        """Creates the fabric namespace and starts the pool. Returns the processes started
        (for the runtime's registry). Raises LaunchError."""
        self.holder = await self._launcher.start(
            ["--new-net", "--new-ipc", "--new-uts", "--hostname", "fabric"],
            [self._fcapp, "--fc-pause"], self._env)
        pid = self.holder.pid
        await self._launcher.run_in(pid, ["ip", "-batch", "-"], (
            f"addr add {POOL_ADDRESS}/32 dev lo\n").encode())
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
        pod_cmds += "link set eth0 up\nroute add default dev eth0\n"
        await self._launcher.run_in(pod_holder_pid, ["ip", "-batch", "-"], pod_cmds.encode())
        fabric_cmds = f"link set {peer} up\n"
        if ip:
            fabric_cmds += f"route replace {ip}/32 dev {peer}\n"
        await self._launcher.run_in(self.holder.pid, ["ip", "-batch", "-"], fabric_cmds.encode())
        await self._launcher.run_in(self.holder.pid, [
            "/bin/sh", "-c", f"echo 1 > /proc/sys/net/ipv4/conf/{peer}/proxy_arp"])
