"""The SBOMs (scripts/release/sbom.py): SPDX 2.3 documents that list every file an artifact carries
and the Debian packages it comes from, with licences in valid SPDX expressions.

  /usr/bin/python3 -m unittest -v test_sbom                     the generator, on made-up inputs
  /usr/bin/python3 test_sbom.py --dist DIR [--require-archive] [--arch A]...
                                         ... and the archives' SBOMs in DIR (those of each A, or all there)

SPDX licence and exception identifiers are checked against Debian's node-spdx-license-ids and
node-spdx-exceptions (the SPDX lists as JSON; scripts/setup-deps.sh installs them).
"""
import hashlib
import json
import os
import re
import shutil
import sys
import tarfile
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "scripts", "release"))
import sbom  # noqa: E402

LICENSE_IDS = "/usr/share/nodejs/spdx-license-ids/index.json"
DEPRECATED_IDS = "/usr/share/nodejs/spdx-license-ids/deprecated.json"
EXCEPTION_IDS = "/usr/share/nodejs/spdx-exceptions/index.json"
RELATIONSHIPS = {"DESCRIBES", "CONTAINS", "STATIC_LINK", "DYNAMIC_LINK", "DEPENDS_ON", "HAS_PREREQUISITE"}
PURPOSES = {"APPLICATION", "FRAMEWORK", "LIBRARY", "CONTAINER", "OPERATING-SYSTEM", "DEVICE", "FIRMWARE",
            "SOURCE", "ARCHIVE", "FILE", "INSTALL", "OTHER"}


def spdx_lists():
    with open(LICENSE_IDS) as f:
        licenses = set(json.load(f))
    with open(EXCEPTION_IDS) as f:
        exceptions = set(json.load(f))
    return licenses, exceptions


def expression_problems(expr, licenses, exceptions, refs):
    """Problems of one SPDX licence expression: unknown ids, undeclared LicenseRefs, bad syntax."""
    if expr in ("NOASSERTION", "NONE"):
        return []
    tokens = re.findall(r"\(|\)|[A-Za-z0-9.+-]+", expr)
    if "".join(tokens) != re.sub(r"\s+", "", expr):
        return [f"{expr!r}: characters outside the expression syntax"]
    problems, depth, expect_id, after_with = [], 0, True, False
    for t in tokens:
        if t == "(":
            depth += 1
            continue
        if t == ")":
            depth -= 1
            if depth < 0:
                problems.append(f"{expr!r}: unbalanced parentheses")
            continue
        if t in ("AND", "OR", "WITH"):
            if expect_id:
                problems.append(f"{expr!r}: operator {t} without an operand")
            expect_id, after_with = True, t == "WITH"
            continue
        if not expect_id:
            problems.append(f"{expr!r}: two operands in a row")
        if after_with:
            if t not in exceptions:
                problems.append(f"{expr!r}: {t} is not an SPDX exception")
        elif t.startswith("LicenseRef-"):
            if t not in refs:
                problems.append(f"{expr!r}: {t} is not declared in hasExtractedLicensingInfos")
        elif t not in licenses:
            problems.append(f"{expr!r}: {t} is not an SPDX licence id")
        expect_id, after_with = False, False
    if depth != 0:
        problems.append(f"{expr!r}: unbalanced parentheses")
    return problems


