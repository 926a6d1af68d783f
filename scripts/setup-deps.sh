#!/usr/bin/env bash
# Installs (idempotently, with apt-get) every Debian package kubectl-ir's build, tests, fake
# cluster and demo need. Fast when everything is already there: apt-get runs only if a package
# is missing. Needs root (or sudo).
set -euo pipefail

packages=(
  # build
  cmake ninja-build g++ pkg-config git
  libcli11-dev libyaml-cpp-dev libfmt-dev nlohmann-json3-dev
  libcurl4-openssl-dev libssl-dev libarchive-dev libsimdjson-dev zlib1g-dev libexpat1-dev
  # tests
  doctest-dev clang libclang-rt-14-dev bash-completion
  # the SPDX licence and exception lists the SBOM tests check identifiers against (JSON files)
  node-spdx-license-ids node-spdx-exceptions
  # fake cluster (tests/fake-cluster): Python with aiohttp, pods backed by busybox roots in namespaces
  python3 python3-aiohttp python3-yaml busybox-static openssl util-linux iproute2 libc6-dev
  nftables     # the fake cluster's fabric: NetworkPolicy enforcement and kube-proxy NAT (in its own netns)
  # benchmarks and e2e helpers
  curl jq
  # custody tests and scripts/bench/upload.sh: a real S3 server (Ceph's radosgw on a one-OSD memstore
  # cluster, tests/s3-server) and an independent S3 client to read the bucket back
  radosgw ceph-mon ceph-osd ceph-common python3-boto3
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
# Another apt or dpkg (unattended-upgrades on a fresh machine, a second shell) holds the lock: wait
# for it, saying so, rather than failing at once. apt-get waits for the dpkg lock itself with
# DPkg::Lock::Timeout; `apt-get update` has no such option for the lists lock, hence the loop.
wait_for_apt() {
  local waited=0
  # (pgrep warns that a pattern longer than a process name's 15 bytes may not match: each name is shorter.)
  while pgrep -x 'apt|apt-get|dpkg|unattended-upgr|aptitude' >/dev/null 2>&1; do
    [ $waited -eq 0 ] && echo "setup-deps: waiting for another package manager to finish ($(pgrep -xl 'apt|apt-get|dpkg|unattended-upgr|aptitude' 2>/dev/null | tr '\n' ' '))" >&2
    [ $waited -ge 600 ] && { echo "setup-deps: error: another package manager has held the lock for 10 minutes" >&2; exit 1; }
    sleep 5
    waited=$((waited + 5))
  done
}
apt_get() { wait_for_apt; DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 "$@"; }
echo "setup-deps: installing ${missing[*]}"
apt_get update -qq
apt_get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup-deps: done"
