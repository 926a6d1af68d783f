"""The HTTPS server: TLS with client certificates, the request pipeline (request log, faults,
authentication, authorization, dispatch), health endpoints, restart and shutdown."""

import asyncio
import logging
import os
import signal
import ssl
import time

from aiohttp import web

from . import admin, discovery, statuses
from .auth import User, authenticate, forbidden
from .cluster import Cluster
from .handlers import Api, parse_request, respond
from .kubeconfig import write_kubeconfig

log = logging.getLogger("fakecluster")
PUBLIC = ("/healthz", "/readyz", "/livez", "/version")
MAX_LOG = 200_000


class Server:
    def __init__(self, workdir, scenario, k8s_version, port=0, host="127.0.0.1"):
        self.workdir = workdir
        self.cluster = Cluster(workdir, scenario, k8s_version)
        self.api = Api(self.cluster)
        self.host, self.port = host, port
        self.runner = None
        self.server = None
        self.stopping = asyncio.Event()

    # -- TLS ------------------------------------------------------------------------------------
    def ssl_context(self):
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(os.path.join(self.workdir, "server.crt"), os.path.join(self.workdir, "server.key"))
        ctx.load_verify_locations(os.path.join(self.workdir, "ca.crt"))
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.set_alpn_protocols(["http/1.1"])
        return ctx

    # -- pipeline -------------------------------------------------------------------------------
    async def handle(self, request):
        c = self.cluster
        path = request.path
        if path in ("/healthz", "/livez"):
            return web.Response(text="ok")
        if path == "/readyz":
            if c.ready:
                return web.Response(text="ok")
            return web.Response(status=500, text="[-]fake-cluster-pods-started failed: reason withheld\n"
                                                 "readyz check failed")
        admin_path = path.startswith("/_fake/")
        entry = None
        if not admin_path:
            entry = {"time": time.time(), "method": request.method, "path": path, "query": request.query_string,
                     "user": None, "status": None}
            if len(c.requests) >= MAX_LOG:
                del c.requests[: MAX_LOG // 10]
            c.requests.append(entry)
        t0 = time.monotonic()
        status = 500
        try:
            user = self._authenticate(request)
            if entry is not None:
                entry["user"] = user.name
            if admin_path:
                resp = await admin.handle(self, request, user)
            else:
                c.faults.count_request()
                injected = await c.faults.intercept(request, user)
                if injected is not None:
                    resp = injected
                else:
                    resp = await self._serve(request, user)
            if request.method in ("POST", "PUT", "PATCH", "DELETE"):
                await c.network.flush()   # the fabric enforces a write before it is answered
            status = resp.status
            return resp
        except statuses.ApiError as e:
            status = e.code
            return e.response()
        except (asyncio.CancelledError, ConnectionResetError):
            status = 499
            raise
        except Exception as e:  # noqa: BLE001 - a bug here must still answer like an API server
            log.exception("internal error serving %s %s", request.method, request.path_qs)
            err = statuses.internal(str(e))
            status = 500
            return err.response()
        finally:
            if entry is not None:
                entry["status"] = status
                entry["duration_ms"] = round((time.monotonic() - t0) * 1000, 2)

    def _authenticate(self, request):
        has_creds = "Authorization" in request.headers or (
            request.transport is not None and request.transport.get_extra_info("peercert"))
        if not has_creds:
            return User("system:anonymous", ["system:unauthenticated"])
        return authenticate(request)

    async def _serve(self, request, user):
        c = self.cluster
        info = parse_request(request, c.registry, c.k8s_version)
        if request.path == "/version" or request.path == "/version/":
            return respond(request, c.version_info)
        if user.name == "system:anonymous":
            if any(request.path == p for p in PUBLIC):
                pass
            else:
                raise forbidden(user, info.attributes())
        allowed, _ = c.authorizer.allowed(user, info.attributes())
        if not allowed:
            raise forbidden(user, info.attributes())
        if request.path.startswith("/openapi/"):
            return self._openapi(request)
        return await self.api.dispatch(request, info, user)

    def _openapi(self, request):
        reg = self.cluster.registry
        path = request.path.rstrip("/")
        if path == "/openapi/v3":
            return respond(request, discovery.openapi_v3_root(reg))
        if path.startswith("/openapi/v3/"):
            doc = discovery.openapi_v3_gv(reg, path[len("/openapi/v3/"):])
            if doc is not None:
                return respond(request, doc)
        raise statuses.not_found_path()

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self):
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self.runner.setup()
        await self.listen()
        write_kubeconfig(self.workdir, self.port)
        log.info("listening on https://%s:%d (k8s %d.%d, scenario %s)", self.host, self.port,
                 *self.cluster.k8s_version, self.cluster.scenario_spec)
        t = time.monotonic()
        await self.cluster.load()
        log.info("scenario loaded in %.2fs; ready", time.monotonic() - t)

    async def listen(self):
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(self.runner.server, self.host, self.port, ssl=self.ssl_context(),
                                               reuse_address=True, backlog=512)
        self.port = self.server.sockets[0].getsockname()[1]
        self.cluster.network.api_port = self.port

    async def restart(self, down_seconds):
        """Simulates an API server restart: stop listening, drop connections, listen again."""
        await asyncio.sleep(0.1)   # let the admin response go out
        log.info("restart: down for %.1fs", down_seconds)
        self.server.close()
        for proto in list(self.runner.server.connections):
            if proto.transport is not None:
                proto.transport.abort()
        await self.server.wait_closed()
        await asyncio.sleep(down_seconds)
        await self.listen()
        log.info("restart: listening again on %d", self.port)

    async def stop(self):
        if self.server is not None:
            self.server.close()
            for proto in list(self.runner.server.connections):
                if proto.transport is not None:
                    proto.transport.abort()
        try:
            await asyncio.wait_for(self.cluster.shutdown(), 30)
        except asyncio.TimeoutError:
            log.error("runtime shutdown timed out")
        if self.runner is not None:
            await self.runner.cleanup()


async def serve(workdir, scenario, k8s_version, port=0):
    srv = Server(workdir, scenario, k8s_version, port)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, srv.stopping.set)
    try:
        await srv.start()
        await srv.stopping.wait()
        log.info("stopping")
    finally:
        await srv.stop()
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        log.info("stopped")
        # The runtime has cleaned up; do not wait for idle executor threads at interpreter exit.
        logging.shutdown()
        os._exit(0)
