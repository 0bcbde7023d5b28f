"""Discovery documents (``/api``, ``/apis``, ``/api/v1``, ``/apis/<g>/<v>``), built from the registry.

Clients learn every resource name, scope, kind, verb and short name from these documents; kubectl
asks first for the aggregated form (one document with every group, version and resource) and
falls back to the legacy per-group-version lists. All functions here are pure: the server decides
when to call them and how to send the result.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Literal

from kubeprov.apiserver.resources import Registry, ResourceType, Subresource

AGGREGATED_GROUP = "apidiscovery.k8s.io"
AGGREGATED_KIND = "APIGroupDiscoveryList"
AggregatedVersion = Literal["v2", "v2beta1"]
AGGREGATED_VERSIONS: tuple[AggregatedVersion, ...] = ("v2", "v2beta1")


def aggregated_content_type(version: str = "v2") -> str:
    """The Content-Type that tells client-go the body is aggregated discovery (it checks g, v and as)."""
    return f"application/json;g={AGGREGATED_GROUP};v={version};as={AGGREGATED_KIND}"


def api_versions(server_address: str) -> dict:
    """``GET /api`` in the legacy form: the core group has only v1."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def _group_version(group: str, version: str) -> dict:
    return {"groupVersion": f"{group}/{version}", "version": version}


def api_group(registry: Registry, group: str) -> dict | None:
    """``GET /apis/<group>``: one group with its versions, preferred first."""
    versions = registry.versions(group)
    if not group or not versions:
        return None
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": [_group_version(group, v) for v in versions],
        "preferredVersion": _group_version(group, versions[0]),
    }


def api_group_list(registry: Registry) -> dict:
    """``GET /apis`` in the legacy form: every named group (the core group lives at ``/api``)."""
    groups = []
    for group in registry.groups():
        entry = api_group(registry, group)
        if entry is not None:
            entry.pop("kind")
            entry.pop("apiVersion")
            groups.append(entry)
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def storage_version_hash(rt: ResourceType) -> str:
    """An opaque token that changes when the storage version changes, shaped like Kubernetes' (8 bytes, base64)."""
    key = f"{rt.group}/{rt.storage_version or rt.version}/{rt.kind}"
    return base64.b64encode(hashlib.sha256(key.encode()).digest()[:8]).decode()


def _sub_kind(rt: ResourceType, sub: Subresource) -> tuple[str, str, str]:
    """(group, version, kind) a subresource answers with; empty group/version mean the parent's."""
    return sub.group or "", sub.version or "", sub.kind or rt.kind


def _resource_entry(rt: ResourceType) -> dict:
    entry: dict = {
        "name": rt.resource,
        "singularName": rt.singular_name,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": sorted(rt.verbs),
    }
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    if rt.stored:
        entry["storageVersionHash"] = storage_version_hash(rt)
    return entry


def _subresource_entry(rt: ResourceType, sub: Subresource) -> dict:
    group, version, kind = _sub_kind(rt, sub)
    entry: dict = {"name": f"{rt.resource}/{sub.name}", "singularName": "", "namespaced": rt.namespaced}
    if group or version:
        entry["group"] = group
        entry["version"] = version
    entry["kind"] = kind
    entry["verbs"] = sorted(sub.verbs)
    return entry


def api_resource_list(registry: Registry, group: str, version: str) -> dict | None:
    """``GET /api/v1`` or ``GET /apis/<g>/<v>``; None when that group/version is not served."""
    resources = registry.resources(group, version)
    if not resources:
        return None
    entries = []
    for rt in resources:
        entries.append(_resource_entry(rt))
        entries.extend(_subresource_entry(rt, sub) for sub in rt.subresources)
    entries.sort(key=lambda e: e["name"])
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": entries,
    }


def _aggregated_resource(rt: ResourceType) -> dict:
    entry: dict = {
        "resource": rt.resource,
        "responseKind": {"group": "", "version": "", "kind": rt.kind},
        "scope": "Namespaced" if rt.namespaced else "Cluster",
        "singularResource": rt.singular_name,
        "verbs": sorted(rt.verbs),
    }
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    subs = []
    for sub in sorted(rt.subresources, key=lambda s: s.name):
        group, version, kind = _sub_kind(rt, sub)
        subs.append({
            "subresource": sub.name,
            "responseKind": {"group": group, "version": version, "kind": kind},
            "verbs": sorted(sub.verbs),
        })
    if subs:
        entry["subresources"] = subs
    return entry


def _aggregated_group(registry: Registry, group: str) -> dict:
    versions = []
    for version in registry.versions(group):
        resources = sorted(registry.resources(group, version), key=lambda r: r.resource)
        versions.append({
            "version": version,
            "resources": [_aggregated_resource(rt) for rt in resources],
            "freshness": "Current",
        })
    metadata = {"name": group} if group else {}
    return {"metadata": metadata, "versions": versions}


def aggregated_discovery(registry: Registry, core: bool, version: str = "v2") -> tuple[dict, str]:
    """``GET /api`` (core=True) or ``GET /apis`` in the aggregated form, and the Content-Type to send with it.

    v2 and v2beta1 share one JSON shape; only the apiVersion (and the Content-Type) differ.
    """
    if version not in AGGREGATED_VERSIONS:
        raise ValueError(f"unknown aggregated discovery version {version!r}")
    groups = [""] if core else [g for g in registry.groups() if g]
    items = [_aggregated_group(registry, g) for g in groups if registry.versions(g)]
    body = {
        "kind": AGGREGATED_KIND,
        "apiVersion": f"{AGGREGATED_GROUP}/{version}",
        "metadata": {},
        "items": items,
    }
    return body, aggregated_content_type(version)


def _parse_media_range(clause: str) -> tuple[str, dict[str, str]]:
    parts = [p.strip() for p in clause.split(";")]
    params: dict[str, str] = {}
    for part in parts[1:]:
        key, sep, value = part.partition("=")
        if sep:
            params[key.strip().lower()] = value.strip().strip('"')
    return parts[0].lower(), params


def _quality(params: dict[str, str]) -> float:
    try:
        return float(params.get("q", "1"))
    except ValueError:
        return 0.0


def negotiate_discovery(accept_header: str) -> AggregatedVersion | None:
    """Which discovery form to answer ``/api`` and ``/apis`` with: "v2", "v2beta1" or None (legacy JSON).

    Clauses are taken by quality, then in the order the client wrote them (kubectl lists v2, v2beta1,
    then plain JSON). A clause naming another group, kind or an encoding other than JSON is skipped; a
    plain JSON or wildcard clause ends the search with the legacy form.
    """
    clauses = []
    for index, raw in enumerate(accept_header.split(",")):
        if not raw.strip():
            continue
        media, params = _parse_media_range(raw)
        clauses.append((-_quality(params), index, media, params))
    clauses.sort()
    for negative_q, _, media, params in clauses:
        if negative_q >= 0:
            continue
        if media not in ("application/json", "application/*", "*/*"):
            continue
        wanted = params.get("as")
        if wanted is None:
            return None
        if wanted != AGGREGATED_KIND or params.get("g") != AGGREGATED_GROUP:
            continue
        for version in AGGREGATED_VERSIONS:
            if params.get("v") == version:
                return version
    return None
