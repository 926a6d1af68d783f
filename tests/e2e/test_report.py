"""e2e: kubectl ir report — pages of real bundles (the demo scenario's triage, isolate + collect, the
hostile pod) and synthetic ones (payloads in every field, 100,000 files, a tampered entry), opened
in headless Chromium (tests/browser/inspect_page.js: Debian's chromium driven by playwright-core;
scripts/setup-browser.sh installs both), plus the Markdown and Timesketch outputs.

Screenshots of the demo page are kept under $IR_ARTIFACTS_DIR (build/dev/tests/e2e/artifacts
under ctest)."""
import datetime
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from harness import IR_BIN, REPO, fake_only
from workloads import start, stop

cluster = w = None
work = None
WEB = NS = None   # the compromised replica and its namespace (setUpModule)
HOSTILE = "hostile-5f7c9d8b6-h0st1"
BROWSER = os.path.join(REPO, "tests", "browser")
ARTIFACTS = os.environ.get("IR_ARTIFACTS_DIR", os.path.join(REPO, "build", "report-artifacts"))
MAKE_BUNDLE = os.path.join(BROWSER, "make_bundle.py")


def setUpModule():
    global cluster, work, w, WEB, NS
    if not os.path.exists(os.path.join(BROWSER, "node_modules", "playwright-core")) or not os.path.exists("/usr/bin/chromium"):
        raise RuntimeError("the browser tests need chromium and playwright-core: run scripts/setup-browser.sh")
    cluster, w = start("hostile", "report")  # the demo scenario plus the hostile pod
    WEB, NS = w.suspect, w.namespace
    work = tempfile.mkdtemp(prefix="ir-report-")


def tearDownModule():
    stop(cluster, w)
    if work:
        shutil.rmtree(work, ignore_errors=True)


def ir(*args, home="home", timeout=300):
    return cluster.ir(*args, env={"KUBECTL_IR_HOME": os.path.join(work, home)}, timeout=timeout, cwd=work)


def report(*args):
    proc = subprocess.run([IR_BIN, "report", *args], capture_output=True, timeout=300, cwd=work)
    return proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")


def inspect(page, *extra):
    """The page as headless Chromium shows it (inspect_page.js's JSON)."""
    proc = subprocess.run(["node", os.path.join(BROWSER, "inspect_page.js"), page, *extra], capture_output=True, timeout=300,
                          cwd=BROWSER)
    if proc.returncode != 0:
        raise AssertionError("inspect_page.js failed: " + proc.stderr.decode(errors="replace"))
    return json.loads(proc.stdout)


def synthetic(kind, *extra):
    path = os.path.join(work, kind + ".tar.gz")
    if not os.path.exists(path):
        subprocess.run(["/usr/bin/python3", MAKE_BUNDLE, kind, path, *extra], check=True, timeout=300)
    return path


class PageSafety:
    """What every page must be: no request but itself, nothing injected ran, its own script did."""

    def assert_safe(self, d, page):
        self.assertTrue(d["ready"], "the page's own script did not finish")
        self.assertEqual(d["requests"], ["file://" + os.path.abspath(page)], "the page made a request")
        self.assertIsNone(d["pwned"], "an injected payload ran")
        self.assertIsNone(d["pwnedAfter"], "an injected payload ran after interaction")
        self.assertEqual(d["injected"], 0, "markup from the bundle became elements")
        self.assertEqual(d["csp"], [], "a CSP violation: markup from the bundle was parsed")
        self.assertEqual(d["cspAfter"], [])
        self.assertEqual(d["errors"], [])
        self.assertEqual(d["scripts"], ["application/json", "inline"])


