"""What the fake cluster's network does with the API objects, as an nftables ruleset for the
fabric namespace (pure: no I/O; ``network.py`` applies it).

Two parts, like on a real node:

- kube-proxy: every Service ClusterIP:port is DNATed (prerouting) to a ready endpoint pod's
  IP:targetPort (named target ports resolved per pod; ``numgen random`` picks one); a port with no
  ready endpoint is rejected (ICMP port unreachable: "connection refused"), and a pod reaching
  itself through its Service is SNATed to its node's address (hairpin), as kube-proxy
  masquerades it. Any other address of the service range is not routed ("network unreachable").
- the CNI's policy engine (Calico/Cilium semantics of ``networking.k8s.io/v1`` NetworkPolicy and
  ``policy.networking.k8s.io/v1alpha1`` AdminNetworkPolicy/BaselineAdminNetworkPolicy), in the
  forward and input hooks of the fabric: every pod-to-pod, pod-to-fabric (the pool, DNS, the API
  server) and node-to-pod packet passes there. Per pod and direction, in order:
  AdminNetworkPolicies by priority (Allow: allowed, Deny: dropped, Pass: on to NetworkPolicy), then
  NetworkPolicies if any selects the pod in that direction (the union of their rules allows,
  anything else is dropped), else the BaselineAdminNetworkPolicy (Allow/Deny), else allowed.
  Traffic between a pod and its own node, and from a pod to itself, is always allowed (the
  Kubernetes API's exceptions); replies of allowed connections pass
  (conntrack), and so do established connections when policies change unless the scenario says
  ``netpol_existing_connections: cut``: then every packet is judged again against the
  connection's original direction, so a connection that is no longer allowed stops at once.

Packets are judged after DNAT: a policy sees the endpoint pod, not the ClusterIP (as Calico and
Cilium do).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from .selectors import selector_matches

TABLE = "fakecluster"
POD_GATEWAY = "169.254.1.1"        # every pod's default gateway (as Calico), held by the fabric
NODELOCAL_DNS = "169.254.20.10"    # NodeLocal DNSCache's link-local address (when enabled)
KUBERNETES_SERVICE = ("default", "kubernetes")
DNS_SERVICE = ("kube-system", "kube-dns")
PROTOCOLS = ("TCP", "UDP", "SCTP")

# packet fields by the direction a rule is written for: a connection's original direction, or
# (cut mode) a reply packet judged as the original direction it answers
_ORIGINAL = {"src": "ip saddr", "dst": "ip daddr", "dport": "th dport"}
_REPLY = {"src": "ip daddr", "dst": "ip saddr", "dport": "th sport"}


@dataclass
class Pod:
    """A pod as the network sees it."""
    namespace: str
    name: str
    ip: str | None                  # None: no address yet (pending)
    labels: dict
    node: str
    host_network: bool = False
    ready: bool = True              # a Service endpoint only when ready
    terminating: bool = False
    processes: bool = False         # backed by processes in a network namespace of its own
    ports: list = field(default_factory=list)   # [(name, protocol, containerPort)]


@dataclass
class Node:
    name: str
    ip: str
    labels: dict = field(default_factory=dict)


@dataclass
class Snapshot:
    """Everything the ruleset depends on."""
    pods: list[Pod]
    namespaces: dict[str, dict]                  # name -> labels
    nodes: dict[str, Node]
    policies: list[dict] = field(default_factory=list)       # NetworkPolicies
    admin_policies: list[dict] = field(default_factory=list)  # AdminNetworkPolicies
    baseline_policies: list[dict] = field(default_factory=list)
    services: list[dict] = field(default_factory=list)
    enforce: bool = True
    keep_established: bool = True


@dataclass
class Plan:
    nft: str                        # the whole table, replacing the previous one atomically
    dns_addresses: set[str]         # where the fabric's DNS stub answers (udp+tcp 53)
    enforced_pods: dict[str, list[str]] = field(default_factory=dict)  # "ns/name" -> ["egress", ...]


# -- NetworkPolicy API semantics ---------------------------------------------------------------

def policy_types(spec: dict) -> list[str]:
    """spec.policyTypes as the API server defaults it: Ingress always, Egress if there are egress
    rules."""
    types = spec.get("policyTypes")
    if types:
        return list(types)
    return ["Ingress", "Egress"] if spec.get("egress") else ["Ingress"]


def default_policy_types(obj: dict) -> None:
    """Sets spec.policyTypes of a NetworkPolicy being written, when it is missing (as
    SetDefaults_NetworkPolicySpec does)."""
    spec = obj.get("spec")
    if isinstance(spec, dict) and not spec.get("policyTypes"):
        spec["policyTypes"] = policy_types(spec)


def _ipv4_net(cidr: str) -> ipaddress.IPv4Network | None:
    try:
        net = ipaddress.ip_network(str(cidr), strict=False)
    except ValueError:
        return None
    return net if isinstance(net, ipaddress.IPv4Network) else None


# A peer (who is at the other end) is one of:
#   ("any",)                      every address
#   ("pods", frozenset(ips))      exactly these pods
#   ("cidr", net, (except...))    an IPv4 block minus its exceptions
# A port spec is None (every protocol and port) or a list of ("num", proto, lo, hi) and
# ("named", proto or None, name).

ANY = ("any",)


@dataclass
class Clause:
    peer: tuple
    ports: list | None


class Evaluator:
    """Resolves selectors against one snapshot."""

    def __init__(self, snap: Snapshot):
        self.snap = snap
        self.pods = [p for p in snap.pods if p.ip and not p.host_network]
        self.by_ip = {p.ip: p for p in self.pods}

    def ns_labels(self, ns: str) -> dict:
        return self.snap.namespaces.get(ns, {"kubernetes.io/metadata.name": ns})

    def pods_where(self, ns_selector, pod_selector, same_ns: str | None = None) -> tuple:
        """("pods", ips) of the pods in namespaces matching ns_selector (or in same_ns when
        ns_selector is None) whose labels match pod_selector (None: any pod)."""
        ips = set()
        for p in self.pods:
            if ns_selector is None:
                if p.namespace != same_ns:
                    continue
            elif not selector_matches(ns_selector, self.ns_labels(p.namespace)):
                continue
            if pod_selector is not None and not selector_matches(pod_selector, p.labels):
                continue
            ips.add(p.ip)
        return ("pods", frozenset(ips))

    # -- NetworkPolicy ---------------------------------------------------------------------

    def np_selects(self, np: dict, pod: Pod, direction: str) -> bool:
        spec = np.get("spec") or {}
        if np["metadata"].get("namespace") != pod.namespace:
            return False
        if direction.capitalize() not in policy_types(spec):
            return False
        return selector_matches(spec.get("podSelector") or {}, pod.labels)

    def np_clauses(self, np: dict, direction: str) -> list[Clause]:
        spec = np.get("spec") or {}
        ns = np["metadata"].get("namespace")
        rules = spec.get(direction) or []
        key = "to" if direction == "egress" else "from"
        out = []
        for rule in rules:
            rule = rule or {}
            ports = _np_ports(rule.get("ports"))
            peers = rule.get(key) or []
            if not peers:
                out.append(Clause(ANY, ports))
                continue
            for peer in peers:
                resolved = self._np_peer(ns, peer or {})
                if resolved is not None:
                    out.append(Clause(resolved, ports))
        return out

    def _np_peer(self, ns: str, peer: dict) -> tuple | None:
        block = peer.get("ipBlock")
        if block:
            net = _ipv4_net(block.get("cidr", ""))
            if net is None:
                return None
            excepts = tuple(n for n in (_ipv4_net(e) for e in block.get("except") or []) if n)
            return ("cidr", net, excepts)
        ns_sel, pod_sel = peer.get("namespaceSelector"), peer.get("podSelector")
        if ns_sel is None and pod_sel is None:
            return None
        return self.pods_where(ns_sel, pod_sel, same_ns=ns)

    # -- AdminNetworkPolicy ------------------------------------------------------------------

    def anp_subject(self, policy: dict, pod: Pod) -> bool:
        subject = (policy.get("spec") or {}).get("subject") or {}
        if "namespaces" in subject:
            return selector_matches(subject["namespaces"] or {}, self.ns_labels(pod.namespace))
        if "pods" in subject:
            pods = subject["pods"] or {}
            return (selector_matches(pods.get("namespaceSelector") or {}, self.ns_labels(pod.namespace))
                    and selector_matches(pods.get("podSelector") or {}, pod.labels))
        return False

    def anp_clauses(self, rule: dict, direction: str) -> list[Clause]:
        ports = _anp_ports(rule.get("ports"))
        out = []
        for peer in rule.get("to" if direction == "egress" else "from") or []:
            peer = peer or {}
            if "namespaces" in peer:
                out.append(Clause(self.pods_where(peer["namespaces"] or {}, None), ports))
            elif "pods" in peer:
                p = peer["pods"] or {}
                out.append(Clause(self.pods_where(p.get("namespaceSelector") or {},
                                                  p.get("podSelector") or {}), ports))
            elif "networks" in peer and direction == "egress":
                for cidr in peer["networks"] or []:
                    net = _ipv4_net(cidr)
                    if net is not None:
                        out.append(Clause(("cidr", net, ()), ports))
            elif "nodes" in peer and direction == "egress":
                ips = frozenset(n.ip for n in self.snap.nodes.values()
                                if selector_matches(peer["nodes"] or {}, n.labels))
                out.append(Clause(("pods", ips), ports))
        return out

    # -- ports -------------------------------------------------------------------------------

    def named_targets(self, clause: Clause, name: str, proto: str | None) -> list[tuple[str, str, int]]:
        """(ip, protocol, port) of the pods in clause's peer that have a container port called
        name (egress: the destination pods)."""
        out = []
        for p in self.pods:
            if not _peer_contains(clause.peer, p.ip):
                continue
            for pname, pproto, number in p.ports:
                if pname == name and (proto is None or pproto == proto):
                    out.append((p.ip, pproto, number))
        return out


def _np_ports(ports) -> list | None:
    if not ports:
        return None
    out = []
    for p in ports:
        p = p or {}
        proto = str(p.get("protocol") or "TCP").upper()
        port = p.get("port")
        if port is None:
            out.append(("num", proto, 1, 65535))
        elif isinstance(port, str) and not port.isdigit():
            out.append(("named", proto, port))
        else:
            lo = int(port)
            hi = int(p.get("endPort") or lo)
            out.append(("num", proto, lo, max(lo, hi)))
    return out


def _anp_ports(ports) -> list | None:
    if not ports:
        return None
    out = []
    for p in ports:
        p = p or {}
        if "portNumber" in p:
            n = p["portNumber"] or {}
            lo = int(n.get("port", 0))
            out.append(("num", str(n.get("protocol") or "TCP").upper(), lo, lo))
        elif "namedPort" in p:
            out.append(("named", None, str(p["namedPort"])))
        elif "portRange" in p:
            r = p["portRange"] or {}
            out.append(("num", str(r.get("protocol") or "TCP").upper(), int(r.get("start", 0)),
                        int(r.get("end", 0))))
    return out


def _peer_contains(peer: tuple, ip: str) -> bool:
    if peer[0] == "any":
        return True
    if peer[0] == "pods":
        return ip in peer[1]
    addr = ipaddress.IPv4Address(ip)
    return addr in peer[1] and not any(addr in e for e in peer[2])


# -- rendering ---------------------------------------------------------------------------------

def _set(items) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else "{ " + ", ".join(items) + " }"


def _peer_expr(fields: dict, side: str, peer: tuple) -> list[str] | None:
    """nft expressions matching the peer at fields[side]; None if it matches nothing."""
    f = fields[side]
    if peer[0] == "any":
        return []
    if peer[0] == "pods":
        if not peer[1]:
            return None
        return [f"{f} {_set(sorted(peer[1], key=ipaddress.IPv4Address))}"]
    out = [f"{f} {peer[1]}"]
    if peer[2]:
        out.append(f"{f} != {_set(str(e) for e in peer[2])}")
    return out


def _clause_rules(ev: Evaluator, fields: dict, direction: str, clause: Clause, verdict: str,
                  subject: Pod) -> list[str]:
    """The nft rules (one line each) matching clause, ending in verdict."""
    side = "dst" if direction == "egress" else "src"
    peer = _peer_expr(fields, side, clause.peer)
    if peer is None:
        return []
    if clause.ports is None:
        return [" ".join(peer + [verdict])]
    numeric: dict[str, list[str]] = {}
    pairs: dict[str, set[tuple[str, int]]] = {}
    for spec in clause.ports:
        if spec[0] == "num":
            _, proto, lo, hi = spec
            if proto not in PROTOCOLS or lo < 1:
                continue
            numeric.setdefault(proto, []).append(str(lo) if lo == hi else f"{lo}-{min(hi, 65535)}")
        elif direction == "ingress":
            # the subject's own port of that name
            _, proto, name = spec
            for pname, pproto, number in subject.ports:
                if pname == name and (proto is None or pproto == proto):
                    numeric.setdefault(pproto, []).append(str(number))
        else:
            _, proto, name = spec
            for ip, pproto, number in ev.named_targets(clause, name, proto):
                pairs.setdefault(pproto, set()).add((ip, number))
    rules = []
    for proto, ports in sorted(numeric.items()):
        ports = sorted(set(ports), key=lambda s: int(s.split("-")[0]))
        all_ports = ports == ["1-65535"]
        expr = peer + [f"meta l4proto {proto.lower()}"]
        if not all_ports:
            expr.append(f"{fields['dport']} {_set(ports)}")
        rules.append(" ".join(expr + [verdict]))
    for proto, targets in sorted(pairs.items()):
        items = sorted(f"{ip} . {port}" for ip, port in targets)
        rules.append(" ".join(peer + [f"meta l4proto {proto.lower()}",
                                      f"{fields[side]} . {fields['dport']} {{ {', '.join(items)} }}", verdict]))
    return rules


@dataclass
class _Decision:
    """The rule list of one pod in one direction."""
    admin: list[tuple[Clause, str]]        # (clause, Allow|Deny|Pass) in order
    isolated: bool                         # some NetworkPolicy selects the pod in this direction
    allows: list[Clause]                   # the union of those policies' rules
    baseline: list[tuple[Clause, str]]     # (clause, Allow|Deny)

    @property
    def restricted(self) -> bool:
        return bool(self.admin or self.isolated or self.baseline)


def decide(ev: Evaluator, pod: Pod, direction: str) -> _Decision:
    admin = []
    for anp in sorted(ev.snap.admin_policies,
                      key=lambda a: (int((a.get("spec") or {}).get("priority", 1000)),
                                     a["metadata"]["name"])):
        if not ev.anp_subject(anp, pod):
            continue
        for rule in (anp.get("spec") or {}).get(direction) or []:
            action = (rule or {}).get("action")
            if action in ("Allow", "Deny", "Pass"):
                admin += [(c, action) for c in ev.anp_clauses(rule, direction)]
    selecting = [np for np in ev.snap.policies if ev.np_selects(np, pod, direction)]
    allows = [c for np in selecting for c in ev.np_clauses(np, direction)]
    baseline = []
    if not selecting:
        for banp in ev.snap.baseline_policies:
            if not ev.anp_subject(banp, pod):
                continue
            for rule in (banp.get("spec") or {}).get(direction) or []:
                action = (rule or {}).get("action")
                if action in ("Allow", "Deny"):
                    baseline += [(c, action) for c in ev.anp_clauses(rule, direction)]
    return _Decision(admin, bool(selecting), allows, baseline)


def _decision_chains(ev: Evaluator, pod: Pod, direction: str, d: _Decision, chain: str,
                     fields: dict) -> list[tuple[str, list[str]]]:
    """[(chain name, rules)] for one pod, direction and field mapping: `chain` returns if the
    packet is allowed, drops it otherwise."""
    np_chain = chain + "_np"
    head = []
    for clause, action in d.admin:
        verdict = {"Allow": "return", "Deny": "drop", "Pass": f"goto {np_chain}"}[action]
        head += _clause_rules(ev, fields, direction, clause, verdict, pod)
    head.append(f"goto {np_chain}")
    tail = []
    if d.isolated:
        for clause in d.allows:
            tail += _clause_rules(ev, fields, direction, clause, "return", pod)
        tail.append("drop")
    else:
        for clause, action in d.baseline:
            tail += _clause_rules(ev, fields, direction, clause,
                                  "return" if action == "Allow" else "drop", pod)
        tail.append("return")
    return [(chain, head), (np_chain, tail)]


def _target_port(target, pod: Pod, proto: str) -> int | None:
    if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
        return int(target)
    for name, pproto, number in pod.ports:
        if name == target and pproto == proto:
            return number
    return None


def _kube_proxy(ev: Evaluator, snap: Snapshot) -> tuple[list[str], list[str], list[str], set[str]]:
    """(prerouting DNAT rules, postrouting hairpin SNAT rules, filter reject rules, DNS
    addresses)."""
    dnat, snat, reject, dns = [], [], [], set()
    hairpin: dict[str, str] = {}
    for svc in sorted(snap.services, key=lambda s: (s["metadata"].get("namespace", ""),
                                                    s["metadata"]["name"])):
        md, spec = svc["metadata"], svc.get("spec") or {}
        key = (md.get("namespace", ""), md["name"])
        cip = spec.get("clusterIP")
        if key == KUBERNETES_SERVICE or not cip or cip == "None" or _ipv4_net(cip) is None:
            continue  # the API server answers on 10.96.0.1 itself (see network.py)
        selector = spec.get("selector")
        endpoints = []
        if selector:
            endpoints = [p for p in ev.pods if p.namespace == key[0] and p.ready and not p.terminating
                         and selector_matches({"matchLabels": selector}, p.labels)]
        if key == DNS_SERVICE:
            dns.update(p.ip for p in endpoints if not p.processes)
        for port in spec.get("ports") or []:
            proto = str(port.get("protocol") or "TCP").upper()
            if proto not in PROTOCOLS or not port.get("port"):
                continue
            target = port.get("targetPort", port["port"])
            targets = sorted({(p.ip, n) for p in endpoints
                              if (n := _target_port(target, p, proto)) is not None},
                             key=lambda t: (ipaddress.IPv4Address(t[0]), t[1]))
            match = f"ip daddr {cip} meta l4proto {proto.lower()} th dport {int(port['port'])}"
            if not targets:
                # (ICMP port unreachable sent from prerouting has no route: TCP gets a reset)
                reject.append(f"{match} reject" + (" with tcp reset" if proto == "TCP" else ""))
                continue
            if len(targets) == 1:
                dnat.append(f"{match} dnat ip to {targets[0][0]}:{targets[0][1]}")
            else:
                items = ", ".join(f"{i} : {ip} . {n}" for i, (ip, n) in enumerate(targets))
                dnat.append(f"{match} dnat ip addr . port to numgen random mod {len(targets)} "
                            f"map {{ {items} }}")
            for ip, _ in targets:
                node = snap.nodes.get(ev.by_ip[ip].node)
                if node:
                    hairpin[ip] = node.ip
    for ip, node_ip in sorted(hairpin.items(), key=lambda t: ipaddress.IPv4Address(t[0])):
        snat.append(f"ct status dnat ip saddr {ip} ip daddr {ip} snat ip to {node_ip}")
    return dnat, snat, reject, dns


def plan(snap: Snapshot) -> Plan:
    """The ruleset for a snapshot."""
    ev = Evaluator(snap)
    dnat, snat, reject, dns = _kube_proxy(ev, snap)
    chains: list[tuple[str, str, list[str]]] = []   # (name, header, rules)
    chains.append(("nat_prerouting", "type nat hook prerouting priority dstnat; policy accept;", dnat))
    chains.append(("nat_postrouting", "type nat hook postrouting priority srcnat; policy accept;", snat))
    # after DNAT: what is still addressed to a ClusterIP:port has no endpoint (before routing,
    # which would drop it: the service range is not routed anywhere)
    chains.append(("svc_reject", "type filter hook prerouting priority dstnat + 10; policy accept;",
                   reject))
    main = []
    enforced: dict[str, list[str]] = {}
    if snap.enforce:
        main.append("ct state established,related accept" if snap.keep_established
                    else "ct state related accept")
        modes = [("orig", _ORIGINAL)] + ([] if snap.keep_established else [("reply", _REPLY)])
        for mode, _ in modes:
            main.append(f"ct direction {'original' if mode == 'orig' else 'reply'} jump pol_{mode}")
        # a pod and its own node always reach each other, and a pod always reaches itself (also
        # through its Service: hairpin, SNATed only after the filter)
        node_pairs = [(p.ip, p.ip) for p in ev.pods]
        for p in ev.pods:
            node = snap.nodes.get(p.node)
            if node:
                node_pairs.append((p.ip, node.ip))
        decisions = []
        for i, p in enumerate(sorted(ev.pods, key=lambda p: (p.namespace, p.name))):
            for direction in ("egress", "ingress"):
                d = decide(ev, p, direction)
                if d.restricted:
                    decisions.append((i, p, direction, d))
                    enforced.setdefault(f"{p.namespace}/{p.name}", []).append(direction)
        for mode, fields in modes:
            suffix = "" if mode == "orig" else "_r"
            body = []
            if node_pairs:
                pairs = sorted({f"{a} . {b}" for a, b in node_pairs}
                               | {f"{b} . {a}" for a, b in node_pairs})
                body.append(f"{fields['src']} . {fields['dst']} {{ {', '.join(pairs)} }} accept")
            for direction, side in (("egress", "src"), ("ingress", "dst")):
                entries = []
                for i, p, dname, d in decisions:
                    if dname != direction:
                        continue
                    chain = f"{'eg' if direction == 'egress' else 'in'}_{i}{suffix}"
                    entries.append(f"{p.ip} : jump {chain}")
                    for name, rules in _decision_chains(ev, p, direction, d, chain, fields):
                        chains.append((name, "", rules))
                if entries:
                    body.append(f"{fields[side]} vmap {{ {', '.join(entries)} }}")
            chains.append((f"pol_{mode}", "", body))
    chains.append(("filter_forward", "type filter hook forward priority filter; policy accept;",
                   ["jump main"]))
    chains.append(("filter_input", "type filter hook input priority filter; policy accept;",
                   ["jump main"]))
    chains.append(("main", "", main))
    lines = [f"table inet {TABLE}", f"delete table inet {TABLE}", f"table inet {TABLE} {{"]
    for name, header, rules in chains:
        lines.append(f"  chain {name} {{")
        if header:
            lines.append(f"    {header}")
        lines += [f"    {r}" for r in rules]
        lines.append("  }")
    lines.append("}")
    return Plan("\n".join(lines) + "\n", dns, enforced)
