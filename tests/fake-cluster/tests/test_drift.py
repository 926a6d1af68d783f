"""The drift story, observed as a collector observes it (through exec: a /proc walk, /proc/net,
a find/stat listing, sha256 of executables and of files under /tmp /var/tmp /dev/shm /root
/home): healthy replicas are identical but for noise, and a compromised one differs by exactly
what is planted (see scenarios/demo.yaml). Also /_fake/compromise, the supply-chain scenario
(every replica compromised) and the fleet scenario (baseline selection material).

Run as root from tests/fake-cluster:  /usr/bin/python3 -m unittest tests.test_drift
"""

import collections
import json
import re
import time
import unittest

from tests.helpers import ClusterTestCase

WEB = "web-7d4b9c8f6-"
MINER_CMD = ("/tmp/.x/kworkerds -o 198.51.100.7:3333 -u 4AfakeWalletAddressForTestsOnly -p x -k "
             "--donate-level 1")
PLANTED = {"/tmp/.x", "/tmp/.x/kworkerds", "/tmp/.x/payload.sh", "/tmp/.x/config.json",
           "/var/www/upload.php", "/docker-entrypoint.d/99-healthcheck.sh"}
PLANTED_PARENTS = {"/tmp", "/var/www", "/docker-entrypoint.d"}
KUBELET_FILES = {"/etc/hosts", "/etc/hostname", "/etc/resolv.conf"}   # rewritten at every start

# Everything in one exec, as a collector would gather it (busybox tools only).
PROBE = r"""
echo "SELF $$"
for d in /proc/[0-9]*; do
  p=${d#/proc/}
  read -r stat < $d/stat 2>/dev/null || continue
  rest=${stat##*) }
  set -- $rest
  uid=$(sed -n 's/^Uid:[[:space:]]*\([0-9]*\).*/\1/p' $d/status)
  echo "PROC $p|$2|$uid|$(readlink $d/exe)|$(cat $d/comm)|$(tr '\0' ' ' < $d/cmdline)"
done
echo "TCP"; cat /proc/net/tcp
echo "UDP"; cat /proc/net/udp
echo "FS"
find / -xdev \( -path /proc -o -path /sys -o -path /dev \) -prune -o -exec stat -c '%n|%F|%a|%u|%g|%s|%Y' {} +
echo "HASH"
find / -xdev \( -path /proc -o -path /sys -o -path /dev \) -prune -o -type f -perm -u+x -exec sha256sum {} +
find /tmp /var/tmp /dev/shm /root /home -xdev -type f -exec sha256sum {} +
"""

Snapshot = collections.namedtuple("Snapshot", "procs sockets files hashes miner")


def _hex_ip(h):
    return ".".join(str(int(h[i:i + 2], 16)) for i in (6, 4, 2, 0))


