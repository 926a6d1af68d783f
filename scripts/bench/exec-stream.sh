#!/usr/bin/env bash
# Benchmark (issue: exec engine): stream 1 GiB from a pod of the fake cluster through
#   kubectl ir exec POD -o /dev/null -- head -c 1073741824 /dev/zero
# and through
#   kubectl exec POD -- head -c 1073741824 /dev/zero > /dev/null
# in one run, alternating for ROUNDS rounds; prints the median throughput of each, their ratio and
# kubectl-ir's peak RSS. Asserts nothing.
#   scripts/bench/exec-stream.sh [BYTES] [ROUNDS]     default 1073741824 3
set -euo pipefail
cd "$(dirname "$0")/../.."
bytes=${1:-1073741824}
rounds=${2:-3}
cmake --preset release >/dev/null && cmake --build --preset release --target kubectl-ir >/dev/null
ir=$PWD/build/release/cmd/kubectl-ir

dir=$(mktemp -d)
trap 'tests/fake-cluster/stop.sh "$dir" >/dev/null 2>&1; rm -rf "$dir"' EXIT
kc=$(tests/fake-cluster/start.sh "$dir" --scenario demo)
pod=$(kubectl --kubeconfig "$kc" -n shop get pods -l app=web -o jsonpath='{.items[0].metadata.name}')
export KUBECTL_IR_HOME=$dir/ir-home

m=scripts/bench/measure.py
ir_runs=()
kc_runs=()
for ((i = 0; i < rounds; i++)); do
  ir_runs+=("$($m -- "$ir" --kubeconfig "$kc" -n shop exec "$pod" -o /dev/null --max-bytes 2Gi -- head -c "$bytes" /dev/zero)")
  kc_runs+=("$($m -- kubectl --kubeconfig "$kc" -n shop exec "$pod" -- head -c "$bytes" /dev/zero)")
done

/usr/bin/python3 - "$bytes" "$(printf '%s\n' "${ir_runs[@]}")" "$(printf '%s\n' "${kc_runs[@]}")" <<'PY'
import json, statistics, sys
n = int(sys.argv[1])
ir_runs = [json.loads(l) for l in sys.argv[2].splitlines()]
kc_runs = [json.loads(l) for l in sys.argv[3].splitlines()]
mib = n / 2**20
def line(label, runs):
    wall = statistics.median(r["wall_s"] for r in runs)
    cpu = statistics.median(r["cpu_s"] for r in runs)
    rss = max(r["peak_rss_kib"] for r in runs) / 1024
    walls = " ".join(f"{r['wall_s']:.2f}" for r in runs)
    print(f"{label}{wall:.2f} s  {mib / wall:.0f} MiB/s  cpu {cpu:.2f} s  peak RSS {rss:.1f} MiB  exit {sorted({r['exit'] for r in runs})}  (walls: {walls})")
    return mib / wall
print(f"bytes={n}, median of {len(ir_runs)} alternating rounds")
ir_tp = line("kubectl-ir: ", ir_runs)
kc_tp = line("kubectl:    ", kc_runs)
print(f"throughput ratio kubectl-ir/kubectl = {ir_tp/kc_tp:.2f}")
PY
