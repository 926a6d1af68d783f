#!/usr/bin/env bash
# Benchmark (issue: collect), in one run against a fake cluster started here:
#  1. a full `kubectl ir collect` of the demo's compromised pod: wall time and peak RSS;
#  2. 1 GiB of files (64 x 16 MiB of random bytes under /tmp/bench in the pod) archived with
#       kubectl ir collect POD --fs archive --path /tmp/bench
#     vs what `kubectl cp` does:
#       kubectl exec POD -- tar cf - /tmp/bench > file
#     throughput of each (1 GiB / wall time; kubectl-ir's includes every other collect step),
#     their ratio and peak RSS. Asserts nothing.
#   scripts/bench/collect.sh [FILES] [MIB_PER_FILE]     default 64 16
set -euo pipefail
cd "$(dirname "$0")/../.."
files=${1:-64}
mib=${2:-16}
cmake --preset release >/dev/null && cmake --build --preset release --target kubectl-ir >/dev/null
ir=$PWD/build/release/cmd/kubectl-ir

dir=$(mktemp -d)
trap 'tests/fake-cluster/stop.sh "$dir" >/dev/null 2>&1; rm -rf "$dir"' EXIT
kc=$(tests/fake-cluster/start.sh "$dir" --scenario demo)
pod=web-7d4b9c8f6-x2k9p
export KUBECTL_IR_HOME=$dir/ir-home
m=scripts/bench/measure.py

full=$($m -- "$ir" --kubeconfig "$kc" -n shop collect "$pod" -o "$dir/full.tar.gz")
full_size=$(stat -c %s "$dir/full.tar.gz")

kubectl --kubeconfig "$kc" -n shop exec "$pod" -- sh -c \
  "mkdir -p /tmp/bench && i=0 && while [ \$i -lt $files ]; do head -c $((mib * 1048576)) /dev/urandom > /tmp/bench/f\$i; i=\$((i+1)); done"
bytes=$((files * mib * 1048576))

ir_run=$($m -- "$ir" --kubeconfig "$kc" -n shop collect "$pod" --fs archive --path /tmp/bench --max-file-bytes 1Gi -o "$dir/archive.tar.gz")
kc_run=$($m --stdout "$dir/kubectl.tar" -- kubectl --kubeconfig "$kc" -n shop exec "$pod" -- tar cf - /tmp/bench)
"$ir" verify "$dir/archive.tar.gz" >/dev/null

/usr/bin/python3 - "$bytes" "$full" "$full_size" "$ir_run" "$kc_run" "$(stat -c %s "$dir/archive.tar.gz")" "$(stat -c %s "$dir/kubectl.tar")" <<'PY'
import json, sys
n = int(sys.argv[1]); full = json.loads(sys.argv[2]); full_size = int(sys.argv[3])
ir = json.loads(sys.argv[4]); kc = json.loads(sys.argv[5]); ir_size = int(sys.argv[6]); kc_size = int(sys.argv[7])
print(f"full collect of the demo pod: {full['wall_s']:.2f} s  cpu {full['cpu_s']:.2f} s  peak RSS {full['peak_rss_kib']/1024:.1f} MiB  bundle {full_size/1024:.0f} KiB  exit {full['exit']}")
mib = n / 2**20
ir_tp, kc_tp = mib / ir["wall_s"], mib / kc["wall_s"]
print(f"archive {mib:.0f} MiB:")
print(f"  kubectl-ir collect --fs archive: {ir['wall_s']:.2f} s  {ir_tp:.0f} MiB/s  cpu {ir['cpu_s']:.2f} s  peak RSS {ir['peak_rss_kib']/1024:.1f} MiB  bundle {ir_size/2**20:.0f} MiB  exit {ir['exit']}")
print(f"  kubectl exec tar cf -:           {kc['wall_s']:.2f} s  {kc_tp:.0f} MiB/s  cpu {kc['cpu_s']:.2f} s  peak RSS {kc['peak_rss_kib']/1024:.1f} MiB  tar {kc_size/2**20:.0f} MiB  exit {kc['exit']}")
print(f"  throughput ratio kubectl-ir/kubectl = {ir_tp/kc_tp:.2f}")
PY
