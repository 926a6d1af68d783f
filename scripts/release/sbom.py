#!/usr/bin/python3
"""An SPDX 2.3 JSON SBOM for a release artifact (an archive or an image): every file it carries with
its SHA-1 and SHA-256, and every Debian package those files come from, with its version, source
package, licence and purl, and how kubectl-ir uses it.

  sbom.py --artifact dist/kubectl-ir_0.1.0_linux_amd64.tar.gz --tree build/package/kubectl-ir_0.1.0_linux_amd64 \
          --contents build/package/kubectl-ir_0.1.0_linux_amd64.contents.tsv --platform linux/amd64 \
          --version 0.1.0 --commit abc123 --epoch 1700000000 --compiler "gcc 12.2.0" --out FILE

The contents file (scripts/package.sh writes it; oci_image.py extends it for the image) has one
tab-separated line per package: package, version, architecture, source, source version, how,
copyright file (on the build machine), then the paths in the artifact that come from it
(space-separated, may be empty). `how` is
  shipped   a shared library carried beside the binary (lib/)
  static    a static library linked into the binary
  headers   a header-only library compiled into the binary
  system    a library the binary loads from the system: carried by the image, a prerequisite of the
            archive (then listed with the build machine's version)
  data      files the artifact carries (the CA bundle)

Licences: Debian's machine-readable copyright files (DEP-5) name them per group of files; the
package's declared licence is the conjunction of those of its non-packaging files, in SPDX ids
where Debian's short name has one, else a LicenseRef- whose text is the copyright file's own. A
few packages have free-form copyright files: their upstream licence is in `FREE_FORM` below;
anything else is NOASSERTION (the copyright file travels in licenses/ all the same).

Deterministic: the same inputs give the same bytes (sorted keys and lists, the commit's time as
the creation time, a namespace derived from the artifact's SHA-256).
"""

import argparse
import hashlib
import json
import os
import re
import sys
import time
import urllib.parse

NAMESPACE_BASE = "https://github.com/kubectl-ir/kubectl-ir/releases/spdx"
HOMEPAGE = "https://github.com/kubectl-ir/kubectl-ir"
DISTRO = "debian-12"

# Debian short licence names (DEP-5 section "License short name") -> SPDX identifiers.
SPDX_IDS = {
    "apache-2.0": "Apache-2.0", "artistic": "Artistic-1.0-Perl", "artistic-2.0": "Artistic-2.0",
    "bsd-2-clause": "BSD-2-Clause", "bsd-3-clause": "BSD-3-Clause", "bsd-4-clause": "BSD-4-Clause",
    "bsl-1.0": "BSL-1.0", "cc0-1.0": "CC0-1.0", "curl": "curl", "expat": "MIT", "mit": "MIT",
    "gfdl-1.2": "GFDL-1.2-only", "gfdl-1.2+": "GFDL-1.2-or-later", "gfdl-1.3": "GFDL-1.3-only",
    "gfdl-1.3+": "GFDL-1.3-or-later",
    "gpl-1": "GPL-1.0-only", "gpl-1+": "GPL-1.0-or-later", "gpl-2": "GPL-2.0-only",
    "gpl-2+": "GPL-2.0-or-later", "gpl-3": "GPL-3.0-only", "gpl-3+": "GPL-3.0-or-later",
    "lgpl-2": "LGPL-2.0-only", "lgpl-2+": "LGPL-2.0-or-later", "lgpl-2.0": "LGPL-2.0-only",
    "lgpl-2.0+": "LGPL-2.0-or-later", "lgpl-2.1": "LGPL-2.1-only", "lgpl-2.1+": "LGPL-2.1-or-later",
    "lgpl-3": "LGPL-3.0-only", "lgpl-3+": "LGPL-3.0-or-later", "isc": "ISC", "mpl-1.1": "MPL-1.1",
    "mpl-2.0": "MPL-2.0", "openssl": "OpenSSL", "zlib": "Zlib",
    "x11": "X11", "unicode-dfs-2016": "Unicode-DFS-2016", "unlicense": "Unlicense",
    "python-2.0": "Python-2.0", "psf-2": "PSF-2.0", "ftl": "FTL", "libpng": "Libpng",
    "bsd-3-clause-clear": "BSD-3-Clause-Clear", "0bsd": "0BSD", "cc-by-4.0": "CC-BY-4.0",
    "cc-by-sa-3.0": "CC-BY-SA-3.0", "cc-by-sa-4.0": "CC-BY-SA-4.0",
}
# Exceptions Debian writes as "<licence> with <name> exception".
SPDX_EXCEPTIONS = {"gcc-runtime-library": "GCC-exception-3.1", "openssl": "openvpn-openssl-exception",
                   "autoconf": "Autoconf-exception-3.0", "bison": "Bison-exception-2.2",
                   "font": "Font-exception-2.0", "classpath": "Classpath-exception-2.0",
                   "llvm": "LLVM-exception", "libtool": "Libtool-exception"}
