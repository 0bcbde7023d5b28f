"""``metav1.Status`` failure objects with the API server's codes, reasons and wording.

kubectl and the client libraries branch on ``reason`` and ``code`` and show ``message`` to
people, so each builder reproduces what the Kubernetes API server sends for the same failure,
including which ``details`` keys are present (empty fields are left out, as Go's
``omitempty`` does).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kubeprov.api.fielderrors import FieldError, aggregate, go_quote

OPTIMISTIC_LOCK_MESSAGE = (
    "the object has been modified; please apply your changes to the latest version and try again"
)


class StatusError(Exception):
    """An API failure carrying the ``Status`` object to send back."""

    def __init__(self, status: dict[str, Any]) -> None:
        super().__init__(status.get("message", ""))
        self.status = status

    @property
    def code(self) -> int:
        """The HTTP status code."""
        return int(self.status.get("code", 500))

    @property
    def reason(self) -> str:
        """The machine-readable ``reason`` (``NotFound``, ``Invalid``...)."""
        return str(self.status.get("reason", ""))

    @property
    def message(self) -> str:
        """The human-readable message."""
        return str(self.status.get("message", ""))


def split_group_resource(group_resource: str) -> tuple[str, str]:
    """``"deployments.apps"`` → ``("deployments", "apps")``; ``"pods"`` → ``("pods", "")``."""
    resource, _, group = group_resource.partition(".")
    return resource, group


def _join_group_resource(resource: str, group: str) -> str:
    return f"{resource}.{group}" if group else resource


def _qualified_kind(kind: str, group: str) -> str:
    return f"{kind}.{group}" if group else kind


def _details(
    *,
    name: str = "",
    group: str = "",
    kind: str = "",
    uid: str = "",
    causes: list[dict[str, str]] | None = None,
    retry_after_seconds: int = 0,
) -> dict[str, Any]:
    details: dict[str, Any] = {}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    if kind:
        details["kind"] = kind
    if uid:
        details["uid"] = uid
    if causes:
        details["causes"] = causes
    if retry_after_seconds:
        details["retryAfterSeconds"] = retry_after_seconds
    return details


def failure(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """A ``Status`` with ``status: Failure``; ``details`` is left out when ``None``."""
    status: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
    }
    if reason:
        status["reason"] = reason
    if details is not None:
        status["details"] = details
    status["code"] = code
    return status


def success(name: str = "", group: str = "", kind: str = "", uid: str = "") -> dict[str, Any]:
    """The ``Status`` returned by a delete that completed immediately."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": _details(name=name, group=group, kind=kind, uid=uid),
    }


def not_found(group_resource: str, name: str) -> dict[str, Any]:
    """404: ``pods "x" not found`` / ``deployments.apps "web" not found``."""
    resource, group = split_group_resource(group_resource)
    return failure(
        404,
        "NotFound",
        f"{group_resource} {go_quote(name)} not found",
        _details(name=name, group=group, kind=resource),
    )


def already_exists(group_resource: str, name: str) -> dict[str, Any]:
    """409: ``pods "x" already exists``."""
    resource, group = split_group_resource(group_resource)
    return failure(
        409,
        "AlreadyExists",
        f"{group_resource} {go_quote(name)} already exists",
        _details(name=name, group=group, kind=resource),
    )


def conflict(group_resource: str, name: str, err: str = OPTIMISTIC_LOCK_MESSAGE) -> dict[str, Any]:
    """409: ``Operation cannot be fulfilled on deployments.apps "web": <err>``.

    The default ``err`` is the optimistic-concurrency message for a stale resourceVersion.
    """
    resource, group = split_group_resource(group_resource)
    return failure(
        409,
        "Conflict",
        f"Operation cannot be fulfilled on {group_resource} {go_quote(name)}: {err}",
        _details(name=name, group=group, kind=resource),
    )


