"""Server-side printing (meta.k8s.io/v1 Table) for `kubectl get`, with kubectl's usual columns."""

import datetime

from .objects import parse_ts
from .selectors import selector_to_string


def human_duration(seconds):
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = s // 3600
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    d = h // 24
    if h < 24 * 8:
        return f"{d}d{h % 24}h" if h % 24 else f"{d}d"
    if d < 365 * 2:
        return f"{d}d"
    return f"{d // 365}y"


def age(ts):
    t = parse_ts(ts)
    if t is None:
        return "<unknown>"
    return human_duration((datetime.datetime.now(datetime.timezone.utc) - t).total_seconds())


def col(name, typ="string", priority=0, fmt=""):
    return {"name": name, "type": typ, "format": fmt, "description": name, "priority": priority}


NAME = col("Name", fmt="name")
AGE = col("Age")


def _pod_row(p):
    st = p.get("status", {})
    css = st.get("containerStatuses", [])
    ready = sum(1 for c in css if c.get("ready"))
    total = len(p.get("spec", {}).get("containers", []))
    reason = st.get("reason") or st.get("phase", "")
    for c in css:
        w = c.get("state", {}).get("waiting")
        t = c.get("state", {}).get("terminated")
        if w and w.get("reason"):
            reason = w["reason"]
        elif t and t.get("reason"):
            reason = t["reason"]
    if p["metadata"].get("deletionTimestamp"):
        reason = "Terminating"
    restarts = sum(c.get("restartCount", 0) for c in css)
    return [p["metadata"]["name"], f"{ready}/{total}", reason, str(restarts), age(p["metadata"].get("creationTimestamp")),
            st.get("podIP", "<none>"), p.get("spec", {}).get("nodeName", "<none>"),
            st.get("nominatedNodeName", "<none>"), "<none>"]


def _node_row(n):
    conds = {c["type"]: c["status"] for c in n.get("status", {}).get("conditions", [])}
    status = "Ready" if conds.get("Ready") == "True" else "NotReady"
    if n.get("spec", {}).get("unschedulable"):
        status += ",SchedulingDisabled"
    roles = sorted(k.split("/", 1)[1] for k in n["metadata"].get("labels", {})
                   if k.startswith("node-role.kubernetes.io/")) or ["<none>"]
    info = n.get("status", {}).get("nodeInfo", {})
    addrs = {a["type"]: a["address"] for a in n.get("status", {}).get("addresses", [])}
    return [n["metadata"]["name"], status, ",".join(roles), age(n["metadata"].get("creationTimestamp")),
            info.get("kubeletVersion", ""), addrs.get("InternalIP", "<none>"), addrs.get("ExternalIP", "<none>"),
            info.get("osImage", ""), info.get("kernelVersion", ""), info.get("containerRuntimeVersion", "")]


def _svc_row(s):
    sp = s.get("spec", {})
    ports = ",".join(f"{p['port']}/{p.get('protocol', 'TCP')}" for p in sp.get("ports", [])) or "<none>"
    sel = ",".join(f"{k}={v}" for k, v in sorted((sp.get("selector") or {}).items())) or "<none>"
    return [s["metadata"]["name"], sp.get("type", "ClusterIP"), sp.get("clusterIP", "<none>"), "<none>", ports,
            age(s["metadata"].get("creationTimestamp")), sel]


def _images(o):
    cs = o.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
    return ",".join(c["name"] for c in cs), ",".join(c.get("image", "") for c in cs)


def _deploy_row(d):
    st, sp = d.get("status", {}), d.get("spec", {})
    names, images = _images(d)
    return [d["metadata"]["name"], f"{st.get('readyReplicas', 0)}/{sp.get('replicas', 1)}",
            st.get("updatedReplicas", 0), st.get("availableReplicas", 0), age(d["metadata"].get("creationTimestamp")),
            names, images, selector_to_string(sp.get("selector") or {})]


def _rs_row(r):
    st, sp = r.get("status", {}), r.get("spec", {})
    names, images = _images(r)
    return [r["metadata"]["name"], sp.get("replicas", 1), st.get("replicas", 0), st.get("readyReplicas", 0),
            age(r["metadata"].get("creationTimestamp")), names, images, selector_to_string(sp.get("selector") or {})]


def _sts_row(s):
    st, sp = s.get("status", {}), s.get("spec", {})
    names, images = _images(s)
    return [s["metadata"]["name"], f"{st.get('readyReplicas', 0)}/{sp.get('replicas', 1)}",
            age(s["metadata"].get("creationTimestamp")), names, images]


def _ds_row(d):
    st = d.get("status", {})
    names, images = _images(d)
    ns = ",".join(f"{k}={v}" for k, v in (d["spec"].get("template", {}).get("spec", {}).get("nodeSelector") or {})
                  .items()) or "<none>"
    return [d["metadata"]["name"], st.get("desiredNumberScheduled", 0), st.get("currentNumberScheduled", 0),
            st.get("numberReady", 0), st.get("updatedNumberScheduled", 0), st.get("numberAvailable", 0), ns,
            age(d["metadata"].get("creationTimestamp")), names, images,
            selector_to_string(d["spec"].get("selector") or {})]


