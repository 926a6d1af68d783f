#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs every test (unit + e2e against the
# fake cluster), then the unit tests once more under AddressSanitizer + UndefinedBehaviorSanitizer.
#   scripts/test.sh            everything
#   scripts/test.sh --fast     skip the sanitizer pass
# Environment: CI=true makes warnings errors. IR_E2E_KUBECONFIG=path runs the e2e tests against a
# real cluster instead of the fake one (fake-only tests are skipped).
set -euo pipefail
cd "$(dirname "$0")/.."
fast=0
[ "${1:-}" = "--fast" ] && fast=1

scripts/setup-deps.sh
werror=OFF
[ "${CI:-}" = "true" ] && werror=ON
jobs=$(nproc)

cmake --preset dev -DIR_WERROR=$werror >/dev/null
cmake --build --preset dev -j "$jobs"
ctest --preset dev -j 1

if [ $fast -eq 0 ]; then
  cmake --preset asan -DIR_WERROR=$werror >/dev/null
  cmake --build --preset asan -j "$jobs" --target ir_unit_checks
  ctest --preset asan -L unit
fi
