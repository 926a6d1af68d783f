#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs every test (unit + e2e against the
# fake cluster), then the unit tests once more under AddressSanitizer + UndefinedBehaviorSanitizer.
#   scripts/test.sh            everything
#   scripts/test.sh --fast     skip the sanitizer pass
#   scripts/test.sh --package  then build the release archive and test it (always when CI=true):
#                              package.sh, check-portable.sh, tests/packaging on the result
# Environment: CI=true makes warnings errors. IR_E2E_KUBECONFIG=path runs the e2e tests against a
# real cluster instead of the fake one (fake-only tests are skipped).
set -euo pipefail
cd "$(dirname "$0")/.."
fast=0
[ "${1:-}" = "--fast" ] && fast=1
package=0   # the release archive step at the end: --package (anywhere) or CI=true
case " $* " in *" --fast "*) fast=1 ;; esac
case " $* " in *" --package "*) package=1 ;; esac
[ "${CI:-}" = "true" ] && package=1

scripts/setup-deps.sh
scripts/setup-browser.sh   # chromium + playwright-core for the report's browser tests (e2e_test_report)
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

# The release archive: built, run on a bare Debian root, its manifest checked against krew's rules.
if [ $package -eq 1 ]; then
  scripts/package.sh
  version=$(sed -n 's/^project(kubectl-ir VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
  archive=dist/kubectl-ir_${version}_linux_amd64.tar.gz
  scripts/check-portable.sh "$archive"
  /usr/bin/python3 tests/packaging/test_krew_manifest.py --require-archive \
    --manifest dist/krew-manifest.yaml --archive "$archive"
fi
