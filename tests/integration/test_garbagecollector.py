"""The garbage collector against our API server: background, orphan and foreground deletion,
several owners, owners that never existed. The collector only acts in each test's namespace."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from kubeprov.api.client import ApiClient
from kubeprov.api.informer import SharedInformerFactory
from kubeprov.api.status import StatusError
from kubeprov.controllers.garbagecollector import GarbageCollector
from tests.integration.apiserver_fixture import ApiServerForTest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


@pytest.fixture
async def namespace(apiserver: ApiServerForTest, client: ApiClient) -> str:
    ns = apiserver.namespace("gc")
    await client.create("v1", "serviceaccounts", {"metadata": {"name": "default"}}, ns)
    return ns


@pytest.fixture
async def gc(client: ApiClient, namespace: str) -> AsyncIterator[GarbageCollector]:
    factory = SharedInformerFactory(client)
    controller = GarbageCollector(client, factory, workers=2, namespace_filter=lambda ns: ns == namespace)
    await factory.start()
    await controller.start(30)
    yield controller
    await controller.stop()
    await factory.stop()


async def until(check, timeout: float = 15.0, interval: float = 0.1):
    async with asyncio.timeout(timeout):
        while True:
            result = await check()
            if result:
                return result
            await asyncio.sleep(interval)


async def exists(client: ApiClient, api_version: str, resource: str, name: str, ns: str) -> dict | None:
    try:
        return await client.get(api_version, resource, name, ns)
    except StatusError as exc:
        if exc.code == 404:
            return None
        raise


async def make_rs(client: ApiClient, ns: str, name: str) -> dict:
    body = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name},
            "spec": {"replicas": 0, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}
    return await client.create("apps/v1", "replicasets", body, ns)


def ref(owner: dict, *, controller: bool = True, block: bool = True) -> dict:
    return {"apiVersion": owner.get("apiVersion", "apps/v1"), "kind": owner.get("kind", "ReplicaSet"),
            "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"], "controller": controller,
            "blockOwnerDeletion": block}


async def make_pod(client: ApiClient, ns: str, name: str, refs: list[dict],
                   finalizers: list[str] | None = None) -> dict:
    metadata: dict = {"name": name, "ownerReferences": refs}
    if finalizers:
        metadata["finalizers"] = finalizers
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": metadata,
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    return await client.create("v1", "pods", body, ns)


async def gone(client: ApiClient, api_version: str, resource: str, name: str, ns: str) -> bool:
    return await exists(client, api_version, resource, name, ns) is None


async def test_background_deletion_deletes_dependents(client, namespace, gc):
    rs = await make_rs(client, namespace, "web")
    for i in range(3):
        await make_pod(client, namespace, f"web-{i}", [ref(rs)])
    await client.delete("apps/v1", "replicasets", "web", namespace, propagation_policy="Background")

    async def pods_gone():
        items, _ = await client.list_all("v1", "pods", namespace)
        return not items
    await until(pods_gone)


async def test_orphan_keeps_dependents_without_references(apiserver, client, namespace, gc):
    rs = await make_rs(client, namespace, "keep")
    other = await client.create("v1", "configmaps", {"metadata": {"name": "other"}}, namespace)
    other_ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "other", "uid": other["metadata"]["uid"]}
    await make_pod(client, namespace, "keep-0", [ref(rs)])
    await make_pod(client, namespace, "keep-1", [ref(rs), other_ref])
    out = await asyncio.to_thread(apiserver.kubectl, "-n", namespace, "delete", "rs", "keep", "--cascade=orphan")
    assert out.returncode == 0, out.stderr
    await until(lambda: gone(client, "apps/v1", "replicasets", "keep", namespace))
    p0 = await client.get("v1", "pods", "keep-0", namespace)
    p1 = await client.get("v1", "pods", "keep-1", namespace)
    assert not p0["metadata"].get("ownerReferences")
    assert [r["uid"] for r in p1["metadata"]["ownerReferences"]] == [other["metadata"]["uid"]]
    await asyncio.sleep(0.5)  # and they stay
    assert await exists(client, "v1", "pods", "keep-0", namespace)
    assert await exists(client, "v1", "pods", "keep-1", namespace)


async def test_foreground_deletes_dependents_first(client, namespace, gc):
    rs = await make_rs(client, namespace, "fg")
    # a finalizer holds one pod in deletion, so the owner must wait for it
    await make_pod(client, namespace, "fg-held", [ref(rs)], finalizers=["example.com/hold"])
    await make_pod(client, namespace, "fg-free", [ref(rs)])
    await make_pod(client, namespace, "fg-nonblocking", [ref(rs, block=False)])
    await client.delete("apps/v1", "replicasets", "fg", namespace, propagation_policy="Foreground")

    async def held_terminating():
        pod = await exists(client, "v1", "pods", "fg-held", namespace)
        return pod is not None and pod["metadata"].get("deletionTimestamp")
    await until(held_terminating)
    await until(lambda: gone(client, "v1", "pods", "fg-free", namespace))
    await asyncio.sleep(0.5)
    owner = await client.get("apps/v1", "replicasets", "fg", namespace)
    assert owner["metadata"]["deletionTimestamp"]
    assert "foregroundDeletion" in owner["metadata"]["finalizers"]

    await client.patch("v1", "pods", "fg-held", {"metadata": {"finalizers": None}}, namespace)
    await until(lambda: gone(client, "v1", "pods", "fg-held", namespace))
    await until(lambda: gone(client, "apps/v1", "replicasets", "fg", namespace))
    # the non-blocking dependent goes once its owner is gone
    await until(lambda: gone(client, "v1", "pods", "fg-nonblocking", namespace))


async def test_dependent_with_two_owners_survives_one(client, namespace, gc):
    a = await make_rs(client, namespace, "a")
    b = await make_rs(client, namespace, "b")
    await make_pod(client, namespace, "shared", [ref(a), ref(b, controller=False)])
    await make_pod(client, namespace, "only-a", [ref(a)])
    await client.delete("apps/v1", "replicasets", "a", namespace, propagation_policy="Background")
    await until(lambda: gone(client, "v1", "pods", "only-a", namespace))

    async def reference_dropped():
        pod = await client.get("v1", "pods", "shared", namespace)
        return [r["uid"] for r in pod["metadata"]["ownerReferences"]] == [b["metadata"]["uid"]]
    await until(reference_dropped)
    pod = await client.get("v1", "pods", "shared", namespace)
    assert not pod["metadata"].get("deletionTimestamp")

    await client.delete("apps/v1", "replicasets", "b", namespace, propagation_policy="Background")
    await until(lambda: gone(client, "v1", "pods", "shared", namespace))


async def test_owner_that_never_existed(client, namespace, gc):
    fake = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": "ghost", "uid": str(uuid.uuid4())}}
    await make_pod(client, namespace, "orphaned", [ref(fake)])
    await client.create("v1", "configmaps", {"metadata": {"name": "cm", "ownerReferences": [ref(fake)]}}, namespace)
    await until(lambda: gone(client, "v1", "pods", "orphaned", namespace))
    await until(lambda: gone(client, "v1", "configmaps", "cm", namespace))


async def test_owner_with_same_name_but_other_uid_is_absent(client, namespace, gc):
    real = await make_rs(client, namespace, "same")
    stale = {"metadata": {"name": "same", "uid": str(uuid.uuid4())}}
    await make_pod(client, namespace, "stale", [ref(stale)])
    await make_pod(client, namespace, "current", [ref(real)])
    await until(lambda: gone(client, "v1", "pods", "stale", namespace))
    await asyncio.sleep(0.5)
    assert await exists(client, "v1", "pods", "current", namespace)


async def test_other_namespaces_are_left_alone(apiserver, client, namespace, gc):
    other = apiserver.namespace("gc-other")
    await client.create("v1", "serviceaccounts", {"metadata": {"name": "default"}}, other)
    fake = {"metadata": {"name": "ghost", "uid": str(uuid.uuid4())}}
    await make_pod(client, other, "untouched", [ref(fake)])
    await make_pod(client, namespace, "collected", [ref(fake)])
    await until(lambda: gone(client, "v1", "pods", "collected", namespace))
    assert await exists(client, "v1", "pods", "untouched", other)
