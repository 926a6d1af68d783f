#!/usr/bin/env bash
# Benchmark (issue: collect), in one run against a fake cluster started here:
#  1. a full `kubectl ir collect` of the demo's compromised pod: wall time and peak RSS;
#  2. 1 GiB of files (64 x 16 MiB of random bytes under /tmp/bench in the pod) archived with
#       kubectl ir collect POD --fs archive --path /tmp/bench
#     vs what `kubectl cp` does:
#       kubectl exec POD -- tar cf - /tmp/bench > file
#     and vs what a responder does by hand for the least custody (the fair anchor):
#       kubectl exec POD -- tar cf - /tmp/bench > file && sha256sum file
#     throughput of each (1 GiB / wall time; kubectl-ir's includes every other collect step),
#     the ratios and peak RSS (cpu and RSS of the shell line: its children's, wait4). The two alternate for ROUNDS rounds, each output deleted before the
#     next run (so neither inherits the other's page cache), and the medians are reported.
#     Asserts nothing.
#   scripts/bench/collect.sh [FILES] [MIB_PER_FILE] [ROUNDS]     default 64 16 3
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench/common.sh
files=${1:-64}
mib=${2:-16}
rounds=${3:-3}
build_release
start_fake_cluster
pod=web-7d4b9c8f6-x2k9p
m=scripts/bench/measure.py

full=$($m -- "$ir" --kubeconfig "$kc" -n shop collect "$pod" -o "$dir/full.tar.gz")
full_size=$(stat -c %s "$dir/full.tar.gz")

kubectl --kubeconfig "$kc" -n shop exec "$pod" -- sh -c \
  "mkdir -p /tmp/bench && i=0 && while [ \$i -lt $files ]; do head -c $((mib * 1048576)) /dev/urandom > /tmp/bench/f\$i; i=\$((i+1)); done"
bytes=$((files * mib * 1048576))

ir_runs=()
kc_runs=()
sha_runs=()
for ((i = 0; i < rounds; i++)); do
  rm -f "$dir/archive.tar.gz" "$dir/kubectl.tar" "$dir/hand.tar"
  ir_runs+=("$($m -- "$ir" --kubeconfig "$kc" -n shop collect "$pod" --fs archive --path /tmp/bench --max-file-bytes 1Gi -o "$dir/archive.tar.gz" 2>/dev/null)")
  ir_size=$(stat -c %s "$dir/archive.tar.gz")
  rm -f "$dir/archive.tar.gz"
  kc_runs+=("$($m --stdout "$dir/kubectl.tar" -- kubectl --kubeconfig "$kc" -n shop exec "$pod" -- tar cf - /tmp/bench 2>/dev/null)")
  kc_size=$(stat -c %s "$dir/kubectl.tar")
  rm -f "$dir/kubectl.tar"
  sha_runs+=("$($m -- sh -c "kubectl --kubeconfig '$kc' -n shop exec '$pod' -- tar cf - /tmp/bench > '$dir/hand.tar' 2>/dev/null && sha256sum '$dir/hand.tar'")")
  rm -f "$dir/hand.tar"
done
# The evidence itself is checked once, outside the timings.
"$ir" --kubeconfig "$kc" -n shop collect "$pod" --fs archive --path /tmp/bench --max-file-bytes 1Gi -o "$dir/archive.tar.gz" 2>/dev/null
"$ir" verify "$dir/archive.tar.gz" >/dev/null

/usr/bin/python3 - "$bytes" "$full" "$full_size" "$ir_size" "$kc_size" "$(printf '%s\n' "${ir_runs[@]}")" "$(printf '%s\n' "${kc_runs[@]}")" "$(printf '%s\n' "${sha_runs[@]}")" <<'PY'
import json, statistics, sys
n = int(sys.argv[1]); full = json.loads(sys.argv[2]); full_size = int(sys.argv[3])
ir_size = int(sys.argv[4]); kc_size = int(sys.argv[5])
ir_runs = [json.loads(l) for l in sys.argv[6].splitlines()]
kc_runs = [json.loads(l) for l in sys.argv[7].splitlines()]
sha_runs = [json.loads(l) for l in sys.argv[8].splitlines()]
print(f"full collect of the demo pod: {full['wall_s']:.2f} s  cpu {full['cpu_s']:.2f} s  peak RSS {full['peak_rss_kib']/1024:.1f} MiB  bundle {full_size/1024:.0f} KiB  exit {full['exit']}")
mib = n / 2**20
def med(runs, key):
    return statistics.median(r[key] for r in runs)
def line(label, runs, size, what):
    wall = med(runs, "wall_s")
    walls = " ".join(f"{r['wall_s']:.2f}" for r in runs)
    exits = sorted({r["exit"] for r in runs})
    print(f"  {label}{wall:.2f} s  {mib / wall:.0f} MiB/s  cpu {med(runs, 'cpu_s'):.2f} s  peak RSS {max(r['peak_rss_kib'] for r in runs)/1024:.1f} MiB"
          f"  {what} {size/2**20:.0f} MiB  exit {exits}  (walls: {walls})")
    return mib / wall
print(f"archive {mib:.0f} MiB, median of {len(ir_runs)} alternating rounds:")
ir_tp = line("kubectl-ir collect --fs archive: ", ir_runs, ir_size, "bundle")
kc_tp = line("kubectl exec tar cf -:           ", kc_runs, kc_size, "tar")
sha_tp = line("kubectl exec tar > f && sha256sum f: ", sha_runs, kc_size, "tar")
print(f"  throughput ratio kubectl-ir/kubectl = {ir_tp/kc_tp:.2f}")
print(f"  throughput ratio kubectl-ir/(kubectl exec tar && sha256sum) = {ir_tp/sha_tp:.2f}  (goal >= 1.0, RSS <= 64 MiB)")
PY
