"""e2e: kubectl ir verify BUNDLE against bundles built here in the documented format (README §3).

No collect command exists yet, so make_bundle() writes a tar.gz + manifest.json the way the bundle
writer does (lib/evidence/bundle.hpp). verify needs no cluster: none is started, and the tests run
with an empty HOME and no kubeconfig to prove it.
"""
import calendar
import gzip
import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
import unittest

from harness import run_ir

FORMAT = "kubectl-ir-bundle/v1"
CREATED = "2026-11-21T16:02:28Z"
MTIME = calendar.timegm((2026, 11, 21, 16, 2, 28))  # CREATED as a Unix time

GOOD = [
    ("pod/pod.json", b'{"kind":"Pod","metadata":{"name":"web-7d4b9"}}'),
    ("containers/app/processes/ps.txt", b"PID CMD\n1 nginx\n"),
    ("logs/app.log", b"line 1\nline 2\n"),
]


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def manifest_for(entries):
    return {
        "format": FORMAT,
        "created": CREATED,
        "artifacts": [{"path": name, "size": len(data), "sha256": sha256(data), "collected_at": CREATED,
                       "source": "GET /api/v1/namespaces/shop/pods/web-7d4b9", "method": "api",
                       "exit_status": None, "truncated": False, "note": ""} for name, data in entries],
    }


