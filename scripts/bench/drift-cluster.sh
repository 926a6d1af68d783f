#!/usr/bin/env bash
# Benchmark (issue: drift, cluster side): `kubectl ir drift POD --siblings N` for N = 1 5 20 (or as
# given) on the fake cluster (tests/fake-cluster, scenario scripts/bench/drift-cluster.yaml: one
# Deployment of 21 healthy replicas with real processes). Sizes alternate, ROUNDS times (default
# 3); medians of wall time and peak RSS (scripts/bench/measure.py), and the API requests of one
# run as the fake server logged them (GET /_fake/requests): total, pod lists, other. Goals: 20
# siblings in <= 2x the time of one, peak RSS <= 64 MiB, requests = one pod list + a constant per
# pod. Asserts nothing. Needs root (the fake cluster). IR_BIN: the binary (default build/dev);
# PARALLEL: drift's --parallel (default 4).
#   scripts/bench/drift-cluster.sh [ROUNDS] [N ...]
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-3}
shift $(( $# > 0 ? 1 : 0 ))
sizes=("$@")
[ ${#sizes[@]} -eq 0 ] && sizes=(1 5 20)
ir=${IR_BIN:-$PWD/build/dev/cmd/kubectl-ir}
m=$PWD/scripts/bench/measure.py
py=/usr/bin/python3
[ -x "$ir" ] || { echo "drift-cluster.sh: no $ir (build kubectl-ir first)" >&2; exit 1; }

work=$(mktemp -d)
cleanup() { tests/fake-cluster/stop.sh "$work/c" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
kc=$(tests/fake-cluster/start.sh "$work/c" --scenario "$PWD/scripts/bench/drift-cluster.yaml" | tail -1)
suspect=$(kubectl --kubeconfig "$kc" get pods -n bench -o jsonpath='{.items[0].metadata.name}')
# The fake server's admin endpoint (requests log), with the admin token of its kubeconfig.
admin() {
  $py - "$kc" "$1" "$2" <<'PY'
import json, ssl, sys, urllib.request, yaml
cfg = yaml.safe_load(open(sys.argv[1]))
cl = cfg["clusters"][0]["cluster"]
import base64
ctx = ssl.create_default_context()
if "certificate-authority" in cl:
    ctx.load_verify_locations(cafile=cl["certificate-authority"])
else:
    ctx.load_verify_locations(cadata=base64.b64decode(cl["certificate-authority-data"]).decode())
tok = next(u["user"]["token"] for u in cfg["users"] if u["user"].get("token") == "fake-admin-token")
req = urllib.request.Request(cl["server"] + sys.argv[3], method=sys.argv[2], headers={"Authorization": "Bearer " + tok})
body = urllib.request.urlopen(req, context=ctx).read().decode()
if sys.argv[2] == "GET":
    reqs = [r for r in json.loads(body) if not r["path"].startswith("/_fake")]
    lists = sum(1 for r in reqs if r["method"] == "GET" and r["path"].endswith("/pods") and "fieldSelector" not in r.get("query", ""))
    print(json.dumps({"total": len(reqs), "pod_lists": lists}))
PY
}
# Wait until every replica runs.
for _ in $(seq 60); do
  ready=$(kubectl --kubeconfig "$kc" get pods -n bench --no-headers 2>/dev/null | grep -c ' Running ' || true)
  [ "$ready" -ge 21 ] && break
  sleep 1
done
"$ir" --kubeconfig "$kc" drift "$suspect" -n bench --siblings 1 >/dev/null 2>&1 || true   # warm-up

declare -A walls rss reqs
for _ in $(seq "$rounds"); do
  for n in "${sizes[@]}"; do
    admin DELETE /_fake/requests
    r=$("$m" -- "$ir" --kubeconfig "$kc" drift "$suspect" -n bench --siblings "$n" --parallel "${PARALLEL:-4}" 2>/dev/null)
    walls[$n]+="$($py -c 'import json,sys; print(json.loads(sys.argv[1])["wall_s"])' "$r") "
    rss[$n]+="$($py -c 'import json,sys; print(json.loads(sys.argv[1])["peak_rss_kib"])' "$r") "
    reqs[$n]=$(admin GET /_fake/requests)
  done
done
printf '%-9s %-10s %-14s %-14s %s\n' siblings wall_s peak_rss_MiB api_requests pod_lists
for n in "${sizes[@]}"; do
  $py -c '
import json, statistics, sys
n, walls, rss, reqs = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(), json.loads(sys.argv[4])
print("%-9s %-10.2f %-14.1f %-14d %d" % (n, statistics.median(map(float, walls)), statistics.median(map(int, rss)) / 1024,
      reqs["total"], reqs["pod_lists"]))' "$n" "${walls[$n]}" "${rss[$n]}" "${reqs[$n]}"
done
