"""End-to-end: real kubectl (v1.32) against the fake cluster (demo scenario, Kubernetes 1.32 mode)."""

import json
import os
import re
import time
import unittest

from .helpers import ClusterTestCase

WEB = "web-7d4b9c8f6-x2k9p"
WEB2 = "web-7d4b9c8f6-b8lqz"
PAYMENTS = "payments-api-6c8f5d7b4-q7r2n"
WEB_DIGEST = "sha256:ce8bdfcc780090e7834a151f442da4043b2cd75956632e131e75b0dee9e09e31"


class KubectlTest(ClusterTestCase):
    def test_version_and_discovery(self):
        out = json.loads(self.kubectl_ok("version", "-o", "json"))
        self.assertTrue(out["serverVersion"]["gitVersion"].startswith("v1.32."))
        res = self.kubectl_ok("api-resources", "-o", "name")
        for r in ("pods", "networkpolicies.networking.k8s.io", "deployments.apps", "cronjobs.batch",
                  "selfsubjectreviews.authentication.k8s.io"):
            self.assertIn(r, res.split())
        self.assertNotIn("adminnetworkpolicies", res)

    def test_get_pods_all_namespaces_in_chunks(self):
        self.cluster.request("DELETE", "/_fake/requests")
        out = self.kubectl_ok("get", "pods", "-A", "--chunk-size=2")
        for name in (WEB, PAYMENTS, "node-exporter-9xq4t", "web-cache-0", "calico-node-6ppg9",
                     "nightly-report-29301120-4fj8s"):
            self.assertIn(name, out)
        self.assertRegex(out, r"web-cache-0\s+0/1\s+ContainerCreating")
        _, _, log = self.cluster.request("GET", "/_fake/requests")
        lists = [r for r in log if r["path"] == "/api/v1/pods"]
        self.assertGreaterEqual(sum(1 for r in lists if "continue=" in r["query"]), 5)
        self.assertTrue(all(r["status"] == 200 and r["user"] == "admin" for r in lists))

    def test_pod_json_shape(self):
        pod = json.loads(self.kubectl_ok("get", "pod", WEB, "-o", "json"))
        self.assertEqual((pod["kind"], pod["apiVersion"]), ("Pod", "v1"))
        cs = pod["status"]["containerStatuses"][0]
        self.assertEqual(cs["imageID"], f"registry.example.com/shop/web@{WEB_DIGEST}")
        self.assertRegex(cs["containerID"], r"^containerd://[0-9a-f]{64}$")
        self.assertIn("running", cs["state"])
        self.assertEqual(pod["status"]["phase"], "Running")
        self.assertEqual(pod["metadata"]["ownerReferences"][0]["kind"], "ReplicaSet")
        self.assertNotIn("x-fake", json.dumps(pod))
        batch = json.loads(self.kubectl_ok("get", "pods", "-n", "batch", "-o", "json"))
        ids = sorted(p["status"]["containerStatuses"][0]["imageID"] for p in batch["items"])
        self.assertTrue(ids[0].startswith("docker-pullable://") and ids[0].endswith(WEB_DIGEST))
        self.assertTrue(ids[1].startswith("mirror.example.net/") and ids[1].endswith(WEB_DIGEST))
        pending = json.loads(self.kubectl_ok("get", "pod", "web-cache-0", "-o", "json"))
        self.assertEqual(pending["status"]["phase"], "Pending")
        self.assertEqual(pending["status"]["containerStatuses"][0]["imageID"], "")
        hostnet = json.loads(self.kubectl_ok("get", "pod", "-n", "monitoring", "node-exporter-9xq4t", "-o", "json"))
        self.assertTrue(hostnet["spec"]["hostNetwork"])

    def test_label_annotate_and_selectors(self):
        self.kubectl_ok("label", "pod", WEB2, "quarantine=case-1")
        self.kubectl_ok("annotate", "pod", WEB2, "ir/note=suspect")
        out = self.kubectl_ok("get", "pods", "-l", "app=web,quarantine=case-1", "-o", "name")
        self.assertEqual(out.split(), [f"pod/{WEB2}"])
        out = self.kubectl_ok("get", "pods", "-l", "app in (web),!quarantine", "-o", "name")
        self.assertNotIn(WEB2, out)
        self.assertIn(WEB, out)
        pod = json.loads(self.kubectl_ok("get", "pod", WEB2, "-o", "json"))
        self.assertEqual(pod["metadata"]["annotations"]["ir/note"], "suspect")
        self.kubectl_ok("label", "pod", WEB2, "quarantine-")

    def test_apply_client_and_server_side_then_delete(self):
        np = ("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: {name}\n  namespace: shop\n"
              "spec:\n  podSelector:\n    matchLabels: {{quarantine: case-9}}\n  policyTypes: [Egress]\n")
        out = self.kubectl_ok("apply", "-f", "-", input=np.format(name="t-csa"))
        self.assertIn("created", out)
        self.assertIn("unchanged", self.kubectl_ok("apply", "-f", "-", input=np.format(name="t-csa")))
        out = self.kubectl_ok("apply", "--server-side", "-f", "-", input=np.format(name="t-ssa"))
        self.assertIn("serverside-applied", out)
        _, _, obj = self.cluster.request("GET", "/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies/t-ssa")
        self.assertTrue(any(m["operation"] == "Apply" for m in obj["metadata"]["managedFields"]))
        r = self.cluster.kubectl("create", "-f", "-", input=np.format(name="t-ssa"))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("AlreadyExists", r.stderr)
        self.assertIn('"t-ssa" deleted', self.kubectl_ok("delete", "netpol", "t-ssa", "t-csa"))
        self.assertNotIn("t-ssa", self.kubectl_ok("get", "netpol"))

    def test_invalid_networkpolicy_is_422(self):
        bad = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: nosel, namespace: shop}\n" \
              "spec: {policyTypes: [Egress]}\n"
        r = self.cluster.kubectl("create", "-f", "-", input=bad)
        self.assertIn("is invalid: spec.podSelector: Required value", r.stderr)

    def test_logs(self):
        out = self.kubectl_ok("logs", WEB)
        self.assertIn("httpd", out)
        ts = self.kubectl_ok("logs", WEB, "--timestamps", "--limit-bytes=40")
        self.assertRegex(ts, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z ")
        self.assertEqual(len(ts.encode()), 40)
        self.assertEqual(len(self.kubectl_ok("logs", WEB, "--tail=1").splitlines()), 1)
        r = self.cluster.kubectl("logs", WEB, "--previous")
        self.assertIn(f'previous terminated container "web" in pod "{WEB}" not found', r.stderr)

    def test_exec_exit_code_and_stderr(self):
        r = self.cluster.kubectl("exec", WEB, "--", "sh", "-c", "echo out; echo err >&2; exit 3")
        self.assertEqual(r.returncode, 3)
        self.assertEqual(r.stdout, "out\n")
        self.assertIn("err\n", r.stderr)
        self.assertIn("command terminated with exit code 3", r.stderr)
        ps = self.kubectl_ok("exec", WEB, "--", "ps")
        self.assertIn("kworkerds", ps)

    def test_exec_with_stdin(self):
        data = "line one\nline two\n" * 1000
        out = self.kubectl_ok("exec", "-i", WEB2, "--", "cat", input=data)
        self.assertEqual(out, data)

    def test_exec_refusals(self):
        r = self.cluster.kubectl("exec", PAYMENTS, "--", "sh")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('exec: "sh": executable file not found in $PATH', r.stderr)
        r = self.cluster.kubectl("exec", WEB, "-c", "nope", "--", "ls")
        self.assertIn(f"container nope is not valid for pod {WEB}", r.stderr)
        r = self.cluster.kubectl("exec", "no-such-pod", "--", "ls")
        self.assertIn('pods "no-such-pod" not found', r.stderr)

    def test_exec_websocket_frames(self):
        kind, proto, frames = self.cluster.ws_exec(WEB, ["sh", "-c", "echo hi; exit 2"],
                                                   ["v5.channel.k8s.io", "v4.channel.k8s.io"])
        self.assertEqual((kind, proto), ("ok", "v5.channel.k8s.io"))
        self.assertEqual(frames[0], (1, b""))
        self.assertIn((1, b"hi\n"), frames)
        status = json.loads(frames[-1][1])
        self.assertEqual(frames[-1][0], 3)
        self.assertEqual(status["reason"], "NonZeroExitCode")
        self.assertEqual(status["details"]["causes"], [{"reason": "ExitCode", "message": "2"}])
        kind, proto, frames = self.cluster.ws_exec(WEB, ["cat"], ["v5.channel.k8s.io"], stdin_data=b"abc")
        self.assertIn((1, b"abc"), frames)
        self.assertEqual(json.loads(frames[-1][1]), {"metadata": {}, "status": "Success"})

    def test_debug_ephemeral_container_on_distroless_pod(self):
        self.kubectl_ok("debug", PAYMENTS, "--image=busybox:1.36", "--target=api", "-c", "dbg", "--profile=general",
                        "--", "sleep", "3600")
        deadline = time.time() + 20
        while time.time() < deadline:
            pod = json.loads(self.kubectl_ok("get", "pod", PAYMENTS, "-o", "json"))
            st = pod["status"].get("ephemeralContainerStatuses", [])
            if st and "running" in st[0]["state"]:
                break
            time.sleep(0.2)
        self.assertEqual(st[0]["name"], "dbg")
        self.assertTrue(st[0]["imageID"].startswith("docker.io/library/busybox@sha256:"))
        self.assertEqual(pod["spec"]["ephemeralContainers"][0]["targetContainerName"], "api")
        out = self.kubectl_ok("exec", PAYMENTS, "-c", "dbg", "--", "ls", "/proc/1/root/")
        self.assertIn("app", out.split())

    def test_cordon(self):
        self.kubectl_ok("cordon", "node-1")
        self.assertIn("SchedulingDisabled", self.kubectl_ok("get", "nodes"))
        node = json.loads(self.kubectl_ok("get", "node", "node-1", "-o", "json"))
        self.assertTrue(node["spec"]["unschedulable"])
        self.assertEqual(node["status"]["nodeInfo"]["architecture"], "amd64")
        self.kubectl_ok("uncordon", "node-1")

    def test_describe_pod_and_node(self):
        out = self.kubectl_ok("describe", "pod", WEB)
        for field, value in (("Name", WEB), ("Namespace", "shop"), ("Node", "node-1/192.0.2.2"),
                             ("Status", "Running"), ("Controlled By", "ReplicaSet/web-7d4b9c8f6"),
                             ("Image ID", f"registry.example.com/shop/web@{WEB_DIGEST}"), ("Restart Count", "0")):
            self.assertRegex(out, rf"(?m)^\s*{field}:\s+{re.escape(value)}$")
        self.assertRegex(out, r"(?m)^Containers:\n  web:\n    Container ID:\s+containerd://[0-9a-f]{64}$")
        events = out[out.index("\nEvents:"):]
        self.assertRegex(events, r"Type\s+Reason\s+Age\s+From\s+Message")
        self.assertRegex(events, rf"Normal\s+Scheduled\s+\S+\s+default-scheduler\s+Successfully assigned shop/{WEB} "
                                 "to node-1")
        self.assertRegex(events, r"Normal\s+Started\s+\S+\s+kubelet\s+Started container web")
        out = self.kubectl_ok("describe", "node", "node-1")
        for field, value in (("Name", "node-1"), ("Roles", "control-plane"), ("HolderIdentity", "node-1"),
                             ("Container Runtime Version", "containerd://1.7.24"), ("Kubelet Version", "v1.32.4")):
            self.assertRegex(out, rf"(?m)^\s*{field}:\s+{re.escape(value)}$")
        self.assertNotIn("Failed to get lease", out)
        self.assertRegex(out, r"(?m)^  Ready\s+True\s+.*KubeletReady\s+kubelet is posting ready status$")
        self.assertRegex(out, r"(?m)^Non-terminated Pods:\s+\(\d+ in total\)$")
        self.assertRegex(out, rf"(?m)^  shop\s+{WEB}\s")
        self.assertRegex(out, r"(?m)^Events:")

    def test_auth_can_i_as_alice(self):
        def can(*a):
            return self.cluster.kubectl("auth", "can-i", *a, context="fake-restricted").stdout.strip()
        self.assertEqual(can("get", "pods"), "yes")
        self.assertEqual(can("get", "pods", "--subresource=log"), "yes")
        self.assertEqual(can("create", "pods/exec"), "no")
        self.assertEqual(can("list", "networkpolicies"), "no")
        self.assertEqual(can("list", "pods", "-A"), "no")
        self.assertEqual(can("get", "nodes"), "no")
        self.assertEqual(can("list", "pods", "-n", "batch"), "no")

    def test_alice_forbidden_messages(self):
        r = self.cluster.kubectl("get", "pods", "-A", context="fake-restricted")
        self.assertIn('pods is forbidden: User "alice" cannot list resource "pods" in API group "" at the '
                      'cluster scope', r.stderr)
        r = self.cluster.kubectl("label", "pod", WEB, "a=b", context="fake-restricted")
        self.assertIn(f'pods "{WEB}" is forbidden: User "alice" cannot patch resource "pods" in API group "" in '
                      f'the namespace "shop"', r.stderr)
        r = self.cluster.kubectl("exec", WEB, "--", "ls", context="fake-restricted")
        self.assertIn('cannot create resource "pods/exec"', r.stderr)
        self.assertIn(WEB, self.kubectl_ok("get", "pods", context="fake-restricted"))

    def test_wrong_token_is_unauthorized(self):
        r = self.cluster.kubectl("get", "pods", context="fake-badtoken")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("Unauthorized", r.stderr)
        status, _, body = self.cluster.request("GET", "/api/v1/pods", token="nope")
        self.assertEqual(status, 401)
        self.assertEqual(body, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                "message": "Unauthorized", "reason": "Unauthorized", "code": 401})

    def test_cert_and_exec_plugin_users(self):
        for ctx in ("fake-cert", "fake-cert-data"):
            out = self.kubectl_ok("auth", "whoami", "-o", "json", context=ctx)
            self.assertEqual(json.loads(out)["status"]["userInfo"]["username"], "cert-user")
        calls = os.path.join(self.cluster.dir, "exec-plugin.calls")
        def count():
            with open(calls) as f:
                return len(f.read().splitlines())
        before = count()
        out = self.kubectl_ok("auth", "whoami", "-o", "json", context="fake-exec")
        self.assertEqual(json.loads(out)["status"]["userInfo"]["username"], "exec-user")
        self.assertEqual(count(), before + 1)

    def test_watch_delete_and_replacement(self):
        self.kubectl_ok("wait", "--for=condition=Ready", f"pod/{WEB}", "--timeout=20s")
        victim = "web-7d4b9c8f6-m4hzt"
        self.kubectl_ok("delete", "pod", victim, "--timeout=30s")
        names = self.kubectl_ok("get", "pods", "-l", "app=web", "-o", "name").split()
        self.assertNotIn(f"pod/{victim}", names)
        self.assertEqual(len(names), 3)   # the ReplicaSet made a replacement

    def test_continue_tokens(self):
        status, _, body = self.cluster.request("GET", "/api/v1/pods?continue=gWFi")
        self.assertEqual(status, 400)
        self.assertIn("invalid continue token", body["message"])
        _, _, page = self.cluster.request("GET", "/api/v1/pods?limit=2")
        self.assertIn("remainingItemCount", page["metadata"])
        self.cluster.request("POST", "/_fake/faults", [{"kind": "expire_continue", "nth": 1}])
        status, _, body = self.cluster.request("GET", f"/api/v1/pods?limit=2&continue={page['metadata']['continue']}")
        self.assertEqual((status, body["reason"], body["code"]), (410, "Expired", 410))
        self.assertTrue(body["metadata"]["continue"])
        status, _, body = self.cluster.request("GET", f"/api/v1/pods?limit=2&continue={body['metadata']['continue']}")
        self.assertEqual(status, 200)

    def test_faults_and_dry_run(self):
        self.cluster.request("POST", "/_fake/faults", {"match": {"method": "GET", "path": "^/api/v1/namespaces$"},
                                                       "status": 500, "times": 1})
        status, _, body = self.cluster.request("GET", "/api/v1/namespaces")
        self.assertEqual((status, body["reason"]), (500, "InternalError"))
        self.assertEqual(self.cluster.request("GET", "/api/v1/namespaces")[0], 200)
        patch = json.dumps({"metadata": {"labels": {"dry": "run"}}}).encode()
        status, _, obj = self.cluster.request("PATCH", f"/api/v1/namespaces/shop/pods/{WEB}?dryRun=All", patch,
                                              headers={"Content-Type": "application/merge-patch+json"})
        self.assertEqual(obj["metadata"]["labels"]["dry"], "run")
        _, _, live = self.cluster.request("GET", f"/api/v1/namespaces/shop/pods/{WEB}")
        self.assertNotIn("dry", live["metadata"]["labels"])


if __name__ == "__main__":
    unittest.main()
