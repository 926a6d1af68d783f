"""The OCI image scripts/package.sh writes (scripts/release/oci_image.py), checked without a container
engine: its structure, its contents, and its binary run from the unpacked root file system.

  /usr/bin/python3 test_image.py --dist DIR [--require-image]     (scripts/test.sh --package)
  IR_DIST=dist /usr/bin/python3 -m unittest -v test_image

  - every blob is what its descriptor says (digest, size); diff_ids are the layers' uncompressed
    digests; the docker manifest.json and the OCI index name the same image; the multi-platform
    layout's index lists linux/amd64 and linux/arm64 with the platform tarballs' manifests;
  - the config runs as a non-root user that /etc/passwd knows, its entrypoint exists;
  - no shell, no secret (private keys, tokens, kubeconfigs), no path of the build machine; every
    ELF file is of the platform's machine and every library it needs is in the image;
  - the binary and its libraries are the release archive's, the playbooks are the repository's;
  - its SBOM lists every file of the rootfs with its digest and the Debian packages it carries;
  - unpacked, under unshare + chroot (qemu-user for arm64), `kubectl-ir version --client` answers
    as the image's user, and the triage Job (scripts/deploy/triage-job.yaml) runs from it against
    the fake cluster with the responder service account, as tests/e2e/test_in_cluster.py does with
    the dev binary.
With --require-image, a missing image exits 77: skipped.
"""
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))

ARCHES = {"amd64": (62, "x86_64-linux-gnu"), "arm64": (183, "aarch64-linux-gnu")}   # ELF e_machine, triplet
SHELLS = {"sh", "bash", "dash", "ash", "zsh", "ksh", "csh", "tcsh", "busybox", "toybox"}
QEMU = "/usr/bin/qemu-aarch64-static"


def project_version():
    with open(os.path.join(REPO, "CMakeLists.txt")) as f:
        return re.search(r"project\(kubectl-ir VERSION ([0-9.]+)", f.read()).group(1)


def given_dist():
    if "--dist" in sys.argv:
        return sys.argv[sys.argv.index("--dist") + 1]
    return os.environ.get("IR_DIST") or os.path.join(REPO, "dist")


DIST = given_dist()
VERSION = project_version()
PREFIX = f"kubectl-ir_{VERSION}_image"


def tarball(arch):
    return os.path.join(DIST, f"{PREFIX}_linux_{arch}.tar")


def have_image():
    return all(os.path.isfile(tarball(a)) for a in ARCHES) and os.path.isdir(os.path.join(DIST, PREFIX + "_oci"))


class Image:
    """One platform tarball, read: its files, descriptors and the layers' entries."""

    def __init__(self, path):
        self.files = {}
        with tarfile.open(path) as tar:
            for m in tar.getmembers():
                if m.isfile():
                    self.files[m.name] = tar.extractfile(m).read()
        self.index = json.loads(self.files["index.json"])
        self.docker = json.loads(self.files["manifest.json"])
        self.manifest_desc = self.index["manifests"][0]
        self.manifest = json.loads(self.blob(self.manifest_desc["digest"]))
        self.config = json.loads(self.blob(self.manifest["config"]["digest"]))
        self.layers = []   # [(descriptor, [TarInfo], {name: bytes})]
        for desc in self.manifest["layers"]:
            raw = gzip.decompress(self.blob(desc["digest"]))
            with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
                members = tar.getmembers()
                data = {m.name: tar.extractfile(m).read() for m in members if m.isfile()}
            self.layers.append((desc, raw, members, data))

    def blob(self, digest):
        return self.files["blobs/sha256/" + digest.split(":", 1)[1]]

    def entries(self):
        """{path: (TarInfo, bytes or None)} of the rootfs, later layers over earlier ones."""
        out = {}
        for _, _, members, data in self.layers:
            for m in members:
                out[m.name.rstrip("/")] = (m, data.get(m.name))
        return out

    def unpack(self, directory):
        for _, raw, _, _ in self.layers:
            with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
                tar.extractall(directory, numeric_owner=True)


