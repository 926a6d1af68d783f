"""The ClusterRole shipped in scripts/rbac grants what the README says each command needs, and the
README shows the same rules."""
import os
import unittest

import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ROLE = os.path.join(REPO, "scripts", "rbac", "kubectl-ir-clusterrole.yaml")


def grants(role):
    out = set()
    for rule in role["rules"]:
        for g in rule["apiGroups"]:
            for r in rule["resources"]:
                for v in rule["verbs"]:
                    out.add((g, r, v))
    return out


class TestClusterRole(unittest.TestCase):
    def setUp(self):
        with open(ROLE) as f:
            self.role = yaml.safe_load(f)

    def test_shape(self):
        self.assertEqual(self.role["apiVersion"], "rbac.authorization.k8s.io/v1")
        self.assertEqual(self.role["kind"], "ClusterRole")
        self.assertEqual(self.role["metadata"]["name"], "kubectl-ir")

    def test_every_command_is_covered(self):
        g = grants(self.role)
        needed = [("", "pods", "get"), ("", "pods", "list"), ("", "pods", "patch"), ("", "pods/log", "get"),
                  ("", "pods/exec", "create"), ("", "pods/exec", "get"), ("", "pods/ephemeralcontainers", "patch"),
                  ("", "events", "list"), ("", "nodes", "get"), ("", "nodes", "patch"),
                  ("networking.k8s.io", "networkpolicies", "create"), ("networking.k8s.io", "networkpolicies", "delete"),
                  ("networking.k8s.io", "networkpolicies", "list"), ("apps", "replicasets", "get"),
                  ("apps", "daemonsets", "list"), ("batch", "jobs", "get"),
                  ("authorization.k8s.io", "selfsubjectaccessreviews", "create"),
                  ("authorization.k8s.io", "selfsubjectrulesreviews", "create")]
        for n in needed:
            self.assertIn(n, g)
        # nothing destructive beyond what isolate/release undo: no delete on pods, no secrets
        self.assertNotIn(("", "pods", "delete"), g)
        self.assertFalse([x for x in g if x[1] == "secrets"])

    def test_readme_shows_the_same_role(self):
        with open(os.path.join(REPO, "README.md")) as f:
            readme = f.read()
        block = readme[readme.index("```yaml", readme.index("## RBAC")) + len("```yaml\n"):]
        block = block[:block.index("```")]
        self.assertEqual(grants(yaml.safe_load(block)), grants(self.role))


if __name__ == "__main__":
    unittest.main()
