"""The cluster network behind the pods: keeps the fabric's rules (netpol.py: kube-proxy and the
CNI's NetworkPolicy/AdminNetworkPolicy enforcement) in step with the API objects, and serves the
in-cluster endpoints that have no pod processes behind them:

- the ``kubernetes`` Service at 10.96.0.1:443: a TCP forwarder to this API server (so a pod can
  really talk to it, and a quarantine really cuts it off);
- cluster DNS: a stub answering on 53/udp+tcp at the IPs of the kube-dns Service's endpoint pods
  that run no processes (CoreDNS in the scenarios), and at 169.254.20.10 with
  ``settings: {nodelocal_dns: true}`` (NodeLocal DNSCache; pods' resolv.conf then names it).
  It knows ``<svc>.<ns>.svc.cluster.local`` (ClusterIP, or the ready endpoints of a headless
  Service), ``<hostname>.<subdomain>.<ns>.svc.cluster.local`` and ``<a-b-c-d>.<ns>.pod.cluster.local``;
  anything else is NXDOMAIN (the fabric has no way out).

Every change of pods, namespaces, Services, nodes or policies marks the network dirty; one task
recomputes and applies the ruleset (only when it changed), and writes through the API wait for it
(``flush``), so a policy is enforced by the time ``kubectl apply`` returns.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import struct

from . import netpol

log = logging.getLogger("fakecluster")

KEYS = {("", "pods"), ("", "namespaces"), ("", "services"), ("", "nodes"),
        ("networking.k8s.io", "networkpolicies"),
        ("policy.networking.k8s.io", "adminnetworkpolicies"),
        ("policy.networking.k8s.io", "baselineadminnetworkpolicies")}
KUBERNETES_IP = "10.96.0.1"
CLUSTER_DOMAIN = "cluster.local"


class Network:
    """Owned by the Cluster; talks to the runtime's fabric."""

    def __init__(self, cluster):
        self.c = cluster
        self.enforce = True
        self.keep_established = True
        self.nodelocal_dns = False
        self.api_port: int | None = None
        self.last_plan: netpol.Plan | None = None
        self.last_error: str | None = None
        self.names: dict[str, list[str]] = {}      # DNS: name -> IPv4 addresses
        self._applied: str | None = None
        self._addresses: set[str] | None = None
        self._servers: dict[tuple[str, str], object] = {}   # (udp|tcp|api, address) -> server
        self._dirty = False
        self._task: asyncio.Task | None = None
        cluster.store.listeners.append(self._changed)

    # -- settings ---------------------------------------------------------------------------

    def configure(self, settings: dict) -> None:
        """Scenario settings (and /_fake/config): netpol_enforcement (bool),
        netpol_existing_connections (keep|cut), nodelocal_dns (bool). Raises ValueError."""
        if "netpol_enforcement" in settings:
            self.enforce = _bool(settings["netpol_enforcement"], "netpol_enforcement")
        if "netpol_existing_connections" in settings:
            mode = str(settings["netpol_existing_connections"])
            if mode not in ("keep", "cut"):
                raise ValueError("netpol_existing_connections must be keep or cut")
            self.keep_established = mode == "keep"
        if "nodelocal_dns" in settings:
            self.nodelocal_dns = _bool(settings["nodelocal_dns"], "nodelocal_dns")
        if hasattr(self.c.runtime, "cluster_dns"):
            self.c.runtime.cluster_dns = netpol.NODELOCAL_DNS if self.nodelocal_dns else "10.96.0.10"
        self.mark()

    def describe(self) -> dict:
        plan = self.last_plan
        return {"netpol_enforcement": self.enforce,
                "netpol_existing_connections": "keep" if self.keep_established else "cut",
                "nodelocal_dns": self.nodelocal_dns,
                "dns_addresses": sorted(plan.dns_addresses) if plan else [],
                "enforced_pods": plan.enforced_pods if plan else {},
                "error": self.last_error}

    # -- change tracking ----------------------------------------------------------------------

    def _changed(self, key, etype, old, new) -> None:
        if key in KEYS:
            self.mark()

    def mark(self) -> None:
        """Something the network depends on changed: recompute soon."""
        self._dirty = True
        if self._task is None or self._task.done():
            try:
                self._task = asyncio.get_running_loop().create_task(self._run())
            except RuntimeError:  # no loop (object set-up outside the server): next change
                pass

    async def flush(self) -> None:
        """Waits until the fabric reflects every change made so far."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def _run(self) -> None:
        while self._dirty:
            self._dirty = False
            try:
                await self._sync()
                self.last_error = None
            except Exception as e:  # noqa: BLE001 - logged and reported by /_fake/network
                self.last_error = str(e)
                log.exception("network: could not apply the cluster network")

    def _runtime_ready(self) -> bool:
        rt = self.c.runtime
        return hasattr(rt, "has_network") and rt.has_network()

    async def _sync(self) -> None:
        if not self._runtime_ready():
            return
        snap = self.snapshot()
        plan = netpol.plan(snap)
        self.names = self._dns_names(snap)
        dns = set(plan.dns_addresses)
        if self.nodelocal_dns:
            dns.add(netpol.NODELOCAL_DNS)
        plan.dns_addresses = dns
        addresses = {n.ip for n in snap.nodes.values()} | {KUBERNETES_IP} | dns
        rt = self.c.runtime
        if addresses != self._addresses:
            await rt.net_addresses(addresses)
            self._addresses = addresses
        if plan.nft != self._applied:
            await rt.net_apply(plan.nft)
            self._applied = plan.nft
        self.last_plan = plan
        await self._listen(dns)

    # -- the snapshot -------------------------------------------------------------------------

    def snapshot(self) -> netpol.Snapshot:
        store = self.c.store
        fake = self.c.pods.fake
        pending = self.c.pods.pending
        pods = []
        for e in store.items(("", "pods")).values():
            o = e.obj
            md, spec, st = o["metadata"], o.get("spec") or {}, o.get("status") or {}
            ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                        for c in st.get("conditions") or [])
            ports = [(p.get("name"), str(p.get("protocol") or "TCP").upper(), int(p["containerPort"]))
                     for c in spec.get("containers") or [] for p in c.get("ports") or []
                     if p.get("containerPort")]
            uid = md.get("uid")
            pods.append(netpol.Pod(md.get("namespace", ""), md["name"], st.get("podIP"),
                                   md.get("labels") or {}, spec.get("nodeName", ""),
                                   bool(spec.get("hostNetwork")), ready,
                                   "deletionTimestamp" in md,
                                   bool(fake.get(uid)) and uid not in pending, ports))
        namespaces = {e.obj["metadata"]["name"]: e.obj["metadata"].get("labels") or {}
                      for e in store.items(("", "namespaces")).values()}
        nodes = {}
        for e in store.items(("", "nodes")).values():
            md = e.obj["metadata"]
            ip = next((a["address"] for a in (e.obj.get("status") or {}).get("addresses") or []
                       if a.get("type") == "InternalIP"), None)
            if ip:
                nodes[md["name"]] = netpol.Node(md["name"], ip, md.get("labels") or {})

        def objs(key):
            return [e.obj for e in store.items(key).values()]
        return netpol.Snapshot(
            pods, namespaces, nodes,
            objs(("networking.k8s.io", "networkpolicies")),
            objs(("policy.networking.k8s.io", "adminnetworkpolicies")),
            objs(("policy.networking.k8s.io", "baselineadminnetworkpolicies")),
            objs(("", "services")), self.enforce, self.keep_established)

    @staticmethod
    def _dns_names(snap: netpol.Snapshot) -> dict[str, list[str]]:
        names: dict[str, list[str]] = {}
        suffix = "svc." + CLUSTER_DOMAIN
        for svc in snap.services:
            md, spec = svc["metadata"], svc.get("spec") or {}
            name = f"{md['name']}.{md.get('namespace', '')}.{suffix}"
            cip = spec.get("clusterIP")
            if cip and cip != "None":
                names[name] = [cip]
                continue
            sel = spec.get("selector") or {}
            eps = [p for p in snap.pods if p.ip and p.ready and p.namespace == md.get("namespace")
                   and sel and all(p.labels.get(k) == v for k, v in sel.items())]
            names[name] = sorted({p.ip for p in eps})
        for p in snap.pods:
            if not p.ip or p.host_network:
                continue
            names[f"{p.ip.replace('.', '-')}.{p.namespace}.pod.{CLUSTER_DOMAIN}"] = [p.ip]
        return names

    # -- listeners in the fabric --------------------------------------------------------------

    async def _listen(self, dns: set[str]) -> None:
        wanted = {("api", KUBERNETES_IP)} | {(k, a) for a in dns for k in ("udp", "tcp")}
        for key in sorted(set(self._servers) - wanted):
            self._close(self._servers.pop(key))
        loop = asyncio.get_running_loop()
        rt = self.c.runtime
        for kind, address in sorted(wanted - set(self._servers)):
            try:
                if kind == "udp":
                    sock = rt.net_socket(socket.SOCK_DGRAM, address, 53)
                    transport, _ = await loop.create_datagram_endpoint(
                        lambda: _DnsUdp(self), sock=sock)
                    self._servers[(kind, address)] = transport
                elif kind == "tcp":
                    sock = rt.net_socket(socket.SOCK_STREAM, address, 53)
                    self._servers[(kind, address)] = await asyncio.start_server(
                        self._dns_tcp, sock=sock)
                else:
                    sock = rt.net_socket(socket.SOCK_STREAM, address, 443)
                    self._servers[(kind, address)] = await asyncio.start_server(
                        self._forward_api, sock=sock)
            except OSError as e:
                log.error("network: cannot listen on %s %s: %s", kind, address, e)

    @staticmethod
    def _close(server) -> None:
        server.close()

    async def close(self) -> None:
        """Stops the in-fabric listeners (before the runtime removes the fabric)."""
        for key in list(self._servers):
            self._close(self._servers.pop(key))
        self._addresses = None
        self._applied = None

    async def _forward_api(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.api_port is None:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.api_port)
        except OSError:
            writer.close()
            return

        async def pipe(src, dst):
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
                if dst.can_write_eof():
                    dst.write_eof()   # half-close: the answer may still come
            except (OSError, asyncio.CancelledError):
                dst.close()
        try:
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        finally:
            up_writer.close()
            writer.close()

    async def _dns_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readexactly(2)
                query = await reader.readexactly(struct.unpack("!H", head)[0])
                answer = self.answer(query)
                if answer is None:
                    break
                writer.write(struct.pack("!H", len(answer)) + answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, OSError):
            pass
        finally:
            writer.close()

    # -- DNS ----------------------------------------------------------------------------------

    def answer(self, query: bytes) -> bytes | None:
        """The response to one DNS query message, or None if it is not one."""
        if len(query) < 12:
            return None
        ident, flags, qdcount = struct.unpack("!HHH", query[:6])
        if flags & 0x8000 or qdcount != 1:
            return None
        labels, pos = [], 12
        while True:
            if pos >= len(query):
                return None
            n = query[pos]
            if n == 0:
                pos += 1
                break
            if n > 63 or pos + 1 + n > len(query):
                return None
            labels.append(query[pos + 1:pos + 1 + n])
            pos += 1 + n
        if pos + 4 > len(query):
            return None
        qtype, qclass = struct.unpack("!HH", query[pos:pos + 4])
        question = query[12:pos + 4]
        name = b".".join(labels).decode("ascii", "replace").lower()
        addresses = self.names.get(name)
        rcode = 0 if addresses is not None else 3       # NXDOMAIN
        answers = b""
        count = 0
        if addresses and qtype in (1, 255) and qclass == 1:
            for a in addresses:
                answers += struct.pack("!HHHIH", 0xC00C, 1, 1, 30, 4) + ipaddress.IPv4Address(a).packed
                count += 1
        rflags = 0x8000 | (flags & 0x7900) | 0x0400 | 0x0080 | rcode   # QR, opcode+RD, AA, RA
        return struct.pack("!HHHHHH", ident, rflags, 1, count, 0, 0) + question + answers


class _DnsUdp(asyncio.DatagramProtocol):
    def __init__(self, network: Network):
        self.network = network
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        reply = self.network.answer(data)
        if reply is not None:
            self.transport.sendto(reply, addr)


def _bool(value, what: str) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "1", "yes"):
        return True
    if str(value).lower() in ("false", "0", "no"):
        return False
    raise ValueError(f"{what} must be true or false")
