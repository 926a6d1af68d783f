#!/usr/bin/python3
"""Writes synthetic evidence bundles for the report's browser tests and benchmark.

Independent of kubectl-ir's code (like the fake cluster): a bundle is a tar.gz of regular files
plus manifest.json with the SHA-256 of each (lib/evidence/bundle.hpp describes the format), so a
mistake in the product's writer or reader is not mirrored here.

  make_bundle.py hostile OUT.tar.gz     payloads (markup, script, javascript: URLs, RTL overrides,
                                         NULs, invalid UTF-8, terminal escapes) in every field the
                                         report shows, plus analysis documents per the contract
  make_bundle.py large OUT.tar.gz [--files N]   a pod with N listed files (default 100,000)
  make_bundle.py tampered OUT.tar.gz    the hostile bundle with one entry changed after hashing

Every payload that would run calls window.__irPwned(...) or sets window.__irPwned, and every one
that would fetch asks for http://127.0.0.1:9/ (the discard port: nothing listens): the tests
assert that neither happened.
"""
import argparse
import gzip
import hashlib
import io
import json
import sys
import tarfile

CREATED = "2026-12-05T10:15:09Z"
T0 = 1796465700  # 2026-12-05T10:15:00Z

# Payloads. JSON cannot carry invalid UTF-8: there the collector's parsers store "\xff" escapes
# (as text), and raw bytes appear only in raw artifacts (logs).
PAYLOADS = [
    '<script>window.__irPwned="script"</script>',
    '"><img src=x onerror="window.__irPwned=\'img\'">',
    "'><svg onload=window.__irPwned='svg'>",
    'javascript:window.__irPwned="url"',
    '</script><script>window.__irPwned="close"</script>',
    '<!--<script>window.__irPwned="comment"</script>-->',
    '<iframe src="http://127.0.0.1:9/frame"></iframe>',
    '<img src="http://127.0.0.1:9/beacon.png">',
    '<link rel="stylesheet" href="http://127.0.0.1:9/x.css">',
    '<a href="javascript:window.__irPwned=\'link\'">click</a>',
    'invoice\u202egnp.exe',
    '\u2028line separator\u2029',
    'zero\u200bwidth',
    'esc \\x1b[31mred\\x1b[0m',
    'nul\\x00byte',
    'bad \\xff\\xfe utf-8',
    '{{constructor.constructor("window.__irPwned=1")()}}',
    '${window.__irPwned="template"}',
]
P = " ".join(PAYLOADS)  # all of them in one string


class Bundle:
    def __init__(self):
        self.entries = []  # (name, bytes, meta)

    def add(self, name, data, method="api", source="GET /synthetic", truncated=False, note=""):
        if isinstance(data, (dict, list)):
            data = json.dumps(data, indent=2, ensure_ascii=False).encode("utf-8")
        elif isinstance(data, str):
            data = data.encode("utf-8")
        self.entries.append((name, data, dict(method=method, source=source, truncated=truncated, note=note)))

    def write(self, path, tamper=None):
        artifacts = []
        for name, data, meta in self.entries:
            artifacts.append({"path": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                              "collected_at": CREATED, "source": meta["source"], "method": meta["method"],
                              "exit_status": None, "truncated": meta["truncated"], "note": meta["note"]})
        manifest = json.dumps({"format": "kubectl-ir-bundle/v1", "created": CREATED, "artifacts": artifacts},
                              indent=2, ensure_ascii=False).encode("utf-8")
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            for name, data, _ in self.entries + [("manifest.json", manifest, None)]:
                if tamper == name:
                    data = data + b"tampered\n"
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mode = 0o644
                info.mtime = T0
                tar.addfile(info, io.BytesIO(data))
        with open(path, "wb") as f:
            f.write(gzip.compress(raw.getvalue(), compresslevel=1, mtime=0))


def iso(t):
    import datetime
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod_json(name, container):
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "shop", "uid": "0d0e0a0d-0000-4000-8000-" + "0" * 12,
                     "creationTimestamp": iso(T0 - 3600), "labels": {"app": P}},
        "spec": {"nodeName": "node-" + P, "containers": [{"name": container, "image": "registry.example.com/x:" + P}]},
        "status": {"phase": "Running", "podIP": "10.244.0.66", "hostIP": "192.0.2.2", "podIPs": [{"ip": "10.244.0.66"}],
                   "startTime": iso(T0 - 3600),
                   "containerStatuses": [{"name": container, "restartCount": 1, "imageID": "registry.example.com/x@sha256:" + "ab" * 32,
                                          "state": {"running": {"startedAt": iso(T0 - 1800)}},
                                          "lastState": {"terminated": {"startedAt": iso(T0 - 3500), "finishedAt": iso(T0 - 1801),
                                                                       "reason": P, "exitCode": 137}}}]},
    }


