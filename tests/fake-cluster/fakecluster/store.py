"""In-memory object store with resourceVersions, consistent paged lists, continue tokens and watches.

Objects are stored without kind/apiVersion (as list items are served) and are never mutated in
place: every write stores a new dict, so list snapshots can share them safely. Each entry caches
its JSON encoding, so lists are joins of pre-encoded bytes.
"""

import asyncio
import base64
import bisect
import binascii
import collections
import gzip
import json
import time

from . import statuses
from .selectors import match_fields, match_label_requirements


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


class Entry:
    __slots__ = ("obj", "raw")

    def __init__(self, obj):
        self.obj = obj
        self.raw = dumps(obj)


def selection_key(label_selector="", field_selector=""):
    """The page-cache key part for a list's selectors; "" for an unfiltered list (as prerender uses)."""
    return f"{label_selector}|{field_selector}" if label_selector or field_selector else ""


def with_kind(raw, kind, api_version):
    """Prefixes kind/apiVersion to an encoded object (as a GET returns it)."""
    head = b'{"kind":' + dumps(kind) + b',"apiVersion":' + dumps(api_version)
    return head + (b"," + raw[1:] if raw != b"{}" else b"}")


INCONSISTENT_CONTINUE = (
    "The provided continue parameter is too old to display a consistent list result. You can start a "
    "new list without the continue parameter, or use the continue token in this response to retrieve "
    "the remainder of the results. Continuing with the provided token results in an inconsistent list "
    "- objects that were created, modified, or deleted between the time the first chunk was returned "
    "and now may show up in the list.")


def encode_continue(rv, start):
    body = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start}, separators=(",", ":"))
    return base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")


