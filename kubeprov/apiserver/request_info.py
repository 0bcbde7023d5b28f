"""Turn a request's method and path into what is being asked: the Kubernetes RequestInfo."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

_READ_METHODS = ("GET", "HEAD")
_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete", "GET": "get", "HEAD": "get"}
_NAMESPACE_SUBRESOURCES = ("status", "finalize")


@dataclass(frozen=True)
class RequestInfo:
    resource_request: bool
    path: str
    verb: str  # get list watch create update patch delete deletecollection (resource) / get post ... (path)
    api_prefix: str = ""  # "api" or "apis"
    group: str = ""
    version: str = ""
    namespace: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""


def _truthy(value: str | None) -> bool:
    return value is not None and value.lower() in ("1", "true")


def parse_request(method: str, path: str, query: Mapping[str, str]) -> RequestInfo:
    """Mirror of kube-apiserver's RequestInfoFactory: /api/v1/namespaces/ns/pods/name/log etc."""
    method = method.upper()
    segments = tuple(s for s in path.strip("/").split("/") if s)
    non_resource = RequestInfo(False, path, "get" if method in _READ_METHODS else method.lower())
    if not segments or segments[0] not in ("api", "apis"):
        return non_resource
    prefix, rest = segments[0], segments[1:]
    if prefix == "api":
        if not rest:
            return non_resource
        group, version, rest = "", rest[0], rest[1:]
    else:
        if len(rest) < 2:
            return non_resource
        group, version, rest = rest[0], rest[1], rest[2:]
    if not rest:  # /api/v1, /apis/apps/v1: discovery
        return non_resource

    namespace = ""
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        # /namespaces/<ns>/<resource>...; /namespaces/<name>[/status|/finalize] is the namespace itself,
        # and authorization sees its name as the namespace, as Kubernetes does
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    verb = _VERBS.get(method, method.lower())
    if method in _READ_METHODS and not name:
        verb = "watch" if _truthy(query.get("watch")) else "list"
    elif method in _READ_METHODS and _truthy(query.get("watch")):
        verb = "watch"
    elif method == "DELETE" and not name:
        verb = "deletecollection"
    return RequestInfo(True, path, verb, prefix, group, version, namespace, resource, subresource, name)
