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
. scripts/bench/common.sh
bytes=${1:-1073741824}
rounds=${2:-3}
build_release
start_fake_cluster
pod=$(kubectl --kubeconfig "$kc" -n shop get pods -l app=web -o jsonpath='{.items[0].metadata.name}')

m=scripts/bench/measure.py
ir_runs=()
kc_runs=()
for ((i = 0; i < rounds; i++)); do
  ir_runs+=("$($m -- "$ir" --kubeconfig "$kc" -n shop exec "$pod" -o /dev/null --max-bytes 2Gi -- head -c "$bytes" /dev/zero)")
  kc_runs+=("$($m -- kubectl --kubeconfig "$kc" -n shop exec "$pod" -- head -c "$bytes" /dev/zero)")
done

scripts/bench/throughput.py "$bytes" "" "kubectl-ir: " "$(printf '%s\n' "${ir_runs[@]}")" \
  "kubectl:    " "$(printf '%s\n' "${kc_runs[@]}")" "throughput ratio kubectl-ir/kubectl = {ratio}"
