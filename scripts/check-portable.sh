#!/usr/bin/env bash
# Proves that a release archive runs on a bare Debian: unpacks it into a debootstrap minbase
# bookworm root of its architecture (no -dev package, no libcurl, no OpenSSL) laid out as krew
# installs it, and there
#   - lists the libraries of the binary and of every shipped library (ldd, or the loader's --list):
#     nothing "not found", shipped ones from the bundle;
#   - runs `kubectl-ir version` and `kubectl-ir --help` through krew's relative symlink, with
#     LD_BIND_NOW=1 so that every symbol of every loaded library is resolved at start;
#   - runs `kubectl ir version --client` when the host has kubectl (plugin discovery on PATH) and
#     can run the archive's binary from it (amd64; arm64 only where binfmt_misc runs it).
#
#   scripts/check-portable.sh [ARCHIVE]     default: the newest dist/kubectl-ir_*_linux_amd64.tar.gz
#
# An arm64 archive is checked in an arm64 root: debootstrap's first stage (scripts/debian-root.sh
# says why), its programs run by Debian's qemu-user-static (copied into the root, as a foreign
# debootstrap does), the binary found through the symlink and $ORIGIN as on an arm64 machine.
#
# Needs root (debootstrap, chroot, mount). The roots are built once (about a minute and ~200 MB
# each) and cached by scripts/debian-root.sh (/var/cache/kubectl-ir; IR_MINBASE_DIR overrides the
# amd64 one); delete one to rebuild it. Exit status: 0 when everything passed, 1 with a message
# otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "check-portable: FAIL: $*" >&2; exit 1; }
say() { echo "check-portable: $*"; }

archive=${1:-$(ls -t dist/kubectl-ir_*_linux_amd64.tar.gz 2>/dev/null | head -n1 || true)}
[ -n "$archive" ] || die "no archive given and none in dist/ (run scripts/package.sh)"
[ -f "$archive" ] || die "$archive: no such file"
archive=$(realpath "$archive")
[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot, mount /proc)"
for tool in debootstrap chroot mount umount tar flock; do
  command -v $tool >/dev/null || die "$tool not found (scripts/setup-deps.sh installs it)"
done
version=$(basename "$archive" | sed -n 's/^kubectl-ir_\(.*\)_linux_\(amd64\|arm64\)\.tar\.gz$/\1/p')
arch=$(basename "$archive" | sed -n 's/^kubectl-ir_.*_linux_\(amd64\|arm64\)\.tar\.gz$/\1/p')
[ -n "$version" ] || die "$archive: not named kubectl-ir_<version>_linux_<amd64|arm64>.tar.gz"
case "$arch" in
  amd64) triplet=x86_64-linux-gnu loader=/lib64/ld-linux-x86-64.so.2 ;;
  arm64) triplet=aarch64-linux-gnu loader=/lib/ld-linux-aarch64.so.1 ;;
esac

# 1. The bare root of the archive's architecture, built once (scripts/debian-root.sh).
root=$(scripts/debian-root.sh bare "$arch") || die "no bare $arch root"
say "using the bare $arch bookworm root in $root"
# It really is bare: none of the libraries the bundle ships, no -dev package.
for lib in libcurl.so.4 libssl.so.3 libfmt.so.9 libsimdjson.so.14; do
  if [ -e "$root/usr/lib/$triplet/$lib" ] || [ -e "$root/lib/$triplet/$lib" ]; then
    die "the minbase root has $lib: it is not bare, delete $root to rebuild it"
  fi
done
if [ -e "$root/usr/include/stdio.h" ]; then
  die "the minbase root has -dev packages: delete $root to rebuild it"
fi
# A foreign root runs its programs through qemu-user, put where the root's own would be.
emulator=()
if [ "$arch" != "$(dpkg --print-architecture)" ]; then
  qemu=/usr/bin/qemu-aarch64-static
  [ -x "$qemu" ] || die "$qemu not found (scripts/setup-deps.sh installs qemu-user-static)"
  cmp -s "$qemu" "$root$qemu" || install -m 0755 "$qemu" "$root$qemu"
  emulator=("$qemu")
fi

