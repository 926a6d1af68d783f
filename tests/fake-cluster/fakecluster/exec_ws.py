"""pods/exec over WebSocket: the channel protocols (channel.k8s.io .. v5.channel.k8s.io), refusals
as plain HTTP Status responses, streaming with backpressure, and the final Status on channel 3.

Frames: each binary message is one channel byte then payload: 0 stdin, 1 stdout, 2 stderr, 3 error
(one metav1.Status at the end), 4 resize, 255 close (v5: [255, 0] half-closes stdin)."""

import asyncio
import fcntl
import json
import logging
import secrets

from aiohttp import WSMsgType, web

from . import statuses
from .logs import pick_container, container_status

log = logging.getLogger("fakecluster")
PODS = ("", "pods")
CHUNK = 1024 * 1024
PIPE_SIZE = 1024 * 1024
F_SETPIPE_SZ = 1031
COALESCE_BELOW = 32 * 1024
COALESCE_DELAY = 0.002
PROTOCOLS_132 = ["v5.channel.k8s.io", "v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io",
                 "channel.k8s.io"]
PROTOCOLS_126 = ["v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io"]


def go_json(obj):
    """JSON as Go's encoding/json writes it (<, >, & escaped), compact."""
    s = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    return s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").encode()


def _go_list(argv):
    return "[" + " ".join(argv) + "]"


def status_success():
    return {"metadata": {}, "status": "Success"}


