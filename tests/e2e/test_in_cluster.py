"""e2e: kubectl-ir as it runs inside the cluster, in the Job of scripts/deploy/triage-job.yaml.

The container of that manifest is run as the kubelet would run it (pod_sandbox.py): its args and
env (the alert's target filled in as envsubst would, $(VAR) expanded as Kubernetes does), its
working directory, its user, its volumes as writable host directories, a read-only root, no
kubeconfig, KUBERNETES_SERVICE_HOST/PORT and the service account's token, ca.crt and namespace
under /var/run/secrets/kubernetes.io/serviceaccount. The service account is the one of
scripts/rbac/kubectl-ir-responder.yaml, with exactly the rules its bindings give it (the fake
cluster's scenario RBAC, generated from that file), so a missing permission fails the run.

Fake-only: it needs the fake cluster's scenario users (a service account token and its rules) and
its request log; the pods it acts on are still named through the workloads (tests/e2e/workloads.py).
"""
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import unittest

import yaml

import pod_sandbox
from harness import FAKE, IR_BIN, REAL_KUBECONFIG, REPO
from workloads import start, stop

RBAC = os.path.join(REPO, "scripts", "rbac", "kubectl-ir-responder.yaml")
JOB = os.path.join(REPO, "scripts", "deploy", "triage-job.yaml")
SA_NAMESPACE, SA_NAME = "kubectl-ir", "kubectl-ir-responder"
SA_USER = f"system:serviceaccount:{SA_NAMESPACE}:{SA_NAME}"
SA_TOKEN = "fake-responder-token"
cluster = w = None
WEB = NS = None   # the suspect and its namespace (setUpModule)
scenario_dir = None


