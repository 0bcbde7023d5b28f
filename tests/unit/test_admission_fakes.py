"""In-memory stand-ins for the watch cache, the store and etcd that admission plugins read and write,
plus the checks that the plugins' reads go to the cache first and to etcd when it lags."""

from __future__ import annotations

import asyncio
import copy
from types import SimpleNamespace
from typing import Any

from kubeprov.api import status
from kubeprov.api.status import StatusError
from kubeprov.apiserver.admission import Admission
from kubeprov.apiserver.admission.lookup import Lookup, object_key
from kubeprov.apiserver.auth.user import UserInfo
from kubeprov.apiserver.config import DEFAULT_ADMISSION_PLUGINS
from kubeprov.apiserver.request_info import RequestInfo
from kubeprov.apiserver.resources import Registry
from kubeprov.apiserver.resources.builtin import builtin_resources
from kubeprov.apiserver.rest.call import Call
from kubeprov.apiserver.rest.negotiate import Accept

ALL_PLUGINS = list(DEFAULT_ADMISSION_PLUGINS)


class FakeResourceCache:
    def __init__(self) -> None:
        self.objects: dict[str, dict] = {}

    def snapshot(self, prefix: str = "") -> list[dict]:
        return [self.objects[k] for k in sorted(self.objects) if k.startswith(prefix)]


class FakeCache:
    def __init__(self) -> None:
        self.caches: dict[tuple[str, str], FakeResourceCache] = {}

    def resource(self, group: str, resource: str) -> FakeResourceCache:
        return self.caches.setdefault((group, resource), FakeResourceCache())


class FakeClient:
    def __init__(self, data: dict[str, dict]) -> None:
        self.data = data
        self.gets: list[str] = []

    async def get(self, key: str) -> dict | None:
        self.gets.append(key)
        obj = self.data.get(key)
        return copy.deepcopy(obj) if obj is not None else None


class FakeStore:
    """etcd as a dict; ``update`` is a compare-and-swap loop that yields between read and write."""

    def __init__(self) -> None:
        self.data: dict[str, dict] = {}
        self.client = FakeClient(self.data)
        self.revision = 100
        self.writes = 0
        self.lists = 0

    def decode(self, kv: dict) -> dict:
        return kv

    async def list(self, rt: Any, namespace: str, **_: Any) -> SimpleNamespace:
        self.lists += 1
        prefix = rt.etcd_prefix(namespace or None)
        return SimpleNamespace(items=[copy.deepcopy(v) for k, v in sorted(self.data.items()) if k.startswith(prefix)])

    async def update(self, rt: Any, namespace: str, name: str, mutate: Any, *, dry_run: bool = False,
                     retries: int = 16) -> tuple[dict, dict]:
        key = rt.etcd_key(namespace or None, name)
        for _ in range(retries):
            old = self.data.get(key)
            if old is None:
                raise StatusError(status.not_found(rt.group_resource, name))
            seen = old["metadata"].get("resourceVersion")
            new = await mutate(copy.deepcopy(old))
            await asyncio.sleep(0)  # let a concurrent request interleave here
            if new is None or new == old:
                return old, old
            if self.data[key]["metadata"].get("resourceVersion") != seen:
                continue  # lost the race: read again
            self.revision += 1
            new["metadata"]["resourceVersion"] = str(self.revision)
            self.data[key] = new
            self.writes += 1
            return new, old
        raise StatusError(status.conflict(rt.group_resource, name))