class DriftCase(ClusterTestCase):
    maxDiff = None

    def sh(self, ns, pod, script):
        r = self.cluster.ws_exec(pod, ["sh", "-c", script], ["v5.channel.k8s.io"], namespace=ns)
        self.assertEqual(r[0], "ok", r)
        return b"".join(d for ch, d in r[2] if ch == 1).decode(errors="replace")

    def snapshot(self, ns, pod):
        """What a collector sees, with the noise taken out: pids and start times (processes are
        described by their parent's command line), the pod's IP, ephemeral ports and closing
        sockets, the kubelet-written files' sizes and times."""
        st, _, body = self.cluster.request("GET", f"/api/v1/namespaces/{ns}/pods/{pod}")
        pod_ip = body["status"]["podIP"]
        section, self_pid, raw = None, None, {}
        tcp, files, hashes = [], {}, {}
        for line in self.sh(ns, pod, PROBE).splitlines():
            if line.startswith("SELF "):
                self_pid = line.split()[1]
            elif line.startswith("PROC "):
                pid, ppid, uid, exe, comm, cmd = line[5:].split("|", 5)
                raw[pid] = (ppid, uid, exe, comm, cmd.strip())
            elif line in ("TCP", "UDP", "FS", "HASH"):
                section = line
            elif section == "TCP" and ":" in line and not line.strip().startswith("sl"):
                tcp.append(line.split())
            elif section == "FS" and "|" in line:
                name, *attrs = line.split("|")
                files[name] = tuple(attrs)
            elif section == "HASH" and line.strip():
                digest, name = line.split(None, 1)
                hashes[name] = digest
        # the probe's own processes: its shell and whatever descends from it
        mine = {self_pid}
        changed = True
        while changed:
            changed = False
            for pid, (ppid, *_rest) in raw.items():
                if ppid in mine and pid not in mine:
                    mine.add(pid)
                    changed = True
        procs = collections.Counter()
        miner = None
        for pid, (ppid, uid, exe, comm, cmd) in raw.items():
            if pid in mine:
                continue
            parent = raw[ppid][4] if ppid in raw else "-"
            procs[(parent, uid, exe, comm, cmd)] += 1
            if comm == "kworkerds":
                miner = (int(pid), int(ppid))
        sockets = set()
        for f in tcp:
            local, remote, state = f[1], f[2], f[3]
            lip, lport = local.split(":")
            rip, rport = remote.split(":")
            lip, rip = _hex_ip(lip), _hex_ip(rip)
            lip = "POD" if lip == pod_ip else lip
            if state == "0A":
                sockets.add(("LISTEN", lip, int(lport, 16)))
            elif state == "01":
                sockets.add(("ESTABLISHED", lip, f"{rip}:{int(rport, 16)}"))
        for name in KUBELET_FILES:
            if name in files:
                files[name] = files[name][:4]
        return Snapshot(procs, sockets, files, hashes, miner)

    def assertSameButNoise(self, a, b):
        self.assertEqual(a.procs, b.procs)
        self.assertEqual(a.sockets, b.sockets)
        self.assertEqual(a.files, b.files)
        self.assertEqual(a.hashes, b.hashes)

    def assertPlanted(self, compromised, healthy, miner_hashes_unknown=True):
        """compromised = healthy + exactly the planted facts."""
        self.assertEqual(compromised.procs - healthy.procs,
                         collections.Counter({("/bin/sh /docker-entrypoint.sh", "0", "/tmp/.x/kworkerds",
                                               "kworkerds", MINER_CMD): 1}))
        self.assertEqual(healthy.procs - compromised.procs, collections.Counter())
        self.assertEqual(compromised.sockets - healthy.sockets, {("ESTABLISHED", "POD", "198.51.100.7:3333")})
        self.assertEqual(healthy.sockets - compromised.sockets, set())
        self.assertEqual(set(compromised.files) - set(healthy.files), PLANTED)
        self.assertEqual(set(healthy.files) - set(compromised.files), set())
        changed = {n for n in healthy.files if healthy.files[n] != compromised.files[n]}
        self.assertEqual(changed, PLANTED_PARENTS)
        for name in changed:   # only their modification time
            self.assertEqual(healthy.files[name][:5], compromised.files[name][:5], name)
        self.assertEqual(set(compromised.hashes) - set(healthy.hashes),
                         {"/tmp/.x/kworkerds", "/tmp/.x/payload.sh", "/tmp/.x/config.json",
                          "/docker-entrypoint.d/99-healthcheck.sh"})
        self.assertEqual({n: h for n, h in compromised.hashes.items() if n in healthy.hashes}, healthy.hashes)
        if miner_hashes_unknown:
            self.assertNotIn(compromised.hashes["/tmp/.x/kworkerds"], set(healthy.hashes.values()))
        for name in PLANTED:
            self.assertLess(int(compromised.files[name][5]), time.time() - 2 * 86400, name)


