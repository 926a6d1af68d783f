"""Kubernetes 1.26 mode: version, exec negotiation (v4; v5 alone refused with an empty 403), and the
missing authentication.k8s.io/v1 SelfSubjectReview."""

import json
import unittest

from .helpers import ClusterTestCase


class K8s126Test(ClusterTestCase):
    version = "1.26"

    def test_version(self):
        out = json.loads(self.kubectl_ok("version", "-o", "json"))
        self.assertEqual(out["serverVersion"]["gitVersion"], "v1.26.4")

    def test_exec_negotiates_v4(self):
        kind, proto, frames = self.cluster.ws_exec("web-7d4b9c8f6-x2k9p", ["sh", "-c", "echo hi; echo err >&2; exit 3"],
                                                   ["v5.channel.k8s.io", "v4.channel.k8s.io"])
        self.assertEqual((kind, proto), ("ok", "v4.channel.k8s.io"))
        self.assertEqual(frames[0], (1, b""))
        status = json.loads(frames[-1][1])
        self.assertEqual(status["message"], "command terminated with non-zero exit code: error executing command "
                                            "[sh -c echo hi; echo err >&2; exit 3], exit code 3")
        self.assertIn(b"\\u003e\\u00262", frames[-1][1])   # Go's JSON escaping, as on the wire

    def test_v5_only_offer_is_refused(self):
        kind, status, headers, _ = self.cluster.ws_exec("web-7d4b9c8f6-x2k9p", ["ls"], ["v5.channel.k8s.io"])
        self.assertEqual((kind, status), ("refused", 403))
        self.assertEqual(headers.get("Connection"), "close")
        self.assertEqual(headers.get("Content-Length"), "0")

    def test_selfsubjectreview_is_404(self):
        status, _, body = self.cluster.request("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                                               {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
        self.assertEqual(status, 404)
        self.assertEqual(body, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                "message": "the server could not find the requested resource", "reason": "NotFound",
                                "details": {}, "code": 404})


if __name__ == "__main__":
    unittest.main()
