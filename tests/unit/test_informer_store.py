"""The informer's indexed store and its list/watch logic, driven by a scripted fake client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from kubeprov.api import status
from kubeprov.api.cache import ADDED, DELETED, MODIFIED, Store, namespace_index, object_key
from kubeprov.api.client import ApiConnectionError
from kubeprov.api.informer import Informer, SharedInformerFactory
from kubeprov.api.status import StatusError

pytestmark = pytest.mark.timeout(10)


def cm(name: str, rv: str, namespace: str = "ns", node: str = "") -> dict:
    meta = {"name": name, "namespace": namespace, "resourceVersion": rv}
    if node:
        meta["labels"] = {"node": node}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}


def by_node(obj: dict) -> list[str]:
    node = (obj["metadata"].get("labels") or {}).get("node")
    return [node] if node else []


# ---- store -----------------------------------------------------------------------------------


def test_keys_are_namespace_slash_name_or_bare_name():
    assert object_key("ns", "a") == "ns/a"
    assert object_key("", "node-1") == "node-1"


def test_upsert_replaces_and_returns_the_old_object_without_mutating_it():
    store = Store()
    first = cm("a", "1")
    assert store.upsert(first) is None
    second = cm("a", "2")
    assert store.upsert(second) is first
    assert first["metadata"]["resourceVersion"] == "1"
    assert store.get("ns/a") is second
    assert len(store) == 1


def test_indexes_follow_updates_and_deletes():
    store = Store({"node": by_node})
    store.upsert(cm("a", "1", node="n1"))
    store.upsert(cm("b", "1", node="n1"))
    assert [o["metadata"]["name"] for o in store.by_index("node", "n1")] == ["a", "b"]
    store.upsert(cm("a", "2", node="n2"))
    assert [o["metadata"]["name"] for o in store.by_index("node", "n1")] == ["b"]
    assert [o["metadata"]["name"] for o in store.by_index("node", "n2")] == ["a"]
    store.delete("ns/b")
    assert store.by_index("node", "n1") == []
    assert store.index_values("node") == ["n2"]


def test_namespace_index_and_list_by_namespace():
    store = Store({"ns": namespace_index})
    store.upsert(cm("a", "1", namespace="x"))
    store.upsert(cm("b", "1", namespace="y"))
    assert [o["metadata"]["name"] for o in store.list("x")] == ["a"]
    assert [o["metadata"]["name"] for o in store.by_index("ns", "y")] == ["b"]
    assert len(store.list()) == 2


def test_indexers_added_later_index_existing_objects():
    store = Store()
    store.upsert(cm("a", "1", node="n1"))
    store.add_indexers({"node": by_node})
    assert [o["metadata"]["name"] for o in store.by_index("node", "n1")] == ["a"]


def test_unknown_index_is_a_key_error():
    with pytest.raises(KeyError):
        Store().by_index("nope", "x")


def test_replace_reports_adds_changed_objects_and_deletes():
    store = Store()
    a1, b1, c1 = cm("a", "1"), cm("b", "1"), cm("c", "1")
    for obj in (a1, b1, c1):
        store.upsert(obj)
    a_same, b2, d1 = cm("a", "1"), cm("b", "2"), cm("d", "1")
    changes = store.replace([a_same, b2, d1])
    assert changes == [(MODIFIED, b1, b2), (ADDED, None, d1), (DELETED, c1, None)]
    assert sorted(store.keys()) == ["ns/a", "ns/b", "ns/d"]
    assert store.get("ns/a") is a1  # unchanged objects keep their identity


# ---- informer with a fake client -------------------------------------------------------------


class FakeClient:
    """Answers list_all from a script of lists, watch from a script of streams.

    A stream is a list of ``(type, obj)`` events, possibly ending in an exception to raise;
    when the streams run out, watch blocks until cancelled.
    """

    def __init__(self, lists: list[tuple[list[dict], str]], streams: list[list]) -> None:
        self.lists = lists
        self.streams = streams
        self.list_calls = 0
        self.watch_versions: list[str] = []

    async def list_all(self, api_version: str, resource: str, namespace: str = "", **kw: str) -> tuple[list, str]:
        self.list_calls += 1
        return self.lists.pop(0)

    async def watch(self, api_version: str, resource: str, namespace: str = "", *, resource_version: str = "",
                    **kw: object) -> AsyncIterator[tuple[str, dict]]:
        self.watch_versions.append(resource_version)
        if not self.streams:
            await asyncio.Event().wait()
        for item in self.streams.pop(0):
            if isinstance(item, BaseException):
                raise item
            yield item


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    def attach(self, informer: Informer) -> None:
        informer.add_handler(
            on_add=lambda o: self.events.append(("add", o["metadata"]["name"], o["metadata"]["resourceVersion"])),
            on_update=lambda old, new: self.events.append(("update", new["metadata"]["name"],
                                                           new["metadata"]["resourceVersion"])),
            on_delete=lambda o: self.events.append(("delete", o["metadata"]["name"],
                                                    o["metadata"]["resourceVersion"])))


async def until(predicate, timeout: float = 3.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_expired_watch_relists_and_emits_the_differences():
    expired = StatusError(status.expired("too old resource version: 5 (9)"))
    client = FakeClient(
        lists=[([cm("a", "1"), cm("b", "2"), cm("c", "3")], "3"), ([cm("a", "1"), cm("b", "8"), cm("d", "9")], "9")],
        streams=[[("MODIFIED", cm("a", "1")), expired]],
    )
    informer = Informer(client, "v1", "configmaps")  # type: ignore[arg-type]
    rec = Recorder()
    rec.attach(informer)
    await informer.start()
    assert await informer.wait_synced(2)
    await until(lambda: client.list_calls == 2 and len(client.watch_versions) == 2)
    await informer.stop()
    assert rec.events == [
        ("add", "a", "1"), ("add", "b", "2"), ("add", "c", "3"),
        ("update", "a", "1"),
        ("update", "b", "8"), ("add", "d", "9"), ("delete", "c", "3"),
    ]
    assert client.watch_versions == ["3", "9"]
    assert sorted(o["metadata"]["name"] for o in informer.list()) == ["a", "b", "d"]


async def test_broken_stream_rewatches_from_the_last_resource_version_and_bookmarks_advance_it():
    bookmark = {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"resourceVersion": "12"}}
    client = FakeClient(
        lists=[([cm("a", "1")], "5")],
        streams=[[("ADDED", cm("b", "6")), ApiConnectionError("reset")],
                 [("DELETED", cm("a", "7")), ("BOOKMARK", bookmark)],
                 []],
    )
    informer = Informer(client, "v1", "configmaps")  # type: ignore[arg-type]
    rec = Recorder()
    rec.attach(informer)
    await informer.start()
    await until(lambda: len(client.watch_versions) == 3, timeout=5)
    await informer.stop()
    assert client.watch_versions == ["5", "6", "12"]
    assert client.list_calls == 1
    assert rec.events == [("add", "a", "1"), ("add", "b", "6"), ("delete", "a", "7")]
    assert informer.get("ns", "b") is not None and informer.get("ns", "a") is None


async def test_handler_added_after_sync_gets_synthetic_adds():
    client = FakeClient(lists=[([cm("a", "1"), cm("b", "1")], "1")], streams=[])
    informer = Informer(client, "v1", "configmaps")  # type: ignore[arg-type]
    await informer.start()
    assert await informer.wait_synced(2)
    rec = Recorder()
    rec.attach(informer)
    await informer.stop()
    assert [e[:2] for e in rec.events] == [("add", "a"), ("add", "b")]


async def test_a_failing_handler_does_not_stop_the_others():
    client = FakeClient(lists=[([cm("a", "1")], "1")], streams=[])
    informer = Informer(client, "v1", "configmaps")  # type: ignore[arg-type]

    def broken(obj: dict) -> None:
        raise RuntimeError("boom")

    informer.add_handler(on_add=broken)
    rec = Recorder()
    rec.attach(informer)
    await informer.start()
    assert await informer.wait_synced(2)
    await informer.stop()
    assert rec.events == [("add", "a", "1")]


async def test_resync_redelivers_every_object_as_an_update_to_itself():
    client = FakeClient(lists=[([cm("a", "1"), cm("b", "1")], "1")], streams=[])
    informer = Informer(client, "v1", "configmaps", resync_period=0.05)  # type: ignore[arg-type]
    updates: list[tuple[dict, dict]] = []
    informer.add_handler(on_update=lambda old, new: updates.append((old, new)))
    await informer.start()
    await until(lambda: len(updates) >= 4)
    await informer.stop()
    assert all(old is new for old, new in updates)
    assert {new["metadata"]["name"] for _, new in updates} == {"a", "b"}


async def test_wait_synced_times_out_when_the_list_never_answers():
    class Stuck(FakeClient):
        async def list_all(self, *args: object, **kw: object) -> tuple[list, str]:
            await asyncio.Event().wait()
            raise AssertionError

    informer = Informer(Stuck([], []), "v1", "configmaps")  # type: ignore[arg-type]
    await informer.start()
    assert not await informer.wait_synced(0.05)
    assert not informer.has_synced
    await informer.stop()


def test_factory_shares_one_informer_per_resource_and_selectors():
    factory = SharedInformerFactory(FakeClient([], []))  # type: ignore[arg-type]
    pods = factory.informer("v1", "pods")
    assert factory.informer("v1", "pods", indexers={"node": by_node}) is pods
    assert factory.informer("v1", "pods", namespace="x") is not pods
    assert factory.informer("v1", "pods", label_selector="a=b") is not pods
    assert pods.by_index("node", "n1") == []
