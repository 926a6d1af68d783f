#!/usr/bin/env bash
# Cached Debian bookworm roots for the release archives, made with debootstrap and printed on stdout:
#
#   scripts/debian-root.sh bare ARCH      a bare minbase root to run an archive in (check-portable.sh)
#   scripts/debian-root.sh sysroot ARCH   a sysroot holding Debian's ARCH -dev packages (cross builds)
#
# ARCH is amd64 or arm64. Each root is built once (a lock keeps two runs from building the same one)
# and cached in $IR_DEBIAN_ROOTS (default /var/cache/kubectl-ir) with the downloaded .debs (debs/);
# delete a root to rebuild it. The mirror is the first bookworm one apt uses here (override:
# IR_DEBIAN_MIRROR). Needs root.
#
# bare amd64 is a full minbase debootstrap (`IR_MINBASE_DIR` overrides its place, as before). A
# foreign architecture's root is debootstrap's first stage (--foreign): the `required` packages
# unpacked, not configured, since configuring needs arm64 programs run under binfmt_misc, which a
# build machine (or a container) may not have. Unpacked is what a portability check needs: the
# loader, glibc, libstdc++, libgcc_s, zlib at Debian's paths; check-portable.sh runs the archive's
# binary there through qemu-user.
#
# The sysroot: Debian's :arm64 -dev packages cannot be installed beside the amd64 ones on the host
# (libyaml-cpp-dev and libsimdjson-dev are not Multi-Arch: same: apt removes the amd64 ones), so
# debootstrap resolves them with their dependencies for ARCH and every .deb is unpacked into one
# directory that aarch64-linux-gnu-g++ uses as --sysroot (cmake/toolchains/). Beside the files it
# writes what package.sh and sbom.py need instead of a dpkg database:
#   .kubectl-ir/packages    "package version architecture source source-version", one per line
#   .kubectl-ir/files       "path<TAB>package" for every regular file and symlink unpacked
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "debian-root: error: $*" >&2; exit 1; }
say() { echo "debian-root: $*" >&2; }

[ $# -eq 2 ] || die "usage: scripts/debian-root.sh bare|sysroot amd64|arm64"
kind=$1 arch=$2
case "$kind" in bare|sysroot) ;; *) die "unknown kind '$kind' (bare or sysroot)" ;; esac
case "$arch" in amd64|arm64) ;; *) die "unknown architecture '$arch' (amd64 or arm64)" ;; esac
[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap)"
for tool in debootstrap dpkg-deb flock tar; do
  command -v $tool >/dev/null || die "$tool not found (scripts/setup-deps.sh installs it)"
done
host_arch=$(dpkg --print-architecture)

# Debian's arm64 counterparts of setup-deps.sh's build packages (and the unit tests').
sysroot_packages=(libc6-dev libstdc++-12-dev libyaml-cpp-dev libfmt-dev libcurl4-openssl-dev libssl-dev
                  libarchive-dev libsimdjson-dev zlib1g-dev nlohmann-json3-dev libcli11-dev doctest-dev)

# The mirror apt already uses here (deb822 .sources first, then one-line sources.list).
mirror=${IR_DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
  mirror=$(awk '/^URIs:/ {u=$2} /^Suites:/ && / bookworm( |$)/ && u {print u; exit}' \
             /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
fi
if [ -z "$mirror" ]; then
  mirror=$(awk '$1=="deb" && $0 ~ / bookworm / {for (i=2;i<=NF;i++) if ($i ~ /^https?:/) {print $i; exit}}' \
             /etc/apt/sources.list 2>/dev/null || true)
fi
mirror=${mirror:-http://deb.debian.org/debian}

base=${IR_DEBIAN_ROOTS:-/var/cache/kubectl-ir}
if [ "$kind" = bare ] && [ "$arch" = amd64 ]; then
  root=${IR_MINBASE_DIR:-$base/minbase-bookworm}
else
  root=$base/$kind-bookworm-$arch
fi
# What the root was made from: a different package list or mirror makes a new root.
recipe="$kind $arch bookworm minbase $mirror"
[ "$kind" = sysroot ] && recipe="$recipe ${sysroot_packages[*]}"
mkdir -p "$(dirname "$root")" "$base/debs"
exec 9>"$root.lock"
flock 9
marker=$root/.kubectl-ir-complete
if [ -f "$marker" ] && [ "$(cat "$marker")" = "$recipe" ]; then
  echo "$root"
  exit 0
fi

say "building the $kind $arch bookworm root in $root from $mirror (once)"
rm -rf "$root" "$root.tmp"
start=$SECONDS
options=(--variant=minbase --arch="$arch" --cache-dir="$base/debs")
if [ "$arch" != "$host_arch" ] || [ "$kind" = sysroot ]; then options+=(--foreign); fi
if [ "$kind" = sysroot ]; then options+=(--include="$(IFS=,; echo "${sysroot_packages[*]}")"); fi
debootstrap "${options[@]}" bookworm "$root.tmp" "$mirror" >"$root.log" 2>&1 ||
  { tail -n 20 "$root.log" >&2; die "debootstrap failed (log: $root.log)"; }

if [ "$kind" = sysroot ]; then
  # The first stage unpacked the `required` packages; unpack the rest the same way (a tar of each
  # package's files; merged /usr: keep the root's /lib -> usr/lib symlinks), and index them all.
  mkdir -p "$root.tmp/.kubectl-ir"
  : >"$root.tmp/.kubectl-ir/packages"
  : >"$root.tmp/.kubectl-ir/files.unsorted"
  while read -r _ deb; do
    deb=$root.tmp$deb
    dpkg-deb --fsys-tarfile "$deb" | tar -x --keep-directory-symlink -C "$root.tmp"
    dpkg-deb --show --showformat='${Package} ${Version} ${Architecture} ${source:Package} ${source:Version}\n' "$deb" \
      >>"$root.tmp/.kubectl-ir/packages"
    pkg=$(dpkg-deb --field "$deb" Package)
    dpkg-deb --fsys-tarfile "$deb" | tar -t | awk -v p="$pkg" '!/\/$/ { sub(/^\.\//, "/"); print $0 "\t" p }' \
      >>"$root.tmp/.kubectl-ir/files.unsorted"
  done <"$root.tmp/debootstrap/debpaths"
  # Absolute symlinks (libz.so -> /lib/aarch64-linux-gnu/libz.so.1.2.13) would point into the
  # host: make them relative, so the linker finds the sysroot's library, not a dangling link.
  find "$root.tmp" -type l -lname '/*' | while read -r link; do
    target=$(readlink "$link")
    ln -sfn "$(realpath -m --relative-to="$(dirname "$link")" "$root.tmp$target")" "$link"
  done
  LC_ALL=C sort -u "$root.tmp/.kubectl-ir/files.unsorted" >"$root.tmp/.kubectl-ir/files"
  rm "$root.tmp/.kubectl-ir/files.unsorted"
  LC_ALL=C sort -o "$root.tmp/.kubectl-ir/packages" "$root.tmp/.kubectl-ir/packages"
  rm -rf "$root.tmp/var/cache/apt/archives/"*.deb
fi
mv "$root.tmp" "$root"
echo "$recipe" >"$marker"
say "$kind $arch root built in $((SECONDS - start))s ($(du -sm "$root" | cut -f1) MB)"
echo "$root"
