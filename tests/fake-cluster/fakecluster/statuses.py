"""metav1.Status bodies, shaped exactly as a real kube-apiserver answers (see k8s-samples/status-*.json)."""

import json

from aiohttp import web

REASON_BY_CODE = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "AlreadyExists",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


class ApiError(Exception):
    """Raised anywhere in request handling; turned into a Status response by the server."""

    def __init__(self, code, message, reason=None, details=None, metadata=None, headers=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason if reason is not None else REASON_BY_CODE.get(code, "")
        self.details = details
        self.metadata = metadata or {}
        self.headers = headers or {}

    def status(self):
        return status_body(self.code, self.message, self.reason, self.details, self.metadata)

    def response(self):
        return json_response(self.status(), self.code, headers=self.headers)


def status_body(code, message, reason, details=None, metadata=None):
    body = {"kind": "Status", "apiVersion": "v1", "metadata": metadata or {}, "status": "Failure",
            "message": message, "reason": reason}
    if details is not None:
        body["details"] = details
    body["code"] = code
    return body


def success_status(details):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}


def json_response(obj, code=200, headers=None):
    return web.Response(body=json.dumps(obj, separators=(",", ":")).encode(), status=code,
                        content_type="application/json", headers=headers)


def _details(resource, name, group=""):
    d = {}
    if name:
        d["name"] = name
    if group:
        d["group"] = group
    d["kind"] = resource
    return d


def qualified(resource, group):
    return f"{resource}.{group}" if group else resource


def not_found(resource, name, group=""):
    return ApiError(404, f'{qualified(resource, group)} "{name}" not found', "NotFound",
                    _details(resource, name, group))


def not_found_path():
    return ApiError(404, "the server could not find the requested resource", "NotFound", {})


def already_exists(resource, name, group=""):
    return ApiError(409, f'{qualified(resource, group)} "{name}" already exists', "AlreadyExists",
                    _details(resource, name, group))


def conflict(resource, name, group, message):
    return ApiError(409, f'Operation cannot be fulfilled on {qualified(resource, group)} "{name}": {message}',
                    "Conflict", _details(resource, name, group))


def forbidden(resource, name, group, why):
    prefix = f'{qualified(resource, group)} "{name}"' if name else qualified(resource, group)
    return ApiError(403, f"{prefix} is forbidden: {why}", "Forbidden", _details(resource, name, group))


def bad_request(message):
    return ApiError(400, message, "BadRequest")


def unauthorized():
    return ApiError(401, "Unauthorized", "Unauthorized")


def invalid(kind, name, group, causes):
    """causes: list of (reason, message, field). Message shaped like status-422-invalid.json."""
    qual = f"{kind}.{group}" if group else kind
    joined = ", ".join(f"{f}: {m}" for (_, m, f) in causes)
    if len(causes) > 1:
        joined = f"[{joined}]"
    details = {"name": name, "group": group, "kind": kind,
               "causes": [{"reason": r, "message": m, "field": f} for (r, m, f) in causes]}
    if not group:
        del details["group"]
    return ApiError(422, f'{qual} "{name}" is invalid: {joined}', "Invalid", details)


def method_not_allowed():
    return ApiError(405, "the server does not allow this method on the requested resource",
                    "MethodNotAllowed", {})


def unsupported_media_type(ctype):
    del ctype  # the real message does not name it
    return ApiError(415, 'the body of the request was in an unknown format - accepted media types '
                         'include: application/json-patch+json, application/merge-patch+json, '
                         'application/apply-patch+yaml, application/strategic-merge-patch+json',
                    "UnsupportedMediaType", {})


def expired(message, cont=None):
    meta = {"continue": cont} if cont else {}
    return ApiError(410, message, "Expired", None, meta)


def internal(message):
    return ApiError(500, f"Internal error occurred: {message}", "InternalError",
                    {"causes": [{"message": message}]})
