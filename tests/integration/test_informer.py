"""Informers against our API server: sync, events in order, resumed streams, relists, indexes."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import pytest
import yaml

from kubeprov.api.client import ApiClient
from kubeprov.api.informer import Informer, SharedInformerFactory, namespace_index
from kubeprov.etcd.local import free_port
from tests.integration.apiserver_fixture import extra_server

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def configmap(name: str, data: dict[str, str] | None = None, labels: dict[str, str] | None = None) -> dict:
    meta: dict = {"name": name}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data or {}}


class Recorder:
    """Records (event, name) from an informer's handlers."""

    def __init__(self, informer: Informer) -> None:
        self.events: list[tuple[str, str]] = []
        informer.add_handler(on_add=lambda o: self.events.append(("add", o["metadata"]["name"])),
                             on_update=lambda old, new: self.events.append(("update", new["metadata"]["name"])),
                             on_delete=lambda o: self.events.append(("delete", o["metadata"]["name"])))


async def until(predicate, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


async def test_initial_sync_lists_existing_objects(apiserver, client):
    ns = apiserver.namespace("inf")
    for name in ("a", "b"):
        await client.create("v1", "configmaps", configmap(name), ns)
    informer = Informer(client, "v1", "configmaps", namespace=ns)
    rec = Recorder(informer)
    await informer.start()
    try:
        assert await informer.wait_synced(10)
        assert informer.has_synced
        assert sorted(rec.events) == [("add", "a"), ("add", "b")]
        assert informer.get(ns, "a")["kind"] == "ConfigMap"
    finally:
        await informer.stop()


async def test_handlers_see_add_update_delete_in_order_and_store_follows(apiserver, client):
    ns = apiserver.namespace("inf")
    informer = Informer(client, "v1", "configmaps", namespace=ns)
    rec = Recorder(informer)
    await informer.start()
    try:
        assert await informer.wait_synced(10)
        await client.create("v1", "configmaps", configmap("x", {"v": "1"}), ns)
        await until(lambda: informer.get(ns, "x") is not None)
        before = informer.get(ns, "x")
        await client.patch("v1", "configmaps", "x", {"data": {"v": "2"}}, ns)
        await until(lambda: informer.get(ns, "x")["data"] == {"v": "2"})
        assert before["data"] == {"v": "1"}  # the old dict was replaced, not changed
        await client.delete("v1", "configmaps", "x", ns)
        await until(lambda: informer.get(ns, "x") is None)
        assert rec.events == [("add", "x"), ("update", "x"), ("delete", "x")]
        assert informer.list(ns) == []
    finally:
        await informer.stop()


async def test_watch_closed_by_the_server_resumes_without_missing_events(apiserver, client):
    ns = apiserver.namespace("inf")
    informer = Informer(client, "v1", "configmaps", namespace=ns)
    rec = Recorder(informer)
    await informer.start()

    async def close_configmap_watchers() -> None:
        for watcher in list(apiserver.server.cache.resource("", "configmaps").watchers):
            watcher.close("closed by the test")

    try:
        assert await informer.wait_synced(10)
        await client.create("v1", "configmaps", configmap("before"), ns)
        await until(lambda: informer.get(ns, "before") is not None)
        apiserver.run(close_configmap_watchers())
        # made while the informer has no stream open: the re-watch from its last version replays them
        await client.create("v1", "configmaps", configmap("during"), ns)
        await client.delete("v1", "configmaps", "before", ns)
        await until(lambda: informer.get(ns, "during") is not None and informer.get(ns, "before") is None)
        await client.create("v1", "configmaps", configmap("after"), ns)
        await until(lambda: informer.get(ns, "after") is not None)
        assert rec.events == [("add", "before"), ("add", "during"), ("delete", "before"), ("add", "after")]
    finally:
        await informer.stop()


async def test_short_watch_timeouts_lose_nothing(apiserver, client):
    ns = apiserver.namespace("inf")
    informer = Informer(client, "v1", "configmaps", namespace=ns, watch_timeout_seconds=1)
    rec = Recorder(informer)
    await informer.start()
    try:
        assert await informer.wait_synced(10)
        for i in range(6):
            await client.create("v1", "configmaps", configmap(f"cm-{i}"), ns)
            await asyncio.sleep(0.4)
        await until(lambda: len(informer.list(ns)) == 6)
        assert rec.events == [("add", f"cm-{i}") for i in range(6)]
    finally:
        await informer.stop()


async def test_expired_version_after_restart_relists_and_emits_deletes(apiserver, tmp_path, caplog):
    """A server with a tiny watch cache: after a pause the informer's version is too old (410)."""
    ns = apiserver.namespace("inf")
    port = free_port()
    config = dataclasses.replace(apiserver.server.config, port=port, watch_cache_size=3)
    doc = yaml.safe_load(apiserver.kubeconfig.read_text())
    doc["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{port}"
    (tmp_path / "kc").write_text(yaml.safe_dump(doc))
    with extra_server(config):
        async with ApiClient.from_kubeconfig(tmp_path / "kc") as client:
            for name in ("keep", "gone-1", "gone-2"):
                await client.create("v1", "configmaps", configmap(name), ns)
            informer = Informer(client, "v1", "configmaps", namespace=ns)
            rec = Recorder(informer)
            await informer.start()
            assert await informer.wait_synced(10)
            await informer.stop()
            await client.delete("v1", "configmaps", "gone-1", ns)
            await client.delete("v1", "configmaps", "gone-2", ns)
            for i in range(4):
                await client.create("v1", "configmaps", configmap(f"new-{i}"), ns)
            await client.patch("v1", "configmaps", "keep", {"data": {"k": "v"}}, ns)
            rec.events.clear()
            caplog.set_level(logging.INFO, logger="kubeprov.api.informer")
            await informer.start()
            try:
                await until(lambda: informer.get(ns, "new-3") is not None and informer.get(ns, "gone-1") is None)
                assert sorted(rec.events) == sorted([("delete", "gone-1"), ("delete", "gone-2"), ("update", "keep")]
                                                    + [("add", f"new-{i}") for i in range(4)])
                assert sorted(o["metadata"]["name"] for o in informer.list(ns)) == ["keep"] + [
                    f"new-{i}" for i in range(4)]
                assert "expired; listing again" in caplog.text
            finally:
                await informer.stop()


async def test_indexers_answer_by_index(apiserver, client):
    ns = apiserver.namespace("inf")

    def by_tier(obj: dict) -> list[str]:
        tier = (obj["metadata"].get("labels") or {}).get("tier")
        return [tier] if tier else []

    await client.create("v1", "configmaps", configmap("web", labels={"tier": "front"}), ns)
    await client.create("v1", "configmaps", configmap("db", labels={"tier": "back"}), ns)
    informer = Informer(client, "v1", "configmaps", namespace=ns,
                        indexers={"tier": by_tier, "ns": namespace_index})
    await informer.start()
    try:
        assert await informer.wait_synced(10)
        assert [o["metadata"]["name"] for o in informer.by_index("tier", "front")] == ["web"]
        await client.patch("v1", "configmaps", "db", {"metadata": {"labels": {"tier": "front"}}}, ns)
        await until(lambda: len(informer.by_index("tier", "front")) == 2)
        assert informer.by_index("tier", "back") == []
        assert len(informer.by_index("ns", ns)) == 2
    finally:
        await informer.stop()


async def test_label_selector_limits_the_informer(apiserver, client):
    ns = apiserver.namespace("inf")
    await client.create("v1", "configmaps", configmap("mine", labels={"app": "x"}), ns)
    await client.create("v1", "configmaps", configmap("other"), ns)
    informer = Informer(client, "v1", "configmaps", namespace=ns, label_selector="app=x")
    rec = Recorder(informer)
    await informer.start()
    try:
        assert await informer.wait_synced(10)
        # losing the label makes the object leave the informer's view: a delete
        await client.patch("v1", "configmaps", "mine", {"metadata": {"labels": {"app": None}}}, ns)
        await until(lambda: informer.get(ns, "mine") is None)
        assert rec.events == [("add", "mine"), ("delete", "mine")]
    finally:
        await informer.stop()


async def test_resync_delivers_updates(apiserver, client):
    ns = apiserver.namespace("inf")
    await client.create("v1", "configmaps", configmap("r"), ns)
    informer = Informer(client, "v1", "configmaps", namespace=ns, resync_period=0.2)
    rec = Recorder(informer)
    await informer.start()
    try:
        assert await informer.wait_synced(10)
        await until(lambda: rec.events.count(("update", "r")) >= 2, timeout=5)
    finally:
        await informer.stop()


async def test_shared_factory_returns_one_informer_and_syncs_all(apiserver, client):
    ns = apiserver.namespace("inf")
    await client.create("v1", "serviceaccounts", {"metadata": {"name": "default"}}, ns)
    factory = SharedInformerFactory(client)
    configmaps = factory.informer("v1", "configmaps", namespace=ns)
    assert factory.informer("v1", "configmaps", namespace=ns) is configmaps
    serviceaccounts = factory.informer("v1", "serviceaccounts", namespace=ns)
    await factory.start()
    try:
        assert await factory.wait_synced(10)
        assert configmaps.has_synced and serviceaccounts.has_synced
        assert [o["metadata"]["name"] for o in serviceaccounts.list(ns)] == ["default"]
    finally:
        await factory.stop()
