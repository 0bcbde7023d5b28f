"""The CRD controller against a fake watch cache and store: registry sync, status, names, deletion."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from kubeprov.api import status
from kubeprov.api.status import StatusError
from kubeprov.apiserver.apply import SchemaStore
from kubeprov.apiserver.crd import CrdController
from kubeprov.apiserver.resources import Registry, ResourceType, builtin_resources
from kubeprov.apiserver.storage.watchcache import ADDED, DELETED, MODIFIED, Watcher

Obj = dict[str, Any]
FINALIZER = "customresourcecleanup.apiextensions.k8s.io"


def crontab_crd(name: str = "crontabs", group: str = "stable.example.com", kind: str = "CronTab",
                created: str = "2024-01-01T00:00:00Z", **names: Any) -> Obj:
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{name}.{group}", "creationTimestamp": created, "resourceVersion": "1"},
        "spec": {"group": group, "scope": "Namespaced",
                 "names": {"plural": name, "kind": kind, **names},
                 "versions": [
                     {"name": "v1", "served": True, "storage": True, "subresources": {"status": {}},
                      "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                          "spec": {"type": "object", "properties": {"cronSpec": {"type": "string"}}}}}}},
                     {"name": "v1beta1", "served": True, "storage": False,
                      "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}},
                 ]},
    }


class FakeCache:
    """The watch cache's ``watch``: initial objects, then events pushed by the test."""

    def __init__(self, objects: list[Obj]) -> None:
        self.objects = objects
        self.watchers: list[Watcher] = []

    def watch(self, group: str, resource: str, key_prefix: str, matches: Callable[[Obj], bool], *,
              from_revision: int | None) -> tuple[Watcher, list[tuple[str, Obj]]]:
        assert (group, resource, from_revision) == ("apiextensions.k8s.io", "customresourcedefinitions", None)
        watcher = Watcher(matches, 100)
        self.watchers.append(watcher)
        return watcher, [(ADDED, obj) for obj in self.objects]

    def emit(self, kind: str, obj: Obj) -> None:
        for watcher in self.watchers:
            watcher.queue.put_nowait((kind, copy.deepcopy(obj)))


class FakeClient:
    def __init__(self) -> None:
        self.deleted_prefixes: list[str] = []

    async def delete(self, key: str, *, prefix: bool = False) -> None:
        assert prefix
        self.deleted_prefixes.append(key)


class FakeStore:
    """Read-modify-write of CRDs in memory; every write is echoed to the cache like etcd's watch."""

    def __init__(self, cache: FakeCache, objects: list[Obj]) -> None:
        self.cache = cache
        self.objects = {o["metadata"]["name"]: copy.deepcopy(o) for o in objects}
        self.client = FakeClient()
        self.writes = 0
        self.revision = 10

    async def update(self, rt: ResourceType, namespace: str, name: str,
                     mutate: Callable[[Obj], Awaitable[Obj | None]]) -> tuple[Obj, Obj]:
        if name not in self.objects:
            raise StatusError(status.not_found(rt.group_resource, name))
        old = self.objects[name]
        new = await mutate(copy.deepcopy(old))
        if new is None or new == old:
            return old, old
        self.revision += 1
        new["metadata"]["resourceVersion"] = str(self.revision)
        self.objects[name] = new
        self.writes += 1
        self.cache.emit(MODIFIED, new)
        return new, old

    async def delete(self, rt: ResourceType, obj: Obj) -> Obj:
        name = obj["metadata"]["name"]
        if self.objects[name]["metadata"]["resourceVersion"] != obj["metadata"]["resourceVersion"]:
            raise StatusError(status.conflict(rt.group_resource, name))
        del self.objects[name]
        self.cache.emit(DELETED, obj)
        return obj


