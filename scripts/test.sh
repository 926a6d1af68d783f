#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs every test (unit + e2e against the
# fake cluster), then the unit tests once more under AddressSanitizer + UndefinedBehaviorSanitizer.
# With CI=true each configuration is built once: the unit tests run only in the sanitizer build
# (made beside the e2e tests, at the lowest priority), the e2e tests on the release binary
# package.sh staged (what ships), no dev build.
#   scripts/test.sh            everything
#   scripts/test.sh --fast     skip the sanitizer pass
#   scripts/test.sh --package  then build the release artifacts and test them: package.sh
#                              (linux/amd64 and linux/arm64 archives, the OCI image, SBOMs),
#                              check-portable.sh on both archives, tests/packaging on the results,
#                              and the unit tests cross-built for arm64 and run under qemu-user,
#                              then a second build of the commit elsewhere without ccache,
#                              compared byte for byte (check-reproducible.sh).
#                              CI=true packages linux/amd64 only (its archive, SBOM, bare-root run
#                              and the demo from it): the arm64 build, the image (both platforms),
#                              the krew manifest (both sha256s) and the second build are the
#                              CPU-minutes of compiling that CI's 30 minutes cannot afford
#   scripts/test.sh --reproducible   the same as --package (kept for release jobs that name it)
# Environment: CI=true makes warnings errors. IR_E2E_KUBECONFIG=path runs the e2e tests against a
# real cluster instead of the fake one (fake-only tests are skipped).
set -euo pipefail
cd "$(dirname "$0")/.."
fast=0
[ "${1:-}" = "--fast" ] && fast=1
package=0   # the release archive step at the end: --package (anywhere) or CI=true
case " $* " in *" --fast "*) fast=1 ;; esac
reproducible=0   # the second build compared byte for byte: with --package (and --reproducible), not in CI
case " $* " in *" --package "*|*" --reproducible "*) package=1 reproducible=1 ;; esac
arm64_unit=$package   # the arm64 unit tests under qemu: with --package, not in CI
arches=amd64,arm64    # what package.sh builds: both with --package, amd64 alone in CI
if [ "${CI:-}" = "true" ]; then
  [ $package -eq 1 ] || arches=amd64
  package=1
fi

scripts/setup-deps.sh
scripts/setup-browser.sh   # chromium + playwright-core for the report's browser tests (e2e_test_report)
# The Debian roots the release steps need (downloads and unpacking: network and disk, not CPU),
# made in the background while the sanitizer (or dev) build uses the CPU; cached after the first run.
roots_pid=""
if [ $package -eq 1 ]; then
  mkdir -p build
  roots=("bare amd64")
  [ "$arches" = amd64 ] || roots=("sysroot arm64" "bare arm64" "bare amd64")
  ( for root in "${roots[@]}"; do scripts/debian-root.sh $root || exit 1; done
  ) >build/debian-roots.log 2>&1 &
  roots_pid=$!
