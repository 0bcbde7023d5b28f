"""Reading a CustomResourceDefinition: its versions, names, schemas and subresources.

CRDs arrive as stored JSON that the built-in strategy has validated, but the controller reads
them defensively anyway (a CRD written by an older server, or straight to etcd, must not stop
the others from being served).
"""

from __future__ import annotations

import re
from typing import Any

Obj = dict[str, Any]
GROUP = "apiextensions.k8s.io"
RESOURCE = "customresourcedefinitions"
FINALIZER = "customresourcecleanup.apiextensions.k8s.io"
_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def _map(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def spec(crd: Obj) -> Obj:
    return _map(crd.get("spec"))


def group(crd: Obj) -> str:
    return _str(spec(crd).get("group"))


def names(crd: Obj) -> Obj:
    """``spec.names`` with Kubernetes' defaults (singular: the lower-cased kind, listKind: ``<Kind>List``),
    fields in the order Kubernetes writes them."""
    given = _map(spec(crd).get("names"))
    kind = _str(given.get("kind"))
    out: Obj = {"plural": _str(given.get("plural")), "singular": _str(given.get("singular")) or kind.lower()}
    short = [s for s in given.get("shortNames") or () if isinstance(s, str)]
    if short:
        out["shortNames"] = short
    out["kind"] = kind
    out["listKind"] = _str(given.get("listKind")) or (f"{kind}List" if kind else "")
    categories = [c for c in given.get("categories") or () if isinstance(c, str)]
    if categories:
        out["categories"] = categories
    return out


def namespaced(crd: Obj) -> bool:
    return spec(crd).get("scope", "Namespaced") != "Cluster"


def versions(crd: Obj) -> list[Obj]:
    return [v for v in spec(crd).get("versions") or () if isinstance(v, dict) and _str(v.get("name"))]


def version_priority(name: str) -> tuple[int, int, int, str]:
    """Kubernetes' version order: GA before beta before alpha, higher numbers first, others last by name."""
    match = _VERSION.match(name)
    if not match:
        return (3, 0, 0, name)
    major, stage, minor = int(match.group(1)), match.group(2), int(match.group(3) or 0)
    rank = {None: 0, "beta": 1, "alpha": 2}[stage]
    return (rank, -major, -minor, name)


def served_versions(crd: Obj) -> list[Obj]:
    """Served versions, in the order discovery lists them."""
    served = [v for v in versions(crd) if v.get("served") is True]
    return sorted(served, key=lambda v: version_priority(v["name"]))


def storage_version(crd: Obj) -> str:
    for entry in versions(crd):
        if entry.get("storage") is True:
            return entry["name"]
    return ""


def version(crd: Obj, name: str) -> Obj:
    for entry in versions(crd):
        if entry["name"] == name:
            return entry
    return {}


def schema(entry: Obj) -> Obj | None:
    value = _map(entry.get("schema")).get("openAPIV3Schema")
    return value if isinstance(value, dict) else None


def has_status(entry: Obj) -> bool:
    return isinstance(_map(entry.get("subresources")).get("status"), dict)


def scale(entry: Obj) -> Obj | None:
    """The version's scale subresource: specReplicasPath, statusReplicasPath, labelSelectorPath."""
    value = _map(entry.get("subresources")).get("scale")
    return value if isinstance(value, dict) else None


def finalizers(crd: Obj) -> list[str]:
    return [f for f in _map(crd.get("metadata")).get("finalizers") or () if isinstance(f, str)]


def being_deleted(crd: Obj) -> bool:
    return bool(_map(crd.get("metadata")).get("deletionTimestamp"))


def name(crd: Obj) -> str:
    return _str(_map(crd.get("metadata")).get("name"))
