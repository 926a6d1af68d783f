"""Scenario loading: YAML files (with `include:`), workload expansion into owned objects, and the
synthetic `scale:N` generator. A scenario is data; the server turns it into store objects and pods."""

import copy
import os

import yaml

from . import objects as O

HERE = os.path.dirname(os.path.abspath(__file__))
SCENARIO_DIR = os.path.join(os.path.dirname(HERE), "scenarios")
WEB_DIGEST = "sha256:" + O.det_hex("web-digest")
WEB_IMAGE = "registry.example.com/shop/web:1.4.2"
BASE_NAMESPACES = ["default", "kube-system", "kube-public", "kube-node-lease"]


class Scenario:
    def __init__(self, name, features=None, rbac=None, faults=None, objects=None, settings=None):
        self.name = name
        self.features = features or {}
        self.rbac = rbac or {}
        self.faults = faults or []
        self.objects = objects or []
        self.settings = settings or {}


def load(spec):
    if spec.startswith("scale:"):
        return scale(int(spec.split(":", 1)[1]))
    path = spec
    if not os.path.exists(path):
        path = os.path.join(SCENARIO_DIR, spec if spec.endswith(".yaml") else spec + ".yaml")
    doc = _read(path)
    return Scenario(os.path.basename(path).rsplit(".", 1)[0], doc.get("features"), doc.get("rbac"),
                    doc.get("faults"), expand(doc.get("objects", [])), doc.get("settings"))


def _excluded(objs, exclude):
    """objs without those `exclude:` names ({kind, name, namespace?}; namespace omitted: any)."""
    out = []
    for o in objs:
        md = o.get("metadata") or {}
        if any(e.get("kind") == o.get("kind") and e.get("name") == md.get("name")
               and e.get("namespace", md.get("namespace")) == md.get("namespace") for e in exclude or []):
            continue
        out.append(o)
    return out


def _read(path, seen=()):
    with open(path) as f:
        doc = yaml.safe_load(f) or {}
    merged = {"features": {}, "rbac": {}, "faults": [], "objects": [], "settings": {}}
    for inc in doc.get("include", []) or []:
        p = os.path.join(os.path.dirname(path), inc)
        if p in seen:
            continue
        sub = _read(p, seen + (path,))
        _merge_doc(merged, sub)
    merged["objects"] = _excluded(merged["objects"], doc.get("exclude"))   # of the includes only
    _merge_doc(merged, doc)
    return merged


def _merge_doc(into, doc):
    into["features"].update(doc.get("features") or {})
    into["settings"].update(doc.get("settings") or {})
    for kind in ("users", "groups"):
        for who, v in ((doc.get("rbac") or {}).get(kind) or {}).items():
            cur = into["rbac"].setdefault(kind, {}).setdefault(who, {})
            for k, val in v.items():
                if k == "rules":
                    cur.setdefault("rules", []).extend(val)
                else:
                    cur[k] = val
    into["faults"].extend(doc.get("faults") or [])
    into["objects"].extend(doc.get("objects") or [])


# Workload expansion -------------------------------------------------------------------------

def _owner(obj, controller=True):
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
            "uid": O.det_uid(obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"]),
            "controller": controller, "blockOwnerDeletion": True}


def _merge_container(c, override):
    c = dict(c)
    for k, v in override.items():
        c[k] = copy.deepcopy(v)
    return c


