#!/usr/bin/env bash
# Proves that the release artifacts are reproducible: builds the commit a second time, from a fresh
# clone in another directory, without ccache (CCACHE_DISABLE, no compiler launcher), and compares
# every file scripts/package.sh wrote in dist/ byte for byte with the second build's.
#
#   scripts/check-reproducible.sh [--arch amd64,arm64] [--no-image]
#
# Run it after scripts/package.sh with the same options, on a clean work tree (the first build must
# be the commit's: uncommitted changes to tracked files are refused). On a difference it names the
# files, and for a tar (gzip) archive the members that differ. The second build's time is printed.
# The clone and its build are removed afterwards (IR_KEEP_REPRO=1 keeps them for a look).
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "check-reproducible: FAIL: $*" >&2; exit 1; }
say() { echo "check-reproducible: $*"; }

options=()
arches=amd64,arm64 image=1
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) arches=${2:?}; options+=(--arch "$2"); shift ;;
    --arch=*) arches=${1#--arch=}; options+=("$1") ;;
    --no-image) image=0; options+=(--no-image) ;;
    *) echo "check-reproducible: error: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift
done

[ -z "$(git status --porcelain --untracked-files=no)" ] ||
  die "the work tree has uncommitted changes: dist/ is not the commit's build (commit, then package again)"
commit=$(git rev-parse HEAD)
version=$(sed -n 's/^project(kubectl-ir VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)

# What the first build wrote, for these platforms.
IFS=, read -r -a arch_list <<<"$arches"
expected=()
for arch in "${arch_list[@]}"; do
  for suffix in .tar.gz .tar.gz.sha256 .tar.gz.spdx.json; do
    expected+=("kubectl-ir_${version}_linux_${arch}$suffix")
  done
done
if [ ${#arch_list[@]} -eq 2 ]; then
  expected+=(krew-manifest.yaml)
  if [ $image -eq 1 ]; then
    for arch in "${arch_list[@]}"; do
      expected+=("kubectl-ir_${version}_image_linux_${arch}.tar" "kubectl-ir_${version}_image_linux_${arch}.tar.spdx.json")
    done
    expected+=($(cd dist && find "kubectl-ir_${version}_image_oci" -type f | LC_ALL=C sort))
  fi
fi
for f in "${expected[@]}"; do
  [ -f "dist/$f" ] || die "dist/$f is missing: run scripts/package.sh ${options[*]:-} first"
done

# The second build: a clone at a path of another length, nothing shared with the first but the
# cached Debian roots (inputs, like the host's packages).
scratch=$(mktemp -d /tmp/kubectl-ir-reproducible.XXXXXX)
[ "${IR_KEEP_REPRO:-}" = 1 ] || trap 'rm -rf "$scratch"' EXIT
clone=$scratch/second-checkout
say "building $commit again in $clone (no ccache)"
git clone --quiet --no-hardlinks --no-checkout . "$clone"
git -C "$clone" checkout --quiet --detach "$commit"
start=$SECONDS
(cd "$clone" && env -u CMAKE_CXX_COMPILER_LAUNCHER -u CMAKE_C_COMPILER_LAUNCHER CCACHE_DISABLE=1 \
   scripts/package.sh "${options[@]}") >"$scratch/package.log" 2>&1 ||
  { tail -n 30 "$scratch/package.log" >&2; die "the second build failed (log above)"; }
say "second build: $((SECONDS - start))s"
if grep -q 'COMPILER_LAUNCHER:.*ccache' "$clone"/build/release*/CMakeCache.txt 2>/dev/null; then
  die "the second build used ccache"
fi

differ=0
for f in "${expected[@]}"; do
  if ! cmp -s "dist/$f" "$clone/dist/$f"; then
    differ=1
    echo "check-reproducible: differs: $f" >&2
    case "$f" in
      *.tar.gz|*.tar)
        /usr/bin/python3 - "dist/$f" "$clone/dist/$f" <<'EOF' >&2 || true
import hashlib, sys, tarfile
def members(path):
    out = {}
    with tarfile.open(path) as tar:
        for m in tar.getmembers():
            data = tar.extractfile(m).read() if m.isfile() else b""
            out[m.name] = (m.mode, m.uid, m.gid, m.mtime, m.linkname, hashlib.sha256(data).hexdigest())
    return out
a, b = members(sys.argv[1]), members(sys.argv[2])
for name in sorted(set(a) | set(b)):
    if a.get(name) != b.get(name):
        print(f"    member {name}: {a.get(name)} != {b.get(name)}")
EOF
        ;;
    esac
  fi
done
extra=$(cd "$clone/dist" && find . -type f | sed 's|^\./||' | LC_ALL=C sort | grep -vxF -f <(printf '%s\n' "${expected[@]}") || true)
[ -z "$extra" ] || { echo "check-reproducible: the second build also wrote: $extra" >&2; differ=1; }
[ $differ -eq 0 ] || die "the artifacts of $commit are not reproducible (above)"
say "PASS: ${#expected[@]} files of $commit identical byte for byte ($arches$([ $image -eq 1 ] && [ ${#arch_list[@]} -eq 2 ] && echo ', image'))"
