"""The informers' local object store: objects by ``namespace/name`` plus secondary indexes.

Pure data structure, no I/O. Objects are never changed in place: an update replaces the stored
dict with the new one, so a dict a handler received stays as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

Obj = dict[str, Any]
IndexFunc = Callable[[Obj], list[str]]

ADDED, MODIFIED, DELETED = "ADDED", "MODIFIED", "DELETED"
NAMESPACE_INDEX = "namespace"


def object_key(namespace: str, name: str) -> str:
    """``ns/name`` for namespaced objects, ``name`` for cluster-scoped ones."""
    return f"{namespace}/{name}" if namespace else name


def key_of(obj: Obj) -> str:
    meta = obj.get("metadata") or {}
    return object_key(meta.get("namespace") or "", meta.get("name") or "")


def namespace_index(obj: Obj) -> list[str]:
    """The standard index: an object's namespace (``""`` for cluster-scoped objects)."""
    return [(obj.get("metadata") or {}).get("namespace") or ""]


def resource_version(obj: Obj | None) -> str:
    return ((obj or {}).get("metadata") or {}).get("resourceVersion") or ""


class Store:
    """Objects by key with named indexes; see the module docstring."""

    def __init__(self, indexers: dict[str, IndexFunc] | None = None) -> None:
        self._items: dict[str, Obj] = {}
        self._indexers: dict[str, IndexFunc] = {NAMESPACE_INDEX: namespace_index}
        self._indexers.update(indexers or {})
        # index name -> value -> keys; index name -> key -> values (to undo on update/delete)
        self._indices: dict[str, dict[str, set[str]]] = {n: {} for n in self._indexers}
        self._values: dict[str, dict[str, list[str]]] = {n: {} for n in self._indexers}

    def __len__(self) -> int:
        return len(self._items)

    def add_indexers(self, indexers: dict[str, IndexFunc]) -> None:
        """Add indexes (existing objects are indexed at once); redefining an index is an error."""
        for name, func in indexers.items():
            existing = self._indexers.get(name)
            if existing is func:
                continue
            if existing is not None:
                raise ValueError(f"index {name!r} already exists")
            self._indexers[name] = func
            self._indices[name] = {}
            self._values[name] = {}
            for key, obj in self._items.items():
                self._index_one(name, key, obj)

    def _index_one(self, index: str, key: str, obj: Obj) -> None:
        values = list(dict.fromkeys(self._indexers[index](obj)))
        self._values[index][key] = values
        bucket = self._indices[index]
        for value in values:
            bucket.setdefault(value, set()).add(key)

    def _unindex(self, key: str) -> None:
        for index, by_key in self._values.items():
            bucket = self._indices[index]
            for value in by_key.pop(key, []):
                keys = bucket.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del bucket[value]

    def upsert(self, obj: Obj) -> Obj | None:
        """Store ``obj`` (replacing the one with its key); returns the replaced object, if any."""
        key = key_of(obj)
        old = self._items.get(key)
        if old is not None:
            self._unindex(key)
        self._items[key] = obj
        for index in self._indexers:
            self._index_one(index, key, obj)
        return old

    def delete(self, key: str) -> Obj | None:
        """Remove the object with ``key``; returns it, or None when it was not stored."""
        old = self._items.pop(key, None)
        if old is not None:
            self._unindex(key)
        return old

    def get(self, key: str) -> Obj | None:
        return self._items.get(key)

    def get_by_name(self, namespace: str, name: str) -> Obj | None:
        return self._items.get(object_key(namespace, name))

    def keys(self) -> list[str]:
        return list(self._items)

    def list(self, namespace: str | None = None) -> list[Obj]:
        """Every object, or those in ``namespace``."""
        if namespace is None:
            return list(self._items.values())
        return self.by_index(NAMESPACE_INDEX, namespace)

    def by_index(self, index: str, value: str) -> list[Obj]:
        """Objects whose ``index`` function returned ``value``; KeyError for an unknown index."""
        if index not in self._indexers:
            raise KeyError(f"no index named {index!r}")
        return [self._items[k] for k in sorted(self._indices[index].get(value, ()))]

    def index_values(self, index: str) -> list[str]:
        """The values ``index`` currently holds objects under."""
        if index not in self._indexers:
            raise KeyError(f"no index named {index!r}")
        return sorted(self._indices[index])

    def replace(self, objs: Iterable[Obj]) -> list[tuple[str, Obj | None, Obj | None]]:
        """Make the store hold exactly ``objs`` (a fresh list); return the differences.

        Each difference is ``(ADDED, None, new)``, ``(MODIFIED, old, new)`` for an object whose
        resourceVersion changed (in the order of ``objs``), then ``(DELETED, old, None)`` for the
        objects that are gone.
        """
        changes: list[tuple[str, Obj | None, Obj | None]] = []
        seen: set[str] = set()
        for obj in objs:
            key = key_of(obj)
            seen.add(key)
            old = self._items.get(key)
            if old is not None and resource_version(old) == resource_version(obj) and resource_version(obj):
                continue
            self.upsert(obj)
            changes.append((ADDED, None, obj) if old is None else (MODIFIED, old, obj))
        for key in [k for k in self._items if k not in seen]:
            old = self.delete(key)
            changes.append((DELETED, old, None))
        return changes