def _pod_from_template(owner, template, name, index, overrides, manager, generate_name=None):
    """A controller's pod. generate_name: the prefix its controller names pods by (ReplicaSets, DaemonSets
    and Jobs do, StatefulSets do not); kept only if name has it."""
    ns = owner["metadata"]["namespace"]
    tmeta = template.get("metadata", {})
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": ns, "labels": dict(tmeta.get("labels", {}))},
           "spec": copy.deepcopy(template.get("spec", {}))}
    if generate_name and name.startswith(generate_name):
        pod["metadata"]["generateName"] = generate_name
    if tmeta.get("annotations"):
        pod["metadata"]["annotations"] = dict(tmeta["annotations"])
    pod["metadata"]["ownerReferences"] = [_owner(owner)]
    pod["x-manager"] = manager
    ov = overrides[index] if index < len(overrides) else {}
    pod["metadata"]["labels"].update(ov.get("labels", {}))
    if ov.get("annotations"):
        pod["metadata"].setdefault("annotations", {}).update(ov["annotations"])
    for key in ("containers", "initContainers"):
        cov = (ov.get(key) or {})
        pod["spec"][key] = [_merge_container(c, cov.get(c["name"], {})) for c in pod["spec"].get(key, [])]
        if not pod["spec"][key]:
            del pod["spec"][key]
    for k in ("x-state", "status"):
        if k in ov:
            pod[k] = copy.deepcopy(ov[k])
    if ov.get("node"):
        pod["spec"]["nodeName"] = ov["node"]
    if ov.get("ready") is False:
        pod["x-ready"] = False
    return pod


def _names(prefix, owner_key, n, overrides):
    out = []
    for i in range(n):
        ov = overrides[i] if i < len(overrides) else {}
        if ov.get("name"):
            out.append(ov["name"])
        else:
            out.append(prefix + (ov.get("suffix") or O.kube_suffix(owner_key, i)))
    return out


def _template_hash(obj):
    return obj.get("x-template-hash") or O.template_hash(obj["metadata"].get("namespace"), obj["metadata"]["name"])


def expand(objs):
    nodes = [o["metadata"]["name"] for o in objs if o.get("kind") == "Node"] or [O.NODE_NAME]
    out = []
    for o in objs:
        o = copy.deepcopy(o)
        kind = o.get("kind")
        o["metadata"].setdefault("namespace", "") if kind in ("Namespace", "Node") else None
        if kind == "Deployment":
            out += _expand_deployment(o)
        elif kind == "StatefulSet":
            out += _expand_statefulset(o)
        elif kind == "DaemonSet":
            out += _expand_daemonset(o, nodes)
        elif kind == "CronJob":
            out += _expand_cronjob(o)
        elif kind == "Job":
            out += _expand_job(o, None)
        else:
            out.append(o)
    return out


