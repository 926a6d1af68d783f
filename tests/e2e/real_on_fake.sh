#!/usr/bin/env bash
# Runs e2e modules the way they run against a real cluster (IR_E2E_KUBECONFIG set: the fixtures
# create their own namespaces and workloads, fake-only tests are skipped), with a fake cluster
# standing in for the real one: the demo scenario with `unmarked_pods: by-image`, so the pause pods
# the fixtures create run as their image would, as the busybox ones always do (see
# tests/fake-cluster/README.md).
# It checks the real-cluster code paths here; it does not replace a run on a real cluster.
#   tests/e2e/real_on_fake.sh                     every module of tests/e2e/CMakeLists.txt
#   tests/e2e/real_on_fake.sh test_isolate ...    those modules (or Module.Class.test)
# Environment: IR_BIN as for the other e2e runs (default build/dev/cmd/kubectl-ir). Needs root.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
fake=$here/../fake-cluster
dir=$(mktemp -d /tmp/ir-real-on-fake.XXXXXX)
cleanup() { "$fake/stop.sh" "$dir" >/dev/null 2>&1 || true; rm -rf "$dir"; }
trap cleanup EXIT

"$fake/start.sh" "$dir" --scenario demo >/dev/null
(cd "$here" && /usr/bin/python3 -c '
import sys
from harness import Cluster
Cluster.attach(sys.argv[1]).admin("POST", "/_fake/config", {"unmarked_pods": "by-image"})
' "$dir/kubeconfig")

if [ $# -eq 0 ]; then
  set -- $(sed -n 's/^set(IR_E2E_MODULES \(.*\))$/\1/p' "$here/CMakeLists.txt")
fi
cd "$here"
# The fake's shell-less stand-in is its static root, whose one binary is /app (pause's is /pause).
# (not exec: the EXIT trap must still stop the fake cluster)
IR_E2E_KUBECONFIG=$dir/kubeconfig IR_E2E_SHELLLESS_EXE=/app /usr/bin/python3 -m unittest -v "$@"