async def until(check: Callable[[], Any], timeout: float = 2.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


@pytest.fixture
def registry() -> Registry:
    return Registry(builtin_resources())


def make(registry: Registry, *crds: Obj) -> tuple[CrdController, FakeCache, FakeStore, SchemaStore]:
    cache = FakeCache(list(crds))
    store = FakeStore(cache, list(crds))
    schemas = SchemaStore()
    controller = CrdController(registry=registry, cache=cache, store=store, schemas=schemas)  # type: ignore[arg-type]
    return controller, cache, store, schemas


def conditions(obj: Obj) -> list[tuple[str, str, str, str]]:
    return [(c["type"], c["status"], c["reason"], c["message"]) for c in obj["status"]["conditions"]]


async def test_start_serves_stored_crds_and_writes_status(registry: Registry) -> None:
    controller, _, store, schemas = make(registry, crontab_crd(shortNames=["ct"]))
    await controller.start()
    try:
        v1 = registry.get("stable.example.com", "v1", "crontabs")
        assert v1 is not None and v1.custom and v1.kind == "CronTab" and v1.short_names == ("ct",)
        assert [s.name for s in v1.subresources] == ["status"]
        assert registry.versions("stable.example.com") == ["v1", "v1beta1"]
        assert schemas.custom("stable.example.com", "v1", "CronTab") is not None
        stored = store.objects["crontabs.stable.example.com"]
        await until(lambda: "status" in store.objects["crontabs.stable.example.com"])
        stored = store.objects["crontabs.stable.example.com"]
        assert stored["metadata"]["finalizers"] == [FINALIZER]
        assert stored["status"]["acceptedNames"] == {"plural": "crontabs", "singular": "crontab", "kind": "CronTab",
                                                     "listKind": "CronTabList", "shortNames": ["ct"]}
        assert stored["status"]["storedVersions"] == ["v1"]
        assert conditions(stored) == [
            ("NamesAccepted", "True", "NoConflicts", "no conflicts found"),
            ("Established", "True", "InitialNamesAccepted", "the initial names have been accepted"),
        ]
        writes = store.writes
        await asyncio.sleep(0.05)  # the controller sees its own write and has nothing more to do
        assert store.writes == writes == 1
    finally:
        await controller.stop()


async def test_new_crd_is_served_when_the_event_is_handled(registry: Registry) -> None:
    controller, _, _, _ = make(registry)
    await controller.start()
    try:
        controller.observe(ADDED, crontab_crd())
        assert registry.get("stable.example.com", "v1beta1", "crontabs") is not None
    finally:
        await controller.stop()


async def test_versions_no_longer_served_are_removed(registry: Registry) -> None:
    crd = crontab_crd()
    controller, cache, store, schemas = make(registry, crd)
    await controller.start()
    try:
        await until(lambda: "status" in store.objects["crontabs.stable.example.com"])
        changed = copy.deepcopy(store.objects["crontabs.stable.example.com"])
        changed["spec"]["versions"][1]["served"] = False
        store.objects["crontabs.stable.example.com"] = changed
        cache.emit(MODIFIED, changed)
        await until(lambda: registry.get("stable.example.com", "v1beta1", "crontabs") is None)
        assert schemas.custom("stable.example.com", "v1beta1", "CronTab") is None
        assert registry.get("stable.example.com", "v1", "crontabs") is not None
        cache.emit(DELETED, changed)
        await until(lambda: registry.get("stable.example.com", "v1", "crontabs") is None)
        assert "stable.example.com" not in registry.groups()
    finally:
        await controller.stop()


async def test_name_conflicts_are_not_served(registry: Registry) -> None:
    first = crontab_crd(shortNames=["ct"])
    short = crontab_crd(name="cronjobz", kind="CronJobZ", created="2024-02-01T00:00:00Z", shortNames=["ct"])
    kind = crontab_crd(name="crontabz", kind="CronTab", singular="crontabz", created="2024-02-01T00:00:00Z")
    builtin = crontab_crd(name="deploys", group="apps", kind="Thing", shortNames=["deploy"])
    controller, _, store, _ = make(registry, first, short, kind, builtin)
    await controller.start()
    try:
        await until(lambda: all("status" in o for o in store.objects.values()))
        assert registry.get("stable.example.com", "v1", "crontabs").kind == "CronTab"  # type: ignore[union-attr]
        assert conditions(store.objects["cronjobz.stable.example.com"]) == [
            ("NamesAccepted", "False", "ShortNamesConflict", '"ct" is already in use'),
            ("Established", "False", "NotAccepted", "not all names are accepted"),
        ]
        assert conditions(store.objects["crontabz.stable.example.com"])[0] == (
            "NamesAccepted", "False", "ListKindConflict", '"CronTabList" is already in use')  # the last check wins
        assert conditions(store.objects["deploys.apps"])[0] == (
            "NamesAccepted", "False", "ShortNamesConflict", '"deploy" is already in use')
        for group, plural in (("stable.example.com", "cronjobz"), ("stable.example.com", "crontabz"),
                              ("apps", "deploys")):
            assert registry.get(group, "v1", plural) is None
        assert registry.get("apps", "v1", "deployments").kind == "Deployment"  # type: ignore[union-attr]
    finally:
        await controller.stop()


async def test_deleting_a_crd_deletes_its_objects_then_the_crd(registry: Registry) -> None:
    controller, cache, store, _ = make(registry, crontab_crd())
    await controller.start()
    try:
        await until(lambda: "status" in store.objects["crontabs.stable.example.com"])
        deleting = copy.deepcopy(store.objects["crontabs.stable.example.com"])
        deleting["metadata"]["deletionTimestamp"] = "2024-03-01T00:00:00Z"
        store.objects[deleting["metadata"]["name"]] = deleting
        cache.emit(MODIFIED, deleting)
        await until(lambda: registry.get("stable.example.com", "v1", "crontabs") is None)
        await until(lambda: not store.objects)
        assert store.client.deleted_prefixes == ["/registry/stable.example.com/crontabs/"]
    finally:
        await controller.stop()


async def test_crd_deleted_before_its_finalizer_still_loses_its_objects(registry: Registry) -> None:
    controller, cache, store, _ = make(registry)
    await controller.start()
    try:
        crd = crontab_crd()
        controller.observe(ADDED, crd)
        cache.emit(DELETED, crd)
        await until(lambda: store.client.deleted_prefixes == ["/registry/stable.example.com/crontabs/"])
    finally:
        await controller.stop()
