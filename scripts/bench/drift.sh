#!/usr/bin/env bash
# Benchmark (issue: analysis): drift of one pod against N siblings, N = 1 5 10 20 (or as given),
# on synthetic replicas of one workload (50 processes, 200 connections, FILES listed files of
# which a quarter hashed; tests/bench/drift_bench.cpp). Members are folded into a profile one at a
# time, then the suspect is compared once; each size runs in its own process (peak RSS is per
# process), ROUNDS times, medians printed. Expect folding to grow linearly with N, comparing to stay
# flat, and memory to follow one member's items rather than N of them. Asserts nothing (the
# program exits non-zero only if the planted difference is not the one finding).
#   scripts/bench/drift.sh [FILES] [ROUNDS] [N ...]      default 20000 5 1 5 10 20
set -euo pipefail
cd "$(dirname "$0")/../.."
files=${1:-20000}
rounds=${2:-5}
shift $(( $# > 2 ? 2 : $# ))
sizes=("$@")
[ ${#sizes[@]} -eq 0 ] && sizes=(1 5 10 20)

# A release build of the benchmark program only (the release preset builds no tests).
cmake -S . -B build/bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DIR_BUILD_TESTS=ON >/dev/null
cmake --build build/bench --target drift_bench >/dev/null
bench=build/bench/tests/bench/drift_bench

printf '%-8s %-8s %-10s %-16s %-12s %-14s %s\n' members files fold_ms fold_ms/member compare_ms profile_items peak_rss_MiB
for n in "${sizes[@]}"; do
  out=$("$bench" "$n" "$files" "$rounds")
  /usr/bin/python3 -c '
import json, sys
r = json.loads(sys.argv[1])
print("%-8d %-8d %-10.1f %-16.2f %-12.2f %-14d %.1f" % (r["members"], r["files"], r["fold_ms"], r["fold_ms_per_member"],
      r["compare_ms"], r["profile_items"], r["peak_rss_kib"] / 1024))' "$out"
done