class DemoTriage(unittest.TestCase, PageSafety):
    """The triage playbook on the compromised demo pod, then its page."""

    @classmethod
    def setUpClass(cls):
        w.reset()
        r = ir("run", "triage", WEB, "-n", NS, home="home-triage")
        assert r.code == 0, r
        cls.bundle = os.path.join(work, re.search(r"^bundle: (.+)$", r.out, re.M).group(1))
        cls.code, cls.out, cls.err = report(cls.bundle)
        cls.page = cls.bundle[: -len(".tar.gz")] + ".html"
        cls.d = inspect(cls.page, "--screenshot", os.path.join(ARTIFACTS, "demo"), "--all-rows", "--search", "kworker")

    def test_written_beside_the_bundle_and_verified(self):
        self.assertEqual(self.code, 0, self.err)
        self.assertEqual(self.out.strip(), self.page)
        self.assertTrue(os.path.exists(self.page))
        self.assertEqual(os.stat(self.page).st_mode & 0o777, 0o600)
        sha = subprocess.run(["sha256sum", self.bundle], capture_output=True, text=True).stdout.split()[0]
        self.assertIn("bundle sha256: " + sha, self.err)
        self.assertEqual(self.d["verified"], "true")
        with open(self.page, encoding="utf-8") as f:
            self.assertIn(sha, f.read())

    def test_safe(self):
        self.assert_safe(self.d, self.page)

    def test_summary(self):
        s = self.d["summaryText"]
        workload = [f"Deployment/{w.deployment}"] if w.suspect_owners else []   # a bare pod on a real cluster
        for text in [f"{NS}/" + WEB, *workload, "triage", "contained", "exe-in-tmp"]:
            self.assertIn(text, s)

    def test_miner_marked_suspicious_in_the_process_tree(self):
        miners = [p for p in self.d["suspicious"] if w.miner_shown in p["text"]]
        self.assertEqual(len(miners), 1, self.d["suspicious"])
        self.assertIn("exe-in-tmp", miners[0]["badges"])
        self.assertFalse(any("httpd" in p["text"] for p in self.d["suspicious"]))
        self.assertGreaterEqual(self.d["processes"], 4)

    def test_search_finds_the_miner(self):
        self.assertIn("1 of", self.d["search"]["count"])
        self.assertTrue(any(w.miner_shown in v for v in self.d["search"]["visible"]), self.d["search"])

    def test_connection_linked_to_the_miner(self):
        rows = [r for r in self.d["connections"] if w.pool in r["cells"]]
        self.assertEqual(len(rows), 1, self.d["connections"])
        pid = r"\d+" if w.real else None   # the demo's pids: miner 3, httpd 2
        self.assertTrue(any(re.fullmatch(f"{pid or 3} kworkerds", c) for c in rows[0]["cells"]), rows[0])
        self.assertEqual(rows[0]["cls"], "marked")
        listen = [r for r in self.d["connections"] if "LISTEN" in r["cells"]]
        self.assertTrue(any(re.fullmatch(f"{pid or 2} httpd", c) for r in listen for c in r["cells"]), listen)

    def test_timeline_isolation_before_collection(self):
        what = [r["cells"][3] for r in self.d["timeline"]]
        times = [datetime.datetime.fromisoformat(r["cells"][0].lstrip("≈ ").replace("Z", "+00:00")) for r in self.d["timeline"]]
        self.assertEqual(times, sorted(times), "the timeline is not in time order")
        verdict = next(i for i, w in enumerate(what) if w.startswith("isolation verdict: egress contained"))
        collect = next(i for i, w in enumerate(what) if w.startswith("step collect (collect) started"))
        self.assertLess(verdict, collect)
        kinds = {r["cells"][1] for r in self.d["timeline"]}
        for k in ["Kubernetes Event", "Container Lifecycle", "Log Line", "Process Started", "File Modified", "Responder Action"]:
            self.assertIn(k, kinds)

    def test_custody_lists_every_artifact(self):
        paths = [r["cells"][0] for r in self.d["custody"]]
        self.assertIn("pod/pod.json", paths)
        self.assertIn("journal.jsonl", paths)
        self.assertTrue(all(r["cells"][7] == "ok" for r in self.d["custody"]))

    def test_screenshots_kept(self):
        for part in ["top", "processes", "timeline"]:
            self.assertGreater(os.path.getsize(os.path.join(ARTIFACTS, "demo-" + part + ".png")), 10_000)

    def test_markdown(self):
        code, out, err = report(self.bundle, "--format", "md")
        self.assertEqual(code, 0, err)
        self.assertIn(f"### kubectl-ir report: {NS}/" + WEB, out)
        self.assertIn("**Evidence verified**", out)
        # The top findings: the indicators' and drift's (the triage playbook runs drift).
        self.assertIn("mining-pool-port", out)
        self.assertIn("drift.", out)
        self.assertRegex(out, r"\*\*Custody\*\*: bundle .* sha256 `[0-9a-f]{64}`")

    def test_timesketch(self):
        code, out, err = report(self.bundle, "--format", "timesketch")
        self.assertEqual(code, 0, err)
        lines = out.splitlines()
        self.assertGreater(len(lines), 300)
        descs = set()
        for line in lines:
            e = json.loads(line)
            for key in ["message", "datetime", "timestamp_desc"]:
                self.assertIn(key, e)
            datetime.datetime.fromisoformat(e["datetime"])
            descs.add(e["timestamp_desc"])
        self.assertTrue({"Responder Action", "Process Started", "File Modified", "Log Line"} <= descs, descs)


