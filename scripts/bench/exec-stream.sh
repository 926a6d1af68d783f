#!/usr/bin/env bash
# Benchmark (issue: exec engine): stream 1 GiB from a pod of the fake cluster through
#   kubectl ir exec POD -o /dev/null -- head -c 1073741824 /dev/zero
# and through
#   kubectl exec POD -- head -c 1073741824 /dev/zero > /dev/null
# in one run; prints throughput of each, their ratio and kubectl-ir's peak RSS. Asserts nothing.
#   scripts/bench/exec-stream.sh [BYTES]     default 1073741824
set -euo pipefail
cd "$(dirname "$0")/../.."
bytes=${1:-1073741824}
cmake --preset release >/dev/null && cmake --build --preset release --target kubectl-ir >/dev/null
ir=$PWD/build/release/cmd/kubectl-ir

dir=$(mktemp -d)
trap 'tests/fake-cluster/stop.sh "$dir" >/dev/null 2>&1; rm -rf "$dir"' EXIT
kc=$(tests/fake-cluster/start.sh "$dir" --scenario demo)
pod=$(kubectl --kubeconfig "$kc" -n shop get pods -l app=web -o jsonpath='{.items[0].metadata.name}')
export KUBECTL_IR_HOME=$dir/ir-home

m=scripts/bench/measure.py
ir_run=$($m -- "$ir" --kubeconfig "$kc" -n shop exec "$pod" -o /dev/null --max-bytes 2Gi -- head -c "$bytes" /dev/zero)
kc_run=$($m -- kubectl --kubeconfig "$kc" -n shop exec "$pod" -- head -c "$bytes" /dev/zero)

/usr/bin/python3 - "$bytes" "$ir_run" "$kc_run" <<'PY'
import json, sys
n = int(sys.argv[1]); ir = json.loads(sys.argv[2]); kc = json.loads(sys.argv[3])
mib = n / 2**20
ir_tp, kc_tp = mib / ir["wall_s"], mib / kc["wall_s"]
print(f"bytes={n}")
print(f"kubectl-ir: {ir['wall_s']:.2f} s  {ir_tp:.0f} MiB/s  cpu {ir['cpu_s']:.2f} s  peak RSS {ir['peak_rss_kib']/1024:.1f} MiB  exit {ir['exit']}")
print(f"kubectl:    {kc['wall_s']:.2f} s  {kc_tp:.0f} MiB/s  cpu {kc['cpu_s']:.2f} s  peak RSS {kc['peak_rss_kib']/1024:.1f} MiB  exit {kc['exit']}")
print(f"throughput ratio kubectl-ir/kubectl = {ir_tp/kc_tp:.2f}")
PY
