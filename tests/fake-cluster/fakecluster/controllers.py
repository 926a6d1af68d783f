"""Workload controllers for objects created through the API, as kube-controller-manager's: a new
Deployment gets its ReplicaSet and a new ReplicaSet its pods. Scenario workloads are expanded by
scenario.py instead (deterministic names); deleted or released pods are replaced by pods.py.

What a real cluster does and this reproduces: the ReplicaSet is `<deployment>-<pod-template-hash>`,
owned by the Deployment, its selector and template labels extended with `pod-template-hash` (so a
bare pod with the template's labels is not adopted), its pods `<replicaset>-<5 chars>` owned by it.
Not modelled: updates (scaling, rollouts, a changed template), adoption of orphans, DaemonSets,
StatefulSets and Jobs created through the API."""

import copy

from . import objects as O

RS = ("apps", "replicasets")


async def created(cluster, kind, obj):
    """Runs the controller of a stored, newly created object of `kind` (no-op for other kinds)."""
    if kind == "Deployment":
        await _deployment(cluster, obj)
    elif kind == "ReplicaSet":
        await _replicaset(cluster, obj)


async def _deployment(c, d):
    md, spec = d["metadata"], d.get("spec") or {}
    ns = md.get("namespace", "")
    tmpl = copy.deepcopy(spec.get("template") or {})
    h = O.template_hash(ns, md["name"], O.canonical(tmpl))
    labels = dict((tmpl.get("metadata") or {}).get("labels") or {})
    tmpl.setdefault("metadata", {})["labels"] = dict(labels, **{"pod-template-hash": h})
    selector = copy.deepcopy(spec.get("selector") or {})
    selector["matchLabels"] = dict(selector.get("matchLabels") or {}, **{"pod-template-hash": h})
    replicas = spec.get("replicas", 1)
    name = f"{md['name']}-{h}"
    if c.store.get(RS, ns, name) is not None:
        return
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
          "metadata": {"name": name, "namespace": ns, "labels": dict(labels, **{"pod-template-hash": h}),
                       "annotations": {"deployment.kubernetes.io/desired-replicas": str(replicas),
                                       "deployment.kubernetes.io/max-replicas": str(replicas + 1),
                                       "deployment.kubernetes.io/revision": "1"},
                       "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": md["name"],
                                            "uid": md["uid"], "controller": True, "blockOwnerDeletion": True}]},
          "spec": {"replicas": replicas, "selector": selector, "template": tmpl}}
    rt = c.registry.lookup("apps", "v1", "replicasets")
    c.admit(rt, rs, "kube-controller-manager")
    c.store.put(RS, c.strip(copy.deepcopy(rs)))
    await _replicaset(c, rs)


async def _replicaset(c, rs):
    md = rs["metadata"]
    c.pods.remember_template(md["uid"], (rs["spec"].get("template") or {}).get("spec"))
    owner = {"apiVersion": "apps/v1", "kind": "ReplicaSet", **copy.deepcopy(rs)}
    for _ in range(int(rs["spec"].get("replicas", 1))):
        await c.pods.create_from_template(owner, "ReplicaSet", {"metadata": {"generateName": md["name"] + "-"}})
    c.refresh_workload_status()
