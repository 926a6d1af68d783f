"""Helpers for the custody tests (sign, verify --key, upload): a real S3 server, a fault proxy, a
fake STS endpoint and evidence bundles made from scratch.

The S3 server is Ceph's radosgw (tests/s3-server/start.sh): it checks SigV4, versioning, multipart
uploads and Object Lock. The tests read the bucket back with boto3 (python3-boto3), a client written
independently of kubectl-ir's own SigV4 code. Everything listens on 127.0.0.1.
"""
import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
S3_SERVER = os.path.join(REPO, "tests", "s3-server")


class S3Server:
    """radosgw in a temporary directory, stopped (and its memory freed) by stop()."""

    def __init__(self):
        started = time.monotonic()
        for attempt in (1, 2):  # a busy CI machine: one more try, with what failed on stderr
            self.dir = tempfile.mkdtemp(prefix="ir-s3-")
            proc = subprocess.run([os.path.join(S3_SERVER, "start.sh"), self.dir], capture_output=True, timeout=300)
            if proc.returncode == 0:
                break
            subprocess.run([os.path.join(S3_SERVER, "stop.sh"), self.dir], capture_output=True, timeout=120)
            if attempt == 2:
                raise RuntimeError(f"radosgw did not start: {proc.stderr.decode(errors='replace')}")
            print(f"radosgw did not start, trying again: {proc.stderr.decode(errors='replace')[-2000:]}", flush=True)
        self.start_seconds = time.monotonic() - started
        with open(os.path.join(self.dir, "s3.json")) as f:
            info = json.load(f)
        self.endpoint = info["endpoint"]
        self.https_endpoint = info["https_endpoint"]
        self.ca = info["ca"]
        self.region = info["region"]
        self.users = info["users"]

    def stop(self):
        if self.dir:
            subprocess.run([os.path.join(S3_SERVER, "stop.sh"), self.dir], capture_output=True, timeout=120)
            self.dir = None

    def env(self, user="tester", **extra):
        """The environment kubectl-ir finds credentials in (and nothing from the caller's AWS_*)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update({"AWS_ACCESS_KEY_ID": self.users[user]["access_key"],
                    "AWS_SECRET_ACCESS_KEY": self.users[user]["secret_key"],
                    "AWS_REGION": self.region})
        env.update(extra)
        return env

    def client(self, user="tester", endpoint=None):
        import boto3
        from botocore.config import Config
        return boto3.client("s3", endpoint_url=endpoint or self.endpoint, region_name=self.region,
                            aws_access_key_id=self.users[user]["access_key"],
                            aws_secret_access_key=self.users[user]["secret_key"],
                            config=Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                                          retries={"max_attempts": 2}))

    def bucket(self, name, lock=False):
        """Creates a bucket (versioned, with Object Lock when lock=True)."""
        c = self.client()
        if lock:
            c.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
        else:
            c.create_bucket(Bucket=name)
        return name

    def empty_bucket(self, name):
        """Deletes every version and upload in an unlocked bucket (frees the memstore)."""
        c = self.client()
        for page in c.get_paginator("list_object_versions").paginate(Bucket=name):
            for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
                c.delete_object(Bucket=name, Key=v["Key"], VersionId=v["VersionId"])
        for u in c.list_multipart_uploads(Bucket=name).get("Uploads", []):
            c.abort_multipart_upload(Bucket=name, Key=u["Key"], UploadId=u["UploadId"])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FaultProxy:
    """A TCP proxy on 127.0.0.1 in front of the S3 server (a thread per connection and direction,
    blocking sockets and 1 MiB buffers: it keeps up with a multi-GiB upload).

    Rules act on the client's bytes: the first time a request whose start contains `pattern` (e.g.
    b"partNumber=3&") passes, `cut` closes both connections after forwarding the next `after` bytes
    (a part failing mid-way), `damage` flips one bit of the byte `after` bytes further on (a part
    damaged on its way, or read from a file that changed), and `stall` stops forwarding (the client
    hangs until it gives up or is killed). Each rule fires once. `seen` counts the requests matched.
    """

    def __init__(self, target_port):
        self.target_port = target_port
        self.rules = []  # dicts: pattern, action, after, fired
        self.seen = {}
        self.lock = threading.Lock()
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.sockets = []
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def cut_once(self, pattern, after=1 << 20):
        self.rules.append({"pattern": pattern, "action": "cut", "after": after, "fired": False})

    def damage_once(self, pattern, after=1 << 20):
        self.rules.append({"pattern": pattern, "action": "damage", "after": after, "fired": False})

    def stall_once(self, pattern):
        self.rules.append({"pattern": pattern, "action": "stall", "after": 0, "fired": False})

    def stop(self):
        self.stopped = True
        for s in [self.listener] + self.sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def _accept(self):
        while not self.stopped:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            self.sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()

    def _match(self, window):
        with self.lock:
            for rule in self.rules:
                if not rule["fired"] and rule["pattern"] in window:
                    rule["fired"] = True
                    self.seen[rule["pattern"]] = self.seen.get(rule["pattern"], 0) + 1
                    return rule
        return None

    def _pump(self, src, dst, from_client):
        buf = bytearray(1 << 20)
        view = memoryview(buf)
        tail = b""
        budget = None
        damage_at = None  # bytes still to pass before the one to damage
        stalled = False
        try:
            while True:
                n = src.recv_into(buf)
                if n == 0:
                    break
                if from_client and budget is None and damage_at is None and not stalled:
                    head = bytes(view[:min(n, 4096)])
                    rule = self._match(tail + head) or (self._match(bytes(view[:n])) if n > 4096 else None)
                    tail = bytes(view[max(0, n - 256):n])
                    if rule and rule["action"] == "cut":
                        budget = rule["after"]
                    elif rule and rule["action"] == "damage":
                        damage_at = rule["after"]
                    elif rule:
                        stalled = True
                if stalled:
                    continue  # swallow: the request never completes
                if damage_at is not None and damage_at >= 0:
                    if damage_at < n:
                        buf[damage_at] ^= 1
                    damage_at -= n
                if budget is not None:
                    if n >= budget:
                        dst.sendall(view[:budget])
                        break
                    budget -= n
                dst.sendall(view[:n])
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class FakeSts:
    """An STS endpoint answering AssumeRoleWithWebIdentity with fixed credentials.

    It checks the form (Action, Version, RoleArn, WebIdentityToken) and records each request; a
    wrong token gets STS's AccessDenied error document. `expiration` is the credentials' expiry.
    """

    def __init__(self, access_key, secret_key, token, role_arn, session_token="", expiration="2099-01-01T00:00:00Z"):
        self.requests = []
        sts = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
                form = {k: v[0] for k, v in parse_qs(body).items()}
                sts.requests.append({"path": self.path, "form": form, "headers": dict(self.headers)})
                if (form.get("Action") != "AssumeRoleWithWebIdentity" or form.get("Version") != "2011-06-15"
                        or form.get("RoleArn") != role_arn or form.get("WebIdentityToken") != token):
                    self._answer(403, "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>"
                                      "<Message>Not authorized to perform sts:AssumeRoleWithWebIdentity</Message>"
                                      "</Error></ErrorResponse>")
                    return
                self._answer(200, f"""<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