def validate_spdx(doc):
    """Every rule of SPDX 2.3 (JSON) this project's documents could break, as messages."""
    problems = []
    for key in ("spdxVersion", "dataLicense", "SPDXID", "name", "documentNamespace", "creationInfo"):
        if key not in doc:
            problems.append(f"document has no {key}")
    if doc.get("spdxVersion") != "SPDX-2.3" or doc.get("dataLicense") != "CC0-1.0" or doc.get("SPDXID") != "SPDXRef-DOCUMENT":
        problems.append("not an SPDX-2.3 document with CC0-1.0 data")
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", doc.get("creationInfo", {}).get("created", "")):
        problems.append("creationInfo.created is not YYYY-MM-DDThh:mm:ssZ")
    if not doc.get("creationInfo", {}).get("creators"):
        problems.append("creationInfo.creators is empty")
    if "#" in doc.get("documentNamespace", "") or not doc.get("documentNamespace", "").startswith("https://"):
        problems.append("documentNamespace must be an https URI without '#'")
    licenses, exceptions = spdx_lists()
    refs = {e["licenseId"] for e in doc.get("hasExtractedLicensingInfos", [])}
    for e in doc.get("hasExtractedLicensingInfos", []):
        if not re.fullmatch(r"LicenseRef-[A-Za-z0-9.-]+", e["licenseId"]) or not e.get("extractedText"):
            problems.append(f"extracted licence {e['licenseId']!r} malformed or without text")
    ids = ["SPDXRef-DOCUMENT"]
    for p in doc.get("packages", []):
        ids.append(p.get("SPDXID"))
        for key in ("name", "downloadLocation", "licenseConcluded", "licenseDeclared", "copyrightText"):
            if key not in p:
                problems.append(f"package {p.get('SPDXID')} has no {key}")
        if p.get("filesAnalyzed", True) and "packageVerificationCode" not in p:
            problems.append(f"package {p.get('SPDXID')}: files analyzed but no packageVerificationCode")
        if p.get("primaryPackagePurpose", "OTHER") not in PURPOSES:
            problems.append(f"package {p.get('SPDXID')}: purpose {p['primaryPackagePurpose']}")
        for key in ("licenseConcluded", "licenseDeclared"):
            problems += expression_problems(p.get(key, "NOASSERTION"), licenses, exceptions, refs)
        for r in p.get("externalRefs", []):
            if r["referenceType"] == "purl" and not re.fullmatch(r"pkg:[a-z]+/[^\s]+", r["referenceLocator"]):
                problems.append(f"package {p['SPDXID']}: bad purl {r['referenceLocator']!r}")
    for f in doc.get("files", []):
        ids.append(f.get("SPDXID"))
        algos = {c["algorithm"] for c in f.get("checksums", [])}
        if "SHA1" not in algos:
            problems.append(f"file {f.get('fileName')}: SPDX 2.3 requires a SHA1 checksum")
        if not f.get("fileName", "").startswith("./"):
            problems.append(f"file {f.get('fileName')}: names are relative, ./...")
    for i in ids:
        if not re.fullmatch(r"SPDXRef-[A-Za-z0-9.-]+", i or ""):
            problems.append(f"bad SPDX id {i!r}")
    if len(ids) != len(set(ids)):
        problems.append("SPDX ids are not unique")
    known = set(ids)
    for r in doc.get("relationships", []):
        if r["relationshipType"] not in RELATIONSHIPS:
            problems.append(f"relationship type {r['relationshipType']}")
        for end in (r["spdxElementId"], r["relatedSpdxElement"]):
            if end not in known:
                problems.append(f"relationship to unknown element {end}")
    if not any(r["spdxElementId"] == "SPDXRef-DOCUMENT" and r["relationshipType"] == "DESCRIBES"
               for r in doc.get("relationships", [])):
        problems.append("the document DESCRIBES nothing")
    files = doc.get("files", [])
    for p in doc.get("packages", []):
        if p.get("filesAnalyzed") and files:
            sha1s = sorted(c["checksumValue"] for f in files for c in f["checksums"] if c["algorithm"] == "SHA1")
            code = hashlib.sha1("".join(sha1s).encode()).hexdigest()
            if p["packageVerificationCode"]["packageVerificationCodeValue"] != code:
                problems.append(f"package {p['SPDXID']}: wrong packageVerificationCode")
    return problems


DEP5 = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: demo

Files: *
Copyright: 2020 Someone
License: Expat

