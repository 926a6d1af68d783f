#!/usr/bin/env bash
# Proves that a release archive runs on a bare Debian: unpacks it into a debootstrap minbase
# bookworm root (no -dev package, no libcurl, no OpenSSL) laid out as krew installs it, and there
#   - ldd the binary and every shipped library: nothing "not found", shipped ones from the bundle;
#   - runs `kubectl-ir version` and `kubectl-ir --help` through krew's relative symlink, with
#     LD_BIND_NOW=1 so that every symbol of every loaded library is resolved at start;
#   - runs `kubectl ir version --client` when the host has kubectl (plugin discovery on PATH).
#
#   scripts/check-portable.sh [ARCHIVE]     default: the newest dist/kubectl-ir_*_linux_amd64.tar.gz
#
# Needs root (debootstrap, chroot, mount). The minbase root is built once (about a minute and
# ~200 MB) and cached in $IR_MINBASE_DIR (default /var/cache/kubectl-ir/minbase-bookworm); delete
# it to rebuild. The mirror is the first bookworm one configured for apt on this machine
# (override: IR_DEBIAN_MIRROR). Exit status: 0 when everything passed, 1 with a message otherwise.
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
version=$(basename "$archive" | sed -n 's/^kubectl-ir_\(.*\)_linux_amd64\.tar\.gz$/\1/p')
[ -n "$version" ] || die "$archive: not named kubectl-ir_<version>_linux_amd64.tar.gz"

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

# 1. The minbase root, built once. A lock keeps two runs from building it at the same time.
root=${IR_MINBASE_DIR:-/var/cache/kubectl-ir/minbase-bookworm}
mkdir -p "$(dirname "$root")"
exec 9>"$root.lock"
flock 9
if [ ! -f "$root/.kubectl-ir-minbase-complete" ]; then
  say "building a minbase bookworm root in $root from $mirror (once)"
  rm -rf "$root" "$root.tmp"
  start=$SECONDS
  debootstrap --variant=minbase bookworm "$root.tmp" "$mirror" >"$root.log" 2>&1 ||
    { tail -n 20 "$root.log" >&2; die "debootstrap failed (log: $root.log)"; }
  mv "$root.tmp" "$root"
  touch "$root/.kubectl-ir-minbase-complete"
  say "minbase root built in $((SECONDS - start))s"
else
  say "reusing the minbase root in $root"
fi
# It really is bare: none of the libraries the bundle ships, no -dev package.
for lib in libcurl.so.4 libssl.so.3 libfmt.so.9 libsimdjson.so.14; do
  if [ -e "$root/usr/lib/x86_64-linux-gnu/$lib" ] || [ -e "$root/lib/x86_64-linux-gnu/$lib" ]; then
    die "the minbase root has $lib: it is not bare, delete $root to rebuild it"
  fi
done
if chroot "$root" dpkg-query -W -f='${Package}\n' | grep -q -- '-dev$'; then
  die "the minbase root has -dev packages: delete $root to rebuild it"
fi

# 2. krew's layout in a scratch directory inside the root: the archive unpacked in
#    store/ir/v<version>/, and bin/kubectl-ir a relative symlink to it (as `kubectl krew install`
#    makes it), so $ORIGIN must resolve through a symlink. HOME is empty, KUBECONFIG unset.
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

in_root() {
  chroot "$root" /usr/bin/env -i HOME="$inside/home" PATH="$inside/bin:/usr/bin:/bin" LANG=C.UTF-8 "$@"
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
if check "kubectl-ir version" env LD_BIND_NOW=1 kubectl-ir version; then
  grep -q "^Client Version: v$version " "$run/last.out" ||
    { echo "check-portable: FAIL: kubectl-ir version does not print 'Client Version: v$version'" >&2; failed=1; }
fi
if check "kubectl-ir version --client -o json" env LD_BIND_NOW=1 kubectl-ir version --client -o json; then
  grep -q "\"version\": \"v$version\"" "$run/last.out" ||
    { echo "check-portable: FAIL: the JSON client version is not v$version" >&2; failed=1; }
fi
if check "kubectl-ir --help" env LD_BIND_NOW=1 kubectl-ir --help; then
  grep -qi 'usage' "$run/last.out" || { echo "check-portable: FAIL: --help prints no usage" >&2; failed=1; }
fi
if [ -x "$run/bin/kubectl" ]; then
  check "kubectl ir version --client (kubectl finds the plugin on PATH)" kubectl ir version --client || true
fi

if [ $failed -ne 0 ]; then
  die "$(basename "$archive") does not run on a bare Debian bookworm"
fi
say "PASS: $(basename "$archive") runs on a bare Debian bookworm (minbase)"
