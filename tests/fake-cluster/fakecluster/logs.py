"""pods/log: container selection, previous, timestamps, sinceSeconds/sinceTime, tailLines, limitBytes,
follow. Reads the runtime's log file of "<RFC3339Nano> <line>" records."""

import asyncio
import datetime
import os

from aiohttp import web

from . import objects as O
from . import statuses

PODS = ("", "pods")


def pick_container(pod, requested, ephemeral_ok=True):
    """The kube-apiserver's container checks for log/exec/attach."""
    spec = pod["spec"]
    name = pod["metadata"]["name"]
    main = [c["name"] for c in spec.get("containers", [])]
    init = [c["name"] for c in spec.get("initContainers", []) or []]
    eph = [c["name"] for c in spec.get("ephemeralContainers", []) or []] if ephemeral_ok else []
    if not requested:
        ann = pod["metadata"].get("annotations", {}).get("kubectl.kubernetes.io/default-container")
        if len(main) == 1 and not init and not eph:
            return main[0]
        if ann in main:
            return ann
        msg = f"a container name must be specified for pod {name}, choose one of: [{' '.join(main)}]"
        if init:
            msg += f" or one of the init containers: [{' '.join(init)}]"
        if eph:
            msg += f" or one of the ephemeral containers: [{' '.join(eph)}]"
        raise statuses.bad_request(msg)
    if requested not in main + init + eph:
        raise statuses.bad_request(f"container {requested} is not valid for pod {name}")
    return requested


def container_status(pod, cname):
    st = pod.get("status", {})
    for key in ("containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"):
        for cs in st.get(key, []) or []:
            if cs.get("name") == cname:
                return cs
    return None


def _ts_of(line):
    sp = line.find(b" ")
    return O.parse_ts(line[:sp].decode(errors="replace")) if sp > 0 else None


async def pod_log(cluster, request, ns, name):
    e = cluster.store.get(PODS, ns, name)
    if e is None:
        raise statuses.not_found("pods", name)
    pod = e.obj
    q = request.query
    cname = pick_container(pod, q.get("container"))
    previous = q.get("previous") in ("true", "1")
    timestamps = q.get("timestamps") in ("true", "1")
    follow = q.get("follow") in ("true", "1")
    cs = container_status(pod, cname)
    uid = pod["metadata"]["uid"]
    if previous:
        path = cluster.runtime.log_path(uid, cname, True)
        if path is None:
            raise statuses.bad_request(f'previous terminated container "{cname}" in pod "{name}" not found')
    else:
        waiting = (cs or {}).get("state", {}).get("waiting")
        if cs is None or waiting:
            reason = (waiting or {}).get("reason", "ContainerCreating")
            raise statuses.bad_request(f'container "{cname}" in pod "{name}" is waiting to start: {reason}')
        path = cluster.runtime.log_path(uid, cname, False)
    try:
        tail = int(q["tailLines"]) if "tailLines" in q else None
        limit = int(q["limitBytes"]) if "limitBytes" in q else None
        since_s = int(q["sinceSeconds"]) if "sinceSeconds" in q else None
    except ValueError as ex:
        raise statuses.bad_request(str(ex))
    since = O.parse_ts(q["sinceTime"]) if "sinceTime" in q else None
    if since_s is not None:
        since = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=since_s)
    data = b""
    if path and os.path.exists(path):
        with open(path, "rb") as f:
            data = f.read()
    lines = data.splitlines(keepends=True)
    if lines and not lines[-1].endswith(b"\n"):
        partial = lines.pop()   # a record still being written
    else:
        partial = b""
    offset = len(data) - len(partial)
    if since is not None:
        lines = [ln for ln in lines if (_ts_of(ln) or since) >= since]
    if tail is not None:
        lines = lines[-tail:] if tail > 0 else []

    def render(ls):
        if timestamps:
            return b"".join(ls)
        return b"".join(ln.split(b" ", 1)[1] if b" " in ln else ln for ln in ls)

    body = render(lines)
    if limit is not None and limit >= 0:
        body = body[:limit]
    if not follow:
        return web.Response(body=body, content_type="text/plain")
    resp = web.StreamResponse(headers={"Content-Type": "text/plain", "Cache-Control": "no-cache, private"})
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    sent = len(body)
    await resp.write(body)
    buf = b""
    try:
        while limit is None or sent < limit:
            await asyncio.sleep(0.2)
            if path and os.path.exists(path):
                with open(path, "rb") as f:
                    f.seek(offset)
                    chunk = f.read()
                offset += len(chunk)
                buf += chunk
                if b"\n" in buf:
                    done, buf = buf.rsplit(b"\n", 1)
                    out = render((done + b"\n").splitlines(keepends=True))
                    if limit is not None:
                        out = out[:limit - sent]
                    sent += len(out)
                    await resp.write(out)
            if not cluster.runtime.is_running(uid, cname) or cluster.store.get(PODS, ns, name) is None:
                break
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    return resp
