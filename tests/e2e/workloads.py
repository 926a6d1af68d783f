"""The workloads the e2e tests act on: one interface, two implementations.

A test module asks for them once and then names everything through them:

    cluster, w = start("demo", "collect")      # in setUpModule; stop(cluster, w) in tearDownModule
    cluster.ir("collect", w.suspect, "-n", w.namespace, ...)

On the fake cluster (the default) they are the demo scenario's objects (shop/web-7d4b9c8f6-x2k9p is
the suspect, ...): nothing is created. Against a real cluster (IR_E2E_KUBECONFIG) the same names
are objects created for the module with kubectl in a namespace of its own,
ir-e2e-<module>-<random>, deleted at the end:

  web            Deployment, N busybox replicas (IR_E2E_REPLICAS, default 2) serving httpd on 8080
  web-suspect    the compromised-replica stand-in: a pod of web's template and labels (not adopted:
                 the ReplicaSet also selects pod-template-hash) whose command also copies busybox to
                 /tmp/.x/kworkerds, runs it as `nc` connected to the pool, and drops
                 /tmp/.x/payload.sh
  pool           a pod holding every connection on 3333 (busybox nc -ll -e cat) behind Service pool:
                 the "mining pool" the suspect talks to (no traffic leaves the namespace)
  web (Service), allow-egress (NetworkPolicy allowing all egress of app=web, as the demo's)
  payments-api   Deployment of a shell-less image (IR_E2E_SHELLLESS_IMAGE), container api
  node-exporter  a hostNetwork pod, only when the module asks for it (host_network=True)

Images: IR_E2E_IMAGE (default busybox:1.36) and IR_E2E_SHELLLESS_IMAGE (default
registry.k8s.io/pause:3.9, whose binary IR_E2E_SHELLLESS_EXE names, default /pause), both with
imagePullPolicy IfNotPresent. IR_E2E_READY_TIMEOUT (seconds, default 300) bounds the wait for
Ready; IR_E2E_KEEP=1 keeps the namespace for a look after the run.
"""
import json
import os
import random
import string
import subprocess
import time

from harness import Cluster

IMAGE = os.environ.get("IR_E2E_IMAGE", "busybox:1.36")
SHELLLESS_IMAGE = os.environ.get("IR_E2E_SHELLLESS_IMAGE", "registry.k8s.io/pause:3.9")
SHELLLESS_EXE = os.environ.get("IR_E2E_SHELLLESS_EXE", "/pause")
REPLICAS = int(os.environ.get("IR_E2E_REPLICAS", "2"))
READY_TIMEOUT = float(os.environ.get("IR_E2E_READY_TIMEOUT", "300"))
KEEP = os.environ.get("IR_E2E_KEEP") == "1"
LABEL = "kubectl-ir-e2e"   # on every namespace created here: kubectl delete ns -l kubectl-ir-e2e=true
POOL_PORT = 3333
MINER_EXE = "/tmp/.x/kworkerds"
DROPPED = "/tmp/.x/payload.sh"


def start(scenario, module, host_network=False):
    """A test module's cluster (harness.Cluster(scenario)) and its workloads: (cluster, workloads)."""
    cluster = Cluster(scenario)
    return cluster, Workloads(cluster, module, host_network=host_network)


def stop(cluster, workloads):
    """Undoes start(): closes the workloads, then stops the cluster (either may be None: not started)."""
    if workloads:
        workloads.close()
    if cluster:
        cluster.stop()


def Workloads(cluster, module, host_network=False):
    """The demo's names on the fake cluster; created objects on a real one (see the module doc)."""
    if cluster.real:
        return RealWorkloads(cluster, module, host_network=host_network)
    return FakeWorkloads(cluster)


class FakeWorkloads:
    """The demo scenario's objects (tests/fake-cluster/scenarios/demo.yaml), as they are named there."""

    real = False
    namespace = "shop"
    suspect = "web-7d4b9c8f6-x2k9p"
    healthy = ["web-7d4b9c8f6-b8lqz", "web-7d4b9c8f6-m4hzt"]
    container = "web"
    selector = "app=web"
    deployment = "web"
    replicaset = "web-7d4b9c8f6"
    suspect_owners = [("replicaset", "web-7d4b9c8f6"), ("deployment", "web")]
    shell_less = "payments-api-6c8f5d7b4-q7r2n"
    shell_less_container = "api"
    shell_less_exe = "/app"
    pool_ip, pool_port = "198.51.100.7", 3333
    miner_exe = MINER_EXE
    miner_shown = "kworkerds"   # what a process list shows of the miner (the demo's: its comm and path)
    dropped = DROPPED
    host_network_namespace, host_network_pod = "monitoring", "node-exporter-9xq4t"
    node = "node-1"
    allow_egress = "allow-egress"
    debug_image = "busybox"

    def __init__(self, cluster):
        self.cluster = cluster

    @property
    def pool(self):
        return f"{self.pool_ip}:{self.pool_port}"

    @property
    def replicas(self):
        """Every pod of the web workload's labels, the suspect included, sorted."""
        return sorted(self.healthy + [self.suspect])

    def reset(self):
        """Back to the state the module started from (the scenario reloaded: new uids, same names)."""
        self.cluster.admin("POST", "/_fake/reset", {})

    def close(self):
        pass