Files: src/gpl/*
Copyright: 2020 Someone
License: GPL-2+ or Artistic

Files: src/odd.c
Copyright: 2020 Someone
License: Odd-Licence

Files: src/rt/*
Copyright: 2020 FSF
License: GPL-3+ with GCC-Runtime-Library exception

Files: debian/*
Copyright: 2021 A Packager
License: GPL-3+

License: Odd-Licence
 Permission is granted to do odd things.
 .
 Nothing else.
"""


class TestGenerator(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ir-sbom-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def write(self, rel, data):
        path = os.path.join(self.dir, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def test_debian_names_become_spdx_ids(self):
        licenses, exceptions = spdx_lists()
        for debian, spdx in sbom.SPDX_IDS.items():
            self.assertIn(spdx, licenses, f"{debian} -> {spdx}")
        for name, exc in sbom.SPDX_EXCEPTIONS.items():
            self.assertIn(exc, exceptions, name)
        for source, expr in sbom.FREE_FORM.items():
            self.assertEqual(expression_problems(expr, licenses, exceptions, set()), [], source)

    def test_a_dep5_copyright_file(self):
        path = self.write("copyright", DEP5.encode())
        licences = sbom.Licences()
        expr = licences.declared(path, "demo")
        # debian/* is the packaging and left out; "or" is an OR; an unknown licence is a LicenseRef
        # carrying its text; "with ... exception" is a WITH.
        self.assertEqual(expr, "MIT AND (GPL-2.0-or-later OR Artistic-1.0-Perl) AND LicenseRef-Debian-Odd-Licence"
                               " AND GPL-3.0-or-later WITH GCC-exception-3.1")
        self.assertEqual(licences.extracted["LicenseRef-Debian-Odd-Licence"],
                         "Permission is granted to do odd things.\n\nNothing else.")

    def test_free_form_and_missing_copyright_files(self):
        path = self.write("copyright", b"This is the Debian prepackaged version of the GNU C Library.\n")
        self.assertEqual(sbom.Licences().declared(path, "glibc"), "LGPL-2.1-or-later")
        self.assertEqual(sbom.Licences().declared(path, "unknown-source"), "NOASSERTION")
        self.assertEqual(sbom.Licences().declared(os.path.join(self.dir, "nope"), "glibc"), "NOASSERTION")

    def document(self):
        tree = os.path.join(self.dir, "tree")
        self.write("tree/kubectl-ir", b"\x7fELF binary")
        self.write("tree/lib/libdemo.so.1", b"library")
        self.write("tree/licenses/libdemo1", DEP5.encode())
        copyright_path = self.write("copyright", DEP5.encode())
        contents = self.write("contents.tsv", "\n".join([
            f"libdemo1\t1.2-3+deb12u1\tamd64\tdemo\t1.2-3+deb12u1\tshipped\t{copyright_path}\tlib/libdemo.so.1 licenses/libdemo1",
            f"libstatic-dev\t0.7\tamd64\tstatic\t0.7\tstatic\t{copyright_path}\t",
            f"libc6\t2.36-9\tamd64\tglibc\t2.36-9\tsystem\t{copyright_path}\t/lib/x86_64-linux-gnu/libc.so.6",
        ]).encode() + b"\n")
        artifact = self.write("artifact.tar.gz", b"archive bytes")
        out = os.path.join(self.dir, "out.spdx.json")
        sbom.main(["--artifact", artifact, "--tree", tree, "--contents", contents, "--platform", "linux/amd64",
                   "--version", "0.1.0", "--commit", "abc123", "--epoch", "1700000000", "--compiler", "gcc 12.2.0",
                   "--out", out])
        with open(out) as f:
            return f.read()

    def test_a_valid_document_with_every_file_and_package(self):
        doc = json.loads(self.document())
        self.assertEqual(validate_spdx(doc), [])
        self.assertEqual(doc["creationInfo"]["created"], "2023-11-14T22:13:20Z")
        self.assertEqual(sorted(f["fileName"] for f in doc["files"]),
                         ["./kubectl-ir", "./lib/libdemo.so.1", "./licenses/libdemo1"])
        packages = {p["name"]: p for p in doc["packages"]}
        self.assertEqual(packages["libdemo1"]["versionInfo"], "1.2-3+deb12u1")
        self.assertEqual(packages["libdemo1"]["externalRefs"][0]["referenceLocator"],
                         "pkg:deb/debian/libdemo1@1.2-3%2Bdeb12u1?arch=amd64&distro=debian-12&upstream=demo%401.2-3%2Bdeb12u1")
        rel = {(r["spdxElementId"], r["relationshipType"], r["relatedSpdxElement"]) for r in doc["relationships"]}
        app = "SPDXRef-Package-kubectl-ir"
        self.assertIn((app, "DYNAMIC_LINK", "SPDXRef-Package-deb-libdemo1-amd64"), rel)
        self.assertIn((app, "STATIC_LINK", "SPDXRef-Package-deb-libstatic-dev-amd64"), rel)
        # glibc is not carried by an archive: a prerequisite, not contained.
        self.assertIn((app, "HAS_PREREQUISITE", "SPDXRef-Package-deb-libc6-amd64"), rel)
        self.assertNotIn(("SPDXRef-Artifact", "CONTAINS", "SPDXRef-Package-deb-libc6-amd64"), rel)

    def test_the_same_inputs_give_the_same_bytes(self):
        self.assertEqual(self.document(), self.document())

    def test_the_validator_can_say_no(self):
        doc = json.loads(self.document())
        doc["packages"][2]["licenseDeclared"] = "MIT AND Bogus-1.0"
        doc["packages"][3]["licenseDeclared"] = "LicenseRef-Undeclared"
        doc["files"][0]["checksums"] = [c for c in doc["files"][0]["checksums"] if c["algorithm"] != "SHA1"]
        doc["relationships"].append({"spdxElementId": "SPDXRef-Nothing", "relationshipType": "CONTAINS",
                                     "relatedSpdxElement": "SPDXRef-Artifact"})
        problems = " | ".join(validate_spdx(doc))
        for expected in ("Bogus-1.0 is not an SPDX licence id", "LicenseRef-Undeclared is not declared",
                         "requires a SHA1", "unknown element SPDXRef-Nothing"):
            self.assertIn(expected, problems)


def given_dist():
    if "--dist" in sys.argv:
        return sys.argv[sys.argv.index("--dist") + 1]
    return os.environ.get("IR_DIST") or os.path.join(REPO, "dist")


def project_version():
    with open(os.path.join(REPO, "CMakeLists.txt")) as f:
        return re.search(r"project\(kubectl-ir VERSION ([0-9.]+)", f.read()).group(1)


def archives():
    """The archives to check: those of each `--arch A` given (all must be there), else those of the
    platforms scripts/package.sh built (CI builds linux/amd64 alone)."""
    wanted = [sys.argv[i + 1] for i, a in enumerate(sys.argv[:-1]) if a == "--arch"]
    paths = [os.path.join(given_dist(), f"kubectl-ir_{project_version()}_linux_{a}.tar.gz")
             for a in (wanted or ("amd64", "arm64"))]
    return paths if wanted else [p for p in paths if os.path.isfile(p + ".spdx.json")]


ARCHIVES = archives()


@unittest.skipUnless(ARCHIVES and all(os.path.isfile(a + ".spdx.json") for a in ARCHIVES), "no archives with SBOMs in dist/")
class TestArchiveSboms(unittest.TestCase):
    def test_each_archive_sbom(self):
        for archive in ARCHIVES:
            with self.subTest(archive=os.path.basename(archive)):
                with open(archive + ".spdx.json") as f:
                    doc = json.load(f)
                self.assertEqual(validate_spdx(doc), [])
                files = {f["fileName"][2:]: f for f in doc["files"]}
                with tarfile.open(archive, "r:gz") as tar:
                    members = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
                self.assertEqual(set(files), set(members))
                for name, data in members.items():
                    sha = next(c["checksumValue"] for c in files[name]["checksums"] if c["algorithm"] == "SHA256")
                    self.assertEqual(sha, hashlib.sha256(data).hexdigest(), name)
                packages = {p["name"]: p for p in doc["packages"]}
                # What it links in, what it ships, what it needs from the system.
                for name in ("kubectl-ir", "libyaml-cpp-dev", "libarchive-dev", "libexpat1-dev", "nlohmann-json3-dev", "libcli11-dev",
                             "libcurl4", "libssl3", "libfmt9", "libsimdjson14", "libc6", "libstdc++6", "zlib1g"):
                    self.assertIn(name, packages)
                shipped = {n[len("lib/"):] for n in members if n.startswith("lib/")}
                comments = " ".join(p.get("comment", "") for p in doc["packages"])
                for lib in shipped:
                    self.assertIn(f"lib/{lib}", comments, f"{lib}: which package it comes from")
                with open(archive, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
                artifact = next(p for p in doc["packages"] if p["SPDXID"] == "SPDXRef-Artifact")
                self.assertEqual(artifact["checksums"][0]["checksumValue"], digest)
                self.assertTrue(doc["documentNamespace"].endswith(digest))
                self.assertIn("licenses/PACKAGES", files)


if __name__ == "__main__":
    args = [a for i, a in enumerate(sys.argv) if a not in ("--dist", "--require-archive", "--arch")
            and (i == 0 or sys.argv[i - 1] not in ("--dist", "--arch"))]
    if "--require-archive" in sys.argv and not (ARCHIVES and all(os.path.isfile(a + ".spdx.json") for a in ARCHIVES)):
        print("skipped: no archives with SBOMs in dist/ (run scripts/package.sh)")
        sys.exit(77)
    unittest.main(argv=args, verbosity=2)
