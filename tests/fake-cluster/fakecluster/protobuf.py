"""Just enough of the Kubernetes protobuf encoding to read what kubectl's typed clients POST:
SelfSubjectAccessReview, SelfSubjectRulesReview, SelfSubjectReview, TokenReview, Eviction.
(Responses are always JSON, which every client accepts.) Envelope: b"k8s\\x00" + runtime.Unknown
{1: TypeMeta{1: apiVersion, 2: kind}, 2: raw, 3: contentEncoding, 4: contentType}."""

MAGIC = b"k8s\x00"


def _varint(buf, i):
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def fields(buf):
    """Wire-format message -> {field number: [values]} (varints as int, length-delimited as bytes)."""
    out, i = {}, 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(buf, i)
        elif wt == 2:
            n, i = _varint(buf, i)
            v, i = bytes(buf[i:i + n]), i + n
        elif wt == 1:
            v, i = buf[i:i + 8], i + 8
        elif wt == 5:
            v, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"unsupported wire type {wt}")
        out.setdefault(num, []).append(v)
    return out


def _s(f, n):
    return f.get(n, [b""])[0].decode()


def _m(f, n):
    return fields(f[n][0]) if n in f else {}


def _object_meta(f):
    md = {}
    if _s(f, 1):
        md["name"] = _s(f, 1)
    if _s(f, 3):
        md["namespace"] = _s(f, 3)
    return md


def decode(body):
    """-> a JSON-shaped dict for the supported kinds; raises ValueError otherwise."""
    if not body.startswith(MAGIC):
        raise ValueError("missing protobuf magic")
    env = fields(body[len(MAGIC):])
    tm = _m(env, 1)
    api_version, kind = _s(tm, 1), _s(tm, 2)
    raw = fields(env.get(2, [b""])[0])
    obj = {"apiVersion": api_version, "kind": kind, "metadata": _object_meta(_m(raw, 1))}
    spec = _m(raw, 2)
    if kind == "SelfSubjectAccessReview":
        s = {}
        if 1 in spec:
            ra = _m(spec, 1)
            names = ["namespace", "verb", "group", "version", "resource", "subresource", "name"]
            s["resourceAttributes"] = {k: _s(ra, n) for n, k in enumerate(names, 1) if _s(ra, n)}
        if 2 in spec:
            nra = _m(spec, 2)
            s["nonResourceAttributes"] = {"path": _s(nra, 1), "verb": _s(nra, 2)}
        obj["spec"] = s
    elif kind == "SelfSubjectRulesReview":
        obj["spec"] = {"namespace": _s(spec, 1)}
    elif kind == "TokenReview":
        obj["spec"] = {"token": _s(spec, 1)}
    elif kind in ("SelfSubjectReview", "Eviction"):
        pass
    else:
        raise ValueError(f"protobuf {kind} is not supported by the fake cluster")
    return obj
