#!/usr/bin/env bash
# Builds the release archive and its krew manifest:
#   dist/kubectl-ir_<version>_linux_amd64.tar.gz          kubectl-ir, LICENSE, lib/ (shipped .so),
#                                                          licenses/ (their Debian copyright files)
#   dist/kubectl-ir_<version>_linux_amd64.tar.gz.sha256   `sha256sum -c` format
#   dist/krew-manifest.yaml                                krew-manifest.yaml with version and sha256
#
#   scripts/package.sh              configure and build the `release` preset (IR_PORTABLE=ON), package
#   scripts/package.sh --no-build   package what build/release holds
#
# Which libraries are static and which are shipped, and why: cmake/IrPortable.cmake. Here every
# shared library the binary loads (ldd: the whole closure) that is not in $base below is copied
# into lib/ and given RUNPATH $ORIGIN, so that libcurl finds libnghttp2 beside itself. The result
# must not need newer symbol versions than the oldest system we claim (Debian 12, Ubuntu 22.04
# LTS: $floor_* below): the script fails if it does. scripts/check-portable.sh then runs it on a
# bare Debian root; tests/packaging checks the manifest against krew's rules and the archive.
#
# The repository's krew-manifest.yaml is a valid manifest for the version in CMakeLists.txt whose
# sha256 is 64 zeros (a placeholder krew's pattern accepts); rendering replaces its version
# wherever it appears (spec.version, uri) and the placeholder with the archive's sha256.
set -euo pipefail
cd "$(dirname "$0")/.."

build=1
[ "${1:-}" = "--no-build" ] && build=0
die() { echo "package: error: $*" >&2; exit 1; }

# Present on every Debian and Ubuntu root and symbol-versioned (see cmake/IrPortable.cmake): glibc,
# libgcc_s, libstdc++, zlib. Everything else is shipped.
base="linux-vdso.so.1 ld-linux-x86-64.so.2 libc.so.6 libm.so.6 libpthread.so.0 libdl.so.2 librt.so.1
      libresolv.so.2 libutil.so.1 libanl.so.1 libgcc_s.so.1 libstdc++.so.6 libz.so.1"
# Oldest systems we claim: Ubuntu 22.04 LTS (glibc 2.35, libstdc++ of GCC 12, zlib 1.2.11) and
# Debian 12 (glibc 2.36, GCC 12, zlib 1.2.13).
floor_glibc=2.35 floor_glibcxx=3.4.30 floor_cxxabi=1.3.13 floor_zlib=1.2.9

if [ $build -eq 1 ]; then
  scripts/setup-deps.sh
  werror=OFF
  [ "${CI:-}" = "true" ] && werror=ON
  cmake --preset release -DIR_WERROR=$werror >/dev/null
  cmake --build --preset release -j "$(nproc)"
fi
binary=build/release/cmd/kubectl-ir
[ -x "$binary" ] || die "$binary not built (run without --no-build)"
for tool in patchelf readelf objdump strip sha256sum; do
  command -v $tool >/dev/null || die "$tool not found (scripts/setup-deps.sh installs it)"
done

# The version: what the binary says, which must be what CMakeLists.txt says.
version=$("$binary" version --client -o json | sed -n 's/.*"version": *"v\([^"]*\)".*/\1/p')
project_version=$(sed -n 's/^project(kubectl-ir VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
[ -n "$version" ] || die "could not read the version from '$binary version --client -o json'"
[ "$version" = "$project_version" ] ||
  die "the binary says v$version, CMakeLists.txt says $project_version: rebuild"

# The binary must be the portable one: RUNPATH $ORIGIN/lib, no yaml-cpp/libarchive .so.
dynamic=$(readelf -d "$binary")
grep -q 'RUNPATH.*\[\$ORIGIN/lib\]$' <<<"$dynamic" ||
  die "$binary has no RUNPATH \$ORIGIN/lib: configure with the release preset (IR_PORTABLE=ON)"
if grep -E 'NEEDED.*(libyaml-cpp|libarchive)' <<<"$dynamic"; then
  die "$binary links the above dynamically: IR_PORTABLE should have made them static"
fi

name=kubectl-ir_${version}_linux_amd64
stage=build/package/$name
rm -rf "$stage"
mkdir -p "$stage/lib" dist
install -m 0755 "$binary" "$stage/kubectl-ir"
strip --strip-unneeded "$stage/kubectl-ir"
install -m 0644 LICENSE "$stage/LICENSE"
install -m 0755 cmd/kubectl_complete-ir "$stage/kubectl_complete-ir"  # kubectl ir <TAB> (kubectl 1.26+)

# The shared closure, minus the base system.
shipped=()   # sonames in lib/
sources=()   # where they came from
while read -r soname _ path _; do
  case " $(echo $base) " in *" $soname "*) continue ;; esac
  [ -f "$path" ] || die "ldd: $soname => $path: not found on the build machine"
  install -m 0644 "$(realpath "$path")" "$stage/lib/$soname"
  patchelf --set-rpath '$ORIGIN' "$stage/lib/$soname"
  shipped+=("$soname")
  sources+=("$path")
