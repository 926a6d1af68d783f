"""Helpers that make objects look like a real cluster's: ids, timestamps, names, defaults, status."""

import copy
import datetime
import hashlib
import json
import uuid

KUBE_ALNUM = "bcdfghjklmnpqrstvwxz2456789"
NODE_NAME = "node-1"
HOST_IP = "192.0.2.2"
BUSYBOX_IMAGE_ID = ("docker.io/library/busybox@sha256:"
                    "11692fde5ccb8904b3fbf1b5f3346f14add5231b7e015346aa6ddc174c3127c9")
SEED = "fake-cluster"


def now_ts(t=None):
    t = t or datetime.datetime.now(datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def ts_ago(seconds):
    return now_ts(datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=seconds))


def parse_ts(s):
    if not s:
        return None
    s = s.rstrip("Z")
    if "." in s:
        s, frac = s.split(".", 1)
        frac = "." + frac[:6]
    else:
        frac = ""
    return datetime.datetime.fromisoformat(s + frac).replace(tzinfo=datetime.timezone.utc)


def det_hex(*parts, n=64):
    h = hashlib.sha256(("/".join([SEED, *map(str, parts)])).encode()).hexdigest()
    while len(h) < n:
        h += hashlib.sha256(h.encode()).hexdigest()
    return h[:n]


UID_EPOCH = [0]   # bumped by a reset: objects come back with new uids, as re-created objects do


def det_uid(*parts):
    salt = ("uid-epoch", UID_EPOCH[0]) if UID_EPOCH[0] else ()
    return str(uuid.UUID(det_hex(*salt, *parts, n=32), version=4))


def kube_suffix(*parts, n=5):
    h = int(det_hex(*parts, n=32), 16)
    out = ""
    for _ in range(n):
        h, r = divmod(h, len(KUBE_ALNUM))
        out += KUBE_ALNUM[r]
    return out


def template_hash(*parts):
    """A pod-template-hash looking like 7d4b9c8f6 (9-10 chars of the safe alphabet)."""
    return kube_suffix("hash", *parts, n=9).replace("b", "7", 1)


def managed_entry(manager, fields, api_version="v1", operation="Update", subresource=None, time=None):
    e = {"manager": manager, "operation": operation, "apiVersion": api_version}
    if operation != "Apply" or time:
        e["time"] = time or now_ts()
    e["fieldsType"] = "FieldsV1"
    e["fieldsV1"] = fields
    if subresource:
        e["subresource"] = subresource
    return e


def image_pull_policy(image):
    tail = image.rsplit("/", 1)[-1]
    if "@" in tail:
        return "IfNotPresent"
    if ":" not in tail or tail.endswith(":latest"):
        return "Always"
    return "IfNotPresent"


def container_defaults(c, volume_mount=None):
    c = dict(c)
    c.setdefault("resources", {})
    if volume_mount and not any(m.get("mountPath") == volume_mount["mountPath"]
                                for m in c.get("volumeMounts", [])):
        c["volumeMounts"] = list(c.get("volumeMounts", [])) + [volume_mount]
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    if c.get("image"):
        c.setdefault("imagePullPolicy", image_pull_policy(c["image"]))
    for p in c.get("ports", []) or []:
        p.setdefault("protocol", "TCP")
    return c


