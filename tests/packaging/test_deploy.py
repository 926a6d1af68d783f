"""The in-cluster manifests (scripts/deploy/) against the responder RBAC (scripts/rbac/) and the image
(scripts/release/oci_image.py): they name what exists, run as the image's user with the restricted
Pod Security profile, write only to volumes, and never retry an action blindly.
(tests/e2e/test_in_cluster.py runs the Job's container itself; tests/unit/triage/
responder_rbac_test.cpp holds the RBAC against what doctor lists.)"""
import os
import re
import sys
import unittest

import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEPLOY = os.path.join(REPO, "scripts", "deploy")
RBAC = os.path.join(REPO, "scripts", "rbac", "kubectl-ir-responder.yaml")
sys.path.insert(0, os.path.join(REPO, "scripts", "release"))
import oci_image  # noqa: E402


def load_all(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def project_version():
    with open(os.path.join(REPO, "CMakeLists.txt")) as f:
        return re.search(r"project\(kubectl-ir VERSION ([0-9.]+)", f.read()).group(1)


def pod_templates(docs):
    for d in docs:
        if d["kind"] == "Job":
            yield d, d["spec"], d["spec"]["template"]["spec"]
        elif d["kind"] == "CronJob":
            job = d["spec"]["jobTemplate"]["spec"]
            yield d, job, job["template"]["spec"]


class TestDeploy(unittest.TestCase):
    def setUp(self):
        self.rbac = load_all(RBAC)
        self.files = {name: load_all(os.path.join(DEPLOY, name)) for name in sorted(os.listdir(DEPLOY))
                      if name.endswith(".yaml")}
        self.workloads = [(name, *w) for name, docs in self.files.items() for w in pod_templates(docs)]

    def names(self, kind, docs=None):
        return {(d["metadata"].get("namespace", ""), d["metadata"]["name"])
                for d in (docs if docs is not None else self.rbac) if d["kind"] == kind}

    def test_there_is_a_triage_job_and_a_drill_cronjob(self):
        kinds = sorted((name, d["kind"]) for name, d, _, _ in self.workloads)
        self.assertEqual(kinds, [("drill-cronjob.yaml", "CronJob"), ("triage-job.yaml", "Job")])

    def test_the_image_is_this_version_and_runs_as_its_user(self):
        for name, obj, job, pod in self.workloads:
            with self.subTest(name):
                self.assertEqual(len(pod["containers"]), 1)
                c = pod["containers"][0]
                self.assertEqual(c["image"], f"{oci_image.REPOSITORY}:{project_version()}")
                sc = pod["securityContext"]
                self.assertEqual((sc["runAsUser"], sc["runAsGroup"]), (oci_image.NONROOT, oci_image.NONROOT))
                self.assertTrue(sc["runAsNonRoot"])
                self.assertEqual(sc["seccompProfile"], {"type": "RuntimeDefault"})
                csc = c["securityContext"]
                self.assertIs(csc["readOnlyRootFilesystem"], True)
                self.assertIs(csc["allowPrivilegeEscalation"], False)
                self.assertEqual(csc["capabilities"], {"drop": ["ALL"]})
                self.assertNotIn("command", c, "the image's entrypoint is kubectl-ir: args only")

    def test_the_service_account_and_roles_exist(self):
        accounts = self.names("ServiceAccount")
        cluster_roles = {n for _, n in self.names("ClusterRole")}
        namespaces = {n for _, n in self.names("Namespace")}
        for name, obj, job, pod in self.workloads:
            with self.subTest(name):
                self.assertIn((obj["metadata"]["namespace"], pod["serviceAccountName"]), accounts)
                self.assertIn(obj["metadata"]["namespace"], namespaces)
        for name, docs in self.files.items():
            local_roles = self.names("Role", docs)
            for b in docs:
                if b["kind"] != "RoleBinding":
                    continue
                ref = b["roleRef"]
                if ref["kind"] == "ClusterRole":
                    self.assertIn(ref["name"], cluster_roles, f"{name}: {b['metadata']['name']}")
                else:
                    self.assertIn((b["metadata"]["namespace"], ref["name"]), local_roles)
                for s in b["subjects"]:
                    self.assertIn((s["namespace"], s["name"]), accounts)

    def test_writes_go_to_volumes_only(self):
        claims = self.names("PersistentVolumeClaim", self.files["evidence-volume.yaml"])
        for name, obj, job, pod in self.workloads:
            with self.subTest(name):
                c = pod["containers"][0]
                mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
                volumes = {v["name"]: v for v in pod["volumes"]}
                self.assertEqual(set(mounts.values()), set(volumes))
                self.assertIn(c["workingDir"], mounts, "the bundle is written to the working directory")
                self.assertIn("/tmp", mounts)
                env = {e["name"]: e.get("value") for e in c.get("env", [])}
                home = env.get("KUBECTL_IR_HOME", "")
                self.assertTrue(any(home.startswith(m + "/") for m in mounts), "case journals on a volume")
                evidence = volumes[mounts[c["workingDir"]]]
                self.assertIn((obj["metadata"]["namespace"], evidence["persistentVolumeClaim"]["claimName"]), claims)

    def test_never_retried_blindly(self):
        for name, obj, job, pod in self.workloads:
            with self.subTest(name):
                self.assertEqual(job["backoffLimit"], 0)
                self.assertEqual(pod["restartPolicy"], "Never")
                self.assertGreater(job["activeDeadlineSeconds"], 0)
        cron = next(d for d in self.files["drill-cronjob.yaml"] if d["kind"] == "CronJob")
        self.assertEqual(cron["spec"]["concurrencyPolicy"], "Forbid")

    def test_the_job_runs_triage_on_the_alerts_target(self):
        with open(os.path.join(DEPLOY, "triage-job.yaml")) as f:
            text = f.read()
        self.assertEqual(sorted(set(re.findall(r"\$\{[A-Z_]+\}", text))), ["${TARGET_NAMESPACE}", "${TARGET_POD}"])
        job = next(d for d in self.files["triage-job.yaml"] if d["kind"] == "Job")
        self.assertIn("generateName", job["metadata"], "one Job per alert: kubectl create")
        c = job["spec"]["template"]["spec"]["containers"][0]
        self.assertEqual(c["args"][:2], ["run", "triage"])
        self.assertIn("$(TARGET_POD)", c["args"])
        self.assertIn("$(TARGET_NAMESPACE)", c["args"])
        # $(VAR) expands only variables defined earlier in the list (and in args, any of them).
        defined = []
        for e in c["env"]:
            for ref in re.findall(r"\$\(([A-Z_]+)\)", e.get("value", "")):
                self.assertIn(ref, defined, f"{e['name']} uses $({ref}) before it is defined")
            defined.append(e["name"])
        for ref in re.findall(r"\$\(([A-Z_]+)\)", " ".join(c["args"])):
            self.assertIn(ref, defined)

    def test_the_drill_runs_the_drill(self):
        cron = next(d for d in self.files["drill-cronjob.yaml"] if d["kind"] == "CronJob")
        c = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
        self.assertEqual(c["args"], ["drill", "--namespace", "ir-drill"])
        self.assertIn(("", "ir-drill"), self.names("Namespace", self.files["drill-cronjob.yaml"]))

    def test_readme_shows_how_to_start_them(self):
        with open(os.path.join(REPO, "README.md")) as f:
            readme = f.read()
        for needle in ("scripts/rbac/kubectl-ir-responder.yaml", "scripts/deploy/triage-job.yaml",
                       "scripts/deploy/drill-cronjob.yaml", "scripts/deploy/evidence-volume.yaml"):
            self.assertTrue(needle in readme, f"README.md does not mention {needle}")


if __name__ == "__main__":
    unittest.main()