def hostile(b):
    container = "app"
    c = "containers/app/"
    b.add("acquisition.json", {
        "format": "kubectl-ir-acquisition/v1", "case": "case-" + P, "examiner": P, "caller": P,
        "tool": {"name": "kubectl-ir", "version": P, "commit": P}, "cluster": {"context": P, "server": "https://" + P},
        "host": P, "command": "kubectl ir collect " + P, "started": iso(T0), "ended": iso(T0 + 9), "result": "partial",
        "subjects": [{"namespace": "shop", "pod": "hostile-" + P, "uid": P, "resourceVersion": "1", "node": P,
                      "images": [{"container": P, "imageID": "registry/x@sha256:" + P, "digest": "sha256:" + P}]}],
        "not_collected": ["filesystem of container " + P + ": " + P]}, method="local", source="kubectl-ir")
    b.add("acquisition.log", "kubectl-ir acquisition log\ncase:             " + P + "\nexaminer:         " + P + "\n",
          method="local", source=P)
    b.add("pod/pod.json", pod_json("hostile-" + P, P))
    b.add("pod/events.json", {"items": [{"type": "Warning", "reason": P, "message": P, "count": 3, "lastTimestamp": iso(T0 - 60),
                                         "metadata": {"creationTimestamp": iso(T0 - 60)}}]})
    b.add("pod/owner-1-replicaset-hostile.json", {"kind": "ReplicaSet" + P, "metadata": {"name": P}})
    log = b"".join([
        iso(T0 - 100).encode() + b" " + P.encode() + b"\n",
        iso(T0 - 90).encode() + b" raw bytes: \xff\xfe\x00 \x1b]0;title\x07 \x1b[31mred\x1b[0m \xe2\x80\xae reversed\n",
        b"no timestamp " + P.encode() + b"\n",
    ])
    b.add("logs/app.log", log, source="GET /api/v1/namespaces/shop/pods/x/log?container=" + P)
    b.add(c + "processes/processes.json", {"records": [
        {"kind": "process", "source": "walk", "pid": 1, "ppid": 0, "comm": P, "cmdline": ["/bin/sh", P], "exe": "/bin/busybox",
         "cwd": P, "state": "S", "starttime": 1000, "uid": {"real": 0}, "flags": [], "sockets": []},
        {"kind": "process", "source": "walk", "pid": 66, "ppid": 1, "comm": "x" + P, "cmdline": [P, P], "exe": "/tmp/" + P,
         "cwd": "/tmp", "state": "R", "starttime": 1500, "uid": {"real": 1000}, "flags": ["unexpected_marker"],
         "sockets": [{"fd": 3, "inode": 4242}]}]}, method="exec", source="exec: sh -c " + P)
    b.add(c + "processes/ps.json", {"records": [{"kind": "process", "source": "ps", "pid": 66, "ppid": 1, "user": P, "args": P}]},
          method="exec")
    b.add(c + "network/sockets.json", {"sockets": [
        {"kind": "socket", "proto": "tcp", "local_ip": "10.244.0.66", "local_port": 40000, "remote_ip": "198.51.100.7",
         "remote_port": 3333, "state": "ESTABLISHED", "inode": 4242, "pids": [66]},
        {"kind": "unix_socket", "proto": "unix", "path": "@" + P, "state": "LISTEN", "type": "STREAM", "inode": 5}]},
          method="exec")
    listing = [{"kind": "entry", "path": "/tmp/" + p, "type": "file", "size": 10, "mode": "0644", "uid": 0, "gid": 0,
                "mtime": iso(T0 - 500 + i)} for i, p in enumerate(PAYLOADS)]
    listing.append({"kind": "entry", "path": "/tmp/link", "type": "symlink", "size": 4, "mode": "0777", "uid": 0, "gid": 0,
                    "mtime": iso(T0 - 400), "target": P, "flags": ["inconsistent"]})
    listing.append({"kind": "unparsed", "reason": P, "raw": P})
    b.add(c + "filesystem/listing.jsonl", "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in listing), method="exec")
    b.add(c + "filesystem/hashes.json", {"executables": [{"path": "/tmp/" + P, "pid": 66, "sha256": "cd" * 32}],
                                          "files": [{"name": "tmp/" + PAYLOADS[0], "sha256": "ef" * 32}]}, method="exec")
    journal = [
        {"time": iso(T0 - 5), "case": P, "action": "label", "namespace": "shop", "pod": "hostile-" + P, "labels": {P: P}},
        {"time": iso(T0 - 4), "case": P, "action": "verdict", "namespace": "shop", "pod": "hostile-" + P,
         "egress": {"state": "NOT contained", "reason": P}, "ingress": {"state": P, "reason": P}},
        {"time": iso(T0 + 9), "case": P, "action": "collect.end", "detail": P},
    ]
    b.add("journal.jsonl", "".join(json.dumps(j, ensure_ascii=False) + "\n" for j in journal) + "not json " + P + "\n",
          method="local", source="case journal " + P)
    b.add("playbook/run.json", {"playbook": {"name": P}, "failed": 1, "steps": [
        {"id": "collect", "uses": "collect", "status": "failed", "detail": P, "outputs": {"not_collected": [P]}},
        {"id": "siblings", "uses": "siblings", "status": "ok", "detail": "",
         "outputs": {"digest": P, "partial": True, "pods": [{"namespace": P, "name": P, "workload": P, "node": P, "phase": P}]}}]},
          method="local")
    finding = {"id": "F1", "kind": "process", "rule": P, "severity": "critical", "container": "app", "summary": P,
               "subject": {"pid": 66, "path": "/tmp/" + P, "remote": "198.51.100.7:3333"}, "evidence": {"artifact": P}}
    b.add("analysis/indicators.json", {
        "format": "kubectl-ir-analysis/v1", "kind": "indicators", "pod": {"namespace": "shop", "name": P}, "generated_at": iso(T0),
        "rules": [{"id": P, "severity": "high", "description": P}],
        "findings": [finding, dict(finding, id="F2", kind="connection", severity=P, rule="conn-" + P, container=P)],
        "counts": {"total": 2}, "gaps": [P]}, method="local")
    b.add("analysis/drift.json", {
        "format": "kubectl-ir-analysis/v1", "kind": "drift", "pod": {"namespace": "shop", "name": P}, "generated_at": iso(T0),
        "baseline": {"source": "siblings", "digest": P, "quorum": 1, "members": [
            {"namespace": P, "name": P, "node": P, "relation": P, "status": "failed", "reason": P}]},
        "findings": [{"id": "F1", "kind": "file", "rule": "drift.file.added", "severity": "medium", "container": "app",
                      "summary": P, "subject": {"path": "/tmp/" + PAYLOADS[1]}, "seen_in": {"count": 0, "of": 2},
                      "judged_against": P}],
        "gaps": []}, method="local")
    b.add("pods/shop/other/pod/pod.json", pod_json("other-" + P, "app"))


def large(b, n):
    b.add("pod/pod.json", pod_json("big-7d4b9c8f6-x2k9p", "app"))
    b.add("acquisition.log", "kubectl-ir acquisition log\ncase:             case-large\nexaminer:         bench\n", method="local")
    lines = []
    dirs = ["/usr/lib/python3/dist-packages/pkg%03d/" % d for d in range(max(1, n // 200))]
    for i in range(n):
        d = dirs[i % len(dirs)]
        lines.append('{"kind":"entry","path":"%sfile-%06d.py","type":"file","size":%d,"mode":"0644","uid":0,"gid":0,'
                     '"mtime":"%s"}\n' % (d, i, (i * 7919) % 100000, iso(T0 - 86400 * 30 + (i * 37) % (86400 * 30))))
    lines.append('{"kind":"entry","path":"/tmp/.x/needle-in-the-haystack","type":"file","size":1,"mode":"0755","uid":0,"gid":0,'
                 '"mtime":"%s"}\n' % iso(T0 - 10))
    b.add("containers/app/filesystem/listing.jsonl", "".join(lines), method="exec", source="exec: find / -xdev -printf ...")
    b.add("containers/app/processes/processes.json", {"records": [
        {"kind": "process", "source": "walk", "pid": 1, "ppid": 0, "comm": "python3", "cmdline": ["python3", "app.py"],
         "exe": "/usr/bin/python3.11", "cwd": "/app", "state": "S", "starttime": 1000, "uid": {"real": 0}, "flags": [], "sockets": []}]},
          method="exec")
    b.add("journal.jsonl", json.dumps({"time": iso(T0), "case": "case-large", "action": "collect.start",
                                       "namespace": "shop", "pod": "big-7d4b9c8f6-x2k9p"}) + "\n", method="local")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["hostile", "large", "tampered"])
    ap.add_argument("out")
    ap.add_argument("--files", type=int, default=100_000)
    a = ap.parse_args()
    b = Bundle()
    if a.kind == "large":
        large(b, a.files)
    else:
        hostile(b)
    b.write(a.out, tamper="pod/events.json" if a.kind == "tampered" else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
