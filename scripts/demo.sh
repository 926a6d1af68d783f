#!/usr/bin/env bash
# The demo: installs what is missing, builds kubectl-ir, starts the fake cluster with the demo
# scenario (namespace shop: a Deployment whose replica web-7d4b9c8f6-x2k9p runs a cryptominer with
# a connection to a mining pool), runs the shipped `triage` playbook on that pod (isolate, collect,
# siblings), prints the containment verdict, the siblings, the evidence bundle and its
# verification, and stops the cluster. Needs root (the fake cluster's pods are real processes in
# Linux namespaces).
#   scripts/demo.sh [POD]      default: the compromised pod of the demo scenario
set -euo pipefail
cd "$(dirname "$0")/.."
pod=${1:-web-7d4b9c8f6-x2k9p}

scripts/setup-deps.sh
cmake --preset dev >/dev/null
cmake --build --preset dev --target kubectl-ir -j "$(nproc)"
ir=$PWD/build/dev/cmd/kubectl-ir

dir=$(mktemp -d /tmp/kubectl-ir-demo.XXXXXX)
cleanup() { tests/fake-cluster/stop.sh "$dir" >/dev/null 2>&1 || true; }
trap cleanup EXIT
echo "== starting the fake cluster (demo scenario)" >&2
kubeconfig=$(tests/fake-cluster/start.sh "$dir" --scenario demo)
export KUBECONFIG=$kubeconfig
export KUBECTL_IR_HOME=$dir/ir-home
mkdir -p "$dir/evidence"

echo "== kubectl ir version" >&2
"$ir" version
echo "== kubectl ir run triage --pod $pod -n shop" >&2
rc=0
(cd "$dir/evidence" && "$ir" run triage --pod "$pod" -n shop) | tee "$dir/run.out" || rc=$?
bundle=$(sed -n 's/^bundle: //p' "$dir/run.out")
echo "== kubectl ir verify $bundle" >&2
"$ir" verify "$dir/evidence/$bundle"
echo "== the evidence stays in $dir/evidence (the fake cluster is stopped)" >&2
exit $rc