fi
werror=OFF
[ "${CI:-}" = "true" ] && werror=ON
jobs=$(nproc)
version=$(sed -n 's/^project(kubectl-ir VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)

if [ "${CI:-}" = "true" ]; then
  # CI builds each configuration once: the release build of package.sh for everything but the
  # unit tests (the e2e tests run the amd64 binary as it ships, staged by package.sh with its lib/),
  # and the sanitizer build for the unit tests. That build runs at the lowest priority beside the
  # e2e and package tests, which wait on the fake cluster most of the time: the tests keep the CPU
  # they need, the compiler takes what they leave idle.
  shipped=$PWD/build/package/kubectl-ir_${version}_linux_amd64/kubectl-ir
  cmake --preset asan -DIR_WERROR=$werror -DIR_E2E_BIN="$shipped" >/dev/null
  if [ "$arches" != amd64 ]; then   # the arm64 build needs the sysroot
    wait "$roots_pid" || { tail -n 20 build/debian-roots.log >&2; echo "test: the Debian roots failed (above); retrying" >&2; }
  fi
  scripts/package.sh --arch "$arches"
  nice -n 19 cmake --build --preset asan -j "$jobs" --target ir_unit_checks >build/asan-build.log 2>&1 &
  asan_pid=$!
  status=0
  ctest --preset asan -j 1 -LE unit || status=$?
  if ! wait "$asan_pid"; then
    tail -n 80 build/asan-build.log >&2
    echo "test: the sanitizer build failed (build/asan-build.log)" >&2
    exit 1
  fi
  [ $status -eq 0 ] || exit $status
  ctest --preset asan -j 1 -L unit
  [ "$arches" != amd64 ] || wait "$roots_pid" || { tail -n 20 build/debian-roots.log >&2; echo "test: the Debian roots failed (above); retrying" >&2; }
else
  cmake --preset dev -DIR_WERROR=$werror -DIR_E2E_BIN= >/dev/null
  cmake --build --preset dev -j "$jobs"
  ctest --preset dev -j 1 -LE package
  if [ $fast -eq 0 ]; then
    cmake --preset asan -DIR_WERROR=$werror -DIR_E2E_BIN= >/dev/null
    cmake --build --preset asan -j "$jobs" --target ir_unit_checks
    ctest --preset asan -L unit
  fi
  if [ $package -eq 1 ]; then
    wait "$roots_pid" || { tail -n 20 build/debian-roots.log >&2; echo "test: the Debian roots failed (above); retrying" >&2; }
    scripts/package.sh --arch "$arches"
    ctest --preset dev -j 1 -L package
  fi
fi

# The release artifacts: each archive run on a bare Debian root of its architecture, the arm64 unit
# tests run under qemu-user, the krew manifest, the image and the SBOMs checked.
if [ $package -eq 1 ]; then
  for arch in ${arches//,/ }; do
    scripts/check-portable.sh "dist/kubectl-ir_${version}_linux_${arch}.tar.gz"
  done
  if [ $arm64_unit -eq 1 ]; then
    # The unit tests, cross-built in the arm64 release tree (its libraries are built already), run
    # by the sysroot's loader under qemu-user (not -L: the programs the tests start are the host's).
    # Excluded: what user-mode emulation cannot show. The emulator reports a failed exec of a
    # missing program as a child exiting 127 (posix_spawn's vfork runs as a fork), and /proc shows
    # the emulator's exe and comm for the test's own process.
    cmake --build --preset release-arm64 -j "$jobs" --target ir_unit_tests
    sysroot=$(scripts/debian-root.sh sysroot arm64)
    qemu-aarch64-static "$sysroot/lib/ld-linux-aarch64.so.1" \
      --library-path "$sysroot/usr/lib/aarch64-linux-gnu:$sysroot/lib/aarch64-linux-gnu" \
      build/release-arm64/tests/ir_unit_tests \
      --subcase-exclude='is not installed,a missing program is not_found' \
      --test-case-exclude='procfs: proc_walk_script: sockets of a real process join to its pid,procfs: proc_walk_script: an image without readlink'
  fi
  if [ "$arches" = amd64,arm64 ]; then   # ctest skips these (77) when dist/ lacks them: here they must be there
    /usr/bin/python3 tests/packaging/test_krew_manifest.py --require-archive --manifest dist/krew-manifest.yaml \
      --archive "dist/kubectl-ir_${version}_linux_amd64.tar.gz" --archive "dist/kubectl-ir_${version}_linux_arm64.tar.gz"
    (cd tests/packaging && /usr/bin/python3 test_sbom.py --require-archive --dist ../../dist --arch amd64 --arch arm64 &&
       /usr/bin/python3 test_image.py --require-image --dist ../../dist)
  fi
  if [ $reproducible -eq 1 ]; then
    scripts/check-reproducible.sh
  fi
fi