def load_all(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def responder_rules(docs):
    """The fake cluster's rules for the service account: ClusterRoleBindings give their role's rules
    cluster-wide, RoleBindings in the binding's namespace only."""
    roles = {(d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"]): d
             for d in docs if d["kind"] in ("ClusterRole", "Role")}
    rules = []
    for b in docs:
        if b["kind"] not in ("ClusterRoleBinding", "RoleBinding"):
            continue
        if not any(s["kind"] == "ServiceAccount" and s["name"] == SA_NAME and s["namespace"] == SA_NAMESPACE
                   for s in b["subjects"]):
            continue
        ref = b["roleRef"]
        namespace = b["metadata"].get("namespace", "")
        role = roles[(ref["kind"], namespace if ref["kind"] == "Role" else "", ref["name"])]
        for r in role["rules"]:
            rule = {"apiGroups": r["apiGroups"], "resources": r["resources"], "verbs": r["verbs"]}
            if b["kind"] == "RoleBinding":
                rule["namespaces"] = [namespace]
            rules.append(rule)
    return rules


def setUpModule():
    global cluster, w, WEB, NS, scenario_dir
    if REAL_KUBECONFIG:
        raise unittest.SkipTest("needs the fake cluster (a service account token and scenario RBAC)")
    why = pod_sandbox.available()
    if why:
        raise unittest.SkipTest(why)
    scenario_dir = tempfile.mkdtemp(prefix="ir-incluster-")
    scenario = {
        "include": [os.path.join(FAKE, "scenarios", "demo.yaml")],
        "rbac": {"users": {SA_USER: {
            "token": SA_TOKEN,
            "groups": ["system:serviceaccounts", f"system:serviceaccounts:{SA_NAMESPACE}"],
            "role": "kubectl-ir:*", "binding": "kubectl-ir-responder:*",
            "rules": responder_rules(load_all(RBAC)),
        }}},
    }
    path = os.path.join(scenario_dir, "in-cluster.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(scenario, f)
    cluster, w = start(path, "in_cluster")
    WEB, NS = w.suspect, w.namespace


def tearDownModule():
    stop(cluster, w)
    if scenario_dir:
        shutil.rmtree(scenario_dir, ignore_errors=True)


def expand(text, env):
    """Kubernetes' $(VAR) expansion: defined variables replaced, $$ an escaped $, others kept."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                  lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), text)


class Container:
    """The Job's container with the alert's target filled in."""

    def __init__(self, namespace, pod, job_name="kubectl-ir-triage-e2e"):
        with open(JOB) as f:
            text = f.read()
        # envsubst '${TARGET_NAMESPACE} ${TARGET_POD}'
        text = text.replace("${TARGET_NAMESPACE}", namespace).replace("${TARGET_POD}", pod)
        self.job = yaml.safe_load(text)
        self.pod_spec = self.job["spec"]["template"]["spec"]
        self.spec = self.pod_spec["containers"][0]
        env = {}
        for e in self.spec.get("env", []):
            if "value" in e:
                env[e["name"]] = expand(e["value"], env)
            elif e["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.labels['job-name']":
                env[e["name"]] = job_name
            else:
                raise AssertionError(f"env {e['name']}: a fieldRef this test does not emulate")
        self.env = env
        self.args = [expand(a, env) for a in self.spec["args"]]


class TestTriageJob(unittest.TestCase):
    def setUp(self):
        w.reset()
        cluster.clear_requests()
        self.dirs = []

    def tearDown(self):
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)

    def volume(self):
        d = tempfile.mkdtemp(prefix="ir-volume-")
        self.dirs.append(d)
        return d

    def service_account(self):
        with open(os.path.join(cluster.dir, "ca.crt"), "rb") as f:
            ca = f.read()
        return {"token": SA_TOKEN.encode(), "ca.crt": ca, "namespace": SA_NAMESPACE.encode()}

    def run_container(self, container, args=None):
        """The container's process in a pod sandbox; -> (result, {mountPath: host dir})."""
        security = dict(container.pod_spec.get("securityContext", {}), **container.spec.get("securityContext", {}))
        self.assertTrue(security.get("readOnlyRootFilesystem"), "the Job's root file system is read-only")
        self.assertTrue(security.get("runAsNonRoot"))
        volumes = {m["mountPath"]: self.volume() for m in container.spec["volumeMounts"]}
        with open(os.path.join(cluster.dir, "port")) as f:
            port = self.port = f.read().strip()
        # The kubelet's service environment, then the image's (HOME), then the manifest's.
        env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": port,
               "KUBERNETES_SERVICE_PORT_HTTPS": port, "HOME": "/home/nonroot",
               "PATH": "/usr/local/bin:/usr/bin:/bin", **container.env}
        result = pod_sandbox.run([pod_sandbox.PROGRAM_PATH] + (args or container.args), program=IR_BIN, env=env,
                                 volumes=volumes, service_account=self.service_account(),
                                 workdir=container.spec["workingDir"], uid=security["runAsUser"],
                                 gid=security["runAsGroup"], timeout=600)
        return result, volumes

    def test_the_job_triages_the_pod_and_leaves_a_verified_bundle(self):
        container = Container(NS, WEB)
        self.assertEqual(container.args[:2], ["run", "triage"])
        self.assertEqual(container.pod_spec["serviceAccountName"], SA_NAME)
        r, volumes = self.run_container(container)
        self.assertEqual(r.code, 0, r)
        self.assertIn("playbook triage: ok", r.out)
        self.assertIn("egress contained", r.out)
        self.assertRegex(r.out, r"siblings\s+siblings\s+ok.*sibling pod")

        # The bundle in the working directory (the evidence volume), whole and verified.
        evidence = volumes[container.spec["workingDir"]]
        m = re.search(r"^bundle: (.+)$", r.out, re.M)
        self.assertIsNotNone(m, r)
        bundle = os.path.join(evidence, os.path.basename(m.group(1)))
        self.assertTrue(os.path.isfile(bundle), os.listdir(evidence))
        v = subprocess.run([IR_BIN, "verify", bundle], capture_output=True, timeout=120)
        self.assertEqual(v.returncode, 0, v.stderr.decode(errors="replace"))
        with tarfile.open(bundle, "r:gz") as tar:
            names = {t.name for t in tar.getmembers()}
            acquisition = json.loads(tar.extractfile("acquisition.json").read())
        for n in ("pod/pod.json", "containers/web/processes/processes.json", "playbook/run.json", "journal.jsonl"):
            self.assertIn(n, names)
        # Who did it: the in-cluster configuration, the service account, the Job named as examiner.
        self.assertEqual(acquisition["cluster"]["context"], "", "no kubeconfig context: the in-cluster configuration")
        self.assertEqual(acquisition["cluster"]["server"], "https://127.0.0.1:" + self.port)
        self.assertIn(SA_USER, json.dumps(acquisition["caller"]))
        self.assertEqual(acquisition["examiner"], f"{SA_USER} (Job kubectl-ir-triage-e2e)")

        # The case journal on the volume too (KUBECTL_IR_HOME), nothing anywhere else.
        home = os.path.join(evidence, "kubectl-ir")
        journals = [os.path.join(d, f) for d, _, fs in os.walk(home) for f in fs if f == "journal.jsonl"]
        self.assertEqual(len(journals), 1, journals)
        with open(journals[0]) as f:
            actions = [json.loads(line)["action"] for line in f if line.strip()]
        self.assertIn("apply-policy", actions)
        self.assertEqual(os.listdir(volumes["/tmp"]), [], "nothing left in /tmp")

        # Every request was the service account's own, and none was refused.
        requests = cluster.requests()
        mine = [q for q in requests if q["user"] == SA_USER]
        self.assertTrue(mine)
        self.assertEqual([q for q in requests if q["user"] not in (SA_USER, "admin")], [])
        # None was refused but what the analysis reaches for beyond a namespaced responder's Role and
        # says so (drift's same-digest candidates in other namespaces, skipped as "not readable with
        # these credentials"; the Service names of the addresses): known, listed, nothing else.
        refused = [(q["method"], q["path"]) for q in mine if q["status"] == 403]
        beyond = [(m, p) for m, p in refused
                  if (m == "GET" and p.startswith("/api/v1/namespaces/") and "/namespaces/shop/" not in p and "/pods/" in p)
                  or (m == "GET" and p.endswith("/services"))]
        self.assertEqual([r for r in refused if r not in beyond], [])
        # The pod is isolated: the quarantine policy exists (read as admin).
        pols = cluster.kubectl("get", "networkpolicies", "-n", NS, "-o", "json")
        self.assertIn("kubectl-ir-quarantine-" + WEB, [p["metadata"]["name"] for p in json.loads(pols.out)["items"]])

    def test_least_privilege_what_the_job_does_not_need_is_refused(self):
        # Cordoning is not in the responder's roles: isolate's preflight refuses before any write.
        r, _ = self.run_container(Container(NS, WEB), ["isolate", WEB, "-n", NS, "--cordon"])
        self.assertEqual(r.code, 1, r)
        self.assertIn("patch nodes", r.err)
        pols = cluster.kubectl("get", "networkpolicies", "-n", NS, "-o", "json")
        self.assertNotIn("kubectl-ir-quarantine-" + WEB, [p["metadata"]["name"] for p in json.loads(pols.out)["items"]])
        # Nor is a namespace without the responder's RoleBindings.
        r, _ = self.run_container(Container("kube-system", "coredns"), ["doctor", "-n", "kube-system"])
        self.assertNotEqual(r.code, 0, r)
        self.assertRegex(r.out, r"isolate\s+patch\s+pods\s+kube-system\s+NO\s")

    def test_the_root_is_read_only_and_there_is_no_kubeconfig(self):
        # What the binary sees: the in-cluster configuration, nothing writable outside the volumes.
        r, _ = self.run_container(Container(NS, WEB), ["version"])
        self.assertEqual(r.code, 0, r)
        self.assertRegex(r.out, r"Server Version: v1\.")


if __name__ == "__main__":
    unittest.main()
