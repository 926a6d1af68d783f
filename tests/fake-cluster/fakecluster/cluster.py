"""The cluster state: store, served resources, RBAC, runtime, and the admission that makes stored
objects look like a real cluster's (uids, timestamps, defaults, managedFields, workload status)."""

import copy
import logging
import os

from . import objects as O
from . import scenario as scenario_mod
from .auth import Authorizer
from .faults import Faults
from .netpol import default_policy_types
from .network import Network
from .pods import PodManager
from .resources import Registry
from .runtime_loader import load_runtime
from .store import Store

log = logging.getLogger("fakecluster")

VERSIONS = {
    (1, 32): {"major": "1", "minor": "32", "gitVersion": "v1.32.4",
              "gitCommit": "59526cd4867447956156ae3a602fcbac10a2c335", "gitTreeState": "clean",
              "buildDate": "2025-04-22T16:02:27Z", "goVersion": "go1.23.6", "compiler": "gc",
              "platform": "linux/amd64", "runtime": "containerd://1.7.24"},
    (1, 26): {"major": "1", "minor": "26", "gitVersion": "v1.26.4",
              "gitCommit": "636f2be6157d45217eb99744b72cc51e5e9c7e10", "gitTreeState": "clean",
              "buildDate": "2023-04-12T12:05:35Z", "goVersion": "go1.19.8", "compiler": "gc",
              "platform": "linux/amd64", "runtime": "containerd://1.6.20"},
}
GENERATION_KINDS = {"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob", "NetworkPolicy",
                    "AdminNetworkPolicy", "BaselineAdminNetworkPolicy"}
CORE_PODS = ("", "pods")


def parse_unmarked_pods(value):
    """Setting unmarked_pods, what pods created through the API without x-fake run
    (pods.fake_from_image): busybox (default: busybox images run, other images have no processes)
    or by-image (shell-less images too: pause, distroless). Raises ValueError."""
    value = str(value)
    if value not in ("busybox", "by-image"):
        raise ValueError(f"unmarked_pods must be busybox or by-image, not {value!r}")
    return value


def parse_version(v):
    v = str(v).lstrip("v")
    parts = v.split(".")
    key = (int(parts[0]), int(parts[1]))
    if key not in VERSIONS:
        raise ValueError(f"unsupported k8s version {v} (use 1.32 or 1.26)")
    return key


