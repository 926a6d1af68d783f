"""Patch semantics: JSON merge patch (RFC 7386), strategic merge patch (the subset kubectl uses),
JSON patch (RFC 6902), and server-side apply (merge plus removal of fields the manager dropped),
plus managedFields field sets."""

import copy
import json

from .statuses import ApiError, bad_request

# Strategic-merge list merge keys, by field name; the first candidate key present in the items wins.
MERGE_KEYS = {
    "containers": ["name"], "initContainers": ["name"], "ephemeralContainers": ["name"],
    "volumes": ["name"], "env": ["name"], "imagePullSecrets": ["name"], "volumeMounts": ["mountPath"],
    "volumeDevices": ["devicePath"], "ports": ["containerPort", "port"], "hostAliases": ["ip"],
    "conditions": ["type"], "addresses": ["type"], "ownerReferences": ["uid"],
    "containerStatuses": ["name"], "initContainerStatuses": ["name"],
    "ephemeralContainerStatuses": ["name"], "resourceClaims": ["name"], "topologySpreadConstraints":
        ["topologyKey"], "podIPs": ["ip"], "hostIPs": ["ip"],
}
# Primitive lists merged as sets.
SET_LISTS = {"finalizers"}


class PatchError(Exception):
    pass


# JSON merge patch -----------------------------------------------------------------------------

def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


# Strategic merge patch ------------------------------------------------------------------------

def _merge_key(field, items):
    for cand in MERGE_KEYS.get(field, []):
        if any(isinstance(i, dict) and cand in i for i in items):
            return cand
    return None


def strategic_merge(target, patch, field=None):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return None
    out = dict(target)
    retain = patch.get("$retainKeys")
    for k, v in patch.items():
        if k in ("$patch", "$retainKeys"):
            continue
        if k.startswith("$setElementOrder/"):
            continue
        if k.startswith("$deleteFromPrimitiveList/"):
            name = k.split("/", 1)[1]
            if isinstance(out.get(name), list):
                out[name] = [x for x in out[name] if x not in (v or [])]
            continue
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict):
            merged = strategic_merge(out.get(k), v, k)
            if merged is None:
                out.pop(k, None)
            else:
                out[k] = merged
        elif isinstance(v, list):
            out[k] = _merge_list(out.get(k), v, k)
        else:
            out[k] = v
    if retain is not None:
        out = {k: v for k, v in out.items() if k in retain}
    order_keys = [k for k in patch if k.startswith("$setElementOrder/")]
    for ok in order_keys:
        name = ok.split("/", 1)[1]
        out[name] = _apply_order(out.get(name), patch[ok], name)
    return out


def _merge_list(cur, items, field):
    cur = cur if isinstance(cur, list) else []
    if field in SET_LISTS:
        out = list(cur)
        for x in items:
            if x not in out:
                out.append(x)
        return out
    key = _merge_key(field, items + cur)
    if key is None:
        if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in items):
            return [i for i in items if not (isinstance(i, dict) and "$patch" in i)]
        return copy.deepcopy(items)
    out = [copy.deepcopy(x) for x in cur]
    for it in items:
        if not isinstance(it, dict):
            continue
        if it.get("$patch") == "replace":
            return [i for i in items if i.get("$patch") is None]
        idx = next((n for n, c in enumerate(out) if isinstance(c, dict) and c.get(key) == it.get(key)), None)
        if it.get("$patch") == "delete":
            if idx is not None:
                out.pop(idx)
            continue
        if idx is None:
            out.append(strategic_merge({}, it, field))
        else:
            out[idx] = strategic_merge(out[idx], it, field)
    return out


def _apply_order(lst, order, field):
    if not isinstance(lst, list) or not order:
        return lst
    key = _merge_key(field, order)
    if key is None:
        ranks = {json.dumps(v, sort_keys=True): i for i, v in enumerate(order)}
        return sorted(lst, key=lambda x: ranks.get(json.dumps(x, sort_keys=True), len(ranks)))
    ranks = {o.get(key): i for i, o in enumerate(order) if isinstance(o, dict)}
    return sorted(lst, key=lambda x: ranks.get(x.get(key) if isinstance(x, dict) else None, len(ranks)))


# JSON patch -----------------------------------------------------------------------------------

def _pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc, parts):
    cur = doc
    for p in parts:
        if isinstance(cur, list):
            cur = cur[int(p)]
        elif isinstance(cur, dict):
            cur = cur[p]
        else:
            raise KeyError(p)
    return cur


def json_patch(doc, ops):
    if not isinstance(ops, list):
        raise PatchError("json patch must be a list of operations")
    doc = copy.deepcopy(doc)
    for op in ops:
        kind, path = op.get("op"), op.get("path", "")
        try:
            parts = _pointer(path)
            if kind == "test":
                if _walk(doc, parts) != op.get("value"):
                    raise PatchError(f"testing value {path} failed")
                continue
            if kind in ("move", "copy"):
                src = _pointer(op.get("from", ""))
                value = copy.deepcopy(_walk(doc, src))
                if kind == "move":
                    _remove(doc, src)
                doc = _add(doc, parts, value)
            elif kind == "add":
                doc = _add(doc, parts, copy.deepcopy(op.get("value")))
            elif kind == "remove":
                _remove(doc, parts)
            elif kind == "replace":
                _walk(doc, parts)  # must exist
                _remove(doc, parts)
                doc = _add(doc, parts, copy.deepcopy(op.get("value")))
            else:
                raise PatchError(f"Unexpected kind: {kind}")
        except (KeyError, IndexError, ValueError, TypeError):
            raise PatchError(f"doc is missing path: \"{path}\": missing value")
    return doc