def _expand_deployment(d):
    ns, name = d["metadata"]["namespace"], d["metadata"]["name"]
    h = _template_hash(d)
    overrides = d.pop("x-pods", [])
    replicas = d["spec"].get("replicas", 1)
    tmpl = d["spec"]["template"]
    tmpl.setdefault("metadata", {}).setdefault("labels", {})
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
          "metadata": {"name": f"{name}-{h}", "namespace": ns,
                       "labels": dict(tmpl["metadata"]["labels"], **{"pod-template-hash": h}),
                       "annotations": {"deployment.kubernetes.io/desired-replicas": str(replicas),
                                       "deployment.kubernetes.io/max-replicas": str(replicas + 1),
                                       "deployment.kubernetes.io/revision": "1"},
                       "ownerReferences": [_owner(d)]},
          "spec": {"replicas": replicas,
                   "selector": {"matchLabels": dict(d["spec"]["selector"].get("matchLabels", {}),
                                                    **{"pod-template-hash": h})},
                   "template": copy.deepcopy(tmpl)}}
    rs["spec"]["template"]["metadata"]["labels"]["pod-template-hash"] = h
    d.setdefault("metadata", {}).setdefault("annotations", {})["deployment.kubernetes.io/revision"] = "1"
    d["spec"].setdefault("strategy", {"type": "RollingUpdate",
                                      "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
    d["spec"].setdefault("revisionHistoryLimit", 10)
    d["spec"].setdefault("progressDeadlineSeconds", 600)
    names = _names(f"{name}-{h}-", ("rs", ns, name), replicas, overrides)
    pods = [_pod_from_template(rs, rs["spec"]["template"], n, i, overrides, "kube-controller-manager", f"{name}-{h}-")
            for i, n in enumerate(names)]
    return [d, rs] + pods


def _expand_statefulset(s):
    name = s["metadata"]["name"]
    overrides = s.pop("x-pods", [])
    replicas = s["spec"].get("replicas", 1)
    h = f"{name}-{_template_hash(s)}"
    s["spec"].setdefault("serviceName", name)
    s["spec"].setdefault("podManagementPolicy", "OrderedReady")
    s["spec"].setdefault("updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
    pods = []
    for i in range(replicas):
        p = _pod_from_template(s, s["spec"]["template"], f"{name}-{i}", i, overrides, "kube-controller-manager")
        p["metadata"]["labels"].update({"controller-revision-hash": h,
                                        "statefulset.kubernetes.io/pod-name": f"{name}-{i}",
                                        "apps.kubernetes.io/pod-index": str(i)})
        p["spec"].setdefault("hostname", f"{name}-{i}")
        p["spec"].setdefault("subdomain", s["spec"]["serviceName"])
        pods.append(p)
    return [s] + pods


def _expand_daemonset(d, nodes):
    """One pod per node (the i-th of x-pods overrides the i-th node's pod)."""
    ns, name = d["metadata"]["namespace"], d["metadata"]["name"]
    overrides = d.pop("x-pods", [])
    h = O.kube_suffix("ds", ns, name, n=10).replace("b", "5")
    d["spec"].setdefault("updateStrategy", {"type": "RollingUpdate",
                                            "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
    names = _names(f"{name}-", ("ds", ns, name), len(nodes), overrides)
    pods = []
    for i, n in enumerate(names):
        p = _pod_from_template(d, d["spec"]["template"], n, i, overrides, "kube-controller-manager", f"{name}-")
        p["metadata"]["labels"].update({"controller-revision-hash": h, "pod-template-generation": "1"})
        p["spec"].setdefault("nodeName", nodes[i])
        pods.append(p)
    return [d] + pods


def _expand_cronjob(c):
    ns, name = c["metadata"]["namespace"], c["metadata"]["name"]
    jobs = c.pop("x-jobs", [{}])
    out = [c]
    for i, jov in enumerate(jobs):
        jname = jov.get("name") or f"{name}-{29301120 + 60 * i}"
        jt = copy.deepcopy(c["spec"]["jobTemplate"])
        job = {"apiVersion": "batch/v1", "kind": "Job",
               "metadata": {"name": jname, "namespace": ns, "labels": dict(jt.get("metadata", {}).get("labels", {})),
                            "annotations": {"batch.kubernetes.io/cronjob-scheduled-timestamp": O.now_ts()},
                            "ownerReferences": [_owner(c)]},
               "spec": jt["spec"]}
        if "x-pods" in jov:
            job["x-pods"] = jov["x-pods"]
        out += _expand_job(job, c)
    c.setdefault("status", {})["lastScheduleTime"] = O.now_ts()
    c["status"]["active"] = [{"kind": "Job", "namespace": ns, "name": j["metadata"]["name"],
                              "uid": O.det_uid("Job", ns, j["metadata"]["name"]), "apiVersion": "batch/v1"}
                             for j in out if j["kind"] == "Job"]
    return out


def _expand_job(j, cron):
    ns, name = j["metadata"]["namespace"], j["metadata"]["name"]
    overrides = j.pop("x-pods", [])
    uid = O.det_uid("Job", ns, name)
    n = j["spec"].get("parallelism", 1)
    j["spec"].setdefault("completions", n)
    j["spec"].setdefault("backoffLimit", 6)
    j["spec"].setdefault("completionMode", "NonIndexed")
    j["spec"].setdefault("suspend", False)
    sel = {"batch.kubernetes.io/controller-uid": uid}
    j["spec"]["selector"] = {"matchLabels": sel}
    tmpl = j["spec"]["template"]
    labels = tmpl.setdefault("metadata", {}).setdefault("labels", {})
    labels.update({"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name,
                   "controller-uid": uid, "job-name": name})
    tmpl["spec"].setdefault("restartPolicy", "Never")
    names = _names(f"{name}-", ("job", ns, name), n, overrides)
    pods = [_pod_from_template(j, tmpl, pn, i, overrides, "kube-controller-manager", f"{name}-")
            for i, pn in enumerate(names)]
    j.setdefault("status", {}).update({"startTime": O.now_ts(), "active": n, "ready": n,
                                       "uncountedTerminatedPods": {}})
    return [j] + pods


# Scale mode ---------------------------------------------------------------------------------

def scale(n):
    """N synthetic pods without processes across ~N/100 namespaces; every 20th shares the web digest."""
    objs = []
    nns = max(1, (n + 99) // 100)
    per_ns = [n // nns + (1 if i < n % nns else 0) for i in range(nns)]
    idx = 0
    for ni, count in enumerate(per_ns):
        ns = f"scale-{ni:04d}"
        objs.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        apps = (count + 9) // 10
        for a in range(apps):
            size = min(10, count - a * 10)
            app = f"app-{a:02d}"
            h = O.template_hash(ns, app)
            dep = {"apiVersion": "apps/v1", "kind": "Deployment",
                   "metadata": {"name": app, "namespace": ns, "labels": {"app": app}},
                   "spec": {"replicas": size, "selector": {"matchLabels": {"app": app}}, "template": {}}}
            rs_name = f"{app}-{h}"
            rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
                  "metadata": {"name": rs_name, "namespace": ns, "labels": {"app": app, "pod-template-hash": h},
                               "ownerReferences": [_owner(dep)]},
                  "spec": {"replicas": size, "selector": {"matchLabels": {"app": app, "pod-template-hash": h}},
                           "template": {}}}
            containers = []
            for i in range(size):
                web = idx % 20 == 0
                image = WEB_IMAGE if web else f"registry.example.com/scale/{app}:1.{ni % 7}.{a}"
                digest = WEB_DIGEST if web else "sha256:" + O.det_hex("scale-digest", ns, app)
                repo = image.rsplit(":", 1)[0]
                containers.append((image, f"{repo}@{digest}"))
                idx += 1
            tmpl_spec = {"containers": [{"name": "app", "image": containers[0][0],
                                         "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                                         "env": [{"name": "APP_NAME", "value": app},
                                                 {"name": "LOG_LEVEL", "value": "info"}],
                                         "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}
            dep["spec"]["template"] = {"metadata": {"labels": {"app": app}}, "spec": tmpl_spec}
            rs["spec"]["template"] = {"metadata": {"labels": {"app": app, "pod-template-hash": h}},
                                      "spec": tmpl_spec}
            objs += [dep, rs]
            for i, (image, image_id) in enumerate(containers):
                spec = copy.deepcopy(tmpl_spec)
                spec["containers"][0]["image"] = image
                spec["containers"][0]["x-image-id"] = image_id
                objs.append({"apiVersion": "v1", "kind": "Pod", "x-manager": "kube-controller-manager",
                             "metadata": {"name": f"{rs_name}-{O.kube_suffix('scale', ns, app, i)}",
                                          "generateName": f"{rs_name}-", "namespace": ns,
                                          "labels": {"app": app, "pod-template-hash": h},
                                          "ownerReferences": [_owner(rs)]},
                             "spec": spec})
    objs += expand(_kube_system())
    return Scenario(f"scale:{n}", objects=objs, rbac=_default_rbac())


def _kube_system():
    doc = _read(os.path.join(SCENARIO_DIR, "base.yaml"))
    return doc["objects"]


def _default_rbac():
    return _read(os.path.join(SCENARIO_DIR, "base.yaml")).get("rbac", {})