class IsolateThenCollect(unittest.TestCase):
    """isolate, then collect: the journal in the bundle puts the isolation before the collection."""

    def test_timeline(self):
        w.reset()
        self.assertIn(ir("isolate", WEB, "-n", NS, home="home-ic").code, (0, 3))
        bundle = os.path.join(work, "ic.tar.gz")
        r = ir("collect", WEB, "-n", NS, "-o", bundle, home="home-ic")
        self.assertEqual(r.code, 0, r)
        code, out, err = report(bundle, "--format", "timesketch")
        self.assertEqual(code, 0, err)
        msgs = [json.loads(line)["message"] for line in out.splitlines()]
        label = next(i for i, m in enumerate(msgs) if m.startswith("label "))
        start = next(i for i, m in enumerate(msgs) if m.startswith("collect.start"))
        self.assertLess(label, start)
        code, md, err = report(bundle, "--format", "md")
        self.assertIn("**Collected**", md)   # acquisition.log (or .json) read
        ir("release", WEB, "-n", NS, home="home-ic")


@fake_only("its hostile pod")
class HostilePod(unittest.TestCase, PageSafety):
    """The fake's hostile pod: escapes, newlines, invalid UTF-8 in names, arguments, files, logs."""

    def test_page(self):
        bundle = os.path.join(work, "hostile-pod.tar.gz")
        r = ir("collect", HOSTILE, "-n", "shop", "-o", bundle, home="home-hostile")
        self.assertIn(r.code, (0, 3), r)
        code, out, err = report(bundle, "-o", os.path.join(work, "hostile-pod.html"))
        self.assertEqual(code, 0, err)
        page = os.path.join(work, "hostile-pod.html")
        d = inspect(page, "--screenshot", os.path.join(ARTIFACTS, "hostile-pod"))
        self.assert_safe(d, page)
        text = json.dumps(d["suspicious"])
        self.assertIn("\\\\x1b]0;pwned\\\\x07", text)   # the OSC title escape, shown as text
        self.assertGreaterEqual(len(d["suspicious"]), 5)
        if r.code == 3:   # the endless ps made the collection partial: the summary says so in red
            self.assertIn("partial", d["steps"])


