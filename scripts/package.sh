#!/usr/bin/env bash
# Builds the release artifacts, for linux/amd64 (native) and linux/arm64 (cross):
#   dist/kubectl-ir_<v>_linux_<arch>.tar.gz             kubectl-ir, LICENSE, lib/ (shipped .so),
#                                                        licenses/ (their Debian copyright files)
#   dist/kubectl-ir_<v>_linux_<arch>.tar.gz.sha256      `sha256sum -c` format
#   dist/kubectl-ir_<v>_linux_<arch>.tar.gz.spdx.json   its SBOM (SPDX 2.3, scripts/release/sbom.py)
#   dist/krew-manifest.yaml                              krew-manifest.yaml with version and sha256s
#   dist/kubectl-ir_<v>_image_oci/                       the OCI image: one index, both platforms
#   dist/kubectl-ir_<v>_image_linux_<arch>.tar           one platform for `docker load`/`podman load`
#   dist/kubectl-ir_<v>_image_linux_<arch>.tar.spdx.json its SBOM
#
#   scripts/package.sh [--arch amd64,arm64] [--no-build] [--no-image]
#     --arch LIST   the platforms (default both); the krew manifest and the image are written only
#                   when both are built (otherwise dist/ is left without them and without the other
#                   platform's archive, so that what it holds belongs together)
#     --no-build    package what build/release (and build/release-arm64) hold
#     --no-image    no OCI image
#
# amd64 is built with the `release` preset on this machine; arm64 with `release-arm64`: Debian's
# aarch64 cross compiler against a sysroot of Debian's arm64 -dev packages (scripts/debian-root.sh),
# and its binary is run under qemu-user where this script needs an answer from it.
#
# Which libraries are static and which are shipped, and why: cmake/IrPortable.cmake. Here every
# shared library the binary loads (the loader's list: the whole closure) that is not in $base below
# is copied into lib/ and given RUNPATH $ORIGIN, so that libcurl finds libnghttp2 beside itself. The
# result must not need newer symbol versions than the oldest system we claim (Debian 12, Ubuntu
# 22.04 LTS: $floor_* below): the script fails if it does. scripts/check-portable.sh then runs it on
# a bare Debian root; tests/packaging checks the manifest against krew's rules, the archives, the
# image and the SBOMs.
#
# Reproducible: the same commit gives the same bytes (scripts/check-reproducible.sh proves it with
# a second build elsewhere): the commit's time is SOURCE_DATE_EPOCH and every mtime, entries are
# sorted with numeric root owners, gzip stores no name or time, the compiler maps the source and
# build directories away (cmake/IrPortable.cmake). Nothing here relies on ccache.
#
# The repository's krew-manifest.yaml is a valid manifest for the version in CMakeLists.txt whose
# sha256s are 64 zeros (a placeholder krew's pattern accepts); rendering replaces its version
# wherever it appears (spec.version, uris) and each platform's placeholder with its archive's sha256.
set -euo pipefail
cd "$(dirname "$0")/.."

arches=amd64,arm64 build=1 image=1
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) arches=${2:?--arch needs a list}; shift ;;
    --arch=*) arches=${1#--arch=} ;;
    --no-build) build=0 ;;
    --no-image) image=0 ;;
    *) echo "package: error: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift
done
die() { echo "package: error: $*" >&2; exit 1; }
IFS=, read -r -a arch_list <<<"$arches"
for arch in "${arch_list[@]}"; do
  case "$arch" in amd64|arm64) ;; *) die "unknown architecture '$arch' (amd64, arm64)" ;; esac
done
[ "$(dpkg --print-architecture)" = amd64 ] || die "the build machine must be amd64 (arm64 is cross-built)"

# Present on every Debian and Ubuntu root and symbol-versioned (see cmake/IrPortable.cmake): glibc,
# libgcc_s, libstdc++, zlib. Everything else is shipped.
base="linux-vdso.so.1 ld-linux-x86-64.so.2 ld-linux-aarch64.so.1 libc.so.6 libm.so.6 libpthread.so.0
      libdl.so.2 librt.so.1 libresolv.so.2 libutil.so.1 libanl.so.1 libgcc_s.so.1 libstdc++.so.6 libz.so.1"