class Story(DriftCase):
    """The demo's pods (the supply-chain scenario includes the demo unchanged) and the
    supply-chain ones."""
    scenario = "supply-chain"

    def test_demo_replicas_then_a_runtime_compromise(self):
        healthy = self.snapshot("shop", WEB + "b8lqz")
        other = self.snapshot("shop", WEB + "m4hzt")
        self.assertSameButNoise(healthy, other)
        self.assertEqual(healthy.miner, None)
        compromised = self.snapshot("shop", WEB + "x2k9p")
        self.assertPlanted(compromised, healthy)
        self.assertEqual(compromised.miner, (3, 1))   # PID 3, started by the entrypoint (PID 1)

        # compromise a healthy replica at runtime: it now differs from its healthy sibling exactly
        # as x2k9p does, and matches x2k9p but for the miner's pid
        st, _, body = self.cluster.request("POST", "/_fake/compromise", {"namespace": "shop", "pod": WEB + "b8lqz"})
        self.assertEqual(st, 200, body)
        self.assertEqual(body["container"], "web")
        self.assertEqual(set(body["files"]), PLANTED)
        self.assertEqual(" ".join(body["argv"]), MINER_CMD)
        deadline = time.time() + 10
        while True:
            now = self.snapshot("shop", WEB + "b8lqz")
            if now.sockets - healthy.sockets or time.time() > deadline:
                break
            time.sleep(0.2)
        self.assertPlanted(now, other)
        self.assertEqual(now.miner, (body["pid"], 1))
        self.assertEqual(now.procs, compromised.procs)
        self.assertEqual(now.sockets, compromised.sockets)
        self.assertEqual(now.hashes, compromised.hashes)
        self.assertSameButNoise(now, compromised)
        self.assertEqual(now.files, compromised.files)
        # the miner logs to the container's log, as in x2k9p
        r = self.cluster.kubectl("logs", "-n", "shop", WEB + "b8lqz")
        self.assertIn("[kworkerds] net use pool 198.51.100.7:3333", r.stdout)

    def test_compromise_of_a_shell_less_pod(self):
        st, _, body = self.cluster.request("POST", "/_fake/compromise",
                                           {"namespace": "shop", "pod": "payments-api-6c8f5d7b4-q7r2n"})
        self.assertEqual(st, 200, body)   # no shell: the miner is started directly, adopted by /app
        self.assertEqual((body["container"], " ".join(body["argv"])), ("api", MINER_CMD))
        self.assertIsInstance(body["pid"], int)
        self.assertGreater(body["pid"], 1)

    def test_compromise_refuses_what_it_cannot_compromise(self):
        st, _, body = self.cluster.request("POST", "/_fake/compromise", {"namespace": "shop", "pod": "web-cache-0"})
        self.assertEqual(st, 409, body)   # never started
        st, _, _ = self.cluster.request("POST", "/_fake/compromise", {"namespace": "shop", "pod": "nope"})
        self.assertEqual(st, 404)
        st, _, _ = self.cluster.request("POST", "/_fake/compromise", {"pod": "x"})
        self.assertEqual(st, 400)
        st, _, _ = self.cluster.request("POST", "/_fake/compromise", {"namespace": "shop", "pod": WEB + "m4hzt"},
                                        token="fake-alice-token")
        self.assertEqual(st, 403)

    def test_supply_chain_every_replica_is_compromised(self):
        st, _, body = self.cluster.request("GET", "/api/v1/namespaces/shop/pods?labelSelector=app%3Dcart")
        carts = sorted(p["metadata"]["name"] for p in body["items"])
        self.assertEqual(carts, ["cart-5c9f7b6d8-7kq4z", "cart-5c9f7b6d8-r2x8w", "cart-5c9f7b6d8-v9m5t"])
        digests = {p["status"]["containerStatuses"][0]["imageID"].split("@")[1] for p in body["items"]}
        snaps = [self.snapshot("shop", name) for name in carts]
        for s in snaps[1:]:
            self.assertSameButNoise(snaps[0], s)
        st, _, staging = self.cluster.request("GET", "/api/v1/namespaces/staging/pods")
        (baseline,) = staging["items"]
        self.assertEqual({baseline["status"]["containerStatuses"][0]["imageID"].split("@")[1]}, digests)
        self.assertPlanted(snaps[0], self.snapshot("staging", baseline["metadata"]["name"]))
        self.assertEqual(snaps[0].miner, (3, 1))


