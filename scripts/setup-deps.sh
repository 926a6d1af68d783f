#!/usr/bin/env bash
# Installs (idempotently, with apt-get) every Debian package kubectl-ir's build, tests, fake
# cluster and demo need. Fast when everything is already there: apt-get runs only if a package
# is missing. Needs root (or sudo).
set -euo pipefail

packages=(
  # build
  cmake ninja-build g++ pkg-config git
  libcli11-dev libyaml-cpp-dev libfmt-dev nlohmann-json3-dev
  libcurl4-openssl-dev libssl-dev libarchive-dev libsimdjson-dev zlib1g-dev
  # tests
  doctest-dev clang libclang-rt-14-dev bash-completion
  # the SPDX licence and exception lists the SBOM tests check identifiers against (JSON files)
  node-spdx-license-ids node-spdx-exceptions
  # fake cluster (tests/fake-cluster): Python with aiohttp, pods backed by busybox roots in namespaces
  python3 python3-aiohttp python3-yaml busybox-static openssl util-linux iproute2 libc6-dev
  # benchmarks and e2e helpers
  curl jq
  # release archive (scripts/package.sh, check-portable.sh): the shipped libraries' run-path, a
  # minimal Debian root to run the archive in
  patchelf debootstrap
  # linux/arm64 archive: Debian's cross compiler (its arm64 -dev packages go into a sysroot,
  # scripts/debian-root.sh), and qemu-user to run what it builds (version, unit tests, check-portable)
  g++-aarch64-linux-gnu qemu-user-static
  # the image checked by the container tools' own image library (tests/packaging/test_image.py)
  skopeo
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup-deps: all ${#packages[@]} packages present"
  exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "setup-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup-deps: done"