# Oldest systems we claim: Ubuntu 22.04 LTS (glibc 2.35, libstdc++ of GCC 12, zlib 1.2.11) and
# Debian 12 (glibc 2.36, GCC 12, zlib 1.2.13), on both architectures.
floor_glibc=2.35 floor_glibcxx=3.4.30 floor_cxxabi=1.3.13 floor_zlib=1.2.9

[ $build -eq 1 ] && scripts/setup-deps.sh
for tool in patchelf readelf sha256sum gzip tar dpkg-query /usr/bin/python3; do
  command -v $tool >/dev/null || die "$tool not found (scripts/setup-deps.sh installs it)"
done

# The commit's time dates everything (the binary's build date too: cmake/IrVersion.cmake).
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null) || die "not a git checkout: set SOURCE_DATE_EPOCH"
fi
export SOURCE_DATE_EPOCH
epoch=$SOURCE_DATE_EPOCH
commit=""   # the binaries' own (version -o json), which must agree
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
  echo "package: warning: the work tree has uncommitted changes: these artifacts are not the commit's" >&2
fi
project_version=$(sed -n 's/^project(kubectl-ir VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
mkdir -p dist build/package

# Per platform: preset, build directory, triplet, tools, how to run its programs, where its
# Debian packages are (/ for the host's dpkg, else a sysroot with an index instead of a dpkg database).
setup_arch() {
  case "$1" in
    amd64)
      preset=release build_dir=build/release triplet=x86_64-linux-gnu sysroot=/
      objdump=objdump strip=strip run=()
      ;;
    arm64)
      preset=release-arm64 build_dir=build/release-arm64 triplet=aarch64-linux-gnu
      for tool in aarch64-linux-gnu-g++ aarch64-linux-gnu-objdump aarch64-linux-gnu-strip qemu-aarch64-static; do
        command -v $tool >/dev/null || die "$tool not found (scripts/setup-deps.sh installs it)"
      done
      sysroot=$(scripts/debian-root.sh sysroot arm64)
      objdump=aarch64-linux-gnu-objdump strip=aarch64-linux-gnu-strip
      run=(qemu-aarch64-static -L "$sysroot")
      ;;
  esac
}