def _add(doc, parts, value):
    if not parts:
        return value
    parent = _walk(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, list):
        if last == "-":
            parent.append(value)
        else:
            i = int(last)
            if i > len(parent):
                raise IndexError(i)
            parent.insert(i, value)
    elif isinstance(parent, dict):
        parent[last] = value
    else:
        raise KeyError(last)
    return doc


def _remove(doc, parts):
    parent = _walk(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, list):
        parent.pop(int(last))
    else:
        del parent[last]


# managedFields field sets ----------------------------------------------------------------------

SKIP_META = {"name", "namespace", "uid", "resourceVersion", "creationTimestamp", "managedFields",
             "generation", "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds"}


def fieldset(obj, top=True, field=None):
    """Builds a FieldsV1 set for the fields present in obj (kind/apiVersion/identity excluded)."""
    out = {}
    if not isinstance(obj, dict):
        return out
    for k, v in obj.items():
        if top and k in ("apiVersion", "kind"):
            continue
        if top and k == "metadata":
            sub = {kk: vv for kk, vv in v.items() if kk not in SKIP_META} if isinstance(v, dict) else {}
            if sub:
                out["f:metadata"] = fieldset(sub, False, k)
            continue
        if isinstance(v, dict):
            inner = fieldset(v, False, k)
            if inner and not top:
                inner = {".": {}, **inner}
            out[f"f:{k}"] = inner
        elif isinstance(v, list) and v and all(isinstance(i, dict) for i in v) and _merge_key(k, v):
            key = _merge_key(k, v)
            entries = {}
            for item in v:
                kv = {key: item.get(key)}
                if k == "ports" and "protocol" in item:
                    kv["protocol"] = item["protocol"]
                ident = "k:" + json.dumps(kv, separators=(",", ":"), sort_keys=True)
                entries[ident] = {".": {}, **fieldset(item, False, k)}
            out[f"f:{k}"] = entries
        else:
            out[f"f:{k}"] = {}
    return out


def merge_fieldsets(a, b):
    out = copy.deepcopy(a)
    for k, v in b.items():
        out[k] = merge_fieldsets(out.get(k, {}), v) if isinstance(v, dict) else v
    return out


def remove_dropped_fields(obj, old_fs, new_fs):
    """Server-side apply: delete from obj what the manager applied before (old_fs) and not now."""
    if not isinstance(obj, dict):
        return
    for k, sub in old_fs.items():
        if k == ".":
            continue
        if k.startswith("f:"):
            name = k[2:]
            if k not in new_fs:
                if name in obj and not (name == "metadata" or name in SKIP_META):
                    del obj[name]
            elif isinstance(obj.get(name), dict):
                remove_dropped_fields(obj[name], sub, new_fs[k])
            elif isinstance(obj.get(name), list):
                _remove_dropped_items(obj[name], sub, new_fs[k])


def _remove_dropped_items(lst, old_fs, new_fs):
    for k, sub in old_fs.items():
        if not k.startswith("k:"):
            continue
        ident = json.loads(k[2:])
        idx = next((i for i, it in enumerate(lst) if isinstance(it, dict)
                    and all(it.get(kk) == vv for kk, vv in ident.items())), None)
        if idx is None:
            continue
        if k not in new_fs:
            lst.pop(idx)
        else:
            remove_dropped_fields(lst[idx], sub, new_fs[k])


def apply_merge(live, applied):
    """The merge half of server-side apply: maps merged, keyed lists merged by key, others replaced."""
    return strategic_merge(live, applied)


def decode_patch_body(body, ctype):
    """-> python object for a patch body; raises 400 for undecodable bodies."""
    try:
        if ctype == "application/apply-patch+yaml":
            import yaml
            return yaml.safe_load(body.decode() if isinstance(body, bytes) else body)
        return json.loads(body)
    except Exception as e:  # noqa: BLE001 - any decoding error is the client's
        raise ApiError(400, f"error decoding patch: {e}", "BadRequest")


def apply_patch(obj, patch, ctype):
    try:
        if ctype == "application/merge-patch+json":
            return merge_patch(obj, patch)
        if ctype == "application/strategic-merge-patch+json":
            if not isinstance(patch, dict):
                raise PatchError("strategic merge patch must be an object")
            return strategic_merge(obj, patch)
        if ctype == "application/json-patch+json":
            return json_patch(obj, patch)
    except PatchError as e:
        raise ApiError(422 if ctype == "application/json-patch+json" else 400, str(e),
                       "Invalid" if ctype == "application/json-patch+json" else "BadRequest")
    raise bad_request(f"unsupported patch type {ctype}")