def invalid(kind: str, group: str, name: str, errors: Iterable[FieldError]) -> dict[str, Any]:
    """422: ``Deployment.apps "web" is invalid: <errors>`` with one cause per field error."""
    errs = list(errors)
    causes = [e.cause() for e in errs]
    prefix = f"{_qualified_kind(kind, group)} {go_quote(name)} is invalid"
    message = f"{prefix}: {aggregate(errs)}" if errs else prefix
    return failure(422, "Invalid", message, _details(name=name, group=group, kind=kind, causes=causes))


def bad_request(message: str) -> dict[str, Any]:
    """400 with the given message."""
    return failure(400, "BadRequest", message)


def unauthorized(message: str = "") -> dict[str, Any]:
    """401. The API server's authentication failure uses the message ``Unauthorized``."""
    return failure(401, "Unauthorized", message or "not authorized")


def forbidden(
    user: str,
    verb: str,
    resource: str,
    group: str = "",
    name: str = "",
    namespace: str = "",
    reason: str = "",
    subresource: str = "",
) -> dict[str, Any]:
    """403 for an authorization denial, worded as the API server's authorizer does.

    ``pods is forbidden: User "bob" cannot list resource "pods" in API group "" in the
    namespace "default"``; without a namespace the sentence ends ``at the cluster scope``;
    with a name the object is quoted after the resource. ``reason`` is appended after ``: ``.
    """
    full_resource = f"{resource}/{subresource}" if subresource else resource
    sentence = f"User {go_quote(user)} cannot {verb} resource {go_quote(full_resource)}"
    sentence += f" in API group {go_quote(group)}"
    if namespace:
        sentence += f" in the namespace {go_quote(namespace)}"
    else:
        sentence += " at the cluster scope"
    return forbidden_with_message(_join_group_resource(resource, group), name, _sanitize(sentence), reason)


def forbidden_path(user: str, verb: str, path: str, reason: str = "") -> dict[str, Any]:
    """403 for a non-resource URL: ``forbidden: User "bob" cannot get path "/metrics"``."""
    sentence = _sanitize(f"User {go_quote(user)} cannot {verb} path {go_quote(path)}")
    return forbidden_with_message("", "", sentence, reason)


def forbidden_with_message(group_resource: str, name: str, err: str, reason: str = "") -> dict[str, Any]:
    """403 with any explanation (admission denials, namespace terminating...)."""
    if reason:
        err = f"{err}: {reason}"
    if not group_resource:
        message = f"forbidden: {err}"
    elif not name:
        message = f"{group_resource} is forbidden: {err}"
    else:
        message = f"{group_resource} {go_quote(name)} is forbidden: {err}"
    resource, group = split_group_resource(group_resource)
    return failure(403, "Forbidden", message, _details(name=name, group=group, kind=resource))


def _sanitize(text: str) -> str:
    # The authorizer's message is HTML-escaped before it is sent.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def method_not_supported(group_resource: str, action: str) -> dict[str, Any]:
    """405: ``<action> is not supported on resources of kind "pods"``."""
    resource, group = split_group_resource(group_resource)
    return failure(
        405,
        "MethodNotAllowed",
        f"{action} is not supported on resources of kind {go_quote(group_resource)}",
        _details(group=group, kind=resource),
    )


def gone(message: str) -> dict[str, Any]:
    """410 with reason ``Gone``."""
    return failure(410, "Gone", message)


def expired(message: str) -> dict[str, Any]:
    """410 with reason ``Expired`` (a watch or list from a compacted resourceVersion)."""
    return failure(410, "Expired", message)


def too_old_resource_version(requested: int, current: int) -> dict[str, Any]:
    """410 Expired: ``too old resource version: 5 (10)``."""
    return expired(f"too old resource version: {requested} ({current})")


def request_entity_too_large(message: str) -> dict[str, Any]:
    """413: ``Request entity too large: <message>``."""
    return failure(413, "RequestEntityTooLarge", f"Request entity too large: {message}")


