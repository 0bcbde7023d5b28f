"""Serving ``/openapi/v3`` and ``/openapi/v3/<group-version>`` the way kube-apiserver does.

Documents are addressed by a content hash: the index lists ``...?hash=<sha512>`` URLs, a request
with the current hash gets ``Cache-Control: public, immutable`` (clients keep it forever), a stale
hash is redirected (301) to the current URL, and every answer carries a quoted ETag so
``If-None-Match`` gets a 304. Built bytes are kept until the registry's entries for that
group-version change (a CRD added, removed or edited).
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from kubeprov.apiserver.openapi.document import (
    api_path,
    content_hash,
    openapi_document,
    parse_api_path,
    serialize,
    server_relative_url,
)
from kubeprov.apiserver.openapi.schemas import BuiltinSchemas
from kubeprov.apiserver.resources import Registry, ResourceType

PREFIX = "/openapi/v3"
JSON = "application/json"


@dataclass(frozen=True)
class OpenAPIResponse:
    """What to send: status, headers and body; the HTTP layer copies them as they are."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class _Built:
    fingerprint: str
    body: bytes
    digest: str
    last_modified: datetime


def _fingerprint(resources: list[ResourceType]) -> str:
    """What a group-version's document depends on besides the schema package: its resources and CRDs."""
    parts = []
    for rt in resources:
        crd = rt.extra.get("crd") if rt.custom else None
        parts.append([rt.resource, rt.kind, rt.namespaced, list(rt.verbs), rt.custom,
                      [[s.name, s.kind, s.group, s.version, list(s.verbs), s.connect] for s in rt.subresources],
                      (crd or {}).get("spec") if isinstance(crd, dict) else None])
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _http_date(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def _accepts_json(accept: str) -> bool:
    if not accept.strip():
        return True
    for clause in accept.split(","):
        media = clause.split(";")[0].strip().lower()
        if media in (JSON, "application/*", "*/*"):
            return True
    return False


def _etag_matches(if_none_match: str, digest: str) -> bool:
    tags = [t.strip() for t in if_none_match.split(",") if t.strip()]
    return "*" in tags or f'"{digest}"' in tags or f'W/"{digest}"' in tags


class OpenAPIService:
    """One per server: the schema source, and the built documents with their hashes.

    Safe to call from worker threads (building is CPU work a server may move off its event loop);
    one lock guards the cache, and builds take milliseconds.
    """

    def __init__(self, registry: Registry, schemas: BuiltinSchemas | None = None) -> None:
        self._registry = registry
        self.schemas = schemas or BuiltinSchemas()
        self._built: dict[tuple[str, str], _Built] = {}
        self._lock = threading.RLock()

    def _build(self, group: str, version: str) -> _Built | None:
        with self._lock:
            return self._build_locked(group, version)

    def _build_locked(self, group: str, version: str) -> _Built | None:
        resources = self._registry.resources(group, version)
        if not resources:
            self._built.pop((group, version), None)
            return None
        fingerprint = _fingerprint(resources)
        cached = self._built.get((group, version))
        if cached is not None and cached.fingerprint == fingerprint:
            return cached
        document = openapi_document(self._registry, group, version, self.schemas)
        if document is None:
            return None
        body = serialize(document)
        built = _Built(fingerprint, body, content_hash(body), datetime.now(UTC))
        self._built[(group, version)] = built
        return built

    def document(self, group: str, version: str) -> tuple[bytes, str] | None:
        """Serialized document and its hash, or None when the group-version is not served."""
        built = self._build(group, version)
        return None if built is None else (built.body, built.digest)

    def index(self) -> dict:
        """The ``/openapi/v3`` body; builds (or reuses) every group-version document to hash it."""
        paths = {}
        served = set()
        with self._lock:
            for group in self._registry.groups():
                for version in self._registry.versions(group):
                    built = self._build_locked(group, version)
                    if built is not None:
                        served.add((group, version))
                        paths[api_path(group, version)] = {
                            "serverRelativeURL": server_relative_url(group, version, built.digest)}
            for gone in set(self._built) - served:
                del self._built[gone]
        return {"paths": dict(sorted(paths.items()))}

    def respond(self, path: str, query_hash: str | None = None, accept: str = "",
                if_none_match: str = "", now: datetime | None = None) -> OpenAPIResponse:
        """Answer a GET under ``/openapi/v3``: ``path`` is the request path, ``query_hash`` its ``hash``."""
        if path.rstrip("/") == PREFIX:
            body = json.dumps(self.index(), separators=(",", ":")).encode()
            digest = content_hash(body)
            headers = {"Content-Type": JSON, "Etag": f'"{digest}"'}
            if if_none_match and _etag_matches(if_none_match, digest):
                return OpenAPIResponse(304, headers)
            return OpenAPIResponse(200, headers, body)
        target = parse_api_path(path.removeprefix(PREFIX))
        built = self._build(*target) if target is not None and path.startswith(PREFIX + "/") else None
        if target is None or built is None:
            return OpenAPIResponse(404, {"Content-Type": "text/plain; charset=utf-8"}, b"404 page not found\n")
        if not _accepts_json(accept):
            return OpenAPIResponse(406, {"Vary": "Accept"})
        headers = {"Content-Type": JSON, "Etag": f'"{built.digest}"', "Vary": "Accept",
                   "Last-Modified": _http_date(built.last_modified)}
        if query_hash:
            if query_hash != built.digest:
                location = server_relative_url(target[0], target[1], built.digest)
                return OpenAPIResponse(301, {"Location": location, "Vary": "Accept"})
            moment = now or datetime.now(UTC)
            headers["Cache-Control"] = "public, immutable"
            headers["Expires"] = _http_date(moment + timedelta(days=365))
        if if_none_match and _etag_matches(if_none_match, built.digest):
            return OpenAPIResponse(304, headers)
        return OpenAPIResponse(200, headers, built.body)
