"""Authentication (bearer tokens, client certificates, impersonation) and RBAC-like authorization."""

from dataclasses import dataclass, field

from . import statuses

TOKENS = {
    "fake-admin-token": ("admin", ["system:masters", "system:authenticated"]),
    "fake-alice-token": ("alice", ["system:authenticated"]),
    "fake-bob-token": ("bob", ["system:authenticated"]),
    "fake-exec-plugin-token": ("exec-user", ["system:masters", "system:authenticated"]),
}
BAD_TOKEN = "fake-revoked-token"
# Tokens of the scenario's users (rbac.users.<name>.token, with rbac.users.<name>.groups): e.g. a
# service account's, user system:serviceaccount:<ns>:<sa> in groups system:serviceaccounts and
# system:serviceaccounts:<ns>. Set by the Authorizer of the loaded scenario.
SCENARIO_TOKENS = {}


@dataclass
class User:
    name: str
    groups: list = field(default_factory=list)
    uid: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def is_admin(self):
        return "system:masters" in self.groups

    def info(self):
        d = {"username": self.name}
        if self.uid:
            d["uid"] = self.uid
        d["groups"] = list(self.groups)
        if self.extra:
            d["extra"] = self.extra
        return d


def _subject_from_cert(cert):
    cn, orgs = None, []
    for rdn in cert.get("subject", ()):
        for k, v in rdn:
            if k == "commonName":
                cn = v
            elif k == "organizationName":
                orgs.append(v)
    return cn, orgs


def authenticate(request):
    """-> User or raises 401. Client certificates come from the TLS transport."""
    authz = request.headers.get("Authorization", "")
    if authz.startswith("Bearer "):
        tok = authz[7:].strip()
        hit = TOKENS.get(tok) or SCENARIO_TOKENS.get(tok)
        if hit is None:
            raise statuses.unauthorized()
        user = User(hit[0], list(hit[1]))
    else:
        cert = None
        if request.transport is not None:
            cert = request.transport.get_extra_info("peercert")
        if not cert:
            raise statuses.unauthorized()
        cn, orgs = _subject_from_cert(cert)
        if not cn:
            raise statuses.unauthorized()
        user = User(cn, orgs + ["system:authenticated"])
    return impersonate(request, user)


def impersonate(request, user):
    imp_user = request.headers.get("Impersonate-User")
    imp_groups = request.headers.getall("Impersonate-Group", [])
    imp_uid = request.headers.get("Impersonate-Uid")
    if not imp_user and (imp_groups or imp_uid):
        raise statuses.ApiError(500, "Internal error occurred: requested [{Kind: \"Group\"}] without "
                                     "impersonating a user", "InternalError")
    if not imp_user:
        return user
    if not user.is_admin:
        raise statuses.forbidden("users", imp_user, "", f'User "{user.name}" cannot impersonate resource '
                                                       f'"users" in API group "" at the cluster scope')
    groups = list(imp_groups)
    if "system:authenticated" not in groups:
        groups.append("system:authenticated")
    return User(imp_user, groups, imp_uid or "")


@dataclass
class Attributes:
    verb: str
    group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""
    resource_request: bool = True