def _job_row(j):
    st, sp = j.get("status", {}), j.get("spec", {})
    status = "Complete" if st.get("succeeded", 0) >= sp.get("completions", 1) else "Running"
    return [j["metadata"]["name"], status, f"{st.get('succeeded', 0)}/{sp.get('completions', 1)}",
            age(st.get("startTime")), age(j["metadata"].get("creationTimestamp"))]


def _cj_row(c):
    sp, st = c.get("spec", {}), c.get("status", {})
    return [c["metadata"]["name"], sp.get("schedule", ""), sp.get("timeZone", "<none>"),
            str(sp.get("suspend", False)).capitalize(), len(st.get("active", [])),
            age(st.get("lastScheduleTime")) if st.get("lastScheduleTime") else "<none>",
            age(c["metadata"].get("creationTimestamp"))]


def _np_row(n):
    sel = selector_to_string(n.get("spec", {}).get("podSelector") or {}) or "<none>"
    return [n["metadata"]["name"], sel, age(n["metadata"].get("creationTimestamp"))]


def _ns_row(n):
    return [n["metadata"]["name"], n.get("status", {}).get("phase", "Active"),
            age(n["metadata"].get("creationTimestamp"))]


def _event_row(e):
    inv = e.get("involvedObject", {})
    last = e.get("lastTimestamp") or e.get("eventTime") or e["metadata"].get("creationTimestamp")
    return [age(last), e.get("type", ""), e.get("reason", ""), f"{inv.get('kind', '').lower()}/{inv.get('name', '')}",
            e.get("message", ""), e["metadata"]["name"]]


def _lease_row(o):
    return [o["metadata"]["name"], o.get("spec", {}).get("holderIdentity", ""),
            age(o["metadata"].get("creationTimestamp"))]


TABLES = {
    ("", "pods"): ([NAME, col("Ready"), col("Status"), col("Restarts", "string"), AGE, col("IP", priority=1),
                    col("Node", priority=1), col("Nominated Node", priority=1), col("Readiness Gates", priority=1)],
                   _pod_row),
    ("", "nodes"): ([NAME, col("Status"), col("Roles"), AGE, col("Version"), col("Internal-IP", priority=1),
                     col("External-IP", priority=1), col("OS-Image", priority=1), col("Kernel-Version", priority=1),
                     col("Container-Runtime", priority=1)], _node_row),
    ("", "namespaces"): ([NAME, col("Status"), AGE], _ns_row),
    ("", "services"): ([NAME, col("Type"), col("Cluster-IP"), col("External-IP"), col("Port(s)"), AGE,
                        col("Selector", priority=1)], _svc_row),
    ("", "events"): ([col("Last Seen"), col("Type"), col("Reason"), col("Object"), col("Message"),
                      col("Name", priority=1, fmt="name")], _event_row),
    ("apps", "deployments"): ([NAME, col("Ready"), col("Up-to-date", "integer"), col("Available", "integer"), AGE,
                               col("Containers", priority=1), col("Images", priority=1),
                               col("Selector", priority=1)], _deploy_row),
    ("apps", "replicasets"): ([NAME, col("Desired", "integer"), col("Current", "integer"), col("Ready", "integer"),
                               AGE, col("Containers", priority=1), col("Images", priority=1),
                               col("Selector", priority=1)], _rs_row),
    ("apps", "statefulsets"): ([NAME, col("Ready"), AGE, col("Containers", priority=1), col("Images", priority=1)],
                               _sts_row),
    ("apps", "daemonsets"): ([NAME, col("Desired", "integer"), col("Current", "integer"), col("Ready", "integer"),
                              col("Up-to-date", "integer"), col("Available", "integer"), col("Node Selector"), AGE,
                              col("Containers", priority=1), col("Images", priority=1), col("Selector", priority=1)],
                             _ds_row),
    ("batch", "jobs"): ([NAME, col("Status"), col("Completions"), col("Duration"), AGE], _job_row),
    ("batch", "cronjobs"): ([NAME, col("Schedule"), col("Timezone"), col("Suspend"), col("Active", "integer"),
                             col("Last Schedule"), AGE], _cj_row),
    ("networking.k8s.io", "networkpolicies"): ([NAME, col("Pod-Selector"), AGE], _np_row),
    ("coordination.k8s.io", "leases"): ([NAME, col("Holder"), AGE], _lease_row),
}


def wants_table(accept):
    return "as=Table" in (accept or "")


def table(key, objs, meta, include, kind, api_version):
    cols, fn = TABLES.get(key, ([NAME, AGE], lambda o: [o["metadata"]["name"],
                                                         age(o["metadata"].get("creationTimestamp"))]))
    rows = []
    for o in objs:
        row = {"cells": fn(o)}
        if include == "Object":
            row["object"] = {"kind": kind, "apiVersion": api_version, **o}
        elif include != "None":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": o["metadata"]}
        rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "columnDefinitions": cols,
            "rows": rows}