class RealWorkloads(FakeWorkloads):
    """Objects created for one test module in a namespace of its own, with kubectl only."""

    real = True
    suspect_owners = []
    suspect = "web-suspect"
    shell_less_exe = SHELLLESS_EXE
    host_network_pod = "node-exporter"

    @property
    def miner_shown(self):
        """Its command line: busybox runs the applet argv[0] names (exe and comm stay kworkerds)."""
        return f"nc {self.pool_ip} {self.pool_port}"

    def __init__(self, cluster, module, host_network=False):
        super().__init__(cluster)
        suffix = "".join(random.choice(string.ascii_lowercase + string.digits) for _ in range(5))
        self.namespace = f"ir-e2e-{module.replace('_', '-')}-{suffix}"[:63]
        self.host_network_namespace = self.namespace
        self.debug_image = IMAGE
        self.with_host_network = host_network
        self.nodes_cordoned = set()
        try:
            self._create()
        except BaseException:
            self.close()
            raise

    # --- kubectl -------------------------------------------------------------------------------
    def kubectl(self, *args, input=None, check=True, timeout=120):
        cmd = ["kubectl", "--kubeconfig", self.cluster.kubeconfig] + list(args)
        proc = subprocess.run(cmd, input=input.encode() if isinstance(input, str) else input,
                              capture_output=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:4])}...: {proc.stderr.decode(errors='replace').strip()}")
        return proc.stdout.decode("utf-8", "replace")

    def get_json(self, *args):
        return json.loads(self.kubectl("get", *args, "-o", "json"))

    def apply(self, docs):
        self.kubectl("apply", "-n", self.namespace, "-f", "-", input="\n".join(json.dumps(d) for d in docs))

    # --- creation ------------------------------------------------------------------------------
    def _create(self):
        self.nodes_cordoned = {n["metadata"]["name"] for n in self.get_json("nodes")["items"]
                               if n["spec"].get("unschedulable")}
        # Pod Security: the hostNetwork pod and the debug containers' SYS_PTRACE need "privileged".
        self.kubectl("apply", "-f", "-", input=json.dumps({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": self.namespace, "labels": {LABEL: "true",
                                                            "pod-security.kubernetes.io/enforce": "privileged"}}}))
        pool = _pod("pool", {"app": "pool"}, "pool", IMAGE, ["sh", "-c", f"exec nc -ll -p {POOL_PORT} -e cat"])
        self.bare = {"pool": pool}   # the pods no controller replaces: reset() creates them again
        self.apply([_service("pool", {"app": "pool"}, POOL_PORT, POOL_PORT), pool])
        self.pool_ip = self.get_json("service", "pool", "-n", self.namespace)["spec"]["clusterIP"]
        web_labels = {"app": "web", "tier": "frontend"}
        docs = [
            _deployment("web", web_labels, "web", IMAGE, ["sh", "-c", WEB_SCRIPT], REPLICAS, port=8080),
            _pod(self.suspect, web_labels, "web", IMAGE,
                 ["sh", "-c", SUSPECT_SCRIPT.format(pool_ip=self.pool_ip, pool_port=POOL_PORT) + WEB_SCRIPT],
                 port=8080),
            _service("web", {"app": "web"}, 80, 8080),
            {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
             "metadata": {"name": "allow-egress"},
             "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Egress"], "egress": [{}]}},
            _deployment("payments-api", {"app": "payments-api"}, "api", SHELLLESS_IMAGE, None, 1,
                        # runAsUser only: collect --ephemeral gives its debug container the target's
                        # runAsUser, not its group, and another gid may not read /proc/<pid>/root
                        security={"runAsUser": 65535}),
        ]
        if self.with_host_network:
            host = _pod(self.host_network_pod, {"app": "node-exporter"}, "node-exporter", IMAGE,
                        ["sh", "-c", "while true; do sleep 30; done"])
            host["spec"]["hostNetwork"] = True
            docs.append(host)
        self.bare.update((d["metadata"]["name"], d) for d in docs if d["kind"] == "Pod")
        self.apply(docs)
        self._wait_ready()
        self._names()
        self._wait_miner_connected()
        self.snapshot = self._state()

    def _names(self):
        """The generated names: web's ReplicaSet and replicas, the shell-less pod; the suspect's node."""
        rs = [r for r in self.get_json("replicasets", "-n", self.namespace, "-l", "app=web")["items"]
              if any(o.get("kind") == "Deployment" and o.get("name") == "web"
                     for o in r["metadata"].get("ownerReferences", []))]
        self.replicaset = rs[0]["metadata"]["name"]
        self.healthy = sorted(self._pod_names(f"app=web,pod-template-hash={rs[0]['metadata']['labels']['pod-template-hash']}"))
        self.shell_less = self._pod_names("app=payments-api")[0]
        self.node = self.get_json("pod", self.suspect, "-n", self.namespace)["spec"]["nodeName"]

    def _pod_names(self, selector):
        return [p["metadata"]["name"] for p in self.get_json("pods", "-n", self.namespace, "-l", selector)["items"]
                if "deletionTimestamp" not in p["metadata"]]

    def _wait_ready(self):
        deadline = time.monotonic() + READY_TIMEOUT
        want = 3 + REPLICAS + (1 if self.with_host_network else 0)   # pool, suspect, payments-api
        while True:
            items = [p for p in self.get_json("pods", "-n", self.namespace)["items"]
                     if "deletionTimestamp" not in p["metadata"]]
            ready = [p for p in items if any(c["type"] == "Ready" and c["status"] == "True"
                                             for c in p.get("status", {}).get("conditions", []))]
            if len(items) >= want and len(ready) == len(items):
                return
            if time.monotonic() > deadline:
                states = {p["metadata"]["name"]: [cs.get("state") for cs in p.get("status", {}).get("containerStatuses", [])]
                          for p in items if p not in ready}
                raise RuntimeError(f"workloads in {self.namespace} not Ready within {READY_TIMEOUT:.0f}s "
                                   f"({len(ready)}/{want}): {json.dumps(states)[:2000]}")
            time.sleep(2)

    def _wait_miner_connected(self):
        """Until the suspect's /proc/net/tcp shows the miner's connection to the pool ESTABLISHED."""
        want = "%s:%04X" % ("".join("%02X" % int(b) for b in reversed(self.pool_ip.split("."))), POOL_PORT)
        deadline = time.monotonic() + 60
        while True:
            tcp = self.kubectl("exec", self.suspect, "-n", self.namespace, "-c", "web", "--", "cat", "/proc/net/tcp",
                               check=False)
            if any(len(f) > 3 and f[2] == want and f[3] == "01" for f in (line.split() for line in tcp.splitlines())):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the suspect's miner is not connected to the pool {self.pool}:\n{tcp}")
            time.sleep(1)

    # --- state ---------------------------------------------------------------------------------
    def _state(self):
        pods = {p["metadata"]["name"]: {"labels": p["metadata"].get("labels", {}),
                                        "annotations": p["metadata"].get("annotations", {})}
                for p in self.get_json("pods", "-n", self.namespace)["items"]}
        policies = {p["metadata"]["name"]: p for p in self.get_json("networkpolicies", "-n", self.namespace)["items"]}
        return {"pods": pods, "policies": policies}

    def reset(self):
        """Undoes what a test may have changed: kubectl-ir's labels and annotations on the pods,
        policies added or changed, AdminNetworkPolicies of this namespace, nodes cordoned since the
        start; pods a test deleted are back (the bare ones created again, the replicas replaced by
        their ReplicaSet, under new names). (Ephemeral containers cannot be removed: they stay, as on
        any cluster.)"""
        self._delete_admin_policies()
        self._recreate_deleted()
        now = self._state()
        for name, pol in now["policies"].items():
            if name not in self.snapshot["policies"]:
                self.kubectl("delete", "networkpolicy", name, "-n", self.namespace, "--wait=false", check=False)
        for name, pol in self.snapshot["policies"].items():
            cur = now["policies"].get(name)
            if cur is None or _restorable(cur) != _restorable(pol):
                doc = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                       "metadata": {k: pol["metadata"][k] for k in ("name", "labels", "annotations")
                                    if k in pol["metadata"]},
                       "spec": pol["spec"]}
                self.kubectl("replace" if cur else "create", "-n", self.namespace, "-f", "-", input=json.dumps(doc))
        for name, was in self.snapshot["pods"].items():
            cur = now["pods"].get(name)
            if cur is None or cur == was:
                continue
            patch = {"metadata": {k: {**{key: None for key in cur[k] if key not in was[k]}, **was[k]}
                                  for k in ("labels", "annotations")}}
            self.kubectl("patch", "pod", name, "-n", self.namespace, "--type=merge", "-p", json.dumps(patch))
        self._uncordon()

    def _recreate_deleted(self):
        gone = []
        for name, doc in self.bare.items():
            r = self.kubectl("get", "pod", name, "-n", self.namespace, "-o", "json", check=False)
            if r.strip() and "deletionTimestamp" not in json.loads(r)["metadata"]:
                continue
            self.kubectl("wait", "--for=delete", "pod/" + name, "-n", self.namespace, f"--timeout={int(READY_TIMEOUT)}s",
                         check=False, timeout=READY_TIMEOUT + 30)
            gone.append(doc)
        if gone:
            self.apply(gone)
        if gone or set(self._pod_names("app=web")) != set(self.replicas):
            self._wait_ready()
            self._names()
            if any(d["metadata"]["name"] == self.suspect for d in gone):
                self._wait_miner_connected()
            for name, was in self._state()["pods"].items():   # the new pods, as created
                self.snapshot["pods"].setdefault(name, was)

    def _delete_admin_policies(self):
        out = self.kubectl("get", "adminnetworkpolicies.policy.networking.k8s.io", "-o", "json", check=False)
        try:
            items = json.loads(out)["items"] if out.strip() else []
        except ValueError:
            items = []
        for anp in items:
            if anp["metadata"]["name"].startswith(f"kubectl-ir-quarantine-{self.namespace}-"):
                self.kubectl("delete", "adminnetworkpolicies.policy.networking.k8s.io", anp["metadata"]["name"],
                             check=False)

    def _uncordon(self):
        for n in self.get_json("nodes")["items"]:
            name = n["metadata"]["name"]
            if n["spec"].get("unschedulable") and name not in self.nodes_cordoned:
                self.kubectl("uncordon", name, check=False)

    def close(self):
        """Deletes the namespace (and with it every object made here), the AdminNetworkPolicies of
        the namespace, and uncordons the nodes the tests cordoned."""
        if KEEP:
            return
        try:
            self._delete_admin_policies()
            self._uncordon()
        finally:
            self.kubectl("delete", "namespace", self.namespace, "--ignore-not-found", "--wait=true",
                         f"--timeout={int(READY_TIMEOUT)}s", check=False, timeout=READY_TIMEOUT + 30)


