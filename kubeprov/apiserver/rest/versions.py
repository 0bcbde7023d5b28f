"""Objects are stored in one version and served in every version of their resource."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubeprov.apiserver.resources.types import ResourceType
from kubeprov.apiserver.strategy import hpa_v1_to_v2, hpa_v2_to_v1

Obj = dict[str, Any]
Convert = Callable[[Obj], Obj]

# (group, resource, from version, to version) -> conversion; same-shape versions need none
_CONVERSIONS: dict[tuple[str, str, str, str], Convert] = {
    ("autoscaling", "horizontalpodautoscalers", "v2", "v1"): hpa_v2_to_v1,
    ("autoscaling", "horizontalpodautoscalers", "v1", "v2"): hpa_v1_to_v2,
}


def _convert(rt: ResourceType, obj: Obj, to_version: str) -> Obj:
    from_version = str(obj.get("apiVersion", "")).rpartition("/")[2]
    if from_version == to_version:
        return obj
    convert = _CONVERSIONS.get((rt.group, rt.resource, from_version, to_version))
    out = convert(obj) if convert is not None else dict(obj)
    out["apiVersion"] = f"{rt.group}/{to_version}" if rt.group else to_version
    return out


def to_served(rt: ResourceType, obj: Obj) -> Obj:
    """A stored object in the version the client addressed."""
    return _convert(rt, obj, rt.version)


def to_storage(rt: ResourceType, obj: Obj) -> Obj:
    """An object in its resource's storage version (the served version when there is only one)."""
    return _convert(rt, obj, rt.storage_version or rt.version)