# Source packages whose copyright file is free-form: the upstream licence of the binary packages
# kubectl-ir carries, as those files state it.
FREE_FORM = {
    "glibc": "LGPL-2.1-or-later",                             # "The GNU C Library is ... LGPL 2.1 or later"
    "gcc-12": "GPL-3.0-or-later WITH GCC-exception-3.1",      # the runtime libraries' licence
    "gnutls28": "LGPL-2.1-or-later",                          # libgnutls30: the library is LGPL-2.1+
    "libtasn1-6": "LGPL-2.1-or-later",                        # the library is LGPL-2.1+
    "rtmpdump": "LGPL-2.1-or-later",                          # librtmp is LGPL-2.1+ (the tools are GPL)
}
PURPOSE = {"shipped": "LIBRARY", "static": "LIBRARY", "headers": "LIBRARY", "system": "LIBRARY",
           "data": "FILE"}


def spdx_ref(text):
    """An SPDX id fragment: letters, digits, '.' and '-' only."""
    return re.sub(r"[^A-Za-z0-9.-]+", "-", text).strip("-")


class Licences:
    """Debian copyright files -> SPDX licence expressions, collecting the LicenseRefs it invents."""

    def __init__(self):
        self.extracted = {}   # LicenseRef-... -> text
        self.refs = {}        # lower-case Debian name -> its LicenseRef (ids compare without case)

    def _one(self, name, texts):
        name = name.strip()
        m = re.fullmatch(r"(.+?)\s+with\s+(.+?)\s+exception", name, flags=re.I)
        if m:
            base, exc = self._one(m.group(1), texts), SPDX_EXCEPTIONS.get(m.group(2).lower())
            if exc and not base.startswith("LicenseRef-"):
                return f"{base} WITH {exc}"
            return self._ref(name, texts)
        spdx = SPDX_IDS.get(name.lower())
        return spdx if spdx else self._ref(name, texts)

    def _ref(self, name, texts):
        ref = self.refs.setdefault(name.lower(), "LicenseRef-Debian-" + spdx_ref(name))
        if ref not in self.extracted:
            text = texts.get(name.lower()) or f"The licence Debian calls '{name}': see the package's copyright file."
            self.extracted[ref] = text
        return ref

    def expression(self, field, texts):
        """A DEP-5 License field ('GPL-2+ or Artistic', 'A and B', 'A, and B') -> SPDX."""
        parts = re.split(r"\s+(or|and)\s+|\s*,\s*(?:and\s+)?", field.strip(), flags=re.I)
        out, pending = [], "AND"
        for p in parts:
            if p is None or p == "":
                continue
            if p.lower() in ("or", "and"):
                pending = p.upper()
                continue
            if out:
                out.append(pending)
            out.append(self._one(p, texts))
            pending = "AND"
        if len(out) > 1:
            return "(" + " ".join(out) + ")"
        return out[0] if out else "NOASSERTION"

    def declared(self, copyright_path, source):
        """The package's declared licence, from its copyright file (or FREE_FORM)."""
        try:
            with open(copyright_path, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError:
            return "NOASSERTION"
        paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
        if not paragraphs or not re.match(r"Format:\s*https?://(www\.)?debian\.org/doc/packaging-manuals/copyright-format",
                                          paragraphs[0]):
            return FREE_FORM.get(source, "NOASSERTION")
        fields = [self._fields(p) for p in paragraphs[1:]]
        texts = {}   # standalone License paragraphs: short name -> full text
        for f in fields:
            if "license" in f and "files" not in f:
                name, _, body = f["license"].partition("\n")
                texts[name.strip().lower()] = body.strip() or name.strip()
        for f in fields:   # a Files paragraph may carry the text itself
            if "license" in f and "files" in f:
                name, _, body = f["license"].partition("\n")
                if body.strip():
                    texts.setdefault(name.strip().lower(), body.strip())
        expressions = []
        for f in fields:
            if "files" not in f or "license" not in f:
                continue
            if all(g.startswith("debian/") for g in f["files"].split()):
                continue   # the packaging, not what is carried
            e = self.expression(f["license"].partition("\n")[0], texts)
            if e not in expressions:
                expressions.append(e)
        if not expressions:
            return "NOASSERTION"
        return expressions[0] if len(expressions) == 1 else " AND ".join(expressions)

    @staticmethod
    def _fields(paragraph):
        fields, key = {}, None
        for line in paragraph.split("\n"):
            if line[:1] in (" ", "\t") and key:
                body = line.strip()
                fields[key] += "\n" + ("" if body == "." else body)
            elif ":" in line:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                fields[key] = value.strip()
        return fields


def digests(path):
    sha1, sha256 = hashlib.sha1(), hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            sha1.update(chunk)
            sha256.update(chunk)
    return sha1.hexdigest(), sha256.hexdigest()


def read_contents(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip() or line.startswith("#"):
                continue
            cols = line.rstrip("\n").split("\t")
            if len(cols) != 8:
                raise SystemExit(f"sbom: {path}: expected 8 tab-separated columns: {line!r}")
            pkg, version, arch, source, source_version, how, copyright_path, files = cols
            if how not in PURPOSE:
                raise SystemExit(f"sbom: {path}: unknown use {how!r} of {pkg}")
            rows.append({"package": pkg, "version": version, "arch": arch, "source": source or pkg,
                         "source_version": source_version or version, "how": how,
                         "copyright": copyright_path, "files": files.split()})
    return rows


def tree_files(tree):
    """Every regular file under tree, as sorted paths relative to it."""
    out = []
    for dirpath, dirnames, filenames in os.walk(tree):
        dirnames.sort()
        for name in filenames:
            full = os.path.join(dirpath, name)
            if os.path.isfile(full) and not os.path.islink(full):
                out.append(os.path.relpath(full, tree))
    return sorted(out)


def purl(row):
    version = urllib.parse.quote(row["version"], safe="")
    qualifiers = f"arch={row['arch']}&distro={DISTRO}"
    if row["source"] != row["package"]:
        qualifiers += "&upstream=" + urllib.parse.quote(f"{row['source']}@{row['source_version']}", safe="")
    return f"pkg:deb/debian/{row['package']}@{version}?{qualifiers}"


COMMENTS = {
    "shipped": "shipped beside the binary: {files}",
    "static": "statically linked into kubectl-ir",
    "headers": "header-only: compiled into kubectl-ir",
    "system": "loaded from the system; carried: {files}",
    "data": "carried: {files}",
}


def build(args):
    rows = read_contents(args.contents)
    licences = Licences()
    with open(args.artifact, "rb") as f:
        artifact_sha256 = hashlib.sha256(f.read()).hexdigest()
    artifact_name = os.path.basename(args.artifact)
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(args.epoch))

    files, file_ids, sha1s = [], {}, []
    for rel in tree_files(args.tree):
        sha1, sha256 = digests(os.path.join(args.tree, rel))
        sha1s.append(sha1)
        ident = "SPDXRef-File-" + spdx_ref(rel)
        file_ids[rel] = ident
        files.append({
            "SPDXID": ident,
            "fileName": "./" + rel,
            "checksums": [{"algorithm": "SHA1", "checksumValue": sha1},
                          {"algorithm": "SHA256", "checksumValue": sha256}],
            "licenseConcluded": "NOASSERTION",
            "copyrightText": "NOASSERTION",
        })

    artifact_id = "SPDXRef-Artifact"
    app_id = "SPDXRef-Package-kubectl-ir"
    packages = [{
        "SPDXID": artifact_id,
        "name": artifact_name,
        "versionInfo": args.version,
        "packageFileName": artifact_name,
        "primaryPackagePurpose": "CONTAINER" if args.kind == "image" else "ARCHIVE",
        "downloadLocation": args.download or "NOASSERTION",
        "checksums": [{"algorithm": "SHA256", "checksumValue": artifact_sha256}],
        "filesAnalyzed": True,
        # SPDX 2.3 section 7.9: SHA-1 over the sorted SHA-1s of the package's files.
        "packageVerificationCode": {"packageVerificationCodeValue":
                                    hashlib.sha1("".join(sorted(sha1s)).encode()).hexdigest()},
        "licenseInfoFromFiles": ["NOASSERTION"],
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
        "supplier": "Organization: kubectl-ir",
        "comment": f"{args.kind} for {args.platform}",
        **({"externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                              "referenceLocator": "pkg:oci/kubectl-ir@" + urllib.parse.quote(args.image_digest)
                              + "?arch=" + args.platform.split("/")[-1]
                              + "&repository_url=" + urllib.parse.quote("ghcr.io/kubectl-ir/kubectl-ir", safe="")
                              + "&tag=v" + args.version}]} if args.image_digest else {}),
    }, {
        "SPDXID": app_id,
        "name": "kubectl-ir",
        "versionInfo": args.version,
        "primaryPackagePurpose": "APPLICATION",
        "downloadLocation": f"git+{HOMEPAGE}.git@{args.commit}",
        "homepage": HOMEPAGE,
        "sourceInfo": f"built from commit {args.commit} by {args.compiler} for {args.platform}",
        "filesAnalyzed": False,
        "licenseConcluded": "Apache-2.0",
        "licenseDeclared": "Apache-2.0",
        "copyrightText": "NOASSERTION",
        "supplier": "Organization: kubectl-ir",
        "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                          "referenceLocator": f"pkg:github/kubectl-ir/kubectl-ir@v{args.version}"}],
    }]
    relationships = [{"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES",
                      "relatedSpdxElement": artifact_id},
                     {"spdxElementId": artifact_id, "relationshipType": "CONTAINS",
                      "relatedSpdxElement": app_id}]
    for rel, ident in file_ids.items():
        relationships.append({"spdxElementId": artifact_id, "relationshipType": "CONTAINS",
                              "relatedSpdxElement": ident})
    binary = args.binary
    if binary not in file_ids:
        raise SystemExit(f"sbom: the binary {binary} is not in {args.tree}")
    relationships.append({"spdxElementId": app_id, "relationshipType": "CONTAINS",
                          "relatedSpdxElement": file_ids[binary]})

    seen = set()
    for row in sorted(rows, key=lambda r: (r["package"], r["arch"])):
        key = (row["package"], row["arch"])
        if key in seen:
            raise SystemExit(f"sbom: {row['package']}:{row['arch']} listed twice in {args.contents}")
        seen.add(key)
        ident = "SPDXRef-Package-deb-" + spdx_ref(f"{row['package']}-{row['arch']}")
        # Absolute paths are where the build machine had a system library the artifact does not carry.
        in_tree = [f for f in row["files"] if not f.startswith("/")]
        outside = [f for f in row["files"] if f.startswith("/")]
        missing = [f for f in in_tree if f not in file_ids]
        if missing:
            raise SystemExit(f"sbom: {row['package']}: {missing} not in {args.tree}")
        if outside and row["how"] != "system":
            raise SystemExit(f"sbom: {row['package']}: {outside}: only system libraries are outside the artifact")
        carried = bool(in_tree) or row["how"] != "system"
        comment = COMMENTS[row["how"]].format(files=", ".join(in_tree) or "nothing")
        if not carried:
            comment = (f"not carried: {', '.join(os.path.basename(f) for f in outside)} loaded from the system "
                       "it runs on (glibc, libstdc++, libgcc_s and zlib are on every Debian and Ubuntu root); "
                       "this is the version it was built against")
        licence = licences.declared(row["copyright"], row["source"])
        packages.append({
            "SPDXID": ident,
            "name": row["package"],
            "versionInfo": row["version"],
            "supplier": "Organization: Debian",
            "originator": "NOASSERTION",
            "downloadLocation": f"https://snapshot.debian.org/package/{row['source']}/"
                                f"{urllib.parse.quote(row['source_version'], safe='')}/",
            "sourceInfo": f"Debian source package {row['source']} {row['source_version']}",
            "primaryPackagePurpose": PURPOSE[row["how"]],
            "filesAnalyzed": False,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": licence,
            "copyrightText": "NOASSERTION",
            "comment": comment,
            "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                              "referenceLocator": purl(row)}],
        })
        kind = {"shipped": "DYNAMIC_LINK", "system": "DYNAMIC_LINK", "static": "STATIC_LINK",
                "headers": "STATIC_LINK", "data": "DEPENDS_ON"}[row["how"]]
        if not carried:
            kind = "HAS_PREREQUISITE"
        else:
            relationships.append({"spdxElementId": artifact_id, "relationshipType": "CONTAINS",
                                  "relatedSpdxElement": ident})
        relationships.append({"spdxElementId": app_id, "relationshipType": kind, "relatedSpdxElement": ident})
        for f in in_tree:
            relationships.append({"spdxElementId": ident, "relationshipType": "CONTAINS",
                                  "relatedSpdxElement": file_ids[f]})

    doc = {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": artifact_name,
        "documentNamespace": f"{NAMESPACE_BASE}/{artifact_name}-{artifact_sha256}",
        "creationInfo": {
            "created": created,
            "creators": ["Organization: kubectl-ir", "Tool: kubectl-ir-scripts/release/sbom.py"],
            "comment": f"kubectl-ir v{args.version} ({args.commit}) for {args.platform}, built by {args.compiler}"
                       " from Debian 12 packages",
        },
        "packages": packages,
        "files": files,
        "relationships": relationships,
    }
    if licences.extracted:
        doc["hasExtractedLicensingInfos"] = [{"licenseId": k, "extractedText": v}
                                             for k, v in sorted(licences.extracted.items())]
    return doc


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--artifact", required=True, help="the archive or image tarball described")
    p.add_argument("--tree", required=True, help="the artifact's files, unpacked (archive tree or image rootfs)")
    p.add_argument("--contents", required=True, help="the packages file (see above)")
    p.add_argument("--binary", default="kubectl-ir", help="the binary's path in the tree")
    p.add_argument("--kind", choices=["archive", "image"], default="archive")
    p.add_argument("--platform", required=True)
    p.add_argument("--version", required=True)
    p.add_argument("--commit", required=True)
    p.add_argument("--epoch", type=int, required=True, help="creation time (the commit's)")
    p.add_argument("--compiler", required=True)
    p.add_argument("--download", help="where the artifact is published")
    p.add_argument("--image-digest", help="an image's manifest digest (a purl names it)")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    doc = build(args)
    tmp = args.out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2, sort_keys=True, ensure_ascii=False)
        f.write("\n")
    os.replace(tmp, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