@unittest.skipUnless(have_image(), f"no image in {DIST} (scripts/package.sh)")
class TestImage(unittest.TestCase):
    images = {}

    @classmethod
    def setUpClass(cls):
        cls.images = {arch: Image(tarball(arch)) for arch in ARCHES}

    def each(self):
        """The platforms in order (not as subTests: a failure names its file, which names the platform)."""
        return sorted(self.images.items())

    def test_blobs_are_what_their_descriptors_say(self):
        for arch, image in self.each():
            descs = [image.manifest_desc, image.manifest["config"]] + image.manifest["layers"]
            for d in descs:
                data = image.blob(d["digest"])
                self.assertEqual("sha256:" + hashlib.sha256(data).hexdigest(), d["digest"])
                self.assertEqual(len(data), d["size"])
            self.assertEqual(image.config["rootfs"]["diff_ids"],
                             ["sha256:" + hashlib.sha256(raw).hexdigest() for _, raw, _, _ in image.layers])
            self.assertEqual(image.manifest["mediaType"], "application/vnd.oci.image.manifest.v1+json")
            self.assertTrue(all(l["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
                                for l in image.manifest["layers"]))
            self.assertEqual((image.config["os"], image.config["architecture"]), ("linux", arch))
            self.assertEqual(image.manifest_desc["platform"]["architecture"], arch)
            # docker load reads manifest.json: the same config and layers, tagged with the version.
            self.assertEqual(image.docker[0]["Config"], "blobs/sha256/" + image.manifest["config"]["digest"][7:])
            self.assertEqual(image.docker[0]["Layers"],
                             ["blobs/sha256/" + l["digest"][7:] for l in image.manifest["layers"]])
            self.assertEqual(image.docker[0]["RepoTags"], [f"ghcr.io/kubectl-ir/kubectl-ir:{VERSION}"])
            self.assertEqual(json.loads(image.files["oci-layout"]), {"imageLayoutVersion": "1.0.0"})

    def test_the_layout_indexes_both_platforms(self):
        layout = os.path.join(DIST, PREFIX + "_oci")
        with open(os.path.join(layout, "index.json")) as f:
            top = json.load(f)
        self.assertEqual(len(top["manifests"]), 1)
        ref = top["manifests"][0]
        self.assertEqual(ref["annotations"]["org.opencontainers.image.ref.name"], "v" + VERSION)
        self.assertEqual(ref["mediaType"], "application/vnd.oci.image.index.v1+json")
        with open(os.path.join(layout, "blobs", "sha256", ref["digest"][7:]), "rb") as f:
            data = f.read()
        self.assertEqual("sha256:" + hashlib.sha256(data).hexdigest(), ref["digest"])
        index = json.loads(data)
        platforms = {(m["platform"]["os"], m["platform"]["architecture"]): m for m in index["manifests"]}
        self.assertEqual(set(platforms), {("linux", "amd64"), ("linux", "arm64")})
        for arch, image in self.each():
            self.assertEqual(platforms[("linux", arch)]["digest"], image.manifest_desc["digest"])
        for name in os.listdir(os.path.join(layout, "blobs", "sha256")):
            with open(os.path.join(layout, "blobs", "sha256", name), "rb") as f:
                self.assertEqual(hashlib.sha256(f.read()).hexdigest(), name)

    def test_runs_as_a_non_root_user_the_image_knows(self):
        for arch, image in self.each():
            config = image.config["config"]
            user = config["User"]
            uid, _, gid = user.partition(":")
            self.assertTrue(uid.isdigit() and int(uid) != 0, f"User {user!r} must be a non-root numeric uid")
            self.assertTrue(gid.isdigit() and int(gid) != 0)
            entries = image.entries()
            passwd = entries["etc/passwd"][1].decode()
            self.assertRegex(passwd, rf"(?m)^nonroot:x:{uid}:{gid}:")
            entrypoint = config["Entrypoint"][0].lstrip("/")
            self.assertIn(entrypoint, entries)
            self.assertEqual(config["WorkingDir"], "/work")
            work = entries["work"][0]
            self.assertEqual((work.uid, work.gid), (int(uid), int(gid)))
            self.assertTrue(entries["tmp"][0].mode & 0o1000, "/tmp is sticky")
            self.assertEqual(image.config["config"]["Labels"]["org.opencontainers.image.version"], VERSION)

    def test_no_shell_no_secret_no_build_path(self):
        needles = [REPO.encode() + b"/", b"/var/cache/kubectl-ir", os.path.expanduser("~").encode() + b"/",
                   b"fake-admin-token", b"fake-responder-token"]
        private_key = re.compile(rb"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----\r?\n[A-Za-z0-9+/=\r\n]{64}")
        for arch, image in self.each():
            for path, (member, data) in image.entries().items():
                name = os.path.basename(path)
                self.assertNotIn(name, SHELLS, f"{path}: a shell")
                if member.issym():
                    self.assertNotIn(os.path.basename(member.linkname), SHELLS, f"{path} -> {member.linkname}")
                self.assertFalse(re.search(r"(\.key|\.pem|kubeconfig|id_rsa|id_ed25519|token)$", name),
                                 f"{path}: looks like a secret")
                if data is None:
                    continue
                if data.startswith(b"#!"):
                    self.fail(f"{path}: a script ({data.splitlines()[0]!r}) needs an interpreter the image lacks")
                if not re.search(r"(^|/)lib/.*\.so(\.[0-9]+)*$", path):   # libgnutls has its self-test keys
                    self.assertIsNone(private_key.search(data), f"{path}: a private key")
                for needle in needles:
                    if needle in data and not path.startswith(("usr/share/doc/", "opt/kubectl-ir/licenses/")):
                        self.fail(f"{path} contains {needle!r}")
            for _, _, members, _ in image.layers:
                for m in members:
                    self.assertEqual(m.mtime, image.layers[0][2][0].mtime, f"{m.name}: one fixed mtime")
                    self.assertEqual((m.uname, m.gname), ("", ""))

    def test_every_elf_is_of_the_platform_and_finds_its_libraries(self):
        for arch, image in self.each():
            machine, triplet = ARCHES[arch]
            entries = image.entries()

            def resolve(path, depth=0):
                """A path in the rootfs with symlinks followed (absolute ones inside the image)."""
                parts, out = path.strip("/").split("/"), ""
                for i, part in enumerate(parts):
                    out = f"{out}/{part}".lstrip("/")
                    m = entries.get(out, (None,))[0]
                    if m is not None and m.issym() and depth < 20:
                        target = m.linkname if m.linkname.startswith("/") else \
                            os.path.normpath(os.path.join(os.path.dirname("/" + out), m.linkname))
                        return resolve(target + "/" + "/".join(parts[i + 1:]), depth + 1)
                return out.strip("/")

            elves = {p: d for p, (m, d) in entries.items() if d and d[:4] == b"\x7fELF"}
            self.assertIn("opt/kubectl-ir/kubectl-ir", elves)
            for path, data in elves.items():
                self.assertEqual(int.from_bytes(data[18:20], "little"), machine, f"{path}: ELF machine")
                origin = "/" + os.path.dirname(path)
                dirs = [d.replace("$ORIGIN", origin) for d in runpath(data)] + \
                       [f"/lib/{triplet}", f"/usr/lib/{triplet}", "/lib", "/usr/lib"]
                interp_name = os.path.basename(interpreter(elves["opt/kubectl-ir/kubectl-ir"]))
                for needed in needed_libraries(data):
                    if needed == interp_name:
                        continue   # the loader itself (libc needs it): loaded as the interpreter
                    found = [d for d in dirs if resolve(f"{d}/{needed}") in elves]
                    self.assertTrue(found, f"{arch}: {path} needs {needed}: not in the image")
                interp = interpreter(data)
                if interp:
                    self.assertIn(resolve(interp), elves, f"{path}: its loader {interp}")

    def test_the_release_archive_inside(self):
        for arch, image in self.each():
            archive = os.path.join(DIST, f"kubectl-ir_{VERSION}_linux_{arch}.tar.gz")
            if not os.path.isfile(archive):
                self.skipTest(f"{archive} missing")
            entries = image.entries()
            with tarfile.open(archive, "r:gz") as tar:
                for m in tar.getmembers():
                    if not m.isfile() or m.name == "kubectl_complete-ir":
                        continue
                    self.assertEqual(entries[f"opt/kubectl-ir/{m.name}"][1], tar.extractfile(m).read(), m.name)
            playbooks = sorted(f for f in os.listdir(os.path.join(REPO, "playbooks")) if f.endswith(".yaml"))
            for name in playbooks:
                with open(os.path.join(REPO, "playbooks", name), "rb") as f:
                    self.assertEqual(entries[f"opt/kubectl-ir/playbooks/{name}"][1], f.read())
            self.assertIn(b"BEGIN CERTIFICATE", entries["etc/ssl/certs/ca-certificates.crt"][1])
            link = entries["usr/local/bin/kubectl-ir"][0]
            self.assertTrue(link.issym())
            self.assertEqual(os.path.normpath(os.path.join("usr/local/bin", link.linkname)), "opt/kubectl-ir/kubectl-ir")

    def test_its_sbom_lists_every_file_and_package(self):
        for arch, image in self.each():
            with open(tarball(arch) + ".spdx.json") as f:
                doc = json.load(f)
            from test_sbom import validate_spdx
            self.assertEqual(validate_spdx(doc), [])
            files = {f["fileName"][2:]: f for f in doc["files"]}
            for path, (member, data) in image.entries().items():
                if member.isfile():
                    sha = next(c["checksumValue"] for c in files[path]["checksums"] if c["algorithm"] == "SHA256")
                    self.assertEqual(sha, hashlib.sha256(data).hexdigest(), path)
            self.assertEqual(len(files), sum(1 for m, _ in image.entries().values() if m.isfile()))
            packages = {p["name"]: p for p in doc["packages"]}
            for name in ("libc6", "libstdc++6", "libgcc-s1", "zlib1g", "ca-certificates", "libcurl4", "libssl3",
                         "libyaml-cpp-dev", "libarchive-dev", "nlohmann-json3-dev", "libcli11-dev", "kubectl-ir"):
                self.assertIn(name, packages)
            self.assertEqual(packages["kubectl-ir"]["versionInfo"], VERSION)
            self.assertEqual(packages["libc6"]["licenseDeclared"], "LGPL-2.1-or-later")
            self.assertIn("MPL-2.0", packages["ca-certificates"]["licenseDeclared"])
            purl = next(r["referenceLocator"] for r in packages["libcurl4"]["externalRefs"])
            self.assertTrue(purl.startswith("pkg:deb/debian/libcurl4@") and f"arch={arch}" in purl, purl)
            artifact = next(p for p in doc["packages"] if p["SPDXID"] == "SPDXRef-Artifact")
            with open(tarball(arch), "rb") as f:
                self.assertEqual(artifact["checksums"][0]["checksumValue"], hashlib.sha256(f.read()).hexdigest())
            oci = artifact["externalRefs"][0]["referenceLocator"]
            self.assertIn(image.manifest_desc["digest"].replace(":", "%3A"), oci)


@unittest.skipUnless(have_image() and shutil.which("skopeo"), "no image in dist/, or no skopeo")
class TestImageWithSkopeo(unittest.TestCase):
    """What the container tools' own image library (containers/image, podman's) makes of it: every
    blob read and its digest checked while copying."""

    def skopeo(self, *args):
        r = subprocess.run(["skopeo", "--insecure-policy", *args], capture_output=True, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace"))
        return r.stdout.decode()

    def test_the_layout_copies_with_both_platforms(self):
        layout = os.path.join(DIST, PREFIX + "_oci")
        with tempfile.TemporaryDirectory() as tmp:
            self.skopeo("copy", "--all", f"oci:{layout}:v{VERSION}", f"oci:{tmp}/copy:v{VERSION}")
            raw = json.loads(self.skopeo("inspect", "--raw", f"oci:{tmp}/copy:v{VERSION}"))
        self.assertEqual(sorted(m["platform"]["architecture"] for m in raw["manifests"]), ["amd64", "arm64"])
        for arch in ARCHES:
            info = json.loads(self.skopeo("inspect", "--override-arch", arch, f"oci:{layout}:v{VERSION}"))
            self.assertEqual(info["Architecture"], arch)
            self.assertEqual(info["Labels"]["org.opencontainers.image.version"], VERSION)

    def test_each_tarball_loads_as_docker_and_oci_archive(self):
        for arch in sorted(ARCHES):
            with tempfile.TemporaryDirectory() as tmp:
                self.skopeo("copy", f"docker-archive:{tarball(arch)}", f"dir:{tmp}/docker")
                self.skopeo("copy", f"oci-archive:{tarball(arch)}", f"dir:{tmp}/oci")
            config = json.loads(self.skopeo("inspect", "--config", f"docker-archive:{tarball(arch)}"))
            self.assertEqual((config["architecture"], config["config"]["User"]), (arch, "65532:65532"))


def elf_sections(data):
    """(dynamic entries [(tag, value)], dynstr bytes, program headers) of a 64-bit little-endian ELF."""
    import struct
    assert data[4] == 2 and data[5] == 1, "64-bit little-endian ELF only"
    phoff, shoff = struct.unpack_from("<QQ", data, 0x20)
    phentsize, phnum, shentsize, shnum = struct.unpack_from("<HHHH", data, 0x36)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    dynamic = next((s for s in sections if s[1] == 6), None)   # SHT_DYNAMIC
    entries, strtab = [], b""
    if dynamic:
        for off in range(dynamic[4], dynamic[4] + dynamic[5], 16):
            tag, value = struct.unpack_from("<qQ", data, off)
            if tag == 0:
                break
            entries.append((tag, value))
        link = sections[dynamic[6]]
        strtab = data[link[4]:link[4] + link[5]]
    headers = [struct.unpack_from("<IIQQQQQQ", data, phoff + i * phentsize) for i in range(phnum)]
    return entries, strtab, headers


def _string(strtab, offset):
    return strtab[offset:strtab.index(b"\0", offset)].decode()


def needed_libraries(data):
    entries, strtab, _ = elf_sections(data)
    return [_string(strtab, v) for t, v in entries if t == 1]   # DT_NEEDED


def runpath(data):
    entries, strtab, _ = elf_sections(data)
    paths = [_string(strtab, v) for t, v in entries if t in (15, 29)]   # DT_RPATH, DT_RUNPATH
    return [p for path in paths for p in path.split(":") if p]


def interpreter(data):
    _, _, headers = elf_sections(data)
    for h in headers:
        if h[0] == 3:   # PT_INTERP
            return data[h[2]:h[2] + h[5]].rstrip(b"\0").decode()
    return None


@unittest.skipUnless(have_image(), f"no image in {DIST} (scripts/package.sh)")
class TestImageRuns(unittest.TestCase):
    """The unpacked root file system, run as the image would be (pod_sandbox: unshare + chroot)."""

    @classmethod
    def setUpClass(cls):
        import pod_sandbox
        why = pod_sandbox.available()
        if why:
            raise unittest.SkipTest(why)
        cls.sandbox = pod_sandbox
        cls.roots = {}
        cls.scratch = tempfile.mkdtemp(prefix="ir-image-")
        for arch in ARCHES:
            image = Image(tarball(arch))
            root = os.path.join(cls.scratch, arch)
            os.makedirs(root)
            image.unpack(root)
            if arch != "amd64":   # the emulator beside the image's files, in the scratch copy only
                shutil.copy(QEMU, os.path.join(root, "qemu-aarch64-static"))
            cls.roots[arch] = (root, image.config["config"])

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.scratch, ignore_errors=True)

    def argv(self, arch, args):
        config = self.roots[arch][1]
        command = config["Entrypoint"] + args
        return (["/qemu-aarch64-static"] if arch == "arm64" else []) + command

    def user(self, arch):
        uid, _, gid = self.roots[arch][1]["User"].partition(":")
        return int(uid), int(gid)

    def env(self, arch, extra=None):
        env = dict(e.split("=", 1) for e in self.roots[arch][1]["Env"])
        env.update(extra or {})
        return env

    def test_version_answers_from_the_unpacked_rootfs(self):
        for arch in sorted(ARCHES):
            with self.subTest(arch=arch):
                uid, gid = self.user(arch)
                r = self.sandbox.run(self.argv(arch, ["version", "--client", "-o", "json"]), rootfs=self.roots[arch][0],
                                     env=self.env(arch), workdir=self.roots[arch][1]["WorkingDir"], uid=uid, gid=gid,
                                     timeout=120)
                self.assertEqual(r.code, 0, r)
                client = json.loads(r.out)["clientVersion"]
                self.assertEqual(client["version"], "v" + VERSION)
                self.assertEqual(client["platform"], f"linux/{arch}")

    def test_the_triage_job_runs_from_the_image(self):
        import test_in_cluster as incluster
        incluster.setUpModule()
        try:
            for arch in sorted(ARCHES):
                with self.subTest(arch=arch):
                    incluster.cluster.admin("POST", "/_fake/reset")
                    container = incluster.Container("shop", incluster.WEB)
                    evidence, tmp = tempfile.mkdtemp(prefix="ir-evidence-"), tempfile.mkdtemp(prefix="ir-tmp-")
                    try:
                        with open(os.path.join(incluster.cluster.dir, "port")) as f:
                            port = f.read().strip()
                        with open(os.path.join(incluster.cluster.dir, "ca.crt"), "rb") as f:
                            ca = f.read()
                        uid = container.pod_spec["securityContext"]["runAsUser"]
                        gid = container.pod_spec["securityContext"]["runAsGroup"]
                        self.assertEqual((uid, gid), self.user(arch), "the Job runs as the image's user")
                        r = self.sandbox.run(
                            self.argv(arch, container.args), rootfs=self.roots[arch][0],
                            env=self.env(arch, {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": port,
                                                **container.env}),
                            volumes={"/evidence": evidence, "/tmp": tmp},
                            service_account={"token": incluster.SA_TOKEN.encode(), "ca.crt": ca,
                                             "namespace": incluster.SA_NAMESPACE.encode()},
                            workdir=container.spec["workingDir"], uid=uid, gid=gid, timeout=600)
                        self.assertEqual(r.code, 0, r)
                        self.assertIn("playbook triage: ok", r.out)
                        bundles = [f for f in os.listdir(evidence) if f.endswith(".tar.gz")]
                        self.assertEqual(len(bundles), 1, os.listdir(evidence))
                        binary = os.path.join(self.roots["amd64"][0], "opt", "kubectl-ir", "kubectl-ir")
                        v = subprocess.run([binary, "verify", os.path.join(evidence, bundles[0])],
                                           capture_output=True, timeout=120)
                        self.assertEqual(v.returncode, 0, v.stderr.decode(errors="replace"))
                    finally:
                        shutil.rmtree(evidence, ignore_errors=True)
                        shutil.rmtree(tmp, ignore_errors=True)
        finally:
            incluster.tearDownModule()


if __name__ == "__main__":
    args = [a for i, a in enumerate(sys.argv) if a not in ("--dist", "--require-image")
            and (i == 0 or sys.argv[i - 1] != "--dist")]
    if "--require-image" in sys.argv and not have_image():
        print(f"skipped: no image in {DIST} (run scripts/package.sh)")
        sys.exit(77)
    unittest.main(argv=args, verbosity=2)
