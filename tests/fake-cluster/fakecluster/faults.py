"""Fault injection: per-request rules (status, delay, garbage bodies, dropped connections) and
special kinds (expire_continue, exec_cut, delete_pod), from the scenario or POST /_fake/faults."""

import asyncio
import logging
import re
import socket
import struct

from aiohttp import web

from .statuses import REASON_BY_CODE, status_body, json_response

log = logging.getLogger("fakecluster")

DEFAULT_MESSAGES = {
    429: "Too many requests, please try again later.",
    500: "Internal error occurred: injected fault",
    503: "The server is currently unable to handle the request",
    504: "Timeout: request did not complete within the allotted timeout",
}


class Rule:
    def __init__(self, spec):
        self.spec = dict(spec)
        m = spec.get("match", {}) or {}
        self.method = (m.get("method") or "").upper()
        self.path = re.compile(m["path"]) if m.get("path") else None
        self.query = re.compile(m["query"]) if m.get("query") else None
        self.user = m.get("user")
        self.times = spec.get("times")
        self.hits = 0

    def matches(self, request, user):
        if self.method and request.method != self.method:
            return False
        if self.path and not self.path.search(request.path):
            return False
        if self.query and not self.query.search(request.query_string):
            return False
        if self.user and (user is None or user.name != self.user):
            return False
        return True

    def take(self):
        if self.times is not None and self.hits >= self.times:
            return False
        self.hits += 1
        return True

    @property
    def exhausted(self):
        return self.times is not None and self.hits >= self.times


class Faults:
    def __init__(self, cluster):
        self.c = cluster
        self.rules = []
        self.exec_cuts = []        # [after_bytes, remaining times]
        self.pod_deletes = []      # [{"namespace","name","after": n}]

    def load(self, specs):
        self.clear()
        self.add(specs or [])

    def clear(self):
        self.rules.clear()
        self.exec_cuts.clear()
        self.pod_deletes.clear()
        self.c.store.force_expire = 0

    def add(self, specs):
        if isinstance(specs, dict):
            specs = [specs]
        for s in specs:
            kind = s.get("kind", "http")
            if kind == "expire_continue":
                self.c.store.force_expire = self.c.store.continue_requests + int(s.get("nth", 1))
            elif kind == "exec_cut":
                self.exec_cuts.append([int(s.get("after_bytes", 0)), int(s.get("times", 1))])
            elif kind == "delete_pod":
                self.pod_deletes.append({"namespace": s.get("namespace", "default"), "name": s["name"],
                                         "after": int(s.get("after_requests", 0))})
            elif kind == "http":
                self.rules.append(Rule(s))
            else:
                raise ValueError(f"unknown fault kind {kind!r}")

    def describe(self):
        return {"rules": [dict(r.spec, hits=r.hits) for r in self.rules],
                "exec_cut": [{"after_bytes": a, "times": t} for a, t in self.exec_cuts],
                "delete_pod": self.pod_deletes,
                "expire_continue_at": self.c.store.force_expire or None}

    def take_exec_cut(self):
        if not self.exec_cuts:
            return None
        cut = self.exec_cuts[0]
        cut[1] -= 1
        if cut[1] <= 0:
            self.exec_cuts.pop(0)
        return cut[0]

    def count_request(self):
        for d in list(self.pod_deletes):
            d["after"] -= 1
            if d["after"] <= 0:
                self.pod_deletes.remove(d)
                log.info("fault: deleting pod %s/%s", d["namespace"], d["name"])
                asyncio.ensure_future(self.c.pods.delete(d["namespace"], d["name"], grace=0))

    async def intercept(self, request, user):
        """-> a Response to send instead of handling the request, or None. May sleep (delay)."""
        for r in list(self.rules):
            if not r.matches(request, user) or not r.take():
                continue
            if r.exhausted:
                self.rules.remove(r)
            s = r.spec
            if s.get("delay_ms"):
                await asyncio.sleep(s["delay_ms"] / 1000.0)
            if s.get("reset"):
                _reset(request.transport)
                raise asyncio.CancelledError()
            if "status" not in s and "body" not in s:
                continue
            code = int(s.get("status", 200))
            headers = {}
            if s.get("retry_after") is not None:
                headers["Retry-After"] = str(s["retry_after"])
            if "body" in s:
                return web.Response(body=s["body"].encode() if isinstance(s["body"], str) else s["body"],
                                    status=code, content_type=s.get("content_type", "application/json"),
                                    headers=headers)
            details = None
            if code == 429:
                details = {"retryAfterSeconds": int(s.get("retry_after", 1))}
            msg = s.get("message") or DEFAULT_MESSAGES.get(code, f"injected fault {code}")
            return json_response(status_body(code, msg, s.get("reason", REASON_BY_CODE.get(code, "")), details),
                                 code, headers)
        return None


def _reset(transport):
    """Aborts the connection with a TCP RST (SO_LINGER 0), as a crashed peer or a middlebox
    does: the client reads ECONNRESET ("connection reset by peer"), not a clean EOF."""
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    transport.abort()