def api_access_volume(ns, name):
    vname = "kube-api-access-" + kube_suffix("vol", ns, name)
    vol = {"name": vname, "projected": {"sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {
            "apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}], "defaultMode": 420}}
    mount = {"name": vname, "readOnly": True, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}
    return vol, mount


def pod_spec_defaults(pod, node_name=NODE_NAME):
    """Fills what admission and the scheduler fill in a real cluster."""
    md, spec = pod["metadata"], pod.setdefault("spec", {})
    vol, mount = api_access_volume(md.get("namespace", ""), md["name"])
    if not any(v.get("name", "").startswith("kube-api-access-") for v in spec.get("volumes", [])):
        spec["volumes"] = list(spec.get("volumes", [])) + [vol]
    spec["containers"] = [container_defaults(c, mount) for c in spec.get("containers", [])]
    if spec.get("initContainers"):
        spec["initContainers"] = [container_defaults(c, mount) for c in spec["initContainers"]]
    if spec.get("ephemeralContainers"):
        spec["ephemeralContainers"] = [container_defaults(c) for c in spec["ephemeralContainers"]]
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirstWithHostNet" if spec.get("hostNetwork") else "ClusterFirst")
    spec.setdefault("serviceAccountName", "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    spec.setdefault("nodeName", node_name)
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("tolerations", [
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": 300},
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": 300}])
    spec.setdefault("priority", 0)
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    return pod


def pod_managed_fields(pod, manager, t, cache=None, cache_key=None):
    """managedFields like a pod created by a controller (spec) and updated by the kubelet (status).
    Pods of one controller share the spec part: cache it by the controller's uid."""
    from .patches import fieldset
    spec_fs = cache.get(cache_key) if cache is not None and cache_key else None
    if spec_fs is None:
        spec_fs = fieldset({"metadata": {k: v for k, v in pod["metadata"].items()
                                         if k in ("labels", "annotations", "generateName", "ownerReferences")},
                            "spec": {k: v for k, v in pod["spec"].items() if k not in ("nodeName",)}})
        if cache is not None and cache_key:
            cache[cache_key] = spec_fs
    status_fs = {"f:status": {"f:conditions": {
        f'k:{{"type":"{t_}"}}': {".": {}, "f:lastProbeTime": {}, "f:lastTransitionTime": {}, "f:status": {},
                                  "f:type": {}} for t_ in ("ContainersReady", "Initialized", "Ready")},
        "f:containerStatuses": {}, "f:hostIP": {}, "f:phase": {}, "f:podIP": {}, "f:podIPs": {}, "f:startTime": {}}}
    return [managed_entry(manager, spec_fs, time=t), managed_entry("kubelet", status_fs, subresource="status",
                                                                   time=t)]


def node_managed_fields(node, t):
    """managedFields like a real node's: the kubelet registered it (labels, annotations), the
    node controller set the TTL annotation and podCIDR, the kubelet updates status."""
    from .patches import fieldset
    md = node["metadata"]
    ttl_key = "node.alpha.kubernetes.io/ttl"
    annotations = md.get("annotations", {})
    kubelet_meta = {"labels": md.get("labels", {}),
                    "annotations": {k: v for k, v in annotations.items() if k != ttl_key}}
    controller = {"spec": node.get("spec", {})}
    if ttl_key in annotations:
        controller["metadata"] = {"annotations": {ttl_key: annotations[ttl_key]}}
    status = {k: v for k, v in node.get("status", {}).items() if k in ("conditions", "images", "nodeInfo")}
    return [managed_entry("kubelet", fieldset({"metadata": {k: v for k, v in kubelet_meta.items() if v}}), time=t),
            managed_entry("kube-controller-manager", fieldset(controller), time=t),
            managed_entry("kubelet", fieldset({"status": status}), subresource="status", time=t)]


def node_lease(node, duration_seconds=40):
    """The kubelet's heartbeat Lease for a node (kube-node-lease/<node>), owned by the node."""
    md = node["metadata"]
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": md["name"], "namespace": "kube-node-lease",
                         "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": md["name"],
                                              "uid": md["uid"]}]},
            "spec": {"holderIdentity": md["name"], "leaseDurationSeconds": duration_seconds,
                     "renewTime": now_micro()}}


def container_status_running(c, image_id, container_id, started_at, ready=True):
    return {"name": c["name"], "state": {"running": {"startedAt": started_at}}, "lastState": {},
            "ready": ready, "restartCount": 0, "image": c.get("image", ""), "imageID": image_id,
            "containerID": container_id, "started": True}


def container_status_waiting(c, reason="ContainerCreating"):
    return {"name": c["name"], "state": {"waiting": {"reason": reason}}, "lastState": {}, "ready": False,
            "restartCount": 0, "image": c.get("image", ""), "imageID": "", "started": False}


def pod_conditions(t, ready):
    s = "True" if ready else "False"
    conds = [{"type": "Initialized", "status": "True", "lastProbeTime": None, "lastTransitionTime": t},
             {"type": "Ready", "status": s, "lastProbeTime": None, "lastTransitionTime": t},
             {"type": "ContainersReady", "status": s, "lastProbeTime": None, "lastTransitionTime": t},
             {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": t}]
    if not ready:
        conds[1]["reason"] = conds[2]["reason"] = "ContainersNotReady"
        conds[1]["message"] = conds[2]["message"] = "containers with unready status: [" + " ".join(
            []) + "]"
    return conds


def qos_class(pod):
    reqs = [c.get("resources", {}) for c in pod["spec"].get("containers", [])]
    if not any(r.get("requests") or r.get("limits") for r in reqs):
        return "BestEffort"
    if all(r.get("limits") and r.get("limits") == r.get("requests", r.get("limits")) for r in reqs):
        return "Guaranteed"
    return "Burstable"


def deep(o):
    return copy.deepcopy(o)


def canonical(o):
    return json.dumps(o, sort_keys=True)