class Authorizer:
    """Scenario RBAC: {user: [rules]}; a rule is {apiGroups, resources, verbs, namespaces?, resourceNames?}.
    Rules without namespaces apply cluster-wide (like a ClusterRoleBinding)."""

    PUBLIC_PATHS = ("/healthz", "/readyz", "/livez", "/version", "/openapi", "/api", "/apis")

    def __init__(self, rbac):
        self.rbac = rbac or {}
        SCENARIO_TOKENS.clear()
        for name, spec in (self.rbac.get("users") or {}).items():
            if spec.get("token"):
                groups = [g for g in spec.get("groups", []) if g != "system:authenticated"]
                SCENARIO_TOKENS[spec["token"]] = (name, groups + ["system:authenticated"])

    def rules_for(self, user):
        rules = list(self.rbac.get("users", {}).get(user.name, {}).get("rules", []))
        for g in user.groups:
            rules += self.rbac.get("groups", {}).get(g, {}).get("rules", [])
        return rules

    def binding_for(self, user):
        u = self.rbac.get("users", {}).get(user.name, {})
        return u.get("role", f"{user.name}-role"), u.get("binding", f"{user.name}-binding")

    def allowed(self, user, a):
        """-> (allowed, reason)."""
        if user.is_admin:
            return True, ""
        if not a.resource_request:
            if any(a.path == p or a.path.startswith(p + "/") for p in self.PUBLIC_PATHS):
                return True, 'RBAC: allowed by ClusterRoleBinding "system:discovery" of ClusterRole ' \
                             '"system:discovery" to Group "system:authenticated"'
            return False, ""
        if a.group == "authorization.k8s.io" and a.resource in ("selfsubjectaccessreviews",
                                                                "selfsubjectrulesreviews"):
            return True, 'RBAC: allowed by ClusterRoleBinding "system:basic-user" of ClusterRole ' \
                         '"system:basic-user" to Group "system:authenticated"'
        if a.group == "authentication.k8s.io" and a.resource == "selfsubjectreviews":
            return True, 'RBAC: allowed by ClusterRoleBinding "system:basic-user" of ClusterRole ' \
                         '"system:basic-user" to Group "system:authenticated"'
        res = a.resource + ("/" + a.subresource if a.subresource else "")
        for rule in self.rules_for(user):
            if not self._match(rule, a, res):
                continue
            role, binding = self.binding_for(user)
            if rule.get("namespaces"):
                return True, (f'RBAC: allowed by RoleBinding "{binding}/{a.namespace}" of Role "{role}" '
                              f'to User "{user.name}"')
            return True, f'RBAC: allowed by ClusterRoleBinding "{binding}" of ClusterRole "{role}" to ' \
                         f'User "{user.name}"'
        return False, ""

    @staticmethod
    def _match(rule, a, res):
        def has(lst, v):
            return "*" in lst or v in lst
        if not has(rule.get("apiGroups", []), a.group):
            return False
        if not has(rule.get("resources", []), res):
            return False
        if not has(rule.get("verbs", []), a.verb):
            return False
        nss = rule.get("namespaces")
        if nss and (not a.namespace or not has(nss, a.namespace)):
            return False
        names = rule.get("resourceNames")
        if names and a.name not in names:
            return False
        return True

    def rules_review(self, user, namespace):
        """SelfSubjectRulesReview status for a namespace."""
        if user.is_admin:
            rr = [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]
            nr = [{"verbs": ["*"], "nonResourceURLs": ["*"]}]
        else:
            rr = [{"verbs": ["create"], "apiGroups": ["authorization.k8s.io"],
                   "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]},
                  {"verbs": ["create"], "apiGroups": ["authentication.k8s.io"],
                   "resources": ["selfsubjectreviews"]}]
            for rule in self.rules_for(user):
                nss = rule.get("namespaces")
                if nss and namespace not in nss and "*" not in nss:
                    continue
                r = {"verbs": rule.get("verbs", []), "apiGroups": rule.get("apiGroups", []),
                     "resources": rule.get("resources", [])}
                if rule.get("resourceNames"):
                    r["resourceNames"] = rule["resourceNames"]
                rr.append(r)
            nr = [{"verbs": ["get"], "nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz",
                                                          "/livez", "/openapi", "/openapi/*", "/readyz",
                                                          "/version", "/version/"]}]
        return {"resourceRules": rr, "nonResourceRules": nr, "incomplete": False}


def forbidden_message(user, a):
    if not a.resource_request:
        return f'User "{user.name}" cannot {a.verb} path "{a.path}"'
    res = a.resource + ("/" + a.subresource if a.subresource else "")
    if a.namespace:
        return (f'User "{user.name}" cannot {a.verb} resource "{res}" in API group "{a.group}" '
                f'in the namespace "{a.namespace}"')
    return f'User "{user.name}" cannot {a.verb} resource "{res}" in API group "{a.group}" at the cluster scope'


def forbidden(user, a):
    if not a.resource_request:
        return statuses.ApiError(403, f'forbidden: {forbidden_message(user, a)}', "Forbidden", {})
    return statuses.forbidden(a.resource, a.name, a.group, forbidden_message(user, a))
