"""Pod lifecycle: admission, starting containers through the runtime, status, events, ephemeral
containers, graceful deletion, and the controllers' replacement of deleted or released pods."""

import asyncio
import copy
import logging
import time

from . import objects as O
from .selectors import selector_matches
from .statuses import invalid

log = logging.getLogger("fakecluster")
PODS = ("", "pods")
EVENTS = ("", "events")
CONTROLLER_KEYS = {"ReplicaSet": ("apps", "replicasets"), "StatefulSet": ("apps", "statefulsets"),
                   "DaemonSet": ("apps", "daemonsets"), "Job": ("batch", "jobs")}


def default_image_id(image):
    if not image:
        return ""
    ref = image.split("@", 1)[0]
    repo = ref.rsplit(":", 1)[0] if ":" in ref.rsplit("/", 1)[-1] else ref
    if "/" not in repo:
        repo = "docker.io/library/" + repo
    elif "." not in repo.split("/", 1)[0] and ":" not in repo.split("/", 1)[0]:
        repo = "docker.io/" + repo
    if repo == "docker.io/library/busybox":
        return O.BUSYBOX_IMAGE_ID
    return f"{repo}@sha256:{O.det_hex('image', ref)}"


def image_repo_name(image):
    """The last path component of an image's repository ("busybox" for "registry.x/mirror/busybox:1.36")."""
    ref = (image or "").split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


def image_registry(image):
    """The registry host of an image reference, or "" for Docker Hub's short forms."""
    ref = (image or "").split("@", 1)[0]
    first = ref.split("/", 1)[0]
    return first if "/" in ref and ("." in first or ":" in first or first == "localhost") else ""


def fake_from_image(container, pod_spec=None, unmarked_pods="busybox"):
    """The x-fake block of a container created at runtime without one, from its image, or None (a
    synthetic container without processes). A busybox image (any registry: mirrors of air-gapped
    clusters included) runs the container's command and args in a busybox root, as the image (no
    ENTRYPOINT) would; without either the fake keeps the container running where the image's `sh`
    would exit. With `unmarked_pods: by-image` an image without a shell (pause, distroless) runs the
    static root's one binary too. runAsUser and runAsGroup (the container's, else the pod's) become
    the processes' uid and gid."""
    image = container.get("image") or ""
    if image_repo_name(image) == "busybox":
        argv = [str(a) for a in (container.get("command") or []) + (container.get("args") or [])]
        fake = {"rootfs": "busybox", "command": argv} if argv else {"rootfs": "busybox"}
    elif unmarked_pods == "by-image" and (image_repo_name(image) == "pause" or "distroless" in image):
        fake = {"rootfs": "static"}
    else:
        return None
    csc, psc = container.get("securityContext") or {}, (pod_spec or {}).get("securityContext") or {}
    run_as = {k: int(v) for k, v in (("uid", csc.get("runAsUser", psc.get("runAsUser"))),
                                     ("gid", csc.get("runAsGroup", psc.get("runAsGroup")))) if v is not None}
    if run_as:
        fake["run_as"] = run_as
    return fake


def api_pod_fakes(pod, unmarked_pods="busybox"):
    """What a pod created through the API (by a client or by a controller) runs: (fakes, unpullable).

    fakes: container name -> x-fake for the containers without one whose image runs
    (fake_from_image); an image from a registry that cannot exist (RFC 2606's ``.invalid``) cannot
    be pulled: ``unpullable`` maps each such container to the kubelet's message."""
    fakes, unpullable = {}, {}
    spec = pod.get("spec") or {}
    for c in spec.get("containers") or []:
        image = c.get("image") or ""
        if image_registry(image).endswith(".invalid"):
            unpullable[c["name"]] = (f'failed to pull and unpack image "{image}": failed to resolve reference '
                                     f'"{image}": dial tcp: lookup {image_registry(image)}: no such host')
        elif "x-fake" not in c:
            fake = fake_from_image(c, spec, unmarked_pods)
            if fake is not None:
                fakes[c["name"]] = fake
    return fakes, unpullable