def decode_continue(token):
    """-> (rv, start); 400 with the real server's message shapes for malformed tokens."""
    def bad(why):
        return statuses.bad_request(f"invalid continue token: continue key is not valid: {why}")
    padded = token + "=" * (-len(token) % 4)
    try:
        if any(c in token for c in "+/="):
            raise binascii.Error
        data = base64.urlsafe_b64decode(padded)
    except (binascii.Error, ValueError):
        pos = next((i for i, c in enumerate(token) if not (c.isalnum() or c in "-_")), len(token) - 1)
        raise bad(f"illegal base64 data at input byte {max(pos, 0)}")
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise bad(f"invalid character {_go_quote_char(data[:1].decode('latin-1') or ' ')} "
                  "looking for beginning of value")
    if not isinstance(doc, dict) or doc.get("v") != "meta.k8s.io/v1":
        raise bad("server does not recognize this encoded version")
    rv, start = doc.get("rv"), doc.get("start", "")
    if not isinstance(rv, int) or rv == 0:
        raise bad("incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
    if not isinstance(start, str) or not start or start.startswith("/") or "/../" in start:
        raise bad("continue key is not valid")
    return rv, start


def _go_quote_char(c):
    if c == "'":
        return "'\\''"
    if 32 <= ord(c) < 127:
        return f"'{c}'"
    return "'\\u%04x'" % ord(c)


class Watcher:
    def __init__(self, key, namespace, name, label_reqs, field_reqs):
        self.key, self.namespace, self.name = key, namespace, name
        self.label_reqs, self.field_reqs = label_reqs, field_reqs
        self.queue = asyncio.Queue()

    def matches(self, obj):
        if obj is None:
            return False
        md = obj.get("metadata", {})
        if self.namespace and md.get("namespace") != self.namespace:
            return False
        if self.name and md.get("name") != self.name:
            return False
        return (match_label_requirements(self.label_reqs, md.get("labels"))
                and match_fields(self.field_reqs, obj))


class Store:
    SNAPSHOTS = 32
    HISTORY = 5000

    def __init__(self, start_rv=1000):
        self.rv = start_rv
        self.data = collections.defaultdict(dict)      # (group, plural) -> {(ns, name): Entry}
        self._sorted = {}                              # (group, plural) -> sorted [(ns, name)] or None
        self.snapshots = collections.OrderedDict()     # (key, rv) -> [((ns, name), Entry)]
        self.page_cache = collections.OrderedDict()    # (key, ns, rv, start, limit, sel) -> (raw, gz)
        self.page_cache_bytes = 0
        self.list_times = {}                           # rv -> monotonic time a paged list was first served
        self.history = collections.deque(maxlen=self.HISTORY)  # (rv, key, type, old, new)
        self.watchers = []
        self.listeners = []                            # fn(key, type, old, new) on every write
        self.continue_ttl = 300.0
        self.force_expire = 0                          # fault: expire the n-th continue request
        self.continue_requests = 0

    # -- basic access ---------------------------------------------------------------------------
    def get(self, key, ns, name):
        e = self.data[key].get((ns or "", name))
        return e

    def items(self, key):
        return self.data[key]

    def _sorted_keys(self, key):
        s = self._sorted.get(key)
        if s is None:
            s = sorted(self.data[key])
            self._sorted[key] = s
        return s

    def next_rv(self):
        self.rv += 1
        return self.rv

    def put(self, key, obj, event=None, bump=True):
        """Stores obj (a fresh dict), assigning a new resourceVersion. Returns the Entry."""
        md = obj["metadata"]
        # Go's omitempty: a real API server never serves an empty labels/annotations map.
        for field in ("labels", "annotations"):
            if field in md and not md[field]:
                del md[field]
        k = (md.get("namespace", ""), md["name"])
        old = self.data[key].get(k)
        if bump:
            md["resourceVersion"] = str(self.next_rv())
        entry = Entry(obj)
        if old is None:
            self._sorted[key] = None
        self.data[key][k] = entry
        self._invalidate(key)
        self._notify(key, event or ("MODIFIED" if old else "ADDED"), old.obj if old else None, obj)
        return entry

    def delete(self, key, ns, name):
        k = (ns or "", name)
        old = self.data[key].pop(k, None)
        if old is None:
            return None
        self._sorted[key] = None
        self._invalidate(key)
        final = dict(old.obj)
        final["metadata"] = dict(final["metadata"], resourceVersion=str(self.next_rv()))
        self._notify(key, "DELETED", old.obj, final)
        return Entry(final)

    def clear(self):
        for w in self.watchers:
            w.queue.put_nowait(None)
        self.watchers.clear()
        self.data.clear()
        self._sorted.clear()
        self.snapshots.clear()
        self.page_cache.clear()
        self.page_cache_bytes = 0
        self.list_times.clear()
        self.history.clear()

    def _invalidate(self, key):
        pass  # snapshots and page caches are keyed by rv, so they stay valid for old lists

    # -- lists ----------------------------------------------------------------------------------
    def _snapshot(self, key, rv):
        snap = self.snapshots.get((key, rv))
        if snap is None and rv == self.rv:
            d = self.data[key]
            snap = [(k, d[k]) for k in self._sorted_keys(key)]
            self.snapshots[(key, rv)] = snap
            while len(self.snapshots) > self.SNAPSHOTS:
                self.snapshots.popitem(last=False)
        return snap

    def list(self, key, ns, label_reqs, field_reqs, limit, cont, sel_text=""):
        """-> (rv, [Entry], continue_token or "", remaining or None). Raises 400/410 Status."""
        start = ""
        rv = self.rv
        if cont:
            rv, start = decode_continue(cont)
            self.continue_requests += 1
            prefix = f"{ns}/" if ns else ""
            if self.force_expire and self.continue_requests == self.force_expire:
                self.force_expire = 0
                raise statuses.expired(INCONSISTENT_CONTINUE, encode_continue(-1, start))
            if rv != -1:
                t = self.list_times.get(rv)
                if t is None or time.monotonic() - t > self.continue_ttl:
                    raise statuses.expired(INCONSISTENT_CONTINUE, encode_continue(-1, start))
            start = prefix + start
        snap = self._snapshot(key, rv if rv != -1 else self.rv)
        if snap is None:   # no snapshot for that rv kept: continue with the current state
            snap = self._snapshot(key, self.rv)
        if rv == -1:
            rv = self.rv
        start_key = self._split(start) if start else None
        lo = 0
        if start_key is not None:
            lo = bisect.bisect_left(snap, (start_key,), key=lambda kv: (kv[0],))
        elif ns:
            lo = bisect.bisect_left(snap, ((ns, ""),), key=lambda kv: (kv[0],))
        out = []
        filtered = bool(label_reqs or field_reqs)
        i = lo
        n = len(snap)
        while i < n:
            k, e = snap[i]
            i += 1
            if ns and k[0] != ns:
                if k[0] > ns:
                    break
                continue
            md = e.obj.get("metadata", {})
            if filtered and not (match_label_requirements(label_reqs, md.get("labels"))
                                 and match_fields(field_reqs, e.obj)):
                continue
            out.append((k, e))
            if limit and len(out) >= limit:
                break
        token, remaining = "", None
        if limit and len(out) >= limit and self._has_more(snap, i, ns, filtered, label_reqs, field_reqs):
            last = out[-1][0]
            rel = last[1] if ns else (f"{last[0]}/{last[1]}" if last[0] else last[1])
            token = encode_continue(rv, rel + "\u0000")
            if not filtered:
                remaining = self._count_rest(snap, i, ns)
            self.list_times.setdefault(rv, time.monotonic())
        return rv, [e for _, e in out], token, remaining

    @staticmethod
    def _split(start):
        start = start.rstrip("\u0000") + "\u0000"
        if "/" in start:
            a, b = start.split("/", 1)
            return (a, b)
        return ("", start)

    @staticmethod
    def _count_rest(snap, i, ns):
        if not ns:
            return len(snap) - i
        return sum(1 for k, _ in snap[i:] if k[0] == ns)

    @staticmethod
    def _has_more(snap, i, ns, filtered, label_reqs, field_reqs):
        for k, e in snap[i:]:
            if ns and k[0] != ns:
                if k[0] > ns:
                    return False
                continue
            if not filtered:
                return True
            md = e.obj.get("metadata", {})
            if match_label_requirements(label_reqs, md.get("labels")) and match_fields(field_reqs, e.obj):
                return True
        return False

    def render_list(self, key, list_kind, api_version, ns, label_reqs, field_reqs, limit, cont, sel_text):
        """-> (raw bytes, gz bytes or None). Pages are cached by (rv, start) so repeats are free."""
        cache_key = None
        if cont or limit:
            cache_key = (key, ns, cont or self.rv, limit, sel_text)
            hit = self.page_cache.get(cache_key)
            if hit is not None:
                if not cont:
                    self.list_times.setdefault(self.rv, time.monotonic())
                if cont:   # account for the token (TTL, faults) even on a cache hit
                    self.list(key, ns, label_reqs, field_reqs, 1, cont)
                self.page_cache.move_to_end(cache_key)
                return hit
        rv, entries, token, remaining = self.list(key, ns, label_reqs, field_reqs, limit, cont)
        meta = {"resourceVersion": str(rv)}
        if token:
            meta["continue"] = token
        if remaining is not None:
            meta["remainingItemCount"] = remaining
        raw = (b'{"kind":' + dumps(list_kind) + b',"apiVersion":' + dumps(api_version) + b',"metadata":'
               + dumps(meta) + b',"items":[' + b",".join(e.raw for e in entries) + b"]}")
        result = [raw, None]
        if cache_key is not None and len(entries) > 50:
            result[1] = gzip.compress(raw, 1)
            self.page_cache[cache_key] = result
            self.page_cache_bytes += len(raw) + len(result[1])
            while self.page_cache_bytes > 1_500_000_000 and self.page_cache:
                _, (r, g) = self.page_cache.popitem(last=False)
                self.page_cache_bytes -= len(r) + len(g or b"")
        return result

    def prerender(self, key, list_kind, api_version, limit):
        """Renders every page of an unfiltered all-namespaces list (scale mode)."""
        cont = ""
        pages = 0
        while True:
            raw, _ = self.render_list(key, list_kind, api_version, None, [], [], limit, cont, selection_key())
            pages += 1
            self.continue_requests -= 1 if cont else 0
            meta = json.loads(raw[:raw.index(b',"items":[')] + b"}")["metadata"]
            cont = meta.get("continue")
            if not cont:
                break
        self.list_times.pop(self.rv, None)
        return pages

    # -- watch ----------------------------------------------------------------------------------
    def _notify(self, key, etype, old, new):
        self.history.append((self.rv, key, etype, old, new))
        for fn in self.listeners:
            fn(key, etype, old, new)
        for w in list(self.watchers):
            if w.key != key:
                continue
            ev = self.watch_event(w, etype, old, new)
            if ev:
                w.queue.put_nowait(ev)

    @staticmethod
    def watch_event(w, etype, old, new):
        was, now = w.matches(old), w.matches(new)
        if etype == "DELETED":
            return ("DELETED", new) if was or now else None
        if now and not was:
            return ("ADDED", new)
        if now and was:
            return (etype, new)
        if was and not now:
            return ("DELETED", new)
        return None

    def add_watcher(self, w, since_rv):
        """Registers w; replays history after since_rv. Returns False if since_rv is too old."""
        if since_rv is not None:
            if self.history and since_rv < self.history[0][0] - 1 and len(self.history) == self.history.maxlen:
                return False
            for rv, key, etype, old, new in self.history:
                if rv > since_rv and key == w.key:
                    ev = self.watch_event(w, etype, old, new)
                    if ev:
                        w.queue.put_nowait(ev)
        self.watchers.append(w)
        return True

    def remove_watcher(self, w):
        if w in self.watchers:
            self.watchers.remove(w)