def _restorable(obj):
    md = obj["metadata"]
    return {"labels": md.get("labels"), "annotations": md.get("annotations"), "spec": obj.get("spec")}


# The web replicas: busybox httpd on 8080 (a daemon, so a second process), and a loop that never forks.
WEB_SCRIPT = ("mkdir -p /var/www && echo ok > /var/www/index.html && httpd -p 8080 -h /var/www; "
              "echo '[web] serving :8080'; while true; do sleep 30; done")

# The compromised replica: a renamed busybox in /tmp running as `nc` to the pool (comm kworkerds,
# exe /tmp/.x/kworkerds, an ESTABLISHED connection), a dropped file beside it, a line in the log;
# then the web part. stdin never ends, so nc keeps the connection open; it reconnects if the pool
# restarts. The name is assembled at run time so that only the miner itself matches "kworker"
# (the shell's command line does not).
SUSPECT_SCRIPT = ("d=/tmp/.x; m=$d/kwor; m=${{m}}kerds; mkdir -p $d && cp /bin/busybox $m && chmod 755 $m && "
                  "printf '#!/bin/sh\\n# dropper stand-in (kubectl-ir e2e)\\n' > $d/payload.sh && "
                  "echo '[x] net use pool {pool_ip}:{pool_port}' && "
                  "(while true; do tail -f /dev/null | (exec -a nc $m {pool_ip} {pool_port}); sleep 1; done) & ")


def _container(name, image, command, port=None, security=None):
    c = {"name": name, "image": image, "imagePullPolicy": "IfNotPresent"}
    if command:
        c["command"] = command
    if port:
        c["ports"] = [{"containerPort": port, "name": "http"}]
    if security:
        c["securityContext"] = security
    return c


def _pod_spec(name, image, command, port=None, security=None):
    return {"terminationGracePeriodSeconds": 1, "enableServiceLinks": False,
            "containers": [_container(name, image, command, port, security)]}


def _pod(name, labels, container, image, command, port=None):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": dict(labels)},
            "spec": _pod_spec(container, image, command, port)}


def _deployment(name, labels, container, image, command, replicas, port=None, security=None):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": {"app": labels["app"]}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": labels["app"]}},
                     "template": {"metadata": {"labels": dict(labels)},
                                  "spec": _pod_spec(container, image, command, port, security)}}}


def _service(name, selector, port, target):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "labels": dict(selector)},
            "spec": {"selector": dict(selector), "ports": [{"name": "p", "port": port, "targetPort": target}]}}
