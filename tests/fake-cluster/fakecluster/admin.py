"""/_fake/ admin endpoints (admin credentials only): faults, reset, restart, request log, config,
network, compromise."""

import asyncio
import json

from aiohttp import web

from . import statuses
from .cluster import parse_unmarked_pods


def _json(obj, code=200):
    return web.Response(text=json.dumps(obj, indent=1), status=code, content_type="application/json")


async def _body(request):
    raw = await request.read()
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except json.JSONDecodeError as e:
        raise statuses.bad_request(f"invalid JSON: {e}")


async def handle(server, request, user):
    if not user.is_admin:
        raise statuses.ApiError(403, f'User "{user.name}" cannot use the fake cluster admin API', "Forbidden", {})
    c = server.cluster
    path = request.path.rstrip("/")
    m = request.method
    if path == "/_fake/faults":
        if m == "GET":
            return _json(c.faults.describe())
        if m == "POST":
            try:
                c.faults.add(await _body(request))
            except (ValueError, KeyError, TypeError) as e:
                raise statuses.bad_request(f"bad fault: {e}")
            return _json(c.faults.describe())
        if m == "DELETE":
            c.faults.clear()
            return _json(c.faults.describe())
    elif path == "/_fake/reset" and m == "POST":
        await c.reset()
        return _json({"reset": True, "resourceVersion": str(c.store.rv)})
    elif path == "/_fake/restart" and m == "POST":
        body = await _body(request)
        asyncio.ensure_future(server.restart(float(body.get("down_seconds", 2))))
        return _json({"restarting": True, "down_seconds": float(body.get("down_seconds", 2))})
    elif path == "/_fake/requests":
        if m == "GET":
            return _json(c.requests)
        if m == "DELETE":
            n = len(c.requests)
            c.requests.clear()
            return _json({"cleared": n})
    elif path == "/_fake/config":
        if m == "POST":
            body = await _body(request)
            if "k8s_version" in body:
                try:
                    c.set_version(body["k8s_version"])
                except ValueError as e:
                    raise statuses.bad_request(str(e))
            if "continue_ttl_seconds" in body:
                c.store.continue_ttl = float(body["continue_ttl_seconds"])
            if "unmarked_pods" in body:
                try:
                    c.unmarked_pods = parse_unmarked_pods(body["unmarked_pods"])
                except ValueError as e:
                    raise statuses.bad_request(str(e))
            net = {k: body[k] for k in ("netpol_enforcement", "netpol_existing_connections") if k in body}
            if net:
                try:
                    c.network.configure(net)
                except ValueError as e:
                    raise statuses.bad_request(str(e))
                await c.network.flush()
        if m in ("GET", "POST"):
            net = c.network.describe()
            return _json({"k8s_version": "%d.%d" % c.k8s_version, "continue_ttl_seconds": c.store.continue_ttl,
                          "scenario": c.scenario_spec, "resourceVersion": str(c.store.rv),
                          "runtime": type(c.runtime).__module__,
                          "netpol_enforcement": net["netpol_enforcement"],
                          "netpol_existing_connections": net["netpol_existing_connections"],
                          "nodelocal_dns": net["nodelocal_dns"], "unmarked_pods": c.unmarked_pods})
    elif path == "/_fake/network" and m == "GET":
        await c.network.flush()
        out = c.network.describe()
        out["nftables"] = c.network.last_plan.nft if c.network.last_plan else ""
        return _json(out)
    elif path == "/_fake/compromise" and m == "POST":
        body = await _body(request)
        return _json(await _compromise(c, body))
    elif path == "/_fake/pods" and m == "GET":
        out = []
        for (ns, name), e in sorted(c.store.items(("", "pods")).items()):
            uid = e.obj["metadata"]["uid"]
            out.append({"namespace": ns, "name": name, "uid": uid, "fake": c.pods.fake.get(uid, {}),
                        "running": {ct["name"]: c.runtime.is_running(uid, ct["name"])
                                    for ct in e.obj["spec"]["containers"]}})
        return _json(out)
    raise statuses.not_found_path()


async def _compromise(c, body):
    """Plants the miner (profiles.plant) in a running container of a pod: {"namespace", "pod",
    "container" (default: the first container with processes)}."""
    if not isinstance(body, dict) or not body.get("namespace") or not body.get("pod"):
        raise statuses.bad_request('want {"namespace": ..., "pod": ..., "container": optional}')
    e = c.store.get(("", "pods"), body["namespace"], body["pod"])
    if e is None:
        raise statuses.not_found("pods", body["pod"])
    uid = e.obj["metadata"]["uid"]
    fakes = c.pods.fake.get(uid) or {}
    name = body.get("container") or next((ct["name"] for ct in e.obj["spec"]["containers"]
                                          if ct["name"] in fakes), None)
    if not name or not hasattr(c.runtime, "plant") or not c.runtime.is_running(uid, name):
        raise statuses.ApiError(409, f"pod {body['pod']}: container {name or '(none)'} has no running processes",
                                "Conflict", {})
    try:
        planted = await c.runtime.plant(uid, name)
    except Exception as ex:  # noqa: BLE001 - reported to the caller
        raise statuses.internal(f"compromise failed: {ex}")
    return {"namespace": body["namespace"], "pod": body["pod"], "container": name, **planted}
