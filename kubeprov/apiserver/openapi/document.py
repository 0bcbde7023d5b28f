"""OpenAPI v3 documents: the ``/openapi/v3`` index and one document per served group-version."""

from __future__ import annotations

import hashlib
import json
from urllib.parse import urlencode

from kubeprov.apiserver.openapi.crd import component_name, crd_schemas
from kubeprov.apiserver.openapi.paths import (
    API_RESOURCE_LIST,
    DELETE_OPTIONS,
    PATCH,
    STATUS,
    resource_paths,
    resources_path,
)
from kubeprov.apiserver.openapi.schemas import BuiltinSchemas, closure
from kubeprov.apiserver.resources import Registry, ResourceType

WATCH_EVENT = "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent"
META_ROOTS = frozenset({DELETE_OPTIONS, STATUS, PATCH, WATCH_EVENT, API_RESOURCE_LIST})
SECURITY_SCHEMES = {
    "BearerToken": {"description": "Bearer Token authentication", "in": "header", "name": "authorization",
                    "type": "apiKey"},
}


def api_path(group: str, version: str) -> str:
    """The index key of a group-version: ``api/v1``, ``apis/apps/v1``."""
    return f"apis/{group}/{version}" if group else f"api/{version}"


def parse_api_path(path: str) -> tuple[str, str] | None:
    """``api/v1`` -> ("", "v1"); ``apis/apps/v1`` -> ("apps", "v1"); anything else -> None."""
    parts = path.strip("/").split("/")
    if len(parts) == 2 and parts[0] == "api":
        return "", parts[1]
    if len(parts) == 3 and parts[0] == "apis":
        return parts[1], parts[2]
    return None


def _crd_of(rt: ResourceType) -> dict | None:
    crd = rt.extra.get("crd") if rt.custom else None
    return crd if isinstance(crd, dict) else None


def _names_for(rt: ResourceType, schemas: BuiltinSchemas, extra: dict[str, dict]) -> tuple[
        str | None, str | None, dict[str, str | None]]:
    """Component names for a resource's kind, list kind and each subresource body."""
    crd = _crd_of(rt)
    if crd is not None:
        extra.update(crd_schemas(crd, rt.version))
        kind = component_name(rt.group, rt.version, rt.kind)
        list_kind = component_name(rt.group, rt.version, rt.list_kind)
        kind_name: str | None = kind if kind in extra else None
        list_name: str | None = list_kind if list_kind in extra else None
    else:
        kind_name = schemas.name_for(rt.group, rt.version, rt.kind)
        list_name = schemas.name_for(rt.group, rt.version, rt.list_kind)
    subs: dict[str, str | None] = {}
    for sub in rt.subresources:
        if not sub.kind or (sub.kind == rt.kind and sub.group is None):
            subs[sub.name] = kind_name
        else:
            group = rt.group if sub.group is None else sub.group
            subs[sub.name] = schemas.name_for(group, sub.version or rt.version, sub.kind)
    return kind_name, list_name, subs


def openapi_document(registry: Registry, group: str, version: str, schemas: BuiltinSchemas) -> dict | None:
    """The OpenAPI 3.0 document of one group-version, or None when it is not served.

    Components are the closure of every schema its kinds, lists and subresource bodies reach, plus
    the meta types its operations use. Built-in component dicts are shared with ``schemas``: callers
    serialize the result and must not mutate it.
    """
    resources = registry.resources(group, version)
    if not resources:
        return None
    extra: dict[str, dict] = {}
    roots: set[str] = set(META_ROOTS)
    paths: dict[str, dict] = {}
    for rt in resources:
        kind_name, list_name, subs = _names_for(rt, schemas, extra)
        roots.update(n for n in (kind_name, list_name, *subs.values()) if n)
        paths.update(resource_paths(rt, kind_name, list_name, subs))
    base, item = resources_path(group, version)
    paths[base] = item
    components = closure(roots, schemas.components, extra)
    return {
        "components": {"schemas": dict(sorted(components.items())), "securitySchemes": SECURITY_SCHEMES},
        "info": {"title": "Kubernetes", "version": "unversioned"},
        "openapi": "3.0.0",
        "paths": dict(sorted(paths.items())),
        "security": [{"BearerToken": []}],
    }


def serialize(document: dict) -> bytes:
    """Stable bytes for a document: the hash and the ETag are taken over exactly these."""
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def content_hash(body: bytes) -> str:
    """SHA-512 of the served bytes, upper-case hex, as Kubernetes computes its OpenAPI hashes."""
    return hashlib.sha512(body).hexdigest().upper()


def server_relative_url(group: str, version: str, digest: str) -> str:
    return f"/openapi/v3/{api_path(group, version)}?{urlencode({'hash': digest})}"


def openapi_index(registry: Registry, schemas: BuiltinSchemas) -> dict:
    """``GET /openapi/v3``: each served group-version and the hash-pinned URL of its document.

    This builds every document to hash it; a server should go through :class:`OpenAPIService`,
    which keeps the built bytes until the registry changes.
    """
    paths = {}
    for group in registry.groups():
        for version in registry.versions(group):
            document = openapi_document(registry, group, version, schemas)
            if document is not None:
                paths[api_path(group, version)] = {
                    "serverRelativeURL": server_relative_url(group, version, content_hash(serialize(document)))}
    return {"paths": dict(sorted(paths.items()))}