def status_exit(code, argv, version):
    if version >= (1, 30):   # the API server's stream translator re-wraps the kubelet's error
        msg = f"command terminated with non-zero exit code: command terminated with exit code {code}"
    else:
        msg = (f"command terminated with non-zero exit code: error executing command {_go_list(argv)}, "
               f"exit code {code}")
    return {"metadata": {}, "status": "Failure", "message": msg, "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


def status_internal(inner, version):
    """InternalError as the kubelet reports it (1.26) or as the 1.30+ stream translator re-wraps it."""
    if version >= (1, 30):
        inner = f"Internal error occurred: {inner}"
    return {"metadata": {}, "status": "Failure", "message": f"Internal error occurred: {inner}",
            "reason": "InternalError", "details": {"causes": [{"message": inner}]}, "code": 500}


def not_found_text(binary):
    exec_id = secrets.token_hex(32)
    return ("error executing command in container: failed to exec in container: failed to start exec "
            f'"{exec_id}": OCI runtime exec failed: exec failed: unable to start container process: exec: '
            f'"{binary}": executable file not found in $PATH: unknown')


def negotiate(offered, version):
    prefs = PROTOCOLS_132 if version >= (1, 30) else PROTOCOLS_126
    for p in prefs:
        if p in offered:
            return p
    return None


def _is_websocket(request):
    return (request.headers.get("Upgrade", "").lower() == "websocket"
            and "upgrade" in request.headers.get("Connection", "").lower())


async def pod_exec(cluster, request, info, user, ns):
    name = info.name
    e = cluster.store.get(PODS, ns, name)
    if e is None:
        raise statuses.not_found("pods", name)
    pod = e.obj
    q = request.query
    argv = q.getall("command", [])
    if info.subresource == "exec" and not argv:
        raise statuses.bad_request("you must specify at least 1 command")
    cname = pick_container(pod, q.get("container"))
    want_stdin = q.get("stdin") in ("true", "1")
    want_stdout = q.get("stdout", "true") in ("true", "1")
    want_stderr = q.get("stderr", "true") in ("true", "1")
    if info.subresource == "exec" and not (want_stdin or want_stdout or want_stderr):
        raise statuses.bad_request("you must specify at least 1 of stdin, stdout, stderr")
    if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
        raise statuses.bad_request(f"cannot exec into a container in a completed pod; current phase is "
                                   f"{pod['status']['phase']}")
    if not _is_websocket(request):
        raise statuses.bad_request("Upgrade request required (the fake cluster serves exec over WebSocket only: "
                                   "v4.channel.k8s.io / v5.channel.k8s.io)")
    version = cluster.k8s_version
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
    proto = negotiate(offered, version)
    if proto is None:
        if version < (1, 30):   # the kubelet's websocket handshake refuses with an empty 403
            return web.Response(status=403, body=b"", headers={"Connection": "close"})
        raise statuses.bad_request(f"unable to upgrade: no supported protocol in {offered}")
    uid = pod["metadata"]["uid"]
    running = cluster.runtime.is_running(uid, cname)
    if not running and version < (1, 30):
        # The kubelet answers the proxied upgrade itself; the API server passes its reply through.
        return web.Response(status=500, text=f'container not found ("{cname}")', content_type="text/plain")
    if info.subresource == "attach":
        argv = None
    ws = web.WebSocketResponse(protocols=[proto], max_msg_size=0, autoping=True, compress=False, heartbeat=None)
    await ws.prepare(request)
    session = ExecSession(cluster, request, ws, proto, version)
    try:
        await session.run(uid, cname, argv, want_stdin, want_stdout, want_stderr, running,
                          container_status(pod, cname))
    except (ConnectionResetError, ConnectionError, asyncio.CancelledError):
        session.kill()
    return ws


async def _read_available(stream, n):
    """What the stream holds right now (up to n bytes), without waiting for more."""
    buffered = len(getattr(stream, "_buffer", b""))
    if buffered == 0:
        await asyncio.sleep(0)
        buffered = len(getattr(stream, "_buffer", b""))
    if buffered == 0:
        return b""
    return await stream.read(min(n, buffered))


def _grow_pipes(proc):
    """Bigger pipes (1 MiB) mean fewer, larger reads and websocket frames for bulk output."""
    try:
        transport = proc._transport  # asyncio.subprocess.Process keeps its SubprocessTransport here
        for fd in (1, 2):
            pipe = transport.get_pipe_transport(fd)
            if pipe is not None:
                fcntl.fcntl(pipe.get_extra_info("pipe").fileno(), F_SETPIPE_SZ, PIPE_SIZE)
    except (AttributeError, OSError, ValueError):   # already closed, or not a pipe
        pass


class ExecSession:
    def __init__(self, cluster, request, ws, proto, version):
        self.c, self.request, self.ws, self.proto, self.version = cluster, request, ws, proto, version
        self.lock = asyncio.Lock()
        self.proc = None
        self.v5 = proto.startswith("v5.")
        self.cut = cluster.faults.take_exec_cut()
        self.sent = 0
        self.cut_done = False
        self.coalesce = True

    async def send(self, channel, data):
        async with self.lock:
            await self.ws.send_bytes(bytes((channel,)) + data)

    async def finish(self, status):
        try:
            await self.send(3, go_json(status))
            await self.ws.close()
        except (ConnectionResetError, ConnectionError, RuntimeError):
            pass

    def kill(self):
        if self.proc is not None and self.proc.returncode is None:
            try:
                self.proc.kill()
            except ProcessLookupError:
                pass

    async def run(self, uid, cname, argv, want_stdin, want_stdout, want_stderr, running, cstatus):
        await self.send(1, b"")
        if argv is None:    # attach: no process of ours to attach to
            await self.finish(status_internal("attach is not supported by the fake cluster", self.version))
            return
        if not running:
            await self.finish(status_internal(f'unable to upgrade connection: container not found ("{cname}")',
                                              self.version))
            return
        rtmod = self.c.rtmod
        try:
            self.proc = await self.c.runtime.exec(uid, cname, list(argv), want_stdin)
        except rtmod.ExecNotFound as ex:
            binary = ex.args[0] if ex.args else argv[0]
            await self.finish(status_internal(not_found_text(binary), self.version))
            return
        except rtmod.ContainerNotRunning:
            await self.finish(status_internal(f'unable to upgrade connection: container not found ("{cname}")',
                                              self.version))
            return
        proc = self.proc
        _grow_pipes(proc)
        pumps = []
        if proc.stdout is not None:
            pumps.append(asyncio.ensure_future(self.pump(proc.stdout, 1 if want_stdout else None)))
        if proc.stderr is not None:
            pumps.append(asyncio.ensure_future(self.pump(proc.stderr, 2 if want_stderr else None)))
        reader = asyncio.ensure_future(self.read_client(want_stdin))
        waiter = asyncio.ensure_future(asyncio.gather(proc.wait(), *pumps))
        done, _ = await asyncio.wait({waiter, reader}, return_when=asyncio.FIRST_COMPLETED)
        if waiter not in done:
            # The client went away before the command ended: stop the command.
            self.kill()
            for p in pumps:
                p.cancel()
            waiter.cancel()
            return
        reader.cancel()
        if self.cut_done:
            return
        rc = proc.returncode
        if rc == 0:
            await self.finish(status_success())
        else:
            code = rc if rc > 0 else 128 - rc
            await self.finish(status_exit(code, argv, self.version))

    async def pump(self, stream, channel):
        transport = getattr(stream, "_transport", None)
        while True:
            data = await stream.read(CHUNK)
            if not data:
                return
            if len(data) < COALESCE_BELOW and transport is not None and self.coalesce:
                # A writer issuing small writes (busybox head: 4 KiB) would cost one wake-up, read and
                # frame per write; let its output pile up in the pipe for a moment instead.
                transport.pause_reading()
                await asyncio.sleep(COALESCE_DELAY)
                transport.resume_reading()
                more = await _read_available(stream, CHUNK - len(data))
                if more:
                    data += more
            if channel is None:
                continue
            if self.cut is not None and channel == 1:
                if self.sent + len(data) >= self.cut:
                    part = data[:max(self.cut - self.sent, 0)]
                    if part:
                        await self.send(channel, part)
                    self.cut_done = True
                    log.info("fault: exec_cut after %d stdout bytes", self.cut)
                    if self.request.transport is not None:
                        self.request.transport.abort()
                    self.kill()
                    return
                self.sent += len(data)
            await self.send(channel, data)

    async def read_client(self, want_stdin):
        stdin = self.proc.stdin if want_stdin else None
        async for msg in self.ws:
            if msg.type != WSMsgType.BINARY:
                if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                    break
                continue
            data = msg.data
            if not data:
                continue
            ch = data[0]
            if ch == 0 and stdin is not None:
                if len(data) > 1:
                    try:
                        stdin.write(data[1:])
                        await stdin.drain()
                    except (BrokenPipeError, ConnectionResetError):
                        stdin = None
            elif ch == 255 and self.v5 and data[1:2] == b"\x00" and stdin is not None:
                stdin.close()
                stdin = None
        # The websocket closed: the client is gone.
