#!/usr/bin/env bash
# Benchmark: cold-start time of `kubectl-ir version` (client only, and with the server call against
# the fake cluster), plus the binary's size. Prints numbers; asserts nothing.
#   scripts/bench/version-coldstart.sh [BUILD_DIR]     default build/release (built if missing)
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench/common.sh
build=${1:-build/release}
if [ ! -x "$build/cmd/kubectl-ir" ]; then
  build_release
  build=build/release
fi
ir=$build/cmd/kubectl-ir
runs=${RUNS:-50}

time_runs() {  # prints the median wall time in ms of $runs runs of "$@"
  local samples=()
  for _ in $(seq "$runs"); do
    local t0 t1
    t0=$(date +%s%N); "$@" >/dev/null 2>&1 || true; t1=$(date +%s%N)
    samples+=($(( (t1 - t0) / 1000 )))
  done
  printf '%s\n' "${samples[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.2f", a[int((NR+1)/2)]/1000}'
}

dir=$(mktemp -d)
trap 'tests/fake-cluster/stop.sh "$dir" >/dev/null 2>&1; rm -rf "$dir"' EXIT
kc=$(tests/fake-cluster/start.sh "$dir" --scenario demo)

size=$(stat -c %s "$ir")
echo "binary: $ir"
echo "size_bytes=$size ($(( size / 1024 )) KiB)"
echo "version_client_only_median_ms=$(time_runs "$ir" version --client)"
echo "version_with_server_median_ms=$(time_runs "$ir" --kubeconfig "$kc" version)"
echo "kubectl_version_with_server_median_ms=$(time_runs kubectl --kubeconfig "$kc" version)"
echo "runs=$runs"