# 2. krew's layout in a scratch directory inside the root: the archive unpacked in
#    store/ir/v<version>/, and bin/kubectl-ir a relative symlink to it (as `kubectl krew install`
#    makes it), so $ORIGIN must resolve through a symlink. HOME is empty, KUBECONFIG unset.
mkdir -p "$root/opt"
run=$(mktemp -d "$root/opt/kubectl-ir-check.XXXXXX")
inside=${run#"$root"}
proc_mounted=0
cleanup() {
  if [ $proc_mounted -eq 1 ]; then umount "$root/proc" 2>/dev/null || umount -l "$root/proc" || true; fi
  rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

store="$run/store/ir/v$version"
mkdir -p "$store" "$run/bin" "$run/home"
tar -xzf "$archive" -C "$store"
[ -x "$store/kubectl-ir" ] || die "the archive has no executable kubectl-ir at its top level"
ln -s "../store/ir/v$version/kubectl-ir" "$run/bin/kubectl-ir"
if [ -x /usr/bin/kubectl ]; then cp -L /usr/bin/kubectl "$run/bin/kubectl"; fi

# The dynamic loader finds $ORIGIN through /proc/self/exe: mount /proc for the chroot.
mount -t proc proc "$root/proc"
proc_mounted=1
[ -e "$root/dev/null" ] || die "$root/dev/null is missing (debootstrap creates it): delete $root to rebuild"

chroot=$(command -v chroot)
in_root() {   # in_root PROGRAM ARGS...: PROGRAM (a path, or a name on the root's PATH) in the root
  local program=$1; shift
  case "$program" in
    /*) ;;
    ldd) if [ ${#emulator[@]} -gt 0 ]; then program=$loader; set -- --list "$@"; else program=/usr/bin/ldd; fi ;;
    *) program=$(PATH="$root$inside/bin:$root/usr/bin:$root/bin" command -v "$program") || return 127
       program=${program#"$root"} ;;
  esac
  env -i HOME="$inside/home" PATH="$inside/bin:/usr/bin:/bin" LANG=C.UTF-8 ${LD_BIND_NOW:+LD_BIND_NOW=1} \
    "$chroot" "$root" "${emulator[@]}" "$program" "$@"
}

failed=0
check() {   # check DESCRIPTION COMMAND...: runs it in the root, shows its output, records failure
  local description=$1; shift
  local out rc=0
  out=$(in_root "$@" 2>&1) || rc=$?
  printf '%s\n' "$out" >"$run/last.out"
  sed 's/^/    /' "$run/last.out" | head -n 40
  if [ $rc -ne 0 ]; then
    echo "check-portable: FAIL: $description (exit $rc)" >&2
    failed=1
    return 1
  fi
  say "ok: $description"
}

# 3. Every dependency resolves, and each shipped one from the bundle, not from the root. (ldd on
#    the real path: run as `ld.so --list PATH`, the loader takes $ORIGIN from PATH as given, where
#    an executed program's comes from /proc/self/exe, symlinks resolved. Step 4 runs the symlink.)
binary="$inside/store/ir/v$version/kubectl-ir"
check "ldd kubectl-ir runs" ldd "$binary" || true
cp "$run/last.out" "$run/ldd.out"
if grep -q 'not found' "$run/ldd.out"; then
  echo "check-portable: FAIL: kubectl-ir has unresolved libraries" >&2; failed=1
fi
if [ -d "$store/lib" ]; then
  for lib in "$store"/lib/*; do
    name=$(basename "$lib")
    out=$(in_root ldd "$inside/store/ir/v$version/lib/$name" 2>&1) || true
    if grep -q 'not found' <<<"$out"; then
      printf '%s\n' "$out" | grep 'not found' | sed 's/^/    /'
      echo "check-portable: FAIL: lib/$name has unresolved libraries" >&2; failed=1
    fi
    # Whatever the bundle ships must be loaded from the bundle.
    if grep -E "^\s*$name => " "$run/ldd.out" | grep -vq " $inside/store/"; then
      echo "check-portable: FAIL: $name is loaded from the root, not from the bundle" >&2; failed=1
    fi
  done
  say "ok: ldd of the $(ls "$store/lib" | wc -l) shipped libraries: nothing missing"
fi

# 4. It runs: every symbol bound at start (LD_BIND_NOW), no kubeconfig, no cluster.
export LD_BIND_NOW=1
if check "kubectl-ir version" kubectl-ir version; then
  grep -q "^Client Version: v$version " "$run/last.out" ||
    { echo "check-portable: FAIL: kubectl-ir version does not print 'Client Version: v$version'" >&2; failed=1; }
fi
if check "kubectl-ir version --client -o json" kubectl-ir version --client -o json; then
  grep -q "\"version\": \"v$version\"" "$run/last.out" ||
    { echo "check-portable: FAIL: the JSON client version is not v$version" >&2; failed=1; }
  grep -q "\"platform\": \"linux/$arch\"" "$run/last.out" ||
    { echo "check-portable: FAIL: the binary does not say linux/$arch" >&2; failed=1; }
fi
if check "kubectl-ir --help" kubectl-ir --help; then
  grep -qi 'usage' "$run/last.out" || { echo "check-portable: FAIL: --help prints no usage" >&2; failed=1; }
fi
unset LD_BIND_NOW
# kubectl (the host's, amd64) execs the plugin itself: an arm64 one only where binfmt_misc has qemu.
if [ -x "$run/bin/kubectl" ] &&
   { [ ${#emulator[@]} -eq 0 ] || grep -qs '^enabled' /proc/sys/fs/binfmt_misc/qemu-aarch64; }; then
  emulator_saved=("${emulator[@]}"); emulator=()
  check "kubectl ir version --client (kubectl finds the plugin on PATH)" kubectl ir version --client || true
  emulator=("${emulator_saved[@]}")
fi

if [ $failed -ne 0 ]; then
  die "$(basename "$archive") does not run on a bare Debian bookworm ($arch)"
fi
say "PASS: $(basename "$archive") runs on a bare Debian bookworm (minbase, $arch${emulator:+, under qemu-user})"
