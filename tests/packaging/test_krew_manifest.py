"""The krew manifest against krew's own rules, and the rendered one against its release archive.

krew's rules, as krew checks them (sigs.k8s.io/krew):
  pkg/index/validation/validate.go     apiVersion, kind, name, shortDescription, version (semver
                                       with a leading v), platforms, uri, sha256 ^[a-f0-9]{64}$,
                                       bin, files (from/to set), selector keys os/arch only
  cmd/validate-krew-manifest/main.go   each selector matches a supported os/arch, no two overlap;
                                       line lengths (warnings there, errors here)
  internal/installation/move.go        `to` must be a clean path; moves stay inside the plugin dir;
                                       `from` is a file or directory of the archive, else a glob
  internal/installation/install.go     `bin` must exist after the moves, inside the plugin dir
This project's own, stricter rules are marked (ours) below.

  /usr/bin/python3 -m unittest -v test_krew_manifest          the committed template (+ negatives)
  IR_KREW_MANIFEST=dist/krew-manifest.yaml IR_KREW_ARCHIVE=dist/kubectl-ir_0.1.0_linux_amd64.tar.gz:... \
    /usr/bin/python3 -m unittest -v test_krew_manifest        ... and the rendered manifest + archives
  /usr/bin/python3 test_krew_manifest.py --manifest M --archive A [--archive B] [--require-archive]
With --require-archive (ctest's packaging_release_archive), a missing archive exits 77: skipped.
"""

import copy
import fnmatch
import hashlib
import os
import posixpath
import re
import sys
import tarfile
import unittest
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "krew-manifest.yaml"
PLUGIN_NAME = "ir"
API_VERSION = "krew.googlecontainertools.github.com/v1alpha2"
PLACEHOLDER_SHA256 = "0" * 64
PLATFORMS = [("linux", "amd64"), ("linux", "arm64")]   # (ours) what scripts/package.sh builds
SHA256 = re.compile(r"^[a-f0-9]{64}$")
SAFE_NAME = re.compile(r"^[\w-]+$")
WINDOWS_FORBIDDEN = {"con", "prn", "aux", "nul"} | {f"com{i}" for i in range(1, 10)} | {f"lpt{i}" for i in range(1, 10)}
# validate-krew-manifest's supported platforms (krew itself installs on more, e.g. arm64).
SUPPORTED = [("windows", "386"), ("windows", "amd64"), ("linux", "386"), ("linux", "amd64"),
             ("linux", "arm"), ("linux", "arm64"), ("darwin", "386"), ("darwin", "amd64"), ("darwin", "arm64")]
