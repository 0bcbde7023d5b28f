"""etcd key layout: ``/registry/<group or core>/<resource>/[<namespace>/]<name>``."""

from __future__ import annotations

from dataclasses import dataclass

REGISTRY = "/registry/"
# state that is not an API object (allocator bitmaps) lives under a group no API group can have
INTERNAL_GROUP = "_internal"


def prefix_key(group: str, resource: str, namespace: str = "") -> str:
    """Where a resource's objects live (in one namespace when given); every key is prefix + name."""
    base = f"{REGISTRY}{group or 'core'}/{resource}/"
    return f"{base}{namespace}/" if namespace else base


def object_key(group: str, resource: str, namespace: str, name: str) -> str:
    return prefix_key(group, resource, namespace) + name


@dataclass(frozen=True)
class ObjectKey:
    group: str
    resource: str
    namespace: str
    name: str


def parse_key(key: str) -> ObjectKey | None:
    """The object a key belongs to, or None for keys that are not API objects."""
    if not key.startswith(REGISTRY):
        return None
    parts = key[len(REGISTRY):].split("/")
    if len(parts) == 3:
        group, resource, name = parts
        namespace = ""
    elif len(parts) == 4:
        group, resource, namespace, name = parts
    else:
        return None
    if group == INTERNAL_GROUP or not name:
        return None
    return ObjectKey("" if group == "core" else group, resource, namespace, name)
