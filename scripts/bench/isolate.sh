#!/usr/bin/env bash
# Benchmark (issues: isolate and release; containment you can prove): API requests, exec sessions
# and wall time on the fake cluster (which enforces NetworkPolicy in its pod network) of
#   kubectl ir isolate POD                     (label + quarantine policy + the reasoned verdict)
#   kubectl ir isolate POD --verify            (the same, measured on the wire before and after)
#   kubectl label ... && kubectl apply -f ...  (what a responder would type for the same objects)
#   kubectl ir drill                           (the fire drill, end to end)
# The isolate variants alternate round by round (the cluster reset in between); medians are
# reported. kubectl runs with a fresh discovery cache (a responder's first command against a
# cluster). Requests are counted by the fake API server's request log. Prints numbers; asserts
# nothing. Goals: --verify adds <= 2 s; the drill takes <= 30 s.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench/common.sh
runs=${RUNS:-5}
build_release
start_fake_cluster
pod=web-7d4b9c8f6-x2k9p

/usr/bin/python3 - "$kc" "$ir" "$pod" "$runs" "$dir" <<'PY'
import json, os, shutil, statistics, subprocess, sys, time
import yaml
kc, ir, pod, runs, workdir = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
sys.path.insert(0, os.path.join(os.getcwd(), "tests", "e2e"))
from harness import Cluster
admin = Cluster.attach(kc).admin

def measure(cmds, reset=True):
    if reset:
        admin("POST", "/_fake/reset", {})
    admin("DELETE", "/_fake/requests")
    t0 = time.monotonic()
    for c in cmds:
        p = subprocess.run(c, capture_output=True, env={**os.environ})
        if p.returncode not in (0, 3):  # 3: isolated, but the demo's allow-egress policy still selects it
            raise SystemExit(f"{c[0]} failed ({p.returncode}): {p.stderr.decode(errors='replace')}")
    wall = time.monotonic() - t0
    reqs = admin("GET", "/_fake/requests")
    reqs = reqs if isinstance(reqs, list) else reqs.get("requests", [])
    return wall, len(reqs), sum(1 for q in reqs if q["path"].endswith("/exec"))

policy = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
          "metadata": {"name": "kubectl-ir-quarantine-" + pod, "namespace": "shop"},
          "spec": {"podSelector": {"matchLabels": {"kubectl-ir/quarantine": "case-bench"}}, "policyTypes": ["Egress"], "egress": []}}
pfile = os.path.join(workdir, "policy.yaml")
yaml.safe_dump(policy, open(pfile, "w"))
cache = os.path.join(workdir, "kube-cache")
k = ["kubectl", "--kubeconfig", kc, "--cache-dir", cache, "-n", "shop"]
base = [ir, "--kubeconfig", kc, "-n", "shop", "isolate", pod, "--case", "case-bench", "--exclusive"]
configs = [("kubectl-ir isolate --exclusive", [base]),
           ("kubectl-ir isolate --exclusive --verify", [base + ["--verify"]]),
           ("kubectl label + apply (cold cache)", [k + ["label", "pod", pod, "kubectl-ir/quarantine=case-bench"],
                                                   k + ["apply", "-f", pfile]])]
results = {name: [] for name, _ in configs}
for _ in range(runs):
    for name, cmds in configs:      # alternating: every configuration once per round
        shutil.rmtree(cache, ignore_errors=True)
        results[name].append(measure(cmds))
print(f"{'':42} {'median wall':>12} {'API requests':>13} {'execs':>6}")
for name, rs in results.items():
    print(f"{name:42} {statistics.median(r[0] for r in rs)*1000:9.0f} ms {statistics.median(r[1] for r in rs):13.0f} "
          f"{statistics.median(r[2] for r in rs):6.0f}")
plain = statistics.median(r[0] for r in results["kubectl-ir isolate --exclusive"])
verify = statistics.median(r[0] for r in results["kubectl-ir isolate --exclusive --verify"])
print(f"--verify adds {verify - plain:.2f} s (goal <= 2 s): one probe before, one after (nc -w 1), "
      "and /proc/net/tcp read before and after")

drills = []
for _ in range(max(1, runs // 2)):
    admin("POST", "/_fake/reset", {})
    admin("DELETE", "/_fake/requests")
    t0 = time.monotonic()
    p = subprocess.run([ir, "--kubeconfig", kc, "drill", "--ingress", "-o", "json"], capture_output=True)
    wall = time.monotonic() - t0
    if p.returncode != 0:
        raise SystemExit(f"drill failed ({p.returncode}): {p.stdout.decode(errors='replace')}{p.stderr.decode(errors='replace')}")
    report = json.loads(p.stdout)
    reqs = admin("GET", "/_fake/requests")
    drills.append((wall, len(reqs if isinstance(reqs, list) else reqs.get("requests", [])), report))
print(f"\nkubectl-ir drill --ingress: median {statistics.median(d[0] for d in drills):.1f} s over {len(drills)} runs "
      f"(goal <= 30 s), {statistics.median(d[1] for d in drills):.0f} API requests")
last = drills[-1][2]
for row in last["checks"]:
    print(f"  {row['title']:44} {row['state']:10} {row['seconds']:5.1f} s")
PY
