"""Lookup of served resources by path segments, kind, or the names kubectl accepts."""

from __future__ import annotations

from collections.abc import Iterable

from kubeprov.apiserver.resources.types import ResourceType


class Registry:
    """Indexes resource types; custom resources are added and removed as their CRDs change."""

    def __init__(self, resources: Iterable[ResourceType] = ()) -> None:
        self._by_path: dict[tuple[str, str, str], ResourceType] = {}
        self._order: list[ResourceType] = []
        for rt in resources:
            self.add(rt)

    def add(self, rt: ResourceType) -> None:
        key = (rt.group, rt.version, rt.resource)
        if key in self._by_path:
            self._order = [r for r in self._order if (r.group, r.version, r.resource) != key]
        self._by_path[key] = rt
        self._order.append(rt)

    def remove(self, group: str, version: str, resource: str) -> None:
        rt = self._by_path.pop((group, version, resource), None)
        if rt is not None:
            self._order.remove(rt)

    def get(self, group: str, version: str, resource: str) -> ResourceType | None:
        return self._by_path.get((group, version, resource))

    def by_kind(self, group: str, version: str, kind: str) -> ResourceType | None:
        for rt in self._order:
            if rt.group == group and rt.version == version and rt.kind == kind:
                return rt
        return None

    def all(self) -> list[ResourceType]:
        return list(self._order)

    def groups(self) -> list[str]:
        """Groups in discovery order; the core group ("") first."""
        seen: dict[str, None] = {}
        for rt in self._order:
            seen.setdefault(rt.group, None)
        return list(seen)

    def versions(self, group: str) -> list[str]:
        """Served versions of a group, preferred first (the version most resources are stored in)."""
        seen: dict[str, None] = {}
        stored = [rt.storage_version for rt in self._order if rt.group == group and rt.storage_version]
        if stored:
            seen.setdefault(stored[0], None)
        for rt in self._order:
            if rt.group == group:
                seen.setdefault(rt.version, None)
        return list(seen)

    def resources(self, group: str, version: str) -> list[ResourceType]:
        return [rt for rt in self._order if rt.group == group and rt.version == version]