done < <(ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// {print $1, $2, $3, $4}')
if ldd "$binary" | grep 'not found'; then die "ldd $binary: the above are not found"; fi
[ ${#shipped[@]} -gt 0 ] || rmdir "$stage/lib"

# Third-party notices in licenses/: Debian's copyright file of every package whose code the archive
# carries, shipped in lib/ or linked into the binary (the static libraries of IrPortable.cmake and
# the header-only ones): their BSD, MIT, LGPL and GPL terms want the notice to travel with it.
linked_in=(/usr/lib/x86_64-linux-gnu/libyaml-cpp.a /usr/lib/x86_64-linux-gnu/libarchive.a
           /usr/include/nlohmann/json.hpp /usr/include/CLI/CLI.hpp)
mkdir -p "$stage/licenses"
for file in "${linked_in[@]}" "${sources[@]}"; do
  owner=$(dpkg -S "$(realpath "$file")" 2>/dev/null || dpkg -S "$(realpath "$file" | sed 's|^/usr||')" 2>/dev/null) ||
    die "dpkg -S $file: no package owns it"
  pkg=${owner%%:*}
  [ -f "/usr/share/doc/$pkg/copyright" ] || die "/usr/share/doc/$pkg/copyright is missing"
  install -m 0644 "/usr/share/doc/$pkg/copyright" "$stage/licenses/$pkg"
done
# Which builds exactly, for the (L)GPL libraries' corresponding source: Debian keeps every version
# of every source package (https://snapshot.debian.org, `apt-get source PACKAGE=VERSION`).
packages=$(ls "$stage/licenses")
for pkg in $packages; do
  dpkg-query -W -f='${Package} ${Version} (source: ${source:Package} ${source:Version})\n' "$pkg"
done >"$stage/licenses/PACKAGES"

# The portability floor: the newest symbol version anything in the archive needs (from glibc,
# libstdc++, zlib: the system's) must exist on the oldest system we claim.
newest() {   # newest PREFIX FILES...: the highest version node PREFIX_x.y.z needed by FILES
  { objdump -T "${@:2}" 2>/dev/null | grep -o "\b$1_[0-9][0-9.]*" || true; } | sed "s/^$1_//" | sort -Vu | tail -n1
}
check_floor() {   # check_floor LABEL NEWEST FLOOR
  [ -z "$2" ] && return 0
  if [ "$(printf '%s\n%s\n' "$2" "$3" | sort -V | tail -n1)" != "$3" ]; then
    die "the archive needs $1 $2, newer than the oldest supported system's $3"
  fi
}
files=("$stage/kubectl-ir")
[ ${#shipped[@]} -gt 0 ] && files+=("$stage"/lib/*)
need_glibc=$(newest GLIBC "${files[@]}")
need_glibcxx=$(newest GLIBCXX "${files[@]}")
need_cxxabi=$(newest CXXABI "${files[@]}")
need_zlib=$(newest ZLIB "${files[@]}")
check_floor glibc "$need_glibc" $floor_glibc
check_floor GLIBCXX "$need_glibcxx" $floor_glibcxx
check_floor CXXABI "$need_cxxabi" $floor_cxxabi
check_floor zlib "$need_zlib" $floor_zlib

# The archive: files at its top level (krew's `files` map them), sorted, owned by root, dated by
# the commit, gzip without a timestamp: the same tree packs to the same bytes.
epoch=$(git log -1 --format=%ct 2>/dev/null || date +%s)
archive=dist/$name.tar.gz
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" --format=gnu \
    -C "$stage" -cf - kubectl-ir kubectl_complete-ir LICENSE licenses $( [ ${#shipped[@]} -gt 0 ] && echo lib ) |
  gzip -9n >"$archive.tmp"
mv "$archive.tmp" "$archive"
sha=$(sha256sum "$archive" | cut -d' ' -f1)
echo "$sha  $(basename "$archive")" >"$archive.sha256"

# The manifest: the template's version (spec.version, and the uri) and placeholder sha256 replaced.
template_version=$(sed -n 's/^  version: v\([0-9][^ ]*\)$/\1/p' krew-manifest.yaml)
zeros=$(printf '0%.0s' $(seq 64))
[ -n "$template_version" ] || die "krew-manifest.yaml: no '  version: v<semver>' line"
[ "$(grep -c "sha256: \"$zeros\"" krew-manifest.yaml)" = 1 ] ||
  die "krew-manifest.yaml: expected one 'sha256: "<64 zeros>"' placeholder"
sed -e "s/${template_version//./\\.}/$version/g" -e "s/sha256: \"$zeros\"/sha256: \"$sha\"/" \
    krew-manifest.yaml >dist/krew-manifest.yaml

kib() { echo "$(( ($(stat -c %s "$1") + 1023) / 1024 )) KiB"; }
echo "package: $archive ($(kib "$archive"), sha256 $sha)"
echo "package: kubectl-ir $(kib "$stage/kubectl-ir") stripped ($(kib "$binary") unstripped)"
echo "package: static: yaml-cpp, libarchive (cmake/IrPortable.cmake)"
echo "package: shipped in lib/ (${#shipped[@]}, $(du -sk "$stage/lib" 2>/dev/null | cut -f1) KiB): ${shipped[*]:-none}"
echo "package: licenses/: the Debian copyright files of $(wc -w <<<"$packages") packages, and PACKAGES (their versions)"
echo "package: from the system: $(ldd "$binary" | awk '$1 ~ /\.so/ {print $1}' | while read -r s; do
  case " $(echo $base) " in *" $s "*) printf '%s ' "$s" ;; esac; done)"
echo "package: needs glibc >= ${need_glibc:-?}, GLIBCXX >= ${need_glibcxx:-none}, zlib >= ${need_zlib:-any}"
echo "package: dist/krew-manifest.yaml (v$version)"
