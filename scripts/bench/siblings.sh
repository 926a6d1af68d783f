#!/usr/bin/env bash
# Benchmark (issue: siblings): find every pod running the web digest in a fake cluster in scale
# mode (tests/fake-cluster, scenario scale:N: N pods in ~N/100 namespaces, every 20th with the web
# digest), at each size given (default 10000 and 100000), with
#   kubectl ir siblings --digest sha256:...            (table output, owners and nodes resolved)
#   kubectl get pods -A -o json | jq <the same match>  (the usual way)
#   curl, one connection, the same pages (limit=500, --compressed, continue tokens collected
#     beforehand) to /dev/null: the transfer floor, no parsing at all
#   curl, one process per page following continue (what a shell script would do), for reference
# and prints wall time, CPU time and peak RSS (scripts/bench/measure.py; for a pipeline, the largest
# process's) of each, and the ratios
# against the goals: >= 5x faster than kubectl+jq, <= 1.5x the floor, peak RSS <= 64 MiB at
# 100,000 pods. kubectl-ir and curl are measured best of 5 after a warm-up run (the fake server
# renders non-pod list pages on first use); kubectl+jq once. Asserts nothing.
#   scripts/bench/siblings.sh [N ...]
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench/common.sh
sizes=("$@")
[ ${#sizes[@]} -eq 0 ] && sizes=(10000 100000)
digest=sha256:ce8bdfcc780090e7834a151f442da4043b2cd75956632e131e75b0dee9e09e31
hex=${digest#sha256:}
m=$PWD/scripts/bench/measure.py
py=/usr/bin/python3

build_release
for tool in kubectl jq curl; do
  command -v "$tool" >/dev/null || { echo "siblings.sh: $tool is missing (scripts/setup-deps.sh)" >&2; exit 1; }
done

work=$(mktemp -d)
dirs=()
cleanup() {
  for d in "${dirs[@]}"; do tests/fake-cluster/stop.sh "$d" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# best_of N CMD...: the measure.py JSON of the fastest of N runs.
best_of() {
  local n=$1 best="" run
  shift
  for _ in $(seq "$n"); do
    run=$("$m" -- "$@")
    best=$($py -c 'import json,sys; a,b=sys.argv[1],sys.argv[2]
print(b if not a or json.loads(b)["wall_s"] < json.loads(a)["wall_s"] else a)' "$best" "$run")
  done
  echo "$best"
}

results=()
for n in "${sizes[@]}"; do
  dir=$work/scale-$n
  dirs+=("$dir")
  t0=$(date +%s.%N)
  kc=$(tests/fake-cluster/start.sh "$dir" --scenario "scale:$n")
  startup=$($py -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$t0" "$(date +%s.%N)")
  server=$($py -c 'import yaml,sys; print(yaml.safe_load(open(sys.argv[1]))["clusters"][0]["cluster"]["server"])' "$kc")
  token=fake-admin-token
  admin=(curl -sf --cacert "$dir/ca.crt" -H "Authorization: Bearer $token")
  # The scale scenario never writes, so every list shares one resourceVersion and the server
  # would expire all continue tokens 300 s after the first list (a real server's resourceVersion
  # moves on): keep tokens valid for the length of the benchmark.
  "${admin[@]}" -X POST -d '{"continue_ttl_seconds": 86400}' "$server/_fake/config" >/dev/null
  fake_rss=$(awk '/VmRSS/ {printf "%.0f", $2/1024}' "/proc/$(cat "$dir/pid")/status")

  # The pages' continue tokens, for the one-connection floor.
  urls=$work/urls-$n
  $py - "$server" "$dir/ca.crt" "$token" "$urls" <<'PY'
import json, ssl, sys, urllib.parse, urllib.request
server, ca, token, out = sys.argv[1:5]
ctx = ssl.create_default_context(cafile=ca)
cont, lines = "", []
while True:
    url = server + "/api/v1/pods?limit=500" + ("&continue=" + urllib.parse.quote(cont, safe="") if cont else "")
    lines += [f'url = "{url}"', 'output = "/dev/null"']
    req = urllib.request.Request(url, headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(req, context=ctx) as r:
        cont = json.loads(r.read())["metadata"].get("continue", "")
    if not cont:
        break
open(out, "w").write("\n".join(lines) + "\n")
PY
  pages=$(grep -c '^url' "$urls")
  cat >"$work/loop.sh" <<EOF
#!/bin/bash
# One curl per page, following continue as a shell script would (tokens are URL-safe base64).
cont=""
while :; do
  url="$server/api/v1/pods?limit=500"
  [ -n "\$cont" ] && url="\$url&continue=\$cont"
  curl -s --compressed --cacert "$dir/ca.crt" -H "Authorization: Bearer $token" -o "$work/page" "\$url"
  cont=\$(head -c 4096 "$work/page" | grep -o '"continue":"[^"]*"' | cut -d'"' -f4 || true)
  [ -z "\$cont" ] && break
done
EOF
  chmod +x "$work/loop.sh"
  filter='.items[] | select(any(.status.containerStatuses[]?, .status.initContainerStatuses[]?, .status.ephemeralContainerStatuses[]?; (.imageID // "") | ascii_downcase | endswith($hex))) | "\(.metadata.namespace)/pod/\(.metadata.name)"'

  matches=$("$ir" --kubeconfig "$kc" siblings --digest "$digest" -o name | wc -l)  # warm-up
  ir_run=$(best_of 5 "$ir" --kubeconfig "$kc" siblings --digest "$digest")
  floor_run=$(best_of 5 curl -s --compressed --cacert "$dir/ca.crt" -H "Authorization: Bearer $token" -K "$urls")
  loop_run=$(best_of 1 "$work/loop.sh")
  kj_run=$("$m" --stdout "$work/kj.out" -- bash -c "kubectl --kubeconfig '$kc' get pods -A -o json | jq -r --arg hex '$hex' '$filter'")
  kj_matches=$(wc -l <"$work/kj.out")
  results+=("$n|$startup|$fake_rss|$pages|$matches|$kj_matches|$ir_run|$kj_run|$floor_run|$loop_run")
  tests/fake-cluster/stop.sh "$dir" >/dev/null 2>&1 || true
done

$py - "${results[@]}" <<'PY'
import json, sys
print(f"{'pods':>7}  {'tool':<48} {'wall s':>7} {'cpu s':>7} {'peak RSS MiB':>13}")
verdicts = []
for row in sys.argv[1:]:
    n, startup, fake_rss, pages, matches, kj_matches, *runs = row.split("|")
    ir, kj, floor, loop = (json.loads(r) for r in runs)
    names = [("kubectl ir siblings --digest (table)", ir),
             ("kubectl get pods -A -o json | jq", kj),
             ("curl, one connection (transfer floor)", floor),
             ("curl, one process per page, following continue", loop)]
    for name, r in names:
        print(f"{int(n):>7}  {name:<48} {r['wall_s']:>7.2f} {r['cpu_s']:>7.2f} {r['peak_rss_kib'] / 1024:>13.1f}")
    speedup = kj["wall_s"] / ir["wall_s"]
    vs_floor = ir["wall_s"] / floor["wall_s"]
    rss = ir["peak_rss_kib"] / 1024
    print(f"{'':>7}  {pages} pages; {matches} matches (jq: {kj_matches}); fake cluster: started in {startup} s, "
          f"{fake_rss} MiB RSS")
    line = (f"{'':>7}  kubectl+jq / kubectl-ir = {speedup:.1f}x (goal >= 5x), kubectl-ir / floor = {vs_floor:.2f} "
            f"(goal <= 1.5; / per-page loop = {ir['wall_s'] / loop['wall_s']:.2f}), kubectl-ir peak RSS {rss:.1f} MiB")
    if int(n) >= 100000:
        line += " (goal <= 64 MiB)"
    print(line)
    if ir["exit"] != 0 or kj["exit"] != 0:
        print(f"{'':>7}  note: exit codes kubectl-ir {ir['exit']}, kubectl|jq {kj['exit']}")
PY
