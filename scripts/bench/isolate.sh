#!/usr/bin/env bash
# Benchmark (issue: isolate and release): API requests and wall time of
#   kubectl ir isolate POD            (label + quarantine policy + the containment verdict)
# against what a responder would type for the same objects without a verdict:
#   kubectl label pod POD kubectl-ir/quarantine=CASE && kubectl apply -f policy.yaml
# on the fake cluster, in one run; requests are counted by the fake API server's request log.
# kubectl runs with a fresh discovery cache (as on a responder's first command against a cluster)
# and again with the cache warm. Prints numbers; asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${RUNS:-5}
cmake --preset release >/dev/null && cmake --build --preset release --target kubectl-ir >/dev/null
ir=$PWD/build/release/cmd/kubectl-ir
dir=$(mktemp -d)
trap 'tests/fake-cluster/stop.sh "$dir" >/dev/null 2>&1; rm -rf "$dir"' EXIT
kc=$(tests/fake-cluster/start.sh "$dir" --scenario demo)
export KUBECTL_IR_HOME=$dir/ir-home
pod=web-7d4b9c8f6-x2k9p

/usr/bin/python3 - "$kc" "$ir" "$pod" "$runs" "$dir" <<'PY'
import json, os, shutil, subprocess, sys, time
import yaml
kc, ir, pod, runs, workdir = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
sys.path.insert(0, os.path.join(os.getcwd(), "tests", "e2e"))
from harness import Cluster
admin = Cluster.attach(kc).admin

def measure(cmds):
    admin("POST", "/_fake/reset", {})
    admin("DELETE", "/_fake/requests")
    t0 = time.monotonic()
    for c in cmds:
        p = subprocess.run(c, capture_output=True, env={**os.environ})
        if p.returncode not in (0, 3):  # 3: isolated, but the demo policy still allows egress
            raise SystemExit(f"{c[0]} failed: {p.stderr.decode(errors='replace')}")
    wall = time.monotonic() - t0
    reqs = admin("GET", "/_fake/requests")
    n = len(reqs if isinstance(reqs, list) else reqs.get("requests", []))
    return wall, n

policy = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
          "metadata": {"name": "kubectl-ir-quarantine-" + pod, "namespace": "shop"},
          "spec": {"podSelector": {"matchLabels": {"kubectl-ir/quarantine": "case-bench"}}, "policyTypes": ["Egress"], "egress": []}}
pfile = os.path.join(workdir, "policy.yaml")
yaml.safe_dump(policy, open(pfile, "w"))
cache = os.path.join(workdir, "kube-cache")
k = ["kubectl", "--kubeconfig", kc, "--cache-dir", cache, "-n", "shop"]
ir_cmd = [[ir, "--kubeconfig", kc, "-n", "shop", "isolate", pod, "--case", "case-bench"]]
kubectl_cmds = [k + ["label", "pod", pod, "kubectl-ir/quarantine=case-bench"], k + ["apply", "-f", pfile]]

rows = []
for name, cmds, cold in (("kubectl-ir isolate", ir_cmd, False), ("kubectl label + apply (cold cache)", kubectl_cmds, True),
                         ("kubectl label + apply (warm cache)", kubectl_cmds, False)):
    walls, counts = [], []
    for _ in range(runs):
        if cold:
            shutil.rmtree(cache, ignore_errors=True)
        w, n = measure(cmds)
        walls.append(w); counts.append(n)
    walls.sort()
    rows.append((name, walls[len(walls) // 2], max(set(counts), key=counts.count)))
print(f"{'':38} {'median wall':>12} {'API requests':>13}")
for name, w, n in rows:
    print(f"{name:38} {w*1000:9.0f} ms {n:13d}")
print("(isolate includes the verdict: policy listing, CNI detection, AdminNetworkPolicy discovery, identity)")
PY