# k8s.io/apimachinery/pkg/util/version ParseSemantic, after krew's own check of the leading v.
SEMVER = re.compile(r"^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
                    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$")
SHORT_DESCRIPTION_MAX = 50   # (ours) krew warns above 70; the index's reviewers ask for short ones
LINE_MAX = 80                # krew warns when a description/caveats line with spaces is longer


def is_glob(pattern):
    return any(c in pattern for c in "*?[")


def selector_matches(selector, os_, arch):
    """metav1.LabelSelector semantics over the labels {os, arch}."""
    labels = {"os": os_, "arch": arch}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def validate_selector(selector):
    if selector is None:
        return ["nil selector is not supported"]
    if not isinstance(selector, dict):
        return ["selector is not a mapping"]
    labels, exprs = selector.get("matchLabels"), selector.get("matchExpressions")
    if labels is None and not exprs:
        return ["empty selector is not supported"]
    problems = []
    keys = list((labels or {}).keys()) + [e.get("key") for e in exprs or []]
    problems += [f"selector key {k!r} not supported (only os, arch)" for k in keys if k not in ("os", "arch")]
    if labels is not None and len(labels) == 0:
        problems.append("matchLabels specified but empty")
    if exprs is not None and len(exprs) == 0:
        problems.append("matchExpressions specified but empty")
    if exprs:   # (ours) plain matchLabels, one platform each
        problems.append("matchExpressions used: this project's platforms use matchLabels os/arch only")
    elif labels and set(labels) != {"os", "arch"}:
        problems.append("matchLabels must give both os and arch")
    return problems


def validate_files(files):
    if files is None:
        return []   # krew then moves everything: from "*" to "."
    if not isinstance(files, list) or len(files) == 0:
        return ["files has to be unspecified or non-empty"]
    problems = []
    for op in files:
        source, dest = str(op.get("from") or ""), str(op.get("to") or "")
        if not source:
            problems.append("a files entry has no from")
        if not dest:
            problems.append("a files entry has no to")
            continue
        if posixpath.normpath(dest) != dest:
            problems.append(f"to {dest!r} is not a clean path (should be {posixpath.normpath(dest)!r})")
        for path in (source, dest):
            if path.startswith("/") or posixpath.normpath(path).split("/")[0] == "..":
                problems.append(f"{path!r} leaves the plugin directory")
    return problems


def declared_destinations(files):
    """Where the non-glob `from`s land: `to`, or the base name when `to` is "." (move.go)."""
    out = set()
    for op in files or []:
        source, dest = str(op.get("from") or ""), str(op.get("to") or "")
        if source and dest and not is_glob(source):
            out.add(posixpath.basename(posixpath.normpath(source)) if dest == "." else dest)
    return out


def validate(manifest, name=PLUGIN_NAME):
    """Every rule the manifest breaks, as messages; [] when it is valid."""
    if not isinstance(manifest, dict):
        return ["the manifest is not a YAML mapping"]
    problems = []
    if manifest.get("apiVersion") != API_VERSION:
        problems.append(f"apiVersion {manifest.get('apiVersion')!r} is not {API_VERSION!r}")
    if manifest.get("kind") != "Plugin":
        problems.append(f"kind {manifest.get('kind')!r} is not 'Plugin'")
    if not SAFE_NAME.match(name) or name.lower() in WINDOWS_FORBIDDEN:
        problems.append(f"plugin name {name!r} is not allowed")
    if (manifest.get("metadata") or {}).get("name") != name:
        problems.append(f"metadata.name should be {name!r}")
    spec = manifest.get("spec") or {}
    short = spec.get("shortDescription")
    if not short:
        problems.append("spec.shortDescription is missing")
    else:
        short = str(short)
        if "\n" in short.rstrip("\n"):
            problems.append("spec.shortDescription is not one line")
        if len(short.strip()) > SHORT_DESCRIPTION_MAX:
            problems.append(f"spec.shortDescription is longer than {SHORT_DESCRIPTION_MAX} characters")
    for field in ("description", "caveats"):
        for line in str(spec.get(field) or "").split("\n"):
            if len(line) > LINE_MAX and " " in line.strip():
                problems.append(f"a spec.{field} line is longer than {LINE_MAX} characters: {line.strip()[:30]}...")
    if not spec.get("description"):
        problems.append("spec.description is missing (ours)")
    if not str(spec.get("homepage") or "").startswith("https://"):
        problems.append("spec.homepage is not an https URL (ours)")
    version = spec.get("version")
    if not version:
        problems.append("spec.version is missing")
    elif not str(version).startswith("v"):
        problems.append(f"spec.version {version!r} does not start with 'v'")
    elif not SEMVER.match(str(version)):
        problems.append(f"spec.version {version!r} is not a semantic version")
    platforms = spec.get("platforms")
    if not platforms:
        return problems + ["spec.platforms is empty"]
    for i, p in enumerate(platforms):
        where = f"spec.platforms[{i}]"
        uri, sha, bin_ = str(p.get("uri") or ""), str(p.get("sha256") or ""), str(p.get("bin") or "")
        if not uri:
            problems.append(f"{where}.uri is missing")
        elif not uri.startswith("https://"):
            problems.append(f"{where}.uri is not https (ours)")
        if not sha:
            problems.append(f"{where}.sha256 is missing")
        elif not isinstance(p.get("sha256"), str):
            problems.append(f"{where}.sha256 is not a string: quote it (YAML reads some hex as numbers)")
        elif not SHA256.match(sha):
            problems.append(f"{where}.sha256 {sha!r} does not match ^[a-f0-9]{{64}}$")
        if not bin_:
            problems.append(f"{where}.bin is missing")
        elif bin_.startswith("/") or posixpath.normpath(bin_).split("/")[0] == "..":
            problems.append(f"{where}.bin leaves the plugin directory")
        problems += [f"{where}.files: {m}" for m in validate_files(p.get("files"))]
        if not p.get("files"):
            problems.append(f"{where}.files is empty: list what to install (ours)")
        elif bin_ and posixpath.normpath(bin_) not in declared_destinations(p["files"]):
            problems.append(f"{where}.bin {bin_!r} is not the `to` of any files entry")
        selector_problems = validate_selector(p.get("selector"))
        problems += [f"{where}.selector: {m}" for m in selector_problems]
        if not selector_problems and not any(selector_matches(p["selector"], o, a) for o, a in SUPPORTED):
            problems.append(f"{where}.selector matches no supported platform")
    for os_, arch in SUPPORTED:
        matching = [i for i, p in enumerate(platforms)
                    if isinstance(p.get("selector"), dict) and not validate_selector(p["selector"])
                    and selector_matches(p["selector"], os_, arch)]
        if len(matching) > 1:
            problems.append(f"spec.platforms {matching} overlap on {os_}/{arch}")
    for os_, arch in PLATFORMS:
        if not any(isinstance(p.get("selector"), dict) and selector_matches(p["selector"], os_, arch)
                   for p in platforms):
            problems.append(f"no platform for {os_}/{arch} (ours)")
    return problems


def archive_members(path):
    """{name: TarInfo} of the archive, names without a leading './'."""
    with tarfile.open(path, "r:gz") as tar:
        return {posixpath.normpath(m.name.removeprefix("./")): m for m in tar.getmembers()
                if m.name not in (".", "./")}


def go_glob(pattern, names):
    """filepath.Glob over the archive's names: '*' and '?' never cross a '/'."""
    parts = posixpath.normpath(pattern).split("/")
    return sorted(n for n in names
                  if len(n.split("/")) == len(parts)
                  and all(fnmatch.fnmatchcase(a, b) for a, b in zip(n.split("/"), parts)))


def install(files, members):
    """krew's moves (move.go) over the archive: {installed path: archive member name}."""
    names = set(members)
    for name in list(names):   # directories implied by the files' paths
        parent = posixpath.dirname(name)
        while parent:
            names.add(parent)
            parent = posixpath.dirname(parent)

    def under(source, dest):
        moved = {}
        for name in members:
            if name == source or name.startswith(source + "/"):
                moved[dest + name[len(source):]] = name
        return moved

    installed = {}
    for op in files:
        source, dest = posixpath.normpath(op["from"]), op["to"]
        if source in names:   # a file or directory: moved as one, to `to` (or its base name)
            installed.update(under(source, posixpath.basename(source) if dest == "." else dest))
            continue
        matches = go_glob(source, names)
        if not matches:
            raise AssertionError(f"files: no file in the archive matches from: {op['from']}")
        for match in matches:
            installed.update(under(match, posixpath.normpath(posixpath.join(dest, posixpath.basename(match)))))
    return installed


def load(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def project_version():
    text = (REPO / "CMakeLists.txt").read_text(encoding="utf-8")
    return re.search(r"project\(kubectl-ir VERSION ([0-9.]+)", text).group(1)


class TemplateTest(unittest.TestCase):
    """The committed krew-manifest.yaml: valid by krew's rules, placeholder sha256, current version."""

    def setUp(self):
        self.manifest = load(TEMPLATE)

    def test_valid(self):
        self.assertEqual(validate(self.manifest), [])

    def test_version_is_the_project_version(self):
        v = project_version()
        spec = self.manifest["spec"]
        self.assertEqual(spec["version"], "v" + v, "bump krew-manifest.yaml with CMakeLists.txt")
        for p in spec["platforms"]:
            arch = p["selector"]["matchLabels"]["arch"]
            self.assertTrue(p["uri"].endswith(f"/v{v}/kubectl-ir_{v}_linux_{arch}.tar.gz"),
                            "the uri names the release tag and the archive scripts/package.sh makes")

    def test_one_platform_each_for_amd64_and_arm64(self):
        labels = [(p["selector"]["matchLabels"]["os"], p["selector"]["matchLabels"]["arch"])
                  for p in self.manifest["spec"]["platforms"]]
        self.assertEqual(labels, PLATFORMS)

    def test_sha256_is_the_placeholder(self):
        # scripts/package.sh replaces exactly these; a real-looking sha256 here would be stale.
        for p in self.manifest["spec"]["platforms"]:
            self.assertEqual(p["sha256"], PLACEHOLDER_SHA256)

    def test_platforms_install_the_same_files(self):
        platforms = self.manifest["spec"]["platforms"]
        for p in platforms[1:]:
            self.assertEqual((p["bin"], p["files"]), (platforms[0]["bin"], platforms[0]["files"]))

    def test_installs_the_binary_the_license_and_the_libraries(self):
        files = self.manifest["spec"]["platforms"][0]["files"]
        self.assertIn({"from": "kubectl-ir", "to": "."}, files)
        self.assertIn({"from": "LICENSE", "to": "."}, files)
        self.assertIn({"from": "lib/*", "to": "lib"}, files, "lib/ must sit beside kubectl-ir: RUNPATH $ORIGIN/lib")
        self.assertIn({"from": "licenses/*", "to": "licenses"}, files, "the third-party notices")

    def test_license_file_is_the_apache_license(self):
        self.assertIn("Apache License", (REPO / "LICENSE").read_text(encoding="utf-8")[:200])
        self.assertIn("Version 2.0, January 2004", (REPO / "LICENSE").read_text(encoding="utf-8")[:300])


class RulesTest(unittest.TestCase):
    """Each rule fails on a manifest that breaks it: the validator can say no."""

    def broken(self, mutate):
        manifest = copy.deepcopy(load(TEMPLATE))
        mutate(manifest)
        return validate(manifest)

    def assertRejected(self, mutate, expected):
        problems = self.broken(mutate)
        self.assertTrue(any(expected in p for p in problems), f"expected {expected!r} in {problems}")

    def platform(self, m):
        return m["spec"]["platforms"][0]

    def test_uppercase_sha256(self):
        self.assertRejected(lambda m: self.platform(m).update(sha256="AB" * 32), "does not match")

    def test_short_sha256(self):
        self.assertRejected(lambda m: self.platform(m).update(sha256="a" * 63), "does not match")

    def test_unquoted_numeric_sha256(self):
        # YAML reads an unquoted all-digit (or digits-e-digits) sha256 as a number.
        self.assertRejected(lambda m: self.platform(m).update(sha256=int("1" * 64)), "not a string")

    def test_missing_sha256(self):
        self.assertRejected(lambda m: self.platform(m).pop("sha256"), "sha256 is missing")

    def test_version_without_v(self):
        self.assertRejected(lambda m: m["spec"].update(version="0.1.0"), "does not start with 'v'")

    def test_version_not_semver(self):
        self.assertRejected(lambda m: m["spec"].update(version="v0.1"), "not a semantic version")
        self.assertRejected(lambda m: m["spec"].update(version="v01.0.0"), "not a semantic version")

    def test_prerelease_version_is_fine(self):
        self.assertEqual(self.broken(lambda m: m["spec"].update(version="v0.2.0-rc.1+build.5")), [])

    def test_selector_with_an_extra_key(self):
        self.assertRejected(lambda m: self.platform(m)["selector"]["matchLabels"].update(distro="debian"),
                            "selector key 'distro' not supported")

    def test_selector_with_match_expressions(self):
        self.assertRejected(lambda m: self.platform(m)["selector"].update(
            matchExpressions=[{"key": "os", "operator": "In", "values": ["linux"]}]), "matchExpressions used")

    def test_empty_or_missing_selector(self):
        self.assertRejected(lambda m: self.platform(m).update(selector={"matchLabels": {}}), "specified but empty")
        self.assertRejected(lambda m: self.platform(m).pop("selector"), "nil selector")

    def test_selector_matching_no_platform(self):
        self.assertRejected(lambda m: self.platform(m)["selector"]["matchLabels"].update(os="plan9"),
                            "matches no supported platform")

    def test_overlapping_platforms(self):
        self.assertRejected(lambda m: m["spec"]["platforms"].append(copy.deepcopy(self.platform(m))), "overlap")

    def test_a_missing_platform(self):
        self.assertRejected(lambda m: m["spec"]["platforms"].pop(1), "no platform for linux/arm64")
        self.assertRejected(lambda m: m["spec"]["platforms"].pop(0), "no platform for linux/amd64")

    def test_no_platforms(self):
        self.assertRejected(lambda m: m["spec"].update(platforms=[]), "spec.platforms is empty")

    def test_short_description_on_two_lines_or_long(self):
        self.assertRejected(lambda m: m["spec"].update(shortDescription="Forensic triage\nof a pod"), "not one line")
        self.assertRejected(lambda m: m["spec"].update(shortDescription="x " * 30), "longer than 50")
        self.assertRejected(lambda m: m["spec"].pop("shortDescription"), "shortDescription is missing")

    def test_wrong_api_version_kind_or_name(self):
        self.assertRejected(lambda m: m.update(apiVersion="krew.googlecontainertools.github.com/v1alpha1"), "apiVersion")
        self.assertRejected(lambda m: m.update(kind="Plug"), "kind")
        self.assertRejected(lambda m: m["metadata"].update(name="kubectl-ir"), "metadata.name should be 'ir'")
        self.assertIn("plugin name 'con' is not allowed", validate(load(TEMPLATE), name="con"))

    def test_uri_not_https(self):
        self.assertRejected(lambda m: self.platform(m).update(uri="http://example.com/a.tar.gz"), "not https")
        self.assertRejected(lambda m: self.platform(m).pop("uri"), "uri is missing")

    def test_bin_missing_or_not_installed(self):
        self.assertRejected(lambda m: self.platform(m).pop("bin"), "bin is missing")
        self.assertRejected(lambda m: self.platform(m).update(bin="kubectl-other"), "is not the `to` of any files entry")
        self.assertRejected(lambda m: self.platform(m).update(bin="../kubectl-ir"), "leaves the plugin directory")

    def test_files_empty_or_incomplete(self):
        self.assertRejected(lambda m: self.platform(m).update(files=[]), "unspecified or non-empty")
        self.assertRejected(lambda m: self.platform(m)["files"].append({"from": "README.md"}), "has no to")
        self.assertRejected(lambda m: self.platform(m)["files"].append({"to": "."}), "has no from")

    def test_unclean_or_escaping_to(self):
        self.assertRejected(lambda m: self.platform(m)["files"][2].update(to="lib/"), "not a clean path")
        self.assertRejected(lambda m: self.platform(m)["files"][2].update(to="../lib"), "leaves the plugin directory")


def given(name, flag):
    """Paths from the command line (--manifest/--archive, repeatable) or the environment (':'-separated)."""
    values = [sys.argv[i + 1] for i, a in enumerate(sys.argv[:-1]) if a == flag]
    if values:
        return values
    return [v for v in (os.environ.get(name) or "").split(":") if v]


RENDERED = (given("IR_KREW_MANIFEST", "--manifest") or [None])[0]
ARCHIVES = given("IR_KREW_ARCHIVE", "--archive")


def archive_arch(path):
    m = re.fullmatch(r"kubectl-ir_[^_]+_linux_([a-z0-9]+)\.tar\.gz", Path(path).name)
    return m.group(1) if m else None


@unittest.skipUnless(RENDERED and ARCHIVES and all(Path(a).is_file() for a in ARCHIVES),
                     "no rendered manifest + archives given (IR_KREW_MANIFEST, IR_KREW_ARCHIVE)")
class RenderedTest(unittest.TestCase):
    """dist/krew-manifest.yaml against the archives scripts/package.sh built with it."""

    def setUp(self):
        self.manifest = load(RENDERED)
        self.archives = {}   # arch -> (path, its platform in the manifest, its members)
        for path in ARCHIVES:
            arch = archive_arch(path)
            self.assertIsNotNone(arch, f"{path}: not named kubectl-ir_<version>_linux_<arch>.tar.gz")
            platform = next((p for p in self.manifest["spec"]["platforms"]
                             if p["selector"]["matchLabels"] == {"os": "linux", "arch": arch}), None)
            self.assertIsNotNone(platform, f"no linux/{arch} platform in {RENDERED}")
            self.archives[arch] = (path, platform, archive_members(path))

    def each(self):
        """The platforms in order (not as subTests: a failure names the archive)."""
        return [(arch, path, platform, members) for arch, (path, platform, members) in sorted(self.archives.items())]

    def test_valid(self):
        self.assertEqual(validate(self.manifest), [])

    def test_sha256_is_the_archives(self):
        for _, path, platform, _ in self.each():
            with open(path, "rb") as f:
                real = hashlib.sha256(f.read()).hexdigest()
            self.assertNotEqual(platform["sha256"], PLACEHOLDER_SHA256, "the placeholder was not replaced")
            self.assertEqual(platform["sha256"], real, f"sha256 of {path}")

    def test_uri_names_the_archive_and_the_version(self):
        version = self.manifest["spec"]["version"]
        for arch, path, platform, _ in self.each():
            self.assertEqual(posixpath.basename(platform["uri"]), Path(path).name)
            self.assertIn(f"/download/{version}/", platform["uri"])
            self.assertEqual(Path(path).name, f"kubectl-ir_{version[1:]}_linux_{arch}.tar.gz")

    def test_only_version_and_sha256_differ_from_the_template(self):
        template = load(TEMPLATE)
        tv, rv = template["spec"]["version"], self.manifest["spec"]["version"]
        for tp, rp in zip(template["spec"]["platforms"], self.manifest["spec"]["platforms"]):
            tp["uri"] = tp["uri"].replace(tv[1:], rv[1:])
            tp["sha256"] = rp["sha256"]
        template["spec"]["version"] = rv
        self.assertEqual(self.manifest, template)

    def test_archive_is_safe_to_unpack(self):
        for _, _, _, members in self.each():
            for name, member in members.items():
                self.assertFalse(name.startswith("/") or name.split("/")[0] == "..", name)
                self.assertTrue(member.isfile() or member.isdir(), f"{name}: only files and directories")

    def test_every_from_is_in_the_archive(self):
        for _, _, platform, members in self.each():
            installed = install(platform["files"], members)   # raises when a `from` matches nothing
            self.assertTrue(installed)

    def test_bin_is_installed_and_executable(self):
        for _, _, platform, members in self.each():
            installed = install(platform["files"], members)
            bin_ = posixpath.normpath(platform["bin"])
            self.assertIn(bin_, installed)
            self.assertTrue(members[installed[bin_]].mode & 0o111, f"{bin_} is not executable")

    def test_every_file_of_the_archive_is_installed(self):
        # krew installs only what `files` moves: a library left out would be missing at run time.
        for _, _, platform, members in self.each():
            installed = set(install(platform["files"], members).values())
            left_out = sorted(n for n, m in members.items() if m.isfile() and n not in installed)
            self.assertEqual(left_out, [])

    def test_libraries_beside_the_binary(self):
        for _, _, platform, members in self.each():
            installed = install(platform["files"], members)
            libs = [p for p in installed if p.startswith("lib/")]
            self.assertIn("LICENSE", installed)
            for lib in libs:
                self.assertRegex(posixpath.basename(lib), r"\.so(\.[0-9]+)*$")

    def test_notices_of_what_it_carries(self):
        for _, _, platform, members in self.each():
            installed = install(platform["files"], members)
            notices = {posixpath.basename(p) for p in installed if p.startswith("licenses/")}
            # Linked in (static or header-only), then shipped: each package's Debian copyright file.
            for package in ("libyaml-cpp-dev", "libarchive-dev", "nlohmann-json3-dev", "libcli11-dev"):
                self.assertIn(package, notices)
            if any(p.startswith("lib/libcurl.so") for p in installed):
                self.assertIn("libcurl4", notices)

    def test_the_binary_is_for_its_platform(self):
        machines = {"amd64": 62, "arm64": 183}   # ELF e_machine: EM_X86_64, EM_AARCH64
        for arch, path, _, members in self.each():
            with tarfile.open(path, "r:gz") as tar:
                head = tar.extractfile(members["kubectl-ir"]).read(20)
            self.assertEqual(head[:4], b"\x7fELF")
            self.assertEqual(int.from_bytes(head[18:20], "little"), machines[arch], f"{path}: kubectl-ir's machine")


if __name__ == "__main__":
    args = [a for i, a in enumerate(sys.argv)
            if a not in ("--manifest", "--archive", "--require-archive")
            and (i == 0 or sys.argv[i - 1] not in ("--manifest", "--archive"))]
    if "--require-archive" in sys.argv and not (ARCHIVES and all(Path(a).is_file() for a in ARCHIVES)):
        print(f"skipped: no release archives at {' '.join(ARCHIVES)} (run scripts/package.sh)")
        sys.exit(77)
    unittest.main(argv=args, verbosity=2)