def make_bundle(path, entries, manifest=None):
    """Writes a ustar tar.gz of `entries` (name, bytes) followed by manifest.json.

    `manifest` defaults to the honest manifest of `entries`; pass another dict (or bytes) to lie.
    """
    if manifest is None:
        manifest = manifest_for(entries)
    manifest_bytes = manifest if isinstance(manifest, bytes) else json.dumps(manifest, indent=2).encode()
    with tarfile.open(path, "w:gz", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in list(entries) + [("manifest.json", manifest_bytes)]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = MTIME
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    return path


class Verify(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ir-e2e-verify-")
        self.home = os.path.join(self.dir, "home")
        os.mkdir(self.home)

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def verify(self, *args):
        # No kubeconfig anywhere: verify must not try to reach a cluster.
        return run_ir("verify", *args, env={"HOME": self.home, "KUBECONFIG": self.path("no-such-kubeconfig")})

    def verify_failing(self, entries, *args):
        """Verifies a bundle of `entries` whose manifest lists GOOD's, expecting exit 1: (bundle, result)."""
        bundle = make_bundle(self.path("case.tar.gz"), entries, manifest=manifest_for(GOOD))
        r = self.verify(bundle, *args)
        self.assertEqual(r.code, 1, r)
        return bundle, r

    def assert_error_line(self, r, bundle, text):
        lines = r.err.splitlines()
        self.assertEqual(len(lines), 1, r)
        self.assertTrue(lines[0].startswith("kubectl-ir: error: verify "), r)
        self.assertIn(text, lines[0], r)
        if bundle:
            self.assertIn(bundle, lines[0], r)

    def test_good_bundle(self):
        bundle = make_bundle(self.path("case.tar.gz"), GOOD)
        r = self.verify(bundle)
        self.assertEqual(r.code, 0, r)
        with open(bundle, "rb") as f:
            digest = sha256(f.read())
        self.assertEqual(r.out, f"bundle: {bundle}\nsha256: {digest}\nentries: 3 verified\n")
        self.assertEqual(r.err, "")

    def test_good_bundle_json(self):
        bundle = make_bundle(self.path("case.tar.gz"), GOOD)
        r = self.verify(bundle, "-o", "json")
        self.assertEqual(r.code, 0, r)
        doc = json.loads(r.out)
        with open(bundle, "rb") as f:
            self.assertEqual(doc["sha256"], sha256(f.read()))
        self.assertEqual(doc["bundle"], bundle)
        self.assertTrue(doc["ok"])
        self.assertEqual(doc["entries"], 3)
        self.assertEqual(doc["problems"], [])

    def test_tampered_entry(self):
        tampered = [(n, b"line 1\nline X\n" if n == "logs/app.log" else d) for n, d in GOOD]
        bundle, r = self.verify_failing(tampered)
        self.assert_error_line(r, bundle, "1 problem(s): logs/app.log: sha256 mismatch")
        want, got = sha256(b"line 1\nline 2\n"), sha256(b"line 1\nline X\n")
        self.assertIn(f"problem: logs/app.log: sha256 mismatch: manifest {want}, actual {got}", r.out)
        self.assertIn("entries: 3 checked, 1 problem(s)", r.out)

    def test_tampered_entry_json(self):
        tampered = [(n, b"evil" if n == "pod/pod.json" else d) for n, d in GOOD]
        bundle, r = self.verify_failing(tampered, "-o", "json")
        doc = json.loads(r.out)
        self.assertFalse(doc["ok"])
        self.assertEqual(len(doc["problems"]), 1)
        self.assertEqual(doc["problems"][0]["entry"], "pod/pod.json")
        self.assertIn("sha256 mismatch", doc["problems"][0]["problem"])
        self.assert_error_line(r, bundle, "pod/pod.json: sha256 mismatch")

    def test_extra_entry(self):
        entries = GOOD + [("pod/planted.sh", b"#!/bin/sh\n")]
        bundle, r = self.verify_failing(entries)
        self.assert_error_line(r, bundle, "1 problem(s): pod/planted.sh: not in the manifest")

    def test_missing_entry(self):
        bundle, r = self.verify_failing(GOOD[:2])
        self.assert_error_line(r, bundle, "1 problem(s): logs/app.log: listed in the manifest but missing")

    def test_unsafe_entry_name(self):
        entries = GOOD + [("../evil", b"x")]
        bundle, r = self.verify_failing(entries)
        self.assert_error_line(r, bundle, "../evil: unsafe entry name")
        # Nothing was extracted anywhere.
        self.assertFalse(os.path.exists(os.path.join(self.dir, "..", "evil")))

    def test_control_characters_in_names_are_escaped(self):
        entries = GOOD + [("pod/\x1b[31mred", b"x")]
        bundle, r = self.verify_failing(entries)
        self.assertNotIn("\x1b", r.out + r.err)
        self.assertIn("\\x1b[31mred", r.out)

    def test_not_a_tar_gz(self):
        for name, content in [("text.tar.gz", b"this is not a bundle\n"),
                              ("random.tar.gz", os.urandom(4096)),
                              ("plain.gz", gzip.compress(b"just text, gzip-compressed\n"))]:
            with self.subTest(name):
                bundle = self.path(name)
                with open(bundle, "wb") as f:
                    f.write(content)
                r = self.verify(bundle)
                self.assertEqual(r.code, 1, r)
                self.assert_error_line(r, bundle, "not a tar.gz archive")
                self.assertEqual(r.out, "")

    def test_uncompressed_tar(self):
        bundle = self.path("case.tar")
        with tarfile.open(bundle, "w") as tar:
            info = tarfile.TarInfo("manifest.json")
            data = json.dumps(manifest_for([])).encode()
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        r = self.verify(bundle)
        self.assertEqual(r.code, 1, r)
        self.assert_error_line(r, bundle, "not gzip-compressed")

    def test_no_manifest(self):
        bundle = self.path("case.tar.gz")
        with tarfile.open(bundle, "w:gz") as tar:
            info = tarfile.TarInfo("pod/pod.json")
            info.size = 2
            tar.addfile(info, io.BytesIO(b"{}"))
        r = self.verify(bundle)
        self.assertEqual(r.code, 1, r)
        self.assert_error_line(r, bundle, "no manifest.json")

    def test_missing_file(self):
        r = self.verify(self.path("nothing-here.tar.gz"))
        self.assertEqual(r.code, 1, r)
        self.assert_error_line(r, "nothing-here.tar.gz", "No such file or directory")

    def test_usage(self):
        r = self.verify()
        self.assertEqual(r.code, 2, r)
        self.assertIn("BUNDLE is required", r.err)

    def test_help(self):
        r = self.verify("--help")
        self.assertEqual(r.code, 0, r)
        self.assertIn("kubectl ir verify", r.out)
        self.assertEqual(r.out.count("\n  kubectl ir verify "), 3, r.out)  # the examples


if __name__ == "__main__":
    unittest.main()