<AssumeRoleWithWebIdentityResult><Credentials>
<AccessKeyId>{access_key}</AccessKeyId><SecretAccessKey>{secret_key}</SecretAccessKey>
<SessionToken>{session_token}</SessionToken><Expiration>{expiration}</Expiration>
</Credentials><SubjectFromWebIdentityToken>system:serviceaccount:ir:responder</SubjectFromWebIdentityToken>
</AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>""")

            def _answer(self, code, text):
                data = text.encode()
                self.send_response(code)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def make_bundle(path, entries=None, acquisition=None, extra_entry=None):
    """Writes an evidence bundle as kubectl-ir writes it (ustar entries, manifest.json last).

    entries: {name: bytes}; acquisition: a dict stored as acquisition.json (listed in the
    manifest); extra_entry: (name, bytes) added to the archive but not to the manifest.
    Returns the bundle's SHA-256 (hex).
    """
    entries = dict(entries or {"pod/pod.json": b'{"kind":"Pod"}\n', "logs/web.log": b"line 1\nline 2\n"})
    if acquisition is not None:
        entries["acquisition.json"] = json.dumps(acquisition).encode()
    artifacts = []
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.USTAR_FORMAT) as tar:
        def add(name, data):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 1764930000
            tar.addfile(info, io.BytesIO(data))
        for name, data in entries.items():
            add(name, data)
            artifacts.append({"path": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                              "collected_at": "2026-12-05T10:15:00Z", "source": "test", "method": "local",
                              "exit_status": None, "truncated": False, "note": ""})
        if extra_entry:
            add(*extra_entry)
        manifest = {"format": "kubectl-ir-bundle/v1", "created": "2026-12-05T10:15:09Z", "artifacts": artifacts}
        add("manifest.json", json.dumps(manifest).encode())
    data = buf.getvalue()
    with open(path, "wb") as f:
        f.write(data)
    return hashlib.sha256(data).hexdigest()


ACQUISITION = {
    "format": "kubectl-ir-acquisition/v1",
    "case": "case-20261205-101500-ab12",
    "examiner": "alice",
    "caller": "alice",
    "tool": {"name": "kubectl-ir", "version": "0.1.0", "commit": "6b43b5c"},
    "cluster": {"context": "prod", "server": "https://10.0.0.1:6443"},
    "host": "laptop-7",
    "command": "kubectl ir collect web-1 -n shop",
    "started": "2026-12-05T10:15:00Z", "ended": "2026-12-05T10:15:09Z",
    "result": "complete",
    "subjects": [{"namespace": "shop", "pod": "web-1", "uid": "d3459307-6c1e-4b8a-9b1e-0f3c2a7d1e55",
                  "resourceVersion": "4711", "node": "node-1",
                  "images": [{"container": "web", "imageID": "registry.example/web@sha256:" + "ab" * 32,
                              "digest": "sha256:" + "ab" * 32}]}],
    "not_collected": [],
}


def openssl(*args, input=None):
    proc = subprocess.run(["openssl", *args], capture_output=True, input=input, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)}: {proc.stderr.decode(errors='replace')}")
    return proc.stdout


def make_keys(directory, kind="ec", passphrase=None):
    """A private key (PEM; encrypted with `passphrase`) and its public key; returns (key, pub)."""
    key = os.path.join(directory, f"{kind}{'-enc' if passphrase else ''}.key")
    pub = os.path.join(directory, f"{kind}.pub")
    if kind == "ec":
        args = ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key]
    else:
        args = ["genpkey", "-algorithm", "ED25519", "-out", key]
    if passphrase:
        args += ["-aes-256-cbc", "-pass", "pass:" + passphrase]
    openssl(*args)
    pass_args = ["-passin", "pass:" + passphrase] if passphrase else []
    openssl("pkey", "-in", key, "-pubout", "-out", pub, *pass_args)
    return key, pub


def copy(src, dst):
    shutil.copyfile(src, dst)
    return dst