class SyntheticHostile(unittest.TestCase, PageSafety):
    """Payloads in every field the page shows."""

    @classmethod
    def setUpClass(cls):
        cls.bundle = synthetic("hostile")
        cls.page = os.path.join(work, "synthetic-hostile.html")
        cls.code, cls.out, cls.err = report(cls.bundle, "-o", cls.page)
        cls.d = inspect(cls.page, "--search", "<script>", "--file-filter", "<img", "--all-rows")

    def test_safe(self):
        self.assertEqual(self.code, 0, self.err)
        self.assert_safe(self.d, self.page)

    def test_payloads_shown_as_text(self):
        self.assertIn('<script>window.__irPwned="script"</script>', self.d["title"])
        self.assertIn("invoice\\u202egnp.exe", self.d["summaryText"])   # the RTL override made visible
        self.assertNotIn("\u202e", json.dumps(self.d, ensure_ascii=False))
        self.assertTrue(any("onerror" in r for r in self.d["fileFilter"]["rows"]))
        self.assertIn("2 of", self.d["fileFilter"]["count"])

    def test_findings_linked(self):
        self.assertEqual(len(self.d["suspicious"]), 1)
        self.assertIn("66", self.d["suspicious"][0]["text"])
        self.assertTrue(self.d["suspicious"][0]["badges"][0].startswith("<script>"))

    def test_failed_step_in_red(self):
        self.assertIn("collect (collect): failed", self.d["steps"])

    def test_page_source_cannot_close_the_data_block(self):
        with open(self.page, encoding="utf-8") as f:
            html = f.read()
        start = html.index('<script type="application/json" id="ir-data">')
        end = html.index("</script>", start)
        block = html[start:end]
        self.assertNotIn("<", block[len('<script type="application/json" id="ir-data">'):])
        self.assertEqual(html.count("<script"), 2)
        self.assertIn("default-src 'none'", html)
        self.assertIn("script-src 'sha256-", html)

    def test_markdown_escapes(self):
        code, out, err = report(self.bundle, "--format", "md")
        self.assertEqual(code, 0, err)
        self.assertNotIn("<script>", out)
        self.assertIn("\\<script\\>", out)
        self.assertNotIn("](", out)
        self.assertNotIn("\u202e", out)

    def test_timesketch_lines(self):
        code, out, err = report(self.bundle, "--format", "timesketch")
        self.assertEqual(code, 0, err)
        for line in out.splitlines():
            e = json.loads(line)
            self.assertTrue(e["message"] and e["timestamp_desc"])
            datetime.datetime.fromisoformat(e["datetime"])


class Tampered(unittest.TestCase):
    def test_page_says_not_verified(self):
        bundle = synthetic("tampered")
        page = os.path.join(work, "tampered.html")
        code, out, err = report(bundle, "-o", page)
        self.assertEqual(code, 1)
        self.assertIn("does not verify", err)
        d = inspect(page, "--all-rows")
        self.assertEqual(d["verified"], "false")
        bad = [r for r in d["custody"] if r["cls"] == "problem"]
        self.assertEqual([r["cells"][0] for r in bad], ["pod/events.json"])

    def test_not_a_bundle(self):
        path = os.path.join(work, "garbage.tar.gz")
        with open(path, "wb") as f:
            f.write(b"not a bundle")
        code, out, err = report(path)
        self.assertEqual(code, 1)
        self.assertRegex(err, r"^kubectl-ir: error: report .*garbage.tar.gz")
        self.assertFalse(os.path.exists(os.path.join(work, "garbage.html")))
        self.assertFalse(os.path.exists(os.path.join(work, "garbage.html.partial")))


class LargeListing(unittest.TestCase):
    """100,000 files: the page loads, pages its rows, and the filter answers."""

    def test_page(self):
        bundle = synthetic("large", "--files", "100000")
        page = os.path.join(work, "large.html")
        code, out, err = report(bundle, "-o", page)
        self.assertEqual(code, 0, err)
        size = os.path.getsize(page)
        self.assertLess(size, 100 * 100_000, "more than 100 bytes per file: rows are not embedded compactly")
        with open(page, encoding="utf-8") as f:
            self.assertLess(f.read().count("<tr"), 200, "table rows written as HTML")
        d = inspect(page, "--file-filter", "needle-in-the")
        self.assertTrue(d["ready"])
        self.assertEqual(d["filesCount"], "100,001 rows")
        self.assertEqual(len(d["files"]), 100)          # one page drawn
        self.assertEqual(d["fileFilter"]["rows"], ["/tmp/.x/needle-in-the-haystack"])
        print(f"\n100,000 files: page {size} bytes, interactive in {d['interactiveMs']} ms, "
              f"filter answered in {d['fileFilter']['ms']} ms")


if __name__ == "__main__":
    unittest.main()