def unsupported_media_type(accepted: Iterable[str]) -> dict[str, Any]:
    """415 for a body (or patch) type the endpoint does not take."""
    types = ", ".join(accepted)
    return failure(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media types include: {types}",
    )


def not_acceptable(accepted: Iterable[str]) -> dict[str, Any]:
    """406 when no response type in ``Accept`` can be produced."""
    types = ", ".join(accepted)
    return failure(406, "NotAcceptable", f"only the following media types are accepted: {types}")


def too_many_requests(message: str, retry_after_seconds: int = 0) -> dict[str, Any]:
    """429: ``Too many requests: <message>``."""
    return failure(
        429,
        "TooManyRequests",
        f"Too many requests: {message}",
        _details(retry_after_seconds=retry_after_seconds),
    )


def internal_error(err: str) -> dict[str, Any]:
    """500: ``Internal error occurred: <err>`` with the error as the single cause."""
    return failure(
        500,
        "InternalError",
        f"Internal error occurred: {err}",
        _details(causes=[{"message": err}]),
    )


def service_unavailable(reason: str) -> dict[str, Any]:
    """503 with the given message."""
    return failure(503, "ServiceUnavailable", reason)


def timeout(message: str, retry_after_seconds: int = 0) -> dict[str, Any]:
    """504: ``Timeout: <message>``."""
    return failure(
        504,
        "Timeout",
        f"Timeout: {message}",
        _details(retry_after_seconds=retry_after_seconds),
    )


def server_timeout(group_resource: str, operation: str, retry_after_seconds: int = 0) -> dict[str, Any]:
    """500 ServerTimeout: the operation could not be completed now; the client should retry."""
    resource, group = split_group_resource(group_resource)
    return failure(
        500,
        "ServerTimeout",
        f"The {operation} operation against {group_resource} could not be completed at this time, "
        "please try again.",
        _details(name=operation, group=group, kind=resource, retry_after_seconds=retry_after_seconds),
    )


_GENERIC: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "the server rejected our request for an unknown reason"),
    401: ("Unauthorized", "the server has asked for the client to provide credentials"),
    404: ("NotFound", "the server could not find the requested resource"),
    405: ("MethodNotAllowed", "the server does not allow this method on the requested resource"),
    422: ("Invalid", "the server rejected our request due to an error in our request"),
    429: ("TooManyRequests", "the server has received too many requests and has asked us to try again later"),
    503: ("ServiceUnavailable", "the server is currently unable to handle the request"),
    504: (
        "Timeout",
        "the server was unable to return a response in the time allotted, "
        "but may still be processing the request",
    ),
}


def generic_server_response(
    code: int,
    server_message: str = "",
    *,
    verb: str = "",
    group_resource: str = "",
    name: str = "",
    retry_after_seconds: int = 0,
) -> dict[str, Any]:
    """The catch-all the API server uses for some failures, e.g. a JSON patch that does not
    apply (422 ``the server rejected our request due to an error in our request``)."""
    reason = ""
    message = f"the server responded with the status code {code} but did not return more information"
    if code == 409:
        reason = "AlreadyExists" if verb.upper() == "POST" else "Conflict"
        message = "the server reported a conflict"
    elif code in _GENERIC:
        reason, message = _GENERIC[code]
    elif code in (403, 406, 415):
        reason = {403: "Forbidden", 406: "NotAcceptable", 415: "UnsupportedMediaType"}[code]
        message = server_message
    elif code >= 500:
        reason = "InternalError"
        message = (
            f"an error on the server ({go_quote(server_message)}) has prevented the request from succeeding"
        )
    resource, group = split_group_resource(group_resource)
    if group_resource and name:
        message = f"{message} ({verb.lower()} {group_resource} {name})"
    elif group_resource:
        message = f"{message} ({verb.lower()} {group_resource})"
    return failure(
        code,
        reason,
        message,
        _details(name=name, group=group, kind=resource, retry_after_seconds=retry_after_seconds),
    )
