#!/usr/bin/env bash
# Benchmark (issue: report): `kubectl ir report` on the demo bundle (the triage playbook on the
# demo's compromised pod, against a fake cluster started here) and on synthetic bundles of 10,000,
# 30,000 and 100,000 listed files (tests/browser/make_bundle.py large):
#   - writing the page: wall time and peak RSS (median of ROUNDS runs each);
#   - the page's size, and its bytes per listed file (the listing is embedded as compact columns and
#     drawn 100 rows at a time: the HTML does not grow with the rows hidden behind paging);
#   - in headless Chromium (Debian's, via tests/browser/inspect_page.js): time until the page is
#     interactive (its script has drawn every section) and until the file filter answers.
# Goals: <= 1 s and <= 64 MiB to write the 100,000-file page; interactive in <= 2 s. Asserts nothing.
#   scripts/bench/report.sh [ROUNDS]     default 3
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench/common.sh
rounds=${1:-3}
scripts/setup-browser.sh >/dev/null
build_release
start_fake_cluster fc
(cd "$dir" && "$ir" --kubeconfig "$kc" run triage web-7d4b9c8f6-x2k9p -n shop >/dev/null 2>&1 && mv "$dir"/case-*.tar.gz "$dir/demo.tar.gz")
tests/fake-cluster/stop.sh "$dir/fc" >/dev/null 2>&1   # the browser and the report get the cores
for n in 10000 30000 100000; do
  /usr/bin/python3 tests/browser/make_bundle.py large "$dir/files-$n.tar.gz" --files "$n"
done

m=scripts/bench/measure.py
results=()
for name in demo files-10000 files-30000 files-100000; do
  runs=()
  browser=()
  for ((i = 0; i < rounds; i++)); do
    rm -f "$dir/$name.html"
    runs+=("$($m -- "$ir" report "$dir/$name.tar.gz" -o "$dir/$name.html" 2>/dev/null)")
    browser+=("$(cd tests/browser && node inspect_page.js "$dir/$name.html" --file-filter needle 2>/dev/null |
      /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps({"interactive_ms": d["interactiveMs"], "filter_ms": d["fileFilter"]["ms"], "ready": d["ready"]}))')")
  done
  files=$(zcat "$dir/$name.tar.gz" | tar -xO --wildcards '*listing.jsonl' 2>/dev/null | wc -l)
  results+=("$(/usr/bin/python3 - "$name" "$files" "$(stat -c %s "$dir/$name.html")" "$(stat -c %s "$dir/$name.tar.gz")" \
    "$(printf '%s\n' "${runs[@]}")" "$(printf '%s\n' "${browser[@]}")" <<'PY'
import json, statistics, sys
name, files, page, bundle = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
runs = [json.loads(l) for l in sys.argv[5].splitlines()]
br = [json.loads(l) for l in sys.argv[6].splitlines()]
med = lambda xs: statistics.median(xs)
per = f"{page / files:.1f}" if files else "-"
print(f"{name:<14} {files:>8} {bundle/1024:>9.0f} {page/1024:>9.0f} {per:>8} {med(r['wall_s'] for r in runs):>8.3f} "
      f"{med(r['cpu_s'] for r in runs):>6.3f} "
      f"{med(r['peak_rss_kib'] for r in runs)/1024:>8.1f} {med(b['interactive_ms'] for b in br):>11.0f} "
      f"{med(b['filter_ms'] for b in br):>9.0f}  {'ok' if all(b['ready'] for b in br) else 'NOT READY'}")
PY
)")
done
echo "report: medians of $rounds rounds ($(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%-14s %8s %9s %9s %8s %8s %6s %8s %11s %9s\n' bundle files "bndl KiB" "page KiB" "B/file" "write s" "cpu s" "RSS MiB" "interact ms" "filter ms"
printf '%s\n' "${results[@]}"
echo "goals (100,000 files): write <= 1 s and <= 64 MiB; interactive <= 2000 ms"