class Cluster:
    def __init__(self, workdir, scenario_spec, k8s_version="1.32"):
        self.workdir = workdir
        self.scenario_spec = scenario_spec
        self.k8s_version = parse_version(k8s_version)
        self.store = Store()
        self.faults = Faults(self)
        self.requests = []
        self.ready = False
        self.runtime, self.rtmod = load_runtime(os.path.join(workdir, "runtime"))
        self.pods = PodManager(self)
        self.network = Network(self)
        self.nodes = {}            # node name -> {"ip": InternalIP, "ready": bool, "index": n}
        self.scenario = None
        self.registry = None
        self.authorizer = None
        self.started_at = O.now_ts()
        self.unmarked_pods = "busybox"   # settings: unmarked_pods

    # -- versions -------------------------------------------------------------------------------
    @property
    def version_info(self):
        v = dict(VERSIONS[self.k8s_version])
        v.pop("runtime")
        return v

    def set_version(self, v):
        self.k8s_version = parse_version(v)
        self.registry = Registry(self.k8s_version, self.scenario.features)
        node_key = ("", "nodes")
        for k, e in list(self.store.items(node_key).items()):
            obj = copy.deepcopy(e.obj)
            self._node_info(obj)
            self.store.put(node_key, obj)

    # -- scenario -------------------------------------------------------------------------------
    async def load(self):
        self.ready = False
        self.scenario = scenario_mod.load(self.scenario_spec)
        self.registry = Registry(self.k8s_version, self.scenario.features)
        self.authorizer = Authorizer(self.scenario.rbac)
        settings = self.scenario.settings
        if "continue_ttl_seconds" in settings:
            self.store.continue_ttl = float(settings["continue_ttl_seconds"])
        self.faults.load(self.scenario.faults)
        self.unmarked_pods = parse_unmarked_pods(settings.get("unmarked_pods", "busybox"))
        self.network.enforce, self.network.keep_established, self.network.nodelocal_dns = True, True, False
        self.network.configure(settings)
        self._load_nodes()
        created = O.ts_ago(120)
        scale = self.scenario.name.startswith("scale:")
        namespaces = set(scenario_mod.BASE_NAMESPACES)
        pods = []
        for obj in self.scenario.objects:
            ns = obj["metadata"].get("namespace")
            if ns:
                namespaces.add(ns)
        for ns in sorted(namespaces):
            if not any(o["kind"] == "Namespace" and o["metadata"]["name"] == ns for o in self.scenario.objects):
                self.scenario.objects.insert(0, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        for obj in self.scenario.objects:
            obj = obj if scale else copy.deepcopy(obj)
            rt = self.registry.for_api_version(obj["apiVersion"], obj["kind"])
            if rt is None:
                log.warning("scenario object %s/%s not served here; skipped", obj["kind"], obj["metadata"]["name"])
                continue
            if obj["kind"] == "Pod":
                pods.append(obj)
                continue
            if obj["kind"] in ("ReplicaSet", "StatefulSet", "DaemonSet", "Job"):
                md = obj["metadata"]
                self.pods.remember_template(O.det_uid(obj["kind"], md.get("namespace", ""), md["name"]),
                                            obj.get("spec", {}).get("template", {}).get("spec"))
            self.admit(rt, obj, manager=obj.pop("x-manager", "kubectl-client-side-apply"), created=created,
                       deterministic=True)
            self.store.put(rt.key, self.strip(obj))
        scale = self.scenario.name.startswith("scale:")
        self.pods.synthetic_events = not scale
        for pod in pods:
            self.pods.admit(pod, manager=pod.pop("x-manager", "kubectl-client-side-apply"), deterministic=True)
        await self.pods.start_all()
        self.refresh_workload_status()
        self.refresh_nodes(created)
        await self.network.flush()
        if scale:
            n = self.store.prerender(CORE_PODS, "PodList", "v1", 500)
            log.info("pre-rendered %d pages of /api/v1/pods?limit=500", n)
        self.ready = True

    async def reset(self):
        self.ready = False
        await self.pods.stop_all()
        self.store.clear()
        self.pods.clear()
        O.UID_EPOCH[0] += 1
        await self.load()

    async def shutdown(self):
        self.ready = False
        try:
            await self.network.close()
            await self.pods.stop_all()
        finally:
            await self.runtime.shutdown()

    # -- nodes ----------------------------------------------------------------------------------
    def _load_nodes(self):
        """Each scenario Node's address and readiness: `x-internal-ip` (default 192.0.2.2 for the
        first node, then .3, .4...), `x-ready: false` (the kubelet stopped posting status: Ready
        Unknown, unreachable taints, its pods not ready). Pod IPs come from 10.244.<n>.0/24 of the
        n-th node."""
        self.nodes = {}
        for obj in self.scenario.objects:
            if obj.get("kind") != "Node":
                continue
            name = obj["metadata"]["name"]
            index = len(self.nodes)
            ip = obj.pop("x-internal-ip", None) or ("192.0.2.%d" % (2 + index))
            ready = obj.pop("x-ready", True) is not False
            self.nodes[name] = {"ip": ip, "ready": ready, "index": index}
            if not ready:
                spec = obj.setdefault("spec", {})
                spec["taints"] = list(spec.get("taints") or []) + [
                    {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule", "timeAdded": O.ts_ago(60)},
                    {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute", "timeAdded": O.ts_ago(55)}]

    def node_ip(self, name):
        n = self.nodes.get(name)
        return n["ip"] if n else O.HOST_IP

    def node_ready(self, name):
        n = self.nodes.get(name)
        return n["ready"] if n else True

    # -- admission ------------------------------------------------------------------------------
    @staticmethod
    def strip(obj):
        obj.pop("apiVersion", None)
        obj.pop("kind", None)
        for k in [k for k in obj if k.startswith("x-")]:
            del obj[k]
        return obj

    def admit(self, rt, obj, manager, created=None, deterministic=False, dry_run=False):
        """Fills server-set metadata and per-kind defaults of a new object (kind/apiVersion kept)."""
        md = obj.setdefault("metadata", {})
        if not rt.namespaced:
            md.pop("namespace", None)
        md["uid"] = O.det_uid(rt.kind, md.get("namespace", ""), md["name"]) if deterministic else O.det_uid(
            rt.kind, md.get("namespace", ""), md["name"], O.now_micro())
        md["creationTimestamp"] = created or O.now_ts()
        if rt.kind in GENERATION_KINDS:
            md["generation"] = 1
        md.pop("resourceVersion", None)
        self.defaults(rt, obj)
        if "managedFields" in md:
            pass
        elif rt.kind == "Node" and deterministic:
            md["managedFields"] = O.node_managed_fields(obj, md["creationTimestamp"])
        else:
            from .patches import fieldset
            md["managedFields"] = [O.managed_entry(manager, fieldset(obj), rt.group_version,
                                                   time=md["creationTimestamp"])]
        order = ["name", "generateName", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
                 "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations", "ownerReferences",
                 "finalizers", "managedFields"]
        obj["metadata"] = {k: md[k] for k in order if k in md} | {k: v for k, v in md.items() if k not in order}
        return obj

    def defaults(self, rt, obj):
        kind = rt.kind
        spec = obj.get("spec")
        if kind == "Namespace":
            obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
            obj["spec"] = {"finalizers": ["kubernetes"]}
            obj["status"] = {"phase": "Active"}
        elif kind == "Node":
            self._node_info(obj)
        elif kind == "Service":
            spec = obj.setdefault("spec", {})
            spec.setdefault("clusterIP", "10.96.%d.%d" % (int(O.det_hex("svc", obj["metadata"]["name"], n=4), 16)
                                                          % 250, len(self.store.items(("", "services"))) + 20))
            spec.setdefault("clusterIPs", [spec["clusterIP"]])
            spec.setdefault("type", "ClusterIP")
            spec.setdefault("sessionAffinity", "None")
            spec.setdefault("ipFamilies", ["IPv4"])
            spec.setdefault("ipFamilyPolicy", "SingleStack")
            spec.setdefault("internalTrafficPolicy", "Cluster")
            for p in spec.get("ports", []):
                p.setdefault("protocol", "TCP")
                p.setdefault("targetPort", p.get("port"))
            obj["status"] = {"loadBalancer": {}}
        elif kind == "NetworkPolicy":
            default_policy_types(obj)
            if self.k8s_version < (1, 27):
                obj.setdefault("status", {})
        elif kind in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet") and isinstance(spec, dict):
            t = spec.get("template", {}).get("spec")
            if isinstance(t, dict) and t.get("containers"):
                for c in t["containers"]:
                    c.pop("x-fake", None)
                    c.pop("x-image-id", None)
                t.setdefault("restartPolicy", "Always")
                t.setdefault("terminationGracePeriodSeconds", 30)
                t.setdefault("dnsPolicy", "ClusterFirst")
                t.setdefault("securityContext", {})
                t.setdefault("schedulerName", "default-scheduler")
                t["containers"] = [O.container_defaults(c) for c in t["containers"]]
            spec.setdefault("template", {}).setdefault("metadata", {}).setdefault("creationTimestamp", None)
            if kind != "DaemonSet":
                spec.setdefault("replicas", 1)
        elif kind in ("Job", "CronJob") and isinstance(spec, dict):
            jt = spec.get("jobTemplate", {}).get("spec", {}) if kind == "CronJob" else spec
            t = jt.get("template", {}).get("spec")
            if isinstance(t, dict):
                for c in t.get("containers", []):
                    c.pop("x-fake", None)
                    c.pop("x-image-id", None)
                t["containers"] = [O.container_defaults(c) for c in t.get("containers", [])]
                t.setdefault("terminationGracePeriodSeconds", 30)
                t.setdefault("dnsPolicy", "ClusterFirst")
                t.setdefault("securityContext", {})
                t.setdefault("schedulerName", "default-scheduler")
            if kind == "CronJob":
                spec.setdefault("suspend", False)
                spec.setdefault("successfulJobsHistoryLimit", 3)
                spec.setdefault("failedJobsHistoryLimit", 1)
                spec.setdefault("concurrencyPolicy", "Allow")

    def refresh_nodes(self, created):
        """After the pods started: each node's status lists their images (as the kubelet reports
        them), and each node has its heartbeat Lease in kube-node-lease."""
        lease_rt = self.registry.lookup("coordination.k8s.io", "v1", "leases")
        for e in list(self.store.items(("", "nodes")).values()):
            node = copy.deepcopy(e.obj)
            self._node_info(node)
            self.store.put(("", "nodes"), node)
            if lease_rt is None or self.store.get(lease_rt.key, "kube-node-lease", node["metadata"]["name"]):
                continue
            lease = self.admit(lease_rt, O.node_lease(node), manager="kubelet", created=created, deterministic=True)
            self.store.put(lease_rt.key, self.strip(lease))

    def _node_info(self, node):
        ver = VERSIONS[self.k8s_version]
        name = node["metadata"]["name"]
        t = node["metadata"].get("creationTimestamp") or O.ts_ago(3600)
        ready = self.node_ready(name)
        images = {}
        for e in self.store.items(CORE_PODS).values():
            for cs in e.obj.get("status", {}).get("containerStatuses", []):
                iid = cs.get("imageID", "")
                if "@" in iid and "://" not in iid:
                    images.setdefault(iid, set()).add(cs.get("image", ""))
        st = {
            "capacity": {"cpu": "2", "ephemeral-storage": "264212084Ki", "hugepages-1Gi": "0",
                         "hugepages-2Mi": "0", "memory": "24684084Ki", "pods": "110"},
            "allocatable": {"cpu": "2", "ephemeral-storage": "265142110657", "hugepages-1Gi": "0",
                            "hugepages-2Mi": "0", "memory": "24581684Ki", "pods": "110"},
            "conditions": [
                {"type": "MemoryPressure", "status": "False", "lastHeartbeatTime": O.now_ts(),
                 "lastTransitionTime": t, "reason": "KubeletHasSufficientMemory",
                 "message": "kubelet has sufficient memory available"},
                {"type": "DiskPressure", "status": "False", "lastHeartbeatTime": O.now_ts(),
                 "lastTransitionTime": t, "reason": "KubeletHasNoDiskPressure",
                 "message": "kubelet has no disk pressure"},
                {"type": "PIDPressure", "status": "False", "lastHeartbeatTime": O.now_ts(),
                 "lastTransitionTime": t, "reason": "KubeletHasSufficientPID",
                 "message": "kubelet has sufficient PID available"},
                {"type": "Ready", "status": "True", "lastHeartbeatTime": O.now_ts(), "lastTransitionTime": t,
                 "reason": "KubeletReady", "message": "kubelet is posting ready status"}],
            "addresses": [{"type": "InternalIP", "address": self.node_ip(name)}, {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {"machineID": O.det_hex("machine", name, n=32), "systemUUID": O.det_uid("sys", name),
                         "bootID": O.det_uid("boot", name), "kernelVersion": os.uname().release,
                         "osImage": "Debian GNU/Linux 12 (bookworm)", "containerRuntimeVersion": ver["runtime"],
                         "kubeletVersion": ver["gitVersion"], "kubeProxyVersion": ver["gitVersion"],
                         "operatingSystem": "linux", "architecture": "amd64"},
            "images": [{"names": [iid] + sorted(n for n in names if n), "sizeBytes": 1037584 + i * 7919}
                       for i, (iid, names) in enumerate(sorted(images.items()))],
        }
        if not ready:
            # what the node lifecycle controller writes when the kubelet stops posting status
            seen = O.ts_ago(60)
            for cond in st["conditions"]:
                cond.update({"status": "Unknown", "lastHeartbeatTime": O.ts_ago(100), "lastTransitionTime": seen,
                             "reason": "NodeStatusUnknown", "message": "Kubelet stopped posting node status."})
        node["status"] = st

    def refresh_workload_status(self):
        """Status of ReplicaSets, Deployments, StatefulSets, DaemonSets from the pods they own."""
        pods_by_owner = {}
        for e in self.store.items(CORE_PODS).values():
            for ref in e.obj["metadata"].get("ownerReferences", []):
                if ref.get("controller"):
                    pods_by_owner.setdefault(ref["uid"], []).append(e.obj)

        def counts(uid):
            ps = pods_by_owner.get(uid, [])
            ready = sum(1 for p in ps if p.get("status", {}).get("phase") == "Running"
                        and all(cs.get("ready") for cs in p["status"].get("containerStatuses", [])))
            return len(ps), ready

        rs_by_deploy = {}
        for key in (("apps", "replicasets"), ("apps", "statefulsets"), ("apps", "daemonsets"), ("batch", "jobs")):
            for e in list(self.store.items(key).values()):
                obj = copy.deepcopy(e.obj)
                n, ready = counts(obj["metadata"]["uid"])
                gen = obj["metadata"].get("generation", 1)
                if key[1] == "replicasets":
                    obj["status"] = {"replicas": n, "fullyLabeledReplicas": n, "readyReplicas": ready,
                                     "availableReplicas": ready, "observedGeneration": gen}
                    for ref in obj["metadata"].get("ownerReferences", []):
                        rs_by_deploy.setdefault(ref["uid"], []).append((n, ready, obj["metadata"]["name"]))
                elif key[1] == "statefulsets":
                    obj["status"] = {"observedGeneration": gen, "replicas": n, "readyReplicas": ready,
                                     "currentReplicas": n, "updatedReplicas": n, "availableReplicas": ready,
                                     "collisionCount": 0}
                elif key[1] == "daemonsets":
                    obj["status"] = {"currentNumberScheduled": n, "numberMisscheduled": 0,
                                     "desiredNumberScheduled": n, "numberReady": ready, "observedGeneration": gen,
                                     "updatedNumberScheduled": n, "numberAvailable": ready}
                else:
                    obj.setdefault("status", {}).update({"active": n, "ready": ready})
                if obj.get("status") != e.obj.get("status"):
                    self.store.put(key, obj)
        key = ("apps", "deployments")
        for e in list(self.store.items(key).values()):
            obj = copy.deepcopy(e.obj)
            rs = rs_by_deploy.get(obj["metadata"]["uid"], [])
            n, ready = sum(r[0] for r in rs), sum(r[1] for r in rs)
            t = obj["metadata"].get("creationTimestamp")
            obj["status"] = {
                "observedGeneration": obj["metadata"].get("generation", 1), "replicas": n, "updatedReplicas": n,
                "readyReplicas": ready, "availableReplicas": ready,
                "conditions": [
                    {"type": "Available", "status": "True" if ready >= obj["spec"].get("replicas", 1) else "False",
                     "lastUpdateTime": t, "lastTransitionTime": t, "reason": "MinimumReplicasAvailable",
                     "message": "Deployment has minimum availability."},
                    {"type": "Progressing", "status": "True", "lastUpdateTime": t, "lastTransitionTime": t,
                     "reason": "NewReplicaSetAvailable",
                     "message": f'ReplicaSet "{rs[-1][2] if rs else ""}" has successfully progressed.'}]}
            if ready == 0:
                del obj["status"]["readyReplicas"]
                del obj["status"]["availableReplicas"]
                obj["status"]["unavailableReplicas"] = n
            if obj.get("status") != e.obj.get("status"):
                self.store.put(key, obj)

    # -- garbage collection ---------------------------------------------------------------------
    async def collect_garbage(self, owner_uid, orphan=False):
        """Deletes (or orphans) every object whose ownerReferences name owner_uid, recursively."""
        for rt in self.registry.types:
            if not rt.storable:
                continue
            for k, e in list(self.store.items(rt.key).items()):
                refs = e.obj["metadata"].get("ownerReferences", [])
                if not any(r.get("uid") == owner_uid for r in refs):
                    continue
                if orphan:
                    obj = copy.deepcopy(e.obj)
                    obj["metadata"]["ownerReferences"] = [r for r in refs if r.get("uid") != owner_uid]
                    if not obj["metadata"]["ownerReferences"]:
                        del obj["metadata"]["ownerReferences"]
                    self.store.put(rt.key, obj)
                elif rt.key == CORE_PODS:
                    await self.pods.delete(k[0], k[1], grace=0, background=False, replace=False)
                else:
                    gone = self.store.delete(rt.key, k[0], k[1])
                    if gone:
                        await self.collect_garbage(gone.obj["metadata"]["uid"])
