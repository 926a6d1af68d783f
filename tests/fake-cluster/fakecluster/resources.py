"""The resource types this fake server serves: one table drives routing, discovery and RBAC names."""

from dataclasses import dataclass, field

ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


@dataclass
class ResourceType:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    verbs: list = field(default_factory=lambda: list(ALL_VERBS))
    short_names: list = field(default_factory=list)
    categories: list = field(default_factory=list)
    subresources: dict = field(default_factory=dict)  # name -> (kind, verbs)
    singular: str = ""
    min_version: tuple = (0, 0)        # served only when k8s version >= this
    max_version: tuple = (99, 99)      # served only when k8s version <= this
    feature: str = ""                  # served only when the scenario enables this feature
    storable: bool = True              # False: create-only virtual resources (reviews)

    @property
    def group_version(self):
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self):
        return (self.group, self.plural)

    @property
    def list_kind(self):
        return self.kind + "List"


STATUS_SUB = ("", ["get", "patch", "update"])

RESOURCES = [
    ResourceType("", "v1", "pods", "Pod", True, short_names=["po"], categories=["all"],
                 subresources={"status": STATUS_SUB, "log": ("Pod", ["get"]),
                               "exec": ("PodExecOptions", ["create", "get"]),
                               "attach": ("PodAttachOptions", ["create", "get"]),
                               "portforward": ("PodPortForwardOptions", ["create", "get"]),
                               "ephemeralcontainers": ("Pod", ["get", "patch", "update"]),
                               "binding": ("Binding", ["create"]),
                               "eviction": ("Eviction", ["create"])}),
    ResourceType("", "v1", "nodes", "Node", False, short_names=["no"], subresources={"status": STATUS_SUB}),
    ResourceType("", "v1", "namespaces", "Namespace", False,
                 verbs=["create", "delete", "get", "list", "patch", "update", "watch"],
                 short_names=["ns"], subresources={"status": STATUS_SUB, "finalize": ("", ["update"])}),
    ResourceType("", "v1", "services", "Service", True, short_names=["svc"], categories=["all"],
                 subresources={"status": STATUS_SUB}),
    ResourceType("", "v1", "events", "Event", True, short_names=["ev"]),
    ResourceType("", "v1", "serviceaccounts", "ServiceAccount", True, short_names=["sa"]),
    ResourceType("", "v1", "configmaps", "ConfigMap", True, short_names=["cm"]),
    ResourceType("apps", "v1", "deployments", "Deployment", True, short_names=["deploy"], categories=["all"],
                 subresources={"status": STATUS_SUB, "scale": ("Scale", ["get", "patch", "update"])}),
    ResourceType("apps", "v1", "replicasets", "ReplicaSet", True, short_names=["rs"], categories=["all"],
                 subresources={"status": STATUS_SUB, "scale": ("Scale", ["get", "patch", "update"])}),
    ResourceType("apps", "v1", "statefulsets", "StatefulSet", True, short_names=["sts"], categories=["all"],
                 subresources={"status": STATUS_SUB, "scale": ("Scale", ["get", "patch", "update"])}),
    ResourceType("apps", "v1", "daemonsets", "DaemonSet", True, short_names=["ds"], categories=["all"],
                 subresources={"status": STATUS_SUB}),
    ResourceType("batch", "v1", "jobs", "Job", True, categories=["all"], subresources={"status": STATUS_SUB}),
    ResourceType("batch", "v1", "cronjobs", "CronJob", True, short_names=["cj"], categories=["all"],
                 subresources={"status": STATUS_SUB}),
    ResourceType("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", True, short_names=["netpol"]),
    ResourceType("coordination.k8s.io", "v1", "leases", "Lease", True),
    ResourceType("policy.networking.k8s.io", "v1alpha1", "adminnetworkpolicies", "AdminNetworkPolicy", False,
                 short_names=["anp"], subresources={"status": STATUS_SUB}, feature="adminNetworkPolicy"),
    ResourceType("policy.networking.k8s.io", "v1alpha1", "baselineadminnetworkpolicies",
                 "BaselineAdminNetworkPolicy", False, short_names=["banp"], subresources={"status": STATUS_SUB},
                 feature="adminNetworkPolicy"),
    ResourceType("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview", False,
                 verbs=["create"], storable=False),
    ResourceType("authorization.k8s.io", "v1", "selfsubjectrulesreviews", "SelfSubjectRulesReview", False,
                 verbs=["create"], storable=False),
    ResourceType("authentication.k8s.io", "v1", "selfsubjectreviews", "SelfSubjectReview", False,
                 verbs=["create"], storable=False, min_version=(1, 28)),
    ResourceType("authentication.k8s.io", "v1", "tokenreviews", "TokenReview", False,
                 verbs=["create"], storable=False),
]

# Group order as a real server lists them in /apis.
GROUP_ORDER = ["apps", "authentication.k8s.io", "authorization.k8s.io", "batch", "networking.k8s.io",
               "coordination.k8s.io", "policy.networking.k8s.io"]


class Registry:
    """The served subset of RESOURCES for one k8s version and feature set."""

    def __init__(self, k8s_version, features):
        self.k8s_version = k8s_version
        self.features = features or {}
        self.types = [r for r in RESOURCES if self._served(r)]
        self.by_gvr = {(r.group, r.version, r.plural): r for r in self.types}
        self.by_key = {r.key: r for r in self.types}
        self.by_kind = {}
        for r in self.types:
            self.by_kind.setdefault((r.group, r.kind), r)

    def _served(self, r):
        v = self.k8s_version
        if not (r.min_version <= v <= r.max_version):
            return False
        return not r.feature or bool(self.features.get(r.feature))

    def lookup(self, group, version, plural):
        return self.by_gvr.get((group, version, plural))

    def for_api_version(self, api_version, kind):
        group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
        return self.by_kind.get((group, kind))

    def groups(self):
        """[(group, [versions])] for /apis, in a stable order."""
        seen = {}
        for r in self.types:
            if r.group:
                seen.setdefault(r.group, [])
                if r.version not in seen[r.group]:
                    seen[r.group].append(r.version)
        order = {g: i for i, g in enumerate(GROUP_ORDER)}
        return sorted(seen.items(), key=lambda kv: order.get(kv[0], 99))


# Every resource any API test might look up: also known when not served (RBAC messages, kinds).
KIND_BY_RESOURCE = {r.key: r.kind for r in RESOURCES}
