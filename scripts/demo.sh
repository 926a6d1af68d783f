#!/usr/bin/env bash
# The demo: installs what is missing, builds kubectl-ir, starts the fake cluster with the demo
# scenario (namespace shop, a compromised web pod), runs kubectl-ir against it, and stops the
# cluster. Needs root (the fake cluster's pods are real processes in Linux namespaces).
#   scripts/demo.sh [POD]      default: the compromised pod of the demo scenario
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup-deps.sh
cmake --preset dev >/dev/null
cmake --build --preset dev --target kubectl-ir -j "$(nproc)"
ir=build/dev/cmd/kubectl-ir

dir=$(mktemp -d /tmp/kubectl-ir-demo.XXXXXX)
cleanup() { tests/fake-cluster/stop.sh "$dir" >/dev/null 2>&1 || true; rm -rf "$dir"; }
trap cleanup EXIT
echo "== starting the fake cluster (demo scenario)" >&2
kubeconfig=$(tests/fake-cluster/start.sh "$dir" --scenario demo)
export KUBECONFIG=$kubeconfig
export KUBECTL_IR_HOME=$dir/ir-home

echo "== kubectl ir version" >&2
"$ir" version
echo "== kubectl ir doctor -n shop" >&2
"$ir" doctor -n shop
echo "== kubectl ir exec web-7d4b9c8f6-x2k9p -n shop -- ps   (the compromised replica)" >&2
"$ir" exec web-7d4b9c8f6-x2k9p -n shop --case demo -- ps