class PodManager:
    def __init__(self, cluster):
        self.c = cluster
        self.clear()

    def clear(self):
        self.fake = {}         # pod uid -> {container: x-fake}
        self.image_ids = {}    # pod uid -> {container: imageID}
        self.pending = set()   # pod uids that stay ContainerCreating
        self.templates = {}    # controller uid -> {"fake": {...}, "image_ids": {...}}
        self.next_ip = 10
        self.next_node_ip = {}  # node name -> next host number (nodes but the first)
        self.ips = {}          # pod uid -> pod IP
        self.not_ready = set()  # pod uids whose containers run but are not ready (readiness fails)
        self.synthetic_events = True   # events for pods without processes (off in scale mode)
        self.spec_fieldsets = {}       # controller uid -> managedFields set of its pods' spec
        self.tasks = set()

    @property
    def store(self):
        return self.c.store

    @property
    def runtime(self):
        return self.c.runtime

    def _spawn(self, coro):
        t = asyncio.ensure_future(coro)
        self.tasks.add(t)
        t.add_done_callback(self.tasks.discard)
        t.add_done_callback(_log_failure)
        return t

    def remember_template(self, owner_uid, template_spec):
        fakes, iids = {}, {}
        for c in (template_spec or {}).get("containers", []):
            if "x-fake" in c:
                fakes[c["name"]] = copy.deepcopy(c["x-fake"])
            if "x-image-id" in c:
                iids[c["name"]] = c["x-image-id"]
        self.templates[owner_uid] = {"fake": fakes, "image_ids": iids}

    # -- admission ------------------------------------------------------------------------------
    def admit(self, pod, manager, deterministic=False, dry_run=False, fakes=None, image_ids=None):
        """Defaults, status and storage of a new pod; returns the stored object (kind/apiVersion stripped)."""
        rt = self.c.registry.lookup("", "v1", "pods")
        fakes = dict(fakes or {})
        image_ids = dict(image_ids or {})
        for key in ("containers", "initContainers"):
            for ctr in pod.get("spec", {}).get(key, []) or []:
                if "x-fake" in ctr:
                    fakes[ctr["name"]] = ctr.pop("x-fake")
                if "x-image-id" in ctr:
                    image_ids[ctr["name"]] = ctr.pop("x-image-id")
        pending = pod.pop("x-state", None) == "pending"
        unready = pod.pop("x-ready", True) is False
        scenario_status = pod.pop("status", None)
        for k in [k for k in pod if k.startswith("x-")]:
            del pod[k]
        O.pod_spec_defaults(pod)
        created = O.ts_ago(90) if deterministic else None
        md = pod["metadata"]
        controlled = bool(md.get("ownerReferences")) and "managedFields" not in md
        if controlled:
            md["managedFields"] = []   # filled below, per controller
        self.c.admit(rt, pod, manager, created=created, deterministic=deterministic)
        md = pod["metadata"]
        if controlled:
            owner = md["ownerReferences"][0].get("uid")
            md["managedFields"] = O.pod_managed_fields(pod, manager, md["creationTimestamp"],
                                                       self.spec_fieldsets, owner)
        uid = md["uid"]
        host_net = bool(pod["spec"].get("hostNetwork"))
        node = pod["spec"].get("nodeName", O.NODE_NAME)
        index = self.c.nodes.get(node, {}).get("index", 0)
        if host_net:
            ip = self.c.node_ip(node)
        elif index == 0:
            ip = f"10.244.{self.next_ip // 250}.{self.next_ip % 250 + 2}"
            self.next_ip += 1
        else:
            n = self.next_node_ip.get(node, 10)
            self.next_node_ip[node] = n + 1
            ip = f"10.244.{index}.{n % 250 + 2}"
        ready = not unready and self.c.node_ready(node)
        if pending or fakes:
            pod["status"] = self._pending_status(pod, md["creationTimestamp"])
        else:
            pod["status"] = self._synthetic_running(pod, image_ids, ip, ready)
        if scenario_status:
            pod["status"] = O.deep(pod["status"])
            pod["status"].update(scenario_status)
        pod["x-ip"] = ip
        if dry_run:
            pod.pop("x-ip")
            return pod
        self.fake[uid] = fakes
        self.image_ids[uid] = image_ids
        if pending:
            self.pending.add(uid)
        if not ready:
            self.not_ready.add(uid)
        self.ips[uid] = pod.pop("x-ip")
        self.c.strip(pod)
        self.store.put(PODS, pod)
        return pod

    def _pending_status(self, pod, t):
        names = [c["name"] for c in pod["spec"]["containers"]]
        conds = O.pod_conditions(t, False)
        for cnd in conds[1:3]:
            cnd["message"] = f"containers with unready status: [{' '.join(names)}]"
        return {"phase": "Pending", "conditions": conds, "hostIP": self.c.node_ip(pod["spec"].get("nodeName")),
                "startTime": t,
                "containerStatuses": [O.container_status_waiting(c) for c in pod["spec"]["containers"]],
                "qosClass": O.qos_class(pod)}

    def _synthetic_running(self, pod, image_ids, ip, ready=True):
        t = pod["metadata"]["creationTimestamp"]
        md = pod["metadata"]
        statuses = []
        for c in pod["spec"]["containers"]:
            cid = "containerd://" + O.det_hex("cid", md.get("namespace"), md["name"], c["name"])
            iid = image_ids.get(c["name"]) or default_image_id(c.get("image"))
            statuses.append(O.container_status_running(c, iid, cid, t, ready))
        conds = O.pod_conditions(t, ready)
        if not ready:
            for cnd in conds[1:3]:
                cnd["message"] = f"containers with unready status: [{' '.join(c['name'] for c in pod['spec']['containers'])}]"
        st = {"phase": "Running", "conditions": conds, "hostIP": self.c.node_ip(pod["spec"].get("nodeName")),
              "podIP": ip,
              "podIPs": [{"ip": ip}], "startTime": t, "containerStatuses": statuses, "qosClass": O.qos_class(pod)}
        return st

    # -- starting -------------------------------------------------------------------------------
    async def start_all(self):
        todo = [(k, e.obj["metadata"]["uid"]) for k, e in self.store.items(PODS).items()
                if self.fake.get(e.obj["metadata"]["uid"]) and e.obj["metadata"]["uid"] not in self.pending]
        if todo:
            await asyncio.gather(*(self.start(ns, name) for (ns, name), _ in todo))
        for (ns, name), e in list(self.store.items(PODS).items()):
            if not self.fake.get(e.obj["metadata"]["uid"]) and e.obj["metadata"]["uid"] not in self.pending:
                self._events_started(e.obj, {c["name"]: None for c in e.obj["spec"]["containers"]}, synthetic=True)

    async def start(self, ns, name):
        e = self.store.get(PODS, ns, name)
        if e is None:
            return
        pod = e.obj
        uid = pod["metadata"]["uid"]
        fakes = self.fake.get(uid, {})
        host_net = bool(pod["spec"].get("hostNetwork"))
        ip = self.ips.get(uid, self.c.node_ip(pod["spec"].get("nodeName")))
        results, errors = {}, {}
        for c in pod["spec"]["containers"]:
            if c["name"] not in fakes:
                continue
            fake = dict(fakes[c["name"]])
            # the container's literal env reaches its processes (x-fake env wins)
            env = {e["name"]: str(e["value"]) for e in c.get("env") or [] if "name" in e and "value" in e}
            if env:
                fake["env"] = {**env, **(fake.get("env") or {})}
            try:
                results[c["name"]] = await self.runtime.start_container(uid, ns, name, c["name"], fake,
                                                                        host_net, ip)
            except Exception as ex:  # noqa: BLE001 - reported in the container status, as a kubelet would
                log.exception("start_container %s/%s/%s failed", ns, name, c["name"])
                errors[c["name"]] = str(ex)
        e = self.store.get(PODS, ns, name)
        if e is None or e.obj["metadata"].get("uid") != uid:
            return
        pod = O.deep(e.obj)
        st = pod["status"]
        t = min([r["started_at"] for r in results.values()] or [O.now_ts()])
        css = []
        probe_ok = uid not in self.not_ready
        for c in pod["spec"]["containers"]:
            cn = c["name"]
            iid = self.image_ids.get(uid, {}).get(cn) or default_image_id(c.get("image"))
            if cn in results:
                css.append(O.container_status_running(c, iid, results[cn]["container_id"], results[cn]["started_at"],
                                                      probe_ok))
            elif cn in errors:
                cs = O.container_status_waiting(c, "CreateContainerError")
                cs["state"]["waiting"]["message"] = errors[cn]
                css.append(cs)
            else:
                cid = "containerd://" + O.det_hex("cid", ns, name, cn)
                css.append(O.container_status_running(c, iid, cid, t))
        ready = not errors and probe_ok
        st.update({"phase": "Pending" if errors else "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                   "containerStatuses": css})
        st["conditions"] = O.pod_conditions(st.get("startTime", t), ready)
        if not ready:
            unready = list(errors) or [c["name"] for c in pod["spec"]["containers"]]
            for cnd in st["conditions"][1:3]:
                cnd["message"] = f"containers with unready status: [{' '.join(unready)}]"
        order = ["phase", "conditions", "hostIP", "podIP", "podIPs", "startTime", "containerStatuses", "qosClass"]
        pod["status"] = {k: st[k] for k in order if k in st} | {k: v for k, v in st.items() if k not in order}
        self.store.put(PODS, pod)
        self._events_started(pod, results)
        if pod["metadata"].get("ownerReferences") and self.c.ready:
            self.c.refresh_workload_status()   # readiness changed: the owners' status follows

    # -- events ---------------------------------------------------------------------------------
    def record_event(self, pod, reason, message, etype="Normal", field_path=None, component="kubelet",
                     scheduler=False):
        md = pod["metadata"]
        t = O.now_ts()
        inv = {"kind": "Pod", "namespace": md["namespace"], "name": md["name"], "uid": md["uid"],
               "apiVersion": "v1", "resourceVersion": md.get("resourceVersion", "")}
        if field_path:
            inv["fieldPath"] = field_path
        name = f"{md['name']}.{_event_suffix()}"
        ev = {"metadata": {"name": name, "namespace": md["namespace"], "uid": O.det_uid("ev", name),
                           "creationTimestamp": t}, "involvedObject": inv, "reason": reason, "message": message}
        if scheduler:
            ev["metadata"]["managedFields"] = [O.managed_entry("kube-scheduler", {
                "f:action": {}, "f:eventTime": {}, "f:note": {}, "f:reason": {}, "f:regarding": {},
                "f:reportingController": {}, "f:reportingInstance": {}, "f:type": {}}, "events.k8s.io/v1", time=t)]
            ev.update({"source": {}, "firstTimestamp": None, "lastTimestamp": None, "type": etype,
                       "eventTime": O.now_micro(), "action": "Binding", "reportingComponent": "default-scheduler",
                       "reportingInstance": f"default-scheduler-{O.NODE_NAME}"})
        else:
            ev["metadata"]["managedFields"] = [O.managed_entry(component, {
                "f:count": {}, "f:firstTimestamp": {}, "f:involvedObject": {}, "f:lastTimestamp": {},
                "f:message": {}, "f:reason": {}, "f:reportingComponent": {}, "f:reportingInstance": {},
                "f:source": {"f:component": {}, "f:host": {}}, "f:type": {}}, time=t)]
            host = (pod.get("spec") or {}).get("nodeName") or O.NODE_NAME
            ev.update({"source": {"component": component, "host": host}, "firstTimestamp": t,
                       "lastTimestamp": t, "count": 1, "type": etype, "eventTime": None,
                       "reportingComponent": component, "reportingInstance": host})
        self.store.put(EVENTS, ev)

    def _events_started(self, pod, results, synthetic=False):
        if synthetic and not self.synthetic_events:
            return
        md = pod["metadata"]
        self.record_event(pod, "Scheduled", f"Successfully assigned {md['namespace']}/{md['name']} to "
                                            f"{pod['spec'].get('nodeName', O.NODE_NAME)}", scheduler=True)
        for c in pod["spec"]["containers"]:
            if c["name"] not in results:
                continue
            fp = f"spec.containers{{{c['name']}}}"
            self.record_event(pod, "Pulled", f'Container image "{c.get("image")}" already present on machine',
                              field_path=fp)
            self.record_event(pod, "Created", f"Created container {c['name']}", field_path=fp)
            self.record_event(pod, "Started", f"Started container {c['name']}", field_path=fp)

    def created_through_api(self, stored, unpullable):
        """After a pod created through the API (by a client or a controller) is stored: start what runs
        (api_pod_fakes), or say what cannot be pulled."""
        ns, name, uid = stored["metadata"]["namespace"], stored["metadata"]["name"], stored["metadata"]["uid"]
        if unpullable:
            pod = O.deep(stored)
            for cs in pod["status"].get("containerStatuses", []):
                if cs["name"] in unpullable:
                    cs["state"] = {"waiting": {"reason": "ErrImagePull", "message": unpullable[cs["name"]]}}
            self.store.put(PODS, pod)
            fp = f"spec.containers{{{next(iter(unpullable))}}}"
            self.record_event(pod, "Failed", next(iter(unpullable.values())), etype="Warning", field_path=fp)
        elif self.fake.get(uid):
            self._spawn(self.start(ns, name))
        else:
            self._events_started(stored, {c["name"]: None for c in stored["spec"]["containers"]}, synthetic=True)

    # -- ephemeral containers -------------------------------------------------------------------
    def check_ephemeral_update(self, old, new):
        """Validates a change of spec.ephemeralContainers; returns the added containers."""
        name = old["metadata"]["name"]
        olds = {c["name"]: c for c in old["spec"].get("ephemeralContainers", []) or []}
        news = new["spec"].get("ephemeralContainers", []) or []
        causes = []
        for n, c in olds.items():
            cur = next((x for x in news if x.get("name") == n), None)
            if cur is None or O.canonical({k: v for k, v in cur.items()}) != O.canonical(c):
                causes.append(("FieldValueForbidden", "Forbidden: existing ephemeral containers "
                               f'"{n}" may not be changed', "spec.ephemeralContainers"))
        taken = {c["name"] for c in old["spec"].get("containers", []) + old["spec"].get("initContainers", [])}
        added = []
        for i, c in enumerate(news):
            if c.get("name") in olds:
                continue
            f = f"spec.ephemeralContainers[{i}]"
            if not c.get("name"):
                causes.append(("FieldValueRequired", "Required value", f + ".name"))
            elif c["name"] in taken:
                causes.append(("FieldValueDuplicate", f'Duplicate value: "{c["name"]}"', f + ".name"))
            if not c.get("image"):
                causes.append(("FieldValueRequired", "Required value", f + ".image"))
            tgt = c.get("targetContainerName")
            if tgt and tgt not in taken:
                causes.append(("FieldValueNotFound", f'Not found: "{tgt}"', f + ".targetContainerName"))
            for forbidden_field in ("ports", "livenessProbe", "readinessProbe", "startupProbe", "lifecycle"):
                if c.get(forbidden_field):
                    causes.append(("FieldValueForbidden", "Forbidden: cannot be set for an Ephemeral Container",
                                   f"{f}.{forbidden_field}"))
            taken.add(c.get("name"))
            added.append(c)
        if causes:
            raise invalid("Pod", name, "", causes)
        new["spec"]["ephemeralContainers"] = [O.container_defaults(c) for c in news]
        return [O.container_defaults(c) for c in added]

    def start_ephemerals(self, pod, added):
        for c in added:
            self._spawn(self._start_ephemeral(pod["metadata"]["namespace"], pod["metadata"]["name"],
                                              pod["metadata"]["uid"], c))

    async def _start_ephemeral(self, ns, name, uid, c):
        try:
            r = await self.runtime.start_ephemeral(uid, c["name"], c.get("targetContainerName"), c.get("image", ""),
                                                   c.get("command") or [], c.get("args") or [],
                                                   c.get("securityContext") or {})
            cs = {"name": c["name"], "state": {"running": {"startedAt": r["started_at"]}}, "lastState": {},
                  "ready": False, "restartCount": 0, "image": c.get("image", ""),
                  "imageID": default_image_id(c.get("image")), "containerID": r["container_id"]}
            ok = True
        except Exception as ex:  # noqa: BLE001 - reported in the container status
            log.exception("start_ephemeral %s/%s/%s failed", ns, name, c["name"])
            cs = {"name": c["name"], "state": {"waiting": {"reason": "CreateContainerError", "message": str(ex)}},
                  "lastState": {}, "ready": False, "restartCount": 0, "image": c.get("image", ""), "imageID": ""}
            ok = False
        e = self.store.get(PODS, ns, name)
        if e is None or e.obj["metadata"]["uid"] != uid:
            return
        pod = O.deep(e.obj)
        lst = [s for s in pod["status"].get("ephemeralContainerStatuses", []) if s["name"] != c["name"]]
        pod["status"]["ephemeralContainerStatuses"] = lst + [cs]
        self.store.put(PODS, pod)
        if ok:
            fp = f"spec.ephemeralContainers{{{c['name']}}}"
            self.record_event(pod, "Pulled", f'Container image "{c.get("image")}" already present on machine',
                              field_path=fp)
            self.record_event(pod, "Created", f"Created container {c['name']}", field_path=fp)
            self.record_event(pod, "Started", f"Started container {c['name']}", field_path=fp)

    # -- deletion and controllers ---------------------------------------------------------------
    async def delete(self, ns, name, grace=None, background=True, replace=True, dry_run=False):
        """Graceful deletion: returns the pod with deletionTimestamp; processes stop, then it disappears."""
        e = self.store.get(PODS, ns, name)
        if e is None:
            return None
        pod = O.deep(e.obj)
        if grace is None:
            grace = pod["spec"].get("terminationGracePeriodSeconds", 30)
        if dry_run:
            pod["metadata"]["deletionTimestamp"] = O.now_ts()
            pod["metadata"]["deletionGracePeriodSeconds"] = grace
            return pod
        if "deletionTimestamp" not in pod["metadata"]:
            pod["metadata"]["deletionTimestamp"] = O.now_ts()
            pod["metadata"]["deletionGracePeriodSeconds"] = grace
            pod["metadata"] = _reorder_meta(pod["metadata"])
            self.store.put(PODS, pod)
        coro = self._finish_delete(ns, name, pod, replace)
        if background:
            self._spawn(coro)
        else:
            await coro
        return pod

    async def _finish_delete(self, ns, name, pod, replace):
        uid = pod["metadata"]["uid"]
        for c in pod["spec"]["containers"]:
            if c["name"] in self.fake.get(uid, {}):
                self.record_event(pod, "Killing", f"Stopping container {c['name']}",
                                  field_path=f"spec.containers{{{c['name']}}}")
        try:
            await self.runtime.stop_pod(uid)
        except Exception:  # noqa: BLE001
            log.exception("stop_pod %s/%s failed", ns, name)
        e = self.store.get(PODS, ns, name)
        if e is not None and e.obj["metadata"]["uid"] == uid:
            self.store.delete(PODS, ns, name)
        self.fake.pop(uid, None)
        self.pending.discard(uid)
        await self.c.collect_garbage(uid)
        if replace:
            await self.replace_for(pod)
        self.c.refresh_workload_status()

    async def stop_all(self):
        for t in list(self.tasks):
            t.cancel()
        uids = [e.obj["metadata"]["uid"] for e in self.store.items(PODS).values()
                if self.fake.get(e.obj["metadata"]["uid"])]
        await asyncio.gather(*(self.runtime.stop_pod(u) for u in uids), return_exceptions=True)

    def _controller(self, pod):
        for ref in pod["metadata"].get("ownerReferences", []):
            if ref.get("controller") and ref.get("kind") in CONTROLLER_KEYS:
                key = CONTROLLER_KEYS[ref["kind"]]
                e = self.store.get(key, pod["metadata"]["namespace"], ref["name"])
                if e is not None and e.obj["metadata"]["uid"] == ref["uid"]:
                    return ref["kind"], key, e.obj
        return None

    def _owned(self, owner_uid):
        return [e.obj for e in self.store.items(PODS).values()
                if any(r.get("uid") == owner_uid and r.get("controller")
                       for r in e.obj["metadata"].get("ownerReferences", []))
                and "deletionTimestamp" not in e.obj["metadata"]]

    async def replace_for(self, pod):
        ctl = self._controller(pod)
        if ctl is None:
            return
        kind, key, owner = ctl
        ouid = owner["metadata"]["uid"]
        owned = self._owned(ouid)
        if kind == "ReplicaSet" and len(owned) >= owner["spec"].get("replicas", 1):
            return
        if kind == "Job" and len(owned) >= owner["spec"].get("parallelism", 1):
            return
        if kind in ("DaemonSet", "StatefulSet") and any(p["metadata"]["name"] == pod["metadata"]["name"]
                                                        for p in owned):
            return
        await self.create_from_template(owner, kind, pod)

    async def create_from_template(self, owner, kind, old_pod):
        ns = owner["metadata"]["namespace"]
        tmpl = O.deep(owner["spec"]["template"])
        tmeta = tmpl.get("metadata", {})
        if kind == "StatefulSet":
            name = old_pod["metadata"]["name"]
        else:
            prefix = old_pod["metadata"].get("generateName") or owner["metadata"]["name"] + "-"
            name = prefix + O.kube_suffix("replacement", ns, prefix, O.now_micro())
            while self.store.get(PODS, ns, name) is not None:
                name = prefix + O.kube_suffix("replacement", ns, prefix, O.now_micro(), name)
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "generateName": old_pod["metadata"].get("generateName"),
                            "namespace": ns, "labels": dict(tmeta.get("labels", {})),
                            "ownerReferences": [{"apiVersion": "apps/v1" if kind != "Job" else "batch/v1",
                                                 "kind": kind, "name": owner["metadata"]["name"],
                                                 "uid": owner["metadata"]["uid"], "controller": True,
                                                 "blockOwnerDeletion": True}]},
               "spec": tmpl.get("spec", {})}
        if kind == "StatefulSet":
            pod["metadata"]["labels"].update({k: v for k, v in old_pod["metadata"].get("labels", {}).items()
                                              if k.startswith("statefulset.") or k == "controller-revision-hash"})
        if not pod["metadata"]["generateName"]:
            del pod["metadata"]["generateName"]
        if tmeta.get("annotations"):
            pod["metadata"]["annotations"] = dict(tmeta["annotations"])
        tpl = self.templates.get(owner["metadata"]["uid"], {})
        fakes, unpullable = api_pod_fakes(pod, self.c.unmarked_pods)   # the template's x-fake wins
        fakes.update(tpl.get("fake") or {})
        if unpullable:
            pod["x-state"], fakes = "pending", {}
        stored = self.admit(pod, "kube-controller-manager", fakes=fakes, image_ids=tpl.get("image_ids"))
        self.created_through_api(stored, unpullable)
        return stored

    async def after_update(self, old, new):
        """ReplicaSet semantics for label edits: a pod that stops matching is released and replaced."""
        if old["metadata"].get("labels") == new["metadata"].get("labels"):
            return
        ctl = self._controller(new)
        if ctl is None:
            return
        kind, key, owner = ctl
        if kind not in ("ReplicaSet", "Job"):
            return
        if selector_matches(owner["spec"].get("selector"), new["metadata"].get("labels", {})):
            return
        e = self.store.get(PODS, new["metadata"]["namespace"], new["metadata"]["name"])
        if e is None:
            return
        pod = O.deep(e.obj)
        pod["metadata"]["ownerReferences"] = [r for r in pod["metadata"].get("ownerReferences", [])
                                              if r.get("uid") != owner["metadata"]["uid"]]
        if not pod["metadata"]["ownerReferences"]:
            del pod["metadata"]["ownerReferences"]
        self.store.put(PODS, pod)
        await self.replace_for(new)
        self.c.refresh_workload_status()


_last_event_ns = [0]


def _event_suffix():
    """Event names end in the hex UnixNano of their creation, as the kubelet's do (sortable)."""
    t = max(time.time_ns(), _last_event_ns[0] + 1)
    _last_event_ns[0] = t
    return format(t, "x")


def _reorder_meta(md):
    order = ["name", "generateName", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
             "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations", "ownerReferences",
             "finalizers", "managedFields"]
    return {k: md[k] for k in order if k in md} | {k: v for k, v in md.items() if k not in order}


def _log_failure(t):
    if not t.cancelled() and t.exception() is not None:
        log.error("background task failed", exc_info=t.exception())
