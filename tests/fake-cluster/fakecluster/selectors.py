"""Label selectors (string form and metav1.LabelSelector) and field selectors."""

import re

from .statuses import bad_request


class Requirement:
    __slots__ = ("key", "op", "values")

    def __init__(self, key, op, values=()):
        self.key, self.op, self.values = key, op, list(values)

    def matches(self, labels):
        has = self.key in labels
        v = labels.get(self.key)
        op = self.op
        if op in ("=", "==", "in"):
            return has and v in self.values
        if op in ("!=", "notin"):
            return not has or v not in self.values
        if op == "exists":
            return has
        if op == "!":
            return not has
        if op in ("gt", "lt"):
            try:
                n, ref = int(v), int(self.values[0])
            except (TypeError, ValueError):
                return False
            return n > ref if op == "gt" else n < ref
        return False


_TOKEN = re.compile(r"\s*(!=|==|=|!|\(|\)|,|>|<|[^\s!=(),<>]+)")
_KEYWORDS = {"in", "notin"}


def _tokenize(text):
    pos, out = 0, []
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise bad_request(f"unable to parse requirement: found '{text[pos:]}'")
        out.append(m.group(1))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def parse_label_selector(text):
    """Parses `a=b,c!=d,e in (x,y),f notin (z),g,!h,i>3` into a list of Requirements."""
    if text is None or not text.strip():
        return []
    toks = _tokenize(text)
    reqs, i = [], 0

    def err(found, expected):
        return bad_request(f"unable to parse requirement: found '{found}', expected: {expected}")

    while i < len(toks):
        t = toks[i]
        if t == "!":
            if i + 1 >= len(toks):
                raise err("", "identifier after '!'")
            reqs.append(Requirement(toks[i + 1], "!"))
            i += 2
        else:
            key = t
            if key in ("=", "==", "!=", "(", ")", ","):
                raise err(key, "identifier")
            nxt = toks[i + 1] if i + 1 < len(toks) else None
            if nxt is None or nxt == ",":
                reqs.append(Requirement(key, "exists"))
                i += 1
            elif nxt in ("=", "==", "!="):
                val = toks[i + 2] if i + 2 < len(toks) and toks[i + 2] not in (",",) else ""
                reqs.append(Requirement(key, nxt, [val]))
                i += 3 if val != "" else 2
            elif nxt in (">", "<"):
                reqs.append(Requirement(key, "gt" if nxt == ">" else "lt", [toks[i + 2]]))
                i += 3
            elif nxt in _KEYWORDS:
                if i + 2 >= len(toks) or toks[i + 2] != "(":
                    raise err(toks[i + 2] if i + 2 < len(toks) else "", "'('")
                j, vals = i + 3, []
                while j < len(toks) and toks[j] != ")":
                    if toks[j] != ",":
                        vals.append(toks[j])
                    j += 1
                if j >= len(toks):
                    raise err("", "')'")
                reqs.append(Requirement(key, nxt, vals))
                i = j + 1
            else:
                raise err(nxt, "',' or operator")
        if i < len(toks):
            if toks[i] != ",":
                raise err(toks[i], "','")
            i += 1
    return reqs


def match_label_requirements(reqs, labels):
    labels = labels or {}
    return all(r.matches(labels) for r in reqs)


def label_selector_requirements(sel):
    """metav1.LabelSelector dict -> Requirements. None selects nothing; {} selects everything."""
    reqs = []
    for k, v in (sel.get("matchLabels") or {}).items():
        reqs.append(Requirement(k, "=", [v]))
    for e in sel.get("matchExpressions") or []:
        op = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}.get(e.get("operator"))
        if op:
            reqs.append(Requirement(e.get("key"), op, e.get("values") or []))
    return reqs


def selector_matches(sel, labels):
    if sel is None:
        return False
    return match_label_requirements(label_selector_requirements(sel), labels)


def selector_to_string(sel):
    parts = [f"{k}={v}" for k, v in sorted((sel.get("matchLabels") or {}).items())]
    for e in sel.get("matchExpressions") or []:
        op = e.get("operator")
        if op in ("In", "NotIn"):
            parts.append(f"{e['key']} {op.lower()} ({','.join(e.get('values') or [])})")
        elif op == "Exists":
            parts.append(e["key"])
        elif op == "DoesNotExist":
            parts.append("!" + e["key"])
    return ",".join(parts)


# Field selectors ------------------------------------------------------------------------------

COMMON_FIELDS = {"metadata.name": ("metadata", "name"), "metadata.namespace": ("metadata", "namespace")}
FIELDS = {
    ("", "pods"): {
        "spec.nodeName": ("spec", "nodeName"), "spec.restartPolicy": ("spec", "restartPolicy"),
        "spec.schedulerName": ("spec", "schedulerName"),
        "spec.serviceAccountName": ("spec", "serviceAccountName"),
        "spec.hostNetwork": ("spec", "hostNetwork"), "status.phase": ("status", "phase"),
        "status.podIP": ("status", "podIP"), "status.nominatedNodeName": ("status", "nominatedNodeName"),
    },
    ("", "events"): {
        "involvedObject.kind": ("involvedObject", "kind"),
        "involvedObject.namespace": ("involvedObject", "namespace"),
        "involvedObject.name": ("involvedObject", "name"), "involvedObject.uid": ("involvedObject", "uid"),
        "involvedObject.apiVersion": ("involvedObject", "apiVersion"),
        "involvedObject.resourceVersion": ("involvedObject", "resourceVersion"),
        "involvedObject.fieldPath": ("involvedObject", "fieldPath"),
        "reason": ("reason",), "reportingComponent": ("reportingComponent",),
        "source": ("source", "component"), "type": ("type",),
    },
    ("", "nodes"): {"spec.unschedulable": ("spec", "unschedulable")},
    ("", "namespaces"): {"status.phase": ("status", "phase")},
    ("", "secrets"): {"type": ("type",)},
    ("batch", "jobs"): {"status.successful": ("status", "succeeded")},
    ("apps", "replicasets"): {"status.replicas": ("status", "replicas")},
}


def _field_value(obj, path):
    cur = obj
    for p in path:
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(p)
    if cur is None:
        if path == ("spec", "hostNetwork") or path == ("spec", "unschedulable"):
            return "false"
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def parse_field_selector(text, resource_key):
    """-> list of (path, op, value); 400 for unsupported field labels, as a real server."""
    if not text or not text.strip():
        return []
    allowed = dict(COMMON_FIELDS)
    allowed.update(FIELDS.get(resource_key, {}))
    out = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        m = re.match(r"^([^!=]+)(!=|==|=)(.*)$", part)
        if not m:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        field, op, value = m.group(1).strip(), m.group(2), m.group(3).strip()
        if field not in allowed:
            raise bad_request(f"field label not supported: {field}")
        out.append((allowed[field], op, value))
    return out


def match_fields(reqs, obj):
    for path, op, value in reqs:
        v = _field_value(obj, path)
        if op == "!=":
            if v == value:
                return False
        elif v != value:
            return False
    return True


def single_name(field_reqs):
    """If the selector pins metadata.name=X, return X (used to narrow watches)."""
    for path, op, value in field_reqs:
        if path == ("metadata", "name") and op != "!=":
            return value
    return None
