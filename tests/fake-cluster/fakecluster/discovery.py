"""Legacy discovery documents (/api, /api/v1, /apis, /apis/<g>, /apis/<g>/<v>).

Aggregated discovery is not served: asked for it (Accept: ...;g=apidiscovery.k8s.io;...), we answer
the legacy document as application/json, which is what a server without it does; kubectl then falls
back to per-group requests."""

import base64
import hashlib


def _hash(r):
    return base64.b64encode(hashlib.sha256(f"{r.group}/{r.version}/{r.kind}".encode()).digest()[:8]).decode()


def api_versions():
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "192.0.2.2:6443"}]}


def resource_list(registry, group, version):
    types = [r for r in registry.types if r.group == group and r.version == version]
    if not types:
        return None
    res = []
    for r in types:
        d = {"name": r.plural, "singularName": r.singular or r.kind.lower(), "namespaced": r.namespaced,
             "kind": r.kind, "verbs": r.verbs}
        if r.short_names:
            d["shortNames"] = r.short_names
        if r.categories:
            d["categories"] = r.categories
        if r.storable:
            d["storageVersionHash"] = _hash(r)
        res.append(d)
        for sub, (kind, verbs) in sorted(r.subresources.items()):
            sd = {"name": f"{r.plural}/{sub}", "singularName": "", "namespaced": r.namespaced,
                  "kind": kind or r.kind, "verbs": verbs}
            if sub == "scale":
                sd.update(group="autoscaling", version="v1")
            res.append(sd)
    gv = f"{group}/{version}" if group else version
    if not group:
        return {"kind": "APIResourceList", "groupVersion": gv, "resources": res}
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": res}


def _group(name, versions):
    vs = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": vs, "preferredVersion": vs[0]}


def group_list(registry):
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [_group(g, vs) for g, vs in registry.groups()]}


def group(registry, name):
    for g, vs in registry.groups():
        if g == name:
            return {"kind": "APIGroup", "apiVersion": "v1", **_group(g, vs)}
    return None


# OpenAPI v3: only what kubectl reads. kubectl asks whether PATCH of a kind takes `fieldValidation`
# (then it validates server-side, with ?fieldValidation=Strict, and needs no schemas); the schema
# lookups for client-side apply find none and fall back to kubectl's built-in types.

def _gv_path(group, version):
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def openapi_v3_root(registry):
    paths = {}
    for r in registry.types:
        p = _gv_path(r.group, r.version)
        paths[p] = {"serverRelativeURL": f"/openapi/v3/{p}?hash={_hash(r)[:8]}"}
    return {"paths": dict(sorted(paths.items()))}


def openapi_v3_gv(registry, gv_path):
    types = [r for r in registry.types if _gv_path(r.group, r.version) == gv_path]
    if not types:
        return None
    params = [{"name": n, "in": "query", "schema": {"type": "string"}, "uniqueItems": True}
              for n in ("dryRun", "fieldManager", "fieldValidation", "force", "pretty")]
    paths = {}
    for r in types:
        if not r.storable:
            continue
        base = "/" + gv_path + ("/namespaces/{namespace}" if r.namespaced else "") + f"/{r.plural}/{{name}}"
        gvk = {"group": r.group, "version": r.version, "kind": r.kind}
        paths[base] = {"patch": {"operationId": f"patch{r.kind}", "x-kubernetes-action": "patch",
                                 "x-kubernetes-group-version-kind": gvk, "parameters": params,
                                 "responses": {"200": {"description": "OK"}}}}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "unversioned"}, "paths": paths,
            "components": {}}
