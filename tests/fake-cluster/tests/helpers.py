"""Test helpers: start/stop a fake cluster in a temp dir, run kubectl, raw HTTPS and WebSocket calls."""

import asyncio
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import unittest
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"


class Cluster:
    def __init__(self, scenario="demo", version="1.32"):
        self.dir = tempfile.mkdtemp(prefix="fakecluster-test-")
        out = subprocess.run([os.path.join(HERE, "start.sh"), self.dir, "--scenario", scenario,
                              "--k8s-version", version], capture_output=True, text=True, timeout=180)
        if out.returncode != 0:
            log = open(os.path.join(self.dir, "server.log")).read() if os.path.exists(
                os.path.join(self.dir, "server.log")) else ""
            raise RuntimeError(f"start.sh failed: {out.stderr}\n{log[-3000:]}")
        self.kubeconfig = out.stdout.strip()
        with open(os.path.join(self.dir, "port")) as f:
            self.port = int(f.read())
        self.ctx = ssl.create_default_context(cafile=os.path.join(self.dir, "ca.crt"))

    def stop(self):
        subprocess.run([os.path.join(HERE, "stop.sh"), self.dir], timeout=60)
        shutil.rmtree(self.dir, ignore_errors=True)

    def kubectl(self, *args, context=None, input=None, timeout=60):
        cmd = [KUBECTL, "--kubeconfig", self.kubeconfig]
        if context:
            cmd += ["--context", context]
        return subprocess.run(cmd + list(args), capture_output=True, input=input, timeout=timeout,
                              text=not isinstance(input, bytes))

    def request(self, method, path, body=None, token="fake-admin-token", headers=None):
        """-> (status, headers, parsed JSON body or raw bytes)."""
        data = json.dumps(body).encode() if body is not None and not isinstance(body, bytes) else body
        req = urllib.request.Request(f"https://127.0.0.1:{self.port}{path}", data=data, method=method)
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=30) as r:
                status, hdrs, raw = r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            status, hdrs, raw = e.code, dict(e.headers), e.read()
        try:
            return status, hdrs, json.loads(raw)
        except ValueError:
            return status, hdrs, raw

    def ws_exec(self, pod, command, protocols, namespace="shop", container=None, stdin_data=None):
        """Raw WebSocket exec. -> ("refused", status, headers, body) or ("ok", protocol, [(channel, bytes)])."""
        import aiohttp
        q = "&".join("command=" + urllib.parse.quote(c, safe="") for c in command) + "&stdout=true&stderr=true"
        if container:
            q += f"&container={container}"
        if stdin_data is not None:
            q += "&stdin=true"
        url = f"https://127.0.0.1:{self.port}/api/v1/namespaces/{namespace}/pods/{pod}/exec?{q}"

        async def run():
            async with aiohttp.ClientSession() as s:
                try:
                    async with s.ws_connect(url, protocols=protocols, ssl=self.ctx,
                                            headers={"Authorization": "Bearer fake-admin-token"}) as ws:
                        if stdin_data is not None:
                            await ws.send_bytes(b"\x00" + stdin_data)
                            await ws.send_bytes(b"\xff\x00")
                        frames = []
                        async for m in ws:
                            if m.type == aiohttp.WSMsgType.BINARY:
                                frames.append((m.data[0], m.data[1:]))
                        return ("ok", ws.protocol, frames)
                except aiohttp.WSServerHandshakeError as e:
                    return ("refused", e.status, dict(e.headers or {}), None)
        return asyncio.run(run())


class ClusterTestCase(unittest.TestCase):
    scenario = "demo"
    version = "1.32"

    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(cls.scenario, cls.version)

    @classmethod
    def tearDownClass(cls):
        cls.cluster.stop()

    def kubectl_ok(self, *args, **kw):
        r = self.cluster.kubectl(*args, **kw)
        self.assertEqual(r.returncode, 0, f"kubectl {' '.join(args)} failed: {r.stderr}")
        return r.stdout
