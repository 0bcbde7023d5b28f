"""How admission plugins read other objects: the watch cache first, etcd when the cache has not
caught up (an object created a moment ago), as Kubernetes' plugins use informers with a live lookup.

Objects returned may be the cache's own: plugins must not change them.
"""

from __future__ import annotations

import time
from typing import Any

from kubeprov.apiserver.resources.types import ResourceType
from kubeprov.apiserver.storage.keys import object_key, prefix_key

Obj = dict[str, Any]


# how long a live list that found nothing is trusted, as Kubernetes' admission live-lookup caches do
LIVE_LOOKUP_TTL = 30.0


class Lookup:
    def __init__(self, cache: Any, store: Any, registry: Any, clock: Any = time.monotonic) -> None:
        self.cache = cache
        self.store = store
        self.registry = registry
        self.clock = clock
        self._live_lists: dict[tuple[str, str, str], tuple[float, list[Obj]]] = {}

    def resource_type(self, group: str, resource: str) -> ResourceType | None:
        """The served type of ``resource`` in ``group`` (its storage version when it has several)."""
        found: ResourceType | None = None
        for rt in self.registry.all():
            if rt.group == group and rt.resource == resource:
                if found is None or (rt.storage_version and rt.version == rt.storage_version):
                    found = rt
        return found

    def cached(self, group: str, resource: str, namespace: str, name: str) -> Obj | None:
        return self.cache.resource(group, resource).objects.get(object_key(group, resource, namespace, name))

    async def live(self, group: str, resource: str, namespace: str, name: str) -> Obj | None:
        kv = await self.store.client.get(object_key(group, resource, namespace, name))
        return self.store.decode(kv) if kv is not None else None

    async def get(self, group: str, resource: str, namespace: str, name: str) -> Obj | None:
        obj = self.cached(group, resource, namespace, name)
        if obj is not None:
            return obj
        return await self.live(group, resource, namespace, name)

    def cached_list(self, group: str, resource: str, namespace: str) -> list[Obj]:
        return self.cache.resource(group, resource).snapshot(prefix_key(group, resource, namespace))

    async def list(self, group: str, resource: str, namespace: str) -> list[Obj]:
        """Objects of a resource in a namespace ("" = all, or cluster-scoped), sorted by key.

        An empty cache answer is checked against etcd (the cache may not have seen an object
        created just before this request); that live answer is reused for 30 seconds, like
        Kubernetes' live-lookup cache, so a namespace without LimitRanges or quotas does not cost an
        etcd list on every create."""
        items = self.cached_list(group, resource, namespace)
        if items:
            return items
        key = (group, resource, namespace)
        now = self.clock()
        remembered = self._live_lists.get(key)
        if remembered is not None and remembered[0] > now:
            return remembered[1]
        rt = self.resource_type(group, resource)
        if rt is None:
            return []
        page = await self.store.list(rt, namespace if rt.namespaced else "")
        found = list(page.items)
        if len(self._live_lists) > 10_000:  # bounded: namespaces come and go
            self._live_lists = {k: v for k, v in self._live_lists.items() if v[0] > now}
        self._live_lists[key] = (now + LIVE_LOOKUP_TTL, found)
        return found