class Cluster:
    def __init__(self) -> None:
        self.cache = FakeCache()
        self.store = FakeStore()
        self.registry = Registry(builtin_resources())

    def add(self, obj: dict, resource: str, group: str = "", *, cached: bool = True, stored: bool = True) -> dict:
        meta = obj.setdefault("metadata", {})
        self.store.revision += 1
        meta.setdefault("resourceVersion", str(self.store.revision))
        key = object_key(group, resource, meta.get("namespace", ""), meta["name"])
        if stored:
            self.store.data[key] = copy.deepcopy(obj)
        if cached:
            self.cache.resource(group, resource).objects[key] = copy.deepcopy(obj)
        return obj

    def stored(self, resource: str, namespace: str, name: str, group: str = "") -> dict:
        return self.store.data[object_key(group, resource, namespace, name)]

    def namespace(self, name: str, labels: dict | None = None, phase: str = "Active", **kw: Any) -> dict:
        ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}, "status": {"phase": phase}}
        if labels:
            ns["metadata"]["labels"] = labels
        return self.add(ns, "namespaces", **kw)

    def service_account(self, namespace: str, name: str = "default", **fields: Any) -> dict:
        sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": namespace}}
        sa.update(fields)
        return self.add(sa, "serviceaccounts")

    def admission(self, plugins: list[str] | None = None) -> Admission:
        return Admission(ALL_PLUGINS if plugins is None else plugins, cache=self.cache, store=self.store,
                         registry=self.registry)

    def call(self, resource: str, namespace: str = "", name: str = "", *, group: str = "", version: str = "v1",
             subresource: str = "", verb: str = "create", dry_run: bool = False, user: str = "alice") -> Call:
        rt = self.registry.get(group, version, resource)
        assert rt is not None, (group, version, resource)
        info = RequestInfo(True, "", verb, "apis" if group else "api", group, version, namespace, resource,
                           subresource, name)
        query = {"dryRun": "All"} if dry_run else {}
        return Call(info=info, rt=rt, query=query, accept=Accept(),
                    user=UserInfo(user, groups=("system:authenticated",)))


def pod(name: str = "web", namespace: str = "team", *containers: dict, **spec: Any) -> dict:
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
            "spec": {"containers": list(containers) or [{"name": "web", "image": "nginx", "resources": {}}]}}
    body["spec"].update(spec)
    return body


def container(name: str = "web", requests: dict | None = None, limits: dict | None = None, **fields: Any) -> dict:
    resources: dict = {}
    if requests:
        resources["requests"] = requests
    if limits:
        resources["limits"] = limits
    return {"name": name, "image": "nginx", "resources": resources, **fields}


async def create(cluster: Cluster, admission: Admission, obj: dict, resource: str, *, group: str = "",
                 version: str = "v1", **kw: Any) -> Call:
    """Both phases of a create, as the REST layer runs them."""
    meta = obj["metadata"]
    call = cluster.call(resource, meta.get("namespace", ""), group=group, version=version, **kw)
    await admission.mutate(call, obj, None)
    await admission.validate(call, obj, None)
    return call


# ---- the reads plugins make ------------------------------------------------------------------


def _lookup(cluster: Cluster) -> Lookup:
    return Lookup(cluster.cache, cluster.store, cluster.registry)


async def test_get_reads_the_cache_without_touching_etcd():
    cluster = Cluster()
    cluster.namespace("team")
    assert (await _lookup(cluster).get("", "namespaces", "", "team"))["metadata"]["name"] == "team"
    assert cluster.store.client.gets == []


async def test_get_falls_back_to_etcd_for_an_object_the_cache_has_not_seen():
    cluster = Cluster()
    cluster.namespace("new", cached=False)
    assert (await _lookup(cluster).get("", "namespaces", "", "new"))["metadata"]["name"] == "new"
    assert cluster.store.client.gets == ["/registry/core/namespaces/new"]


async def test_list_asks_etcd_only_when_the_cache_has_nothing():
    cluster = Cluster()
    cluster.add({"metadata": {"name": "a", "namespace": "team"}}, "limitranges", cached=False)
    assert [o["metadata"]["name"] for o in await _lookup(cluster).list("", "limitranges", "team")] == ["a"]
    assert cluster.store.lists == 1
    cluster.add({"metadata": {"name": "b", "namespace": "team"}}, "limitranges")
    assert [o["metadata"]["name"] for o in await _lookup(cluster).list("", "limitranges", "team")] == ["b"]
    assert cluster.store.lists == 1


async def test_list_is_limited_to_the_namespace():
    cluster = Cluster()
    cluster.add({"metadata": {"name": "a", "namespace": "team"}}, "limitranges")
    cluster.add({"metadata": {"name": "b", "namespace": "team-2"}}, "limitranges")
    assert [o["metadata"]["name"] for o in await _lookup(cluster).list("", "limitranges", "team")] == ["a"]