class Fleet(DriftCase):
    scenario = "fleet"

    def test_nodes_readiness_and_endpoints(self):
        nodes = json.loads(self.kubectl_ok("get", "nodes", "-o", "json"))["items"]
        ready = {n["metadata"]["name"]: next(c["status"] for c in n["status"]["conditions"] if c["type"] == "Ready")
                 for n in nodes}
        self.assertEqual(ready, {"node-1": "True", "node-2": "True", "node-3": "Unknown"})
        node3 = next(n for n in nodes if n["metadata"]["name"] == "node-3")
        self.assertIn("node.kubernetes.io/unreachable", {t["key"] for t in node3["spec"]["taints"]})
        self.assertIn("NotReady", self.kubectl_ok("get", "node", "node-3"))
        ips = {n["metadata"]["name"]: n["status"]["addresses"][0]["address"] for n in nodes}
        self.assertEqual(ips, {"node-1": "192.0.2.2", "node-2": "192.0.2.3", "node-3": "192.0.2.4"})

        pods = json.loads(self.kubectl_ok("get", "pods", "-n", "fleet", "-l", "app=api", "-o", "json"))["items"]
        self.assertEqual(len(pods), 6)
        by = {p["metadata"]["name"]: p for p in pods}
        on = collections.Counter(p["spec"]["nodeName"] for p in pods)
        self.assertEqual(on, {"node-1": 2, "node-2": 2, "node-3": 2})
        ready_pods = sorted(n for n, p in by.items()
                            if any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"]["conditions"]))
        self.assertEqual(ready_pods, ["api-7f6c8d9b5-b2m9x", "api-7f6c8d9b5-d4k7p", "api-7f6c8d9b5-g8w2r"])
        for p in pods:
            self.assertEqual(p["status"]["phase"], "Running")
            self.assertEqual(p["status"]["hostIP"], ips[p["spec"]["nodeName"]])
            prefix = {"node-1": "10.244.0.", "node-2": "10.244.1.", "node-3": "10.244.2."}[p["spec"]["nodeName"]]
            self.assertTrue(p["status"]["podIP"].startswith(prefix), p["status"]["podIP"])
        self.assertIn("0/1", self.kubectl_ok("get", "pod", "api-7f6c8d9b5-n7c4q", "-n", "fleet"))
        # the Service sends to the ready replicas only
        st, _, net = self.cluster.request("GET", "/_fake/network")
        rule = next(line for line in net["nftables"].splitlines() if "10.96.40.10" in line and "dnat" in line)
        self.assertEqual(sorted(re.findall(r"(10\.244\.\d+\.\d+) \. 8080", rule)),
                         sorted(by[n]["status"]["podIP"] for n in ready_pods))
        # one DaemonSet pod per node
        cal = json.loads(self.kubectl_ok("get", "pods", "-n", "kube-system", "-l", "k8s-app=calico-node",
                                         "-o", "json"))["items"]
        self.assertEqual(sorted(p["spec"]["nodeName"] for p in cal), ["node-1", "node-2", "node-3"])

    def test_same_digest_different_workloads(self):
        dep = self.snapshot("fleet", "api-7f6c8d9b5-b2m9x")
        self.assertSameButNoise(dep, self.snapshot("fleet", "api-7f6c8d9b5-g8w2r"))   # across nodes
        self.assertSameButNoise(dep, self.snapshot("fleet", "api-7f6c8d9b5-s5t3v"))   # on the NotReady node
        worker = self.snapshot("fleet", "api-worker-0")
        self.assertEqual(worker.hashes, dep.hashes)     # the same image...
        self.assertNotEqual(worker.procs, dep.procs)    # ...running something else
        pods = json.loads(self.kubectl_ok("get", "pods", "-n", "fleet", "-o", "json"))["items"]
        self.assertEqual(len({p["status"]["containerStatuses"][0]["imageID"] for p in pods}), 1)
        env = {p: self.sh("fleet", p, "tr '\\0' '\\n' < /proc/1/environ | grep -E '^(MODE|QUEUE)='")
               for p in ("api-7f6c8d9b5-b2m9x", "api-worker-0")}
        self.assertEqual(env, {"api-7f6c8d9b5-b2m9x": "MODE=serve\n", "api-worker-0": "MODE=worker\nQUEUE=jobs\n"})


if __name__ == "__main__":
    unittest.main()