# The package owning a file of the platform's root, and that package's fields.
owner() {   # owner GUEST_PATH -> package name
  local path=$1 real
  if [ "$sysroot" = / ]; then
    real=$(realpath "$path")
    { dpkg -S "$real" 2>/dev/null || dpkg -S "${real#/usr}" 2>/dev/null || dpkg -S "$path" 2>/dev/null; } |
      head -n1 | cut -d: -f1
  else
    real=$(realpath -m "$sysroot$path"); real=${real#"$sysroot"}
    awk -F'\t' -v a="$real" -v b="${real#/usr}" -v c="$path" '$1 == a || $1 == b || $1 == c {print $2; exit}' \
      "$sysroot/.kubectl-ir/files"
  fi
}
package_fields() {   # package_fields PACKAGE -> "package version arch source source-version"
  if [ "$sysroot" = / ]; then
    dpkg-query -W -f='${Package} ${Version} ${Architecture} ${source:Package} ${source:Version}\n' "$1" | head -n1
  else
    awk -v p="$1" '$1 == p {print; exit}' "$sysroot/.kubectl-ir/packages"
  fi
}

newest() {   # newest PREFIX FILES...: the highest version node PREFIX_x.y.z needed by FILES
  { $objdump -T "${@:2}" 2>/dev/null | grep -o "\b$1_[0-9][0-9.]*" || true; } | sed "s/^$1_//" | sort -Vu | tail -n1
}
check_floor() {   # check_floor LABEL NEWEST FLOOR
  [ -z "$2" ] && return 0
  if [ "$(printf '%s\n%s\n' "$2" "$3" | sort -V | tail -n1)" != "$3" ]; then
    die "the $arch archive needs $1 $2, newer than the oldest supported system's $3"
  fi
}
kib() { echo "$(( ($(stat -c %s "$1") + 1023) / 1024 )) KiB"; }

package_arch() {
  local arch=$1
  setup_arch "$arch"
  if [ $build -eq 1 ]; then
    local werror=OFF
    [ "${CI:-}" = "true" ] && werror=ON
    cmake --preset "$preset" -DIR_WERROR=$werror >/dev/null
    cmake --build --preset "$preset" -j "$(nproc)" --target kubectl-ir
  fi
  local binary=$build_dir/cmd/kubectl-ir
  [ -x "$binary" ] || die "$binary not built (run without --no-build)"

  # The version: what the binary says (run under qemu for arm64), which must be CMakeLists.txt's.
  local json version
  json=$("${run[@]}" "$binary" version --client -o json) || die "$binary version failed"
  version=$(sed -n 's/.*"version": *"v\([^"]*\)".*/\1/p' <<<"$json")
  [ -n "$version" ] || die "could not read the version from '$binary version --client -o json'"
  [ "$version" = "$project_version" ] ||
    die "the $arch binary says v$version, CMakeLists.txt says $project_version: rebuild"
  grep -q "\"platform\": \"linux/$arch\"" <<<"$json" || die "$binary does not say it is for linux/$arch"
  compiler=$(sed -n 's/.*"compiler": *"\([^"]*\)".*/\1/p' <<<"$json")
  local binary_commit
  binary_commit=$(sed -n 's/.*"gitCommit": *"\([^"]*\)".*/\1/p' <<<"$json")
  [ -z "$commit" ] || [ "$commit" = "$binary_commit" ] ||
    die "the $arch binary is of commit $binary_commit, the other of $commit: rebuild both"
  commit=$binary_commit

  # The binary must be the portable one: RUNPATH $ORIGIN/lib, no yaml-cpp/libarchive .so.
  local dynamic
  dynamic=$(readelf -d "$binary")
  grep -q 'RUNPATH.*\[\$ORIGIN/lib\]$' <<<"$dynamic" ||
    die "$binary has no RUNPATH \$ORIGIN/lib: configure with the $preset preset (IR_PORTABLE=ON)"
  if grep -E 'NEEDED.*(libyaml-cpp|libarchive)' <<<"$dynamic"; then
    die "$binary links the above dynamically: IR_PORTABLE should have made them static"
  fi

  local name=kubectl-ir_${version}_linux_${arch}
  stage=build/package/$name
  contents=$stage.contents.tsv
  rm -rf "$stage"
  mkdir -p "$stage/lib"
  install -m 0755 "$binary" "$stage/kubectl-ir"
  $strip --strip-unneeded "$stage/kubectl-ir"
  install -m 0644 LICENSE "$stage/LICENSE"
  install -m 0755 cmd/kubectl_complete-ir "$stage/kubectl_complete-ir"  # kubectl ir <TAB> (kubectl 1.26+)

  # The shared closure as the loader resolves it (ldd; for arm64 the sysroot's loader under qemu,
  # which prints the sysroot's libraries by their paths inside it), minus the base system.
  local closure
  if [ "$arch" = amd64 ]; then
    closure=$(ldd "$binary")
  else
    closure=$("${run[@]}" "$sysroot/lib/ld-linux-aarch64.so.1" --list "$binary")
  fi
  if grep 'not found' <<<"$closure"; then die "the $arch loader does not find the above for $binary"; fi
  local interp
  interp=$(readelf -l "$binary" | sed -n 's/.*Requesting program interpreter: \(.*\)\]$/\1/p')
  [ -n "$interp" ] || die "$binary has no program interpreter"
  local shipped=() system=("$interp") soname path
  declare -A from_package=()   # package -> space-separated paths: in the archive, or absolute system ones
  while read -r soname _ path _; do
    case " $(echo $base) " in *" $soname "*) system+=("$path"); continue ;; esac
    [ -f "$(realpath -m "${sysroot%/}$path")" ] || die "$soname => $path: not found on the build machine"
    install -m 0644 "$(realpath "${sysroot%/}$path")" "$stage/lib/$soname"
    patchelf --set-rpath '$ORIGIN' "$stage/lib/$soname"
    shipped+=("$soname")
    pkg=$(owner "$path")
    [ -n "$pkg" ] || die "no package owns $path"
    from_package[$pkg]="${from_package[$pkg]:-} lib/$soname"
  done < <(awk '$2 == "=>" && $3 ~ /^\// && $1 !~ /\// {print $1, $2, $3, $4}' <<<"$closure")
  [ ${#shipped[@]} -gt 0 ] || rmdir "$stage/lib"

  # What is linked in: the static libraries of IrPortable.cmake and the header-only ones.
  declare -A how=()
  local file pkg
  for file in /usr/lib/$triplet/libyaml-cpp.a /usr/lib/$triplet/libarchive.a /usr/lib/$triplet/libexpat.a \
              /usr/include/nlohmann/json.hpp /usr/include/CLI/CLI.hpp; do
    pkg=$(owner "$file")
    [ -n "$pkg" ] || die "no package owns $file"
    case "$file" in *.a) how[$pkg]=static ;; *) how[$pkg]=headers ;; esac
    from_package[$pkg]="${from_package[$pkg]:-}"
  done
  for pkg in "${!from_package[@]}"; do [ -n "${how[$pkg]:-}" ] || how[$pkg]=shipped; done
  for path in "${system[@]}"; do
    pkg=$(owner "$path")
    [ -n "$pkg" ] || die "no package owns $path"
    how[$pkg]=system
    from_package[$pkg]="${from_package[$pkg]:-} $path"
  done

  # Third-party notices in licenses/: Debian's copyright file of every package whose code the
  # archive carries (shipped in lib/ or linked into the binary): their BSD, MIT, LGPL and GPL terms
  # want the notice to travel with it. Which builds exactly, for the (L)GPL libraries' corresponding
  # source: licenses/PACKAGES (Debian keeps every version of every source package:
  # https://snapshot.debian.org, `apt-get source PACKAGE=VERSION`) and the SBOM.
  mkdir -p "$stage/licenses"
  : >"$contents"
  local copyright fields
  for pkg in $(printf '%s\n' "${!from_package[@]}" | LC_ALL=C sort); do
    copyright=${sysroot%/}/usr/share/doc/$pkg/copyright
    [ -f "$copyright" ] || die "$copyright is missing"
    fields=$(package_fields "$pkg")
    [ -n "$fields" ] || die "no version known for package $pkg"
    local pkg_files=${from_package[$pkg]}
    if [ "${how[$pkg]}" != system ]; then
      install -m 0644 "$copyright" "$stage/licenses/$pkg"
      echo "$fields" | awk '{printf "%s %s (source: %s %s)\n", $1, $2, $4, $5}' >>"$stage/licenses/PACKAGES"
      pkg_files="$pkg_files licenses/$pkg"
    fi
    # package, version, arch, source, source version, how, copyright, files (sbom.py reads it)
    printf '%s\t%s\t%s\t%s\n' "$(tr ' ' '\t' <<<"$fields")" "${how[$pkg]}" "$copyright" \
      "$(tr ' ' '\n' <<<"$pkg_files" | sed '/^$/d' | LC_ALL=C sort -u | tr '\n' ' ' | sed 's/ $//')" >>"$contents"
  done

  # The portability floor: the newest symbol version anything in the archive needs (from glibc,
  # libstdc++, zlib: the system's) must exist on the oldest system we claim.
  local files=("$stage/kubectl-ir")
  [ ${#shipped[@]} -gt 0 ] && files+=("$stage"/lib/*)
  need_glibc=$(newest GLIBC "${files[@]}")
  need_glibcxx=$(newest GLIBCXX "${files[@]}")
  need_cxxabi=$(newest CXXABI "${files[@]}")
  need_zlib=$(newest ZLIB "${files[@]}")
  [ -n "$need_glibc" ] || die "$objdump -T found no GLIBC symbol versions in the $arch archive"
  check_floor glibc "$need_glibc" $floor_glibc
  check_floor GLIBCXX "$need_glibcxx" $floor_glibcxx
  check_floor CXXABI "$need_cxxabi" $floor_cxxabi
  check_floor zlib "$need_zlib" $floor_zlib

  # The archive: files at its top level (krew's `files` map them), sorted, owned by root, dated by
  # the commit, gzip without a timestamp: the same tree packs to the same bytes.
  local archive=dist/$name.tar.gz
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" --format=gnu \
      -C "$stage" -cf - kubectl-ir kubectl_complete-ir LICENSE licenses $( [ ${#shipped[@]} -gt 0 ] && echo lib ) |
    gzip -9n >"$archive.tmp"
  mv "$archive.tmp" "$archive"
  local sha
  sha=$(sha256sum "$archive" | cut -d' ' -f1)
  echo "$sha  $(basename "$archive")" >"$archive.sha256"
  sha256s[$arch]=$sha
  /usr/bin/python3 scripts/release/sbom.py --artifact "$archive" --tree "$stage" --contents "$contents" \
    --platform "linux/$arch" --version "$version" --commit "$commit" --epoch "$epoch" --compiler "$compiler" \
    --download "https://github.com/kubectl-ir/kubectl-ir/releases/download/v$version/$(basename "$archive")" \
    --out "$archive.spdx.json"
  stages[$arch]=$stage
  roots[$arch]=$sysroot

  echo "package: $archive ($(kib "$archive"), sha256 $sha)"
  echo "package: $arch kubectl-ir $(kib "$stage/kubectl-ir") stripped ($(kib "$binary") unstripped), $compiler"
  echo "package: $arch shipped in lib/ (${#shipped[@]}, $(du -sk "$stage/lib" 2>/dev/null | cut -f1) KiB): ${shipped[*]:-none}"
  echo "package: $arch from the system: $(for p in "${system[@]}"; do printf '%s ' "$(basename "$p")"; done)"
  echo "package: $arch needs glibc >= ${need_glibc:-?}, GLIBCXX >= ${need_glibcxx:-none}, zlib >= ${need_zlib:-any}"
  echo "package: $arch.spdx.json: $(wc -l <"$contents") Debian packages; licenses/: $(ls "$stage/licenses" | grep -vc PACKAGES) copyright files"
}

declare -A sha256s=() stages=() roots=()
for arch in "${arch_list[@]}"; do
  package_arch "$arch"
done
version=$project_version

if [ -z "${sha256s[amd64]:-}" ] || [ -z "${sha256s[arm64]:-}" ]; then
  # dist/ keeps one consistent set: no manifest, image or archive of an earlier run beside these.
  for arch in amd64 arm64; do
    [ -n "${sha256s[$arch]:-}" ] || rm -f "dist/kubectl-ir_${version}_linux_${arch}.tar.gz"*
  done
  rm -rf dist/krew-manifest.yaml "dist/kubectl-ir_${version}_image_"*
  echo "package: only $arches built: no krew manifest and no image (they need both platforms)"
  exit 0
fi

# The manifest: the template's version (spec.version, and the uris) and each platform's placeholder
# sha256 (the line after its uri) replaced.
template_version=$(sed -n 's/^  version: v\([0-9][^ ]*\)$/\1/p' krew-manifest.yaml)
zeros=$(printf '0%.0s' $(seq 64))
[ -n "$template_version" ] || die "krew-manifest.yaml: no '  version: v<semver>' line"
[ "$(grep -c "sha256: \"$zeros\"" krew-manifest.yaml)" = 2 ] ||
  die "krew-manifest.yaml: expected two 'sha256: \"<64 zeros>\"' placeholders (amd64, arm64)"
sed -e "s/${template_version//./\\.}/$version/g" krew-manifest.yaml |
  awk -v amd64="${sha256s[amd64]}" -v arm64="${sha256s[arm64]}" -v zeros="$zeros" '
    /uri: .*_linux_amd64\.tar\.gz$/ { sha = amd64 }
    /uri: .*_linux_arm64\.tar\.gz$/ { sha = arm64 }
    index($0, "sha256: \"" zeros "\"") { if (sha == "") { exit 1 } sub(zeros, sha); sha = "" }
    { print }' >dist/krew-manifest.yaml.tmp || die "krew-manifest.yaml: a sha256 placeholder before its platform's uri"
mv dist/krew-manifest.yaml.tmp dist/krew-manifest.yaml
echo "package: dist/krew-manifest.yaml (v$version, linux/amd64 and linux/arm64)"

[ $image -eq 1 ] || exit 0
ca_bundle=/etc/ssl/certs/ca-certificates.crt
[ -f "$ca_bundle" ] || die "$ca_bundle is missing (ca-certificates)"
ca_fields=$(dpkg-query -W -f='${Package} ${Version} ${Architecture} ${source:Package} ${source:Version}' ca-certificates) ||
  die "ca-certificates is not installed"
/usr/bin/python3 scripts/release/oci_image.py --version "$version" --commit "$commit" --epoch "$epoch" \
  --compiler "$compiler" --dist dist --work build/package/image \
  --platform "amd64=${stages[amd64]}" --root "amd64=${roots[amd64]}" \
  --platform "arm64=${stages[arm64]}" --root "arm64=${roots[arm64]}" \
  --playbooks playbooks --ca-bundle "$ca_bundle" \
  --ca-package "$ca_fields /usr/share/doc/ca-certificates/copyright"
