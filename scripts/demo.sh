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
# A release build: a demo should show the tool as it ships, and it builds faster than the tests.
cmake --preset release >/dev/null
cmake --build --preset release --target kubectl-ir -j "$(nproc)"
ir=$PWD/build/release/cmd/kubectl-ir

# The fake cluster's directory holds its CA and the client keys of its users: it is removed when
# the demo ends, whatever happens. The evidence (bundles, the case journal) goes elsewhere and stays.
cluster_dir=$(mktemp -d /tmp/kubectl-ir-demo-cluster.XXXXXX)
evidence=$(mktemp -d /tmp/kubectl-ir-demo-evidence.XXXXXX)
cleanup() {
  tests/fake-cluster/stop.sh "$cluster_dir" >/dev/null 2>&1 || true
  rm -rf "$cluster_dir"
}
trap cleanup EXIT
echo "== starting the fake cluster (demo scenario)" >&2
kubeconfig=$(tests/fake-cluster/start.sh "$cluster_dir" --scenario demo)
export KUBECONFIG=$kubeconfig
export KUBECTL_IR_HOME=$evidence/ir-home

echo "== kubectl ir version" >&2
"$ir" version
echo "== kubectl ir run triage --pod $pod -n shop" >&2
rc=0
(cd "$evidence" && "$ir" run triage --pod "$pod" -n shop) | tee "$evidence/run.out" || rc=$?
bundle=$(sed -n 's/^bundle: //p' "$evidence/run.out")
if [ -n "$bundle" ]; then
  echo "== kubectl ir verify $bundle" >&2
  (cd "$evidence" && "$ir" verify "$bundle")
fi
echo "== the evidence stays in $evidence (bundle, case journal); the fake cluster, its CA and keys are removed" >&2
exit $rc
