"""The scheduler with volumes and priorities, against our API server with hollow nodes: pods wait for their
claims and are retried when claims change, WaitForFirstConsumer claims follow the chosen node, and a pod of
higher priority preempts a lower one on a full node."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubeprov.api.client import ApiClient
from kubeprov.api.status import StatusError
from kubeprov.controllers.volumes.pvbinder import PersistentVolumeBinder
from tests.integration.apiserver_fixture import ApiServerForTest
from tests.integration.controller_env import ControllerEnv, controller_env, eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

HOLD = "test.kubeprov.io/hold"
NOT_HELPFUL = "preemption: 0/{n} nodes are available: {n} Preemption is not helpful for scheduling."


@pytest.fixture
async def env(apiserver: ApiServerForTest, api_client: ApiClient) -> AsyncIterator[ControllerEnv]:
    async with controller_env(apiserver, api_client, [PersistentVolumeBinder], prefix="svp", nodes=2) as e:
        yield e


@pytest.fixture
async def cluster_objects(api_client: ApiClient) -> AsyncIterator[list[tuple[str, str, str]]]:
    """Cluster-scoped objects a test made: (api version, resource, name), deleted at the end."""
    made: list[tuple[str, str, str]] = []
    yield made
    for api_version, resource, name in made:
        with contextlib.suppress(StatusError):  # already gone
            await api_client.delete(api_version, resource, name)


async def create_cluster_object(client: ApiClient, made: list, api_version: str, resource: str, body: dict) -> dict:
    obj = await client.create(api_version, resource, body)
    made.append((api_version, resource, body["metadata"]["name"]))
    return obj


def claim_spec(cls: str, size: str = "1Gi") -> dict:
    return {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}, "storageClassName": cls}


async def create_pod(env: ControllerEnv, name: str, **spec: Any) -> dict:
    return await env.client.create("v1", "pods", {"metadata": {"name": name}, "spec": env.pod_spec(**spec)}, env.ns)


async def pending_message(env: ControllerEnv, name: str) -> str | None:
    pod = await env.client.get("v1", "pods", name, env.ns)
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == "PodScheduled" and c.get("status") == "False":
            return c.get("message")
    return None


async def node_of(env: ControllerEnv, name: str) -> str | None:
    return ((await env.client.get("v1", "pods", name, env.ns)).get("spec") or {}).get("nodeName")


def uses(claim: str) -> list[dict]:
    return [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]


async def test_pod_waits_for_its_missing_claim_and_runs_once_it_is_bound(env: ControllerEnv, api_client: ApiClient,
                                                                         cluster_objects: list):
    cls = f"svp-{uuid.uuid4().hex[:8]}"
    await create_pod(env, "user", volumes=uses("data"))

    async def says_missing() -> bool:
        return await pending_message(env, "user") == (
            f'0/2 nodes are available: persistentvolumeclaim "data" not found. {NOT_HELPFUL.format(n=2)}')
    await eventually(says_missing)
    await env.client.create("v1", "persistentvolumeclaims", {"metadata": {"name": "data"},
                                                             "spec": claim_spec(cls)}, env.ns)

    async def says_unbound() -> bool:
        return await pending_message(env, "user") == (
            "0/2 nodes are available: pod has unbound immediate PersistentVolumeClaims. "
            f"{NOT_HELPFUL.format(n=2)}")
    await eventually(says_unbound)
    await create_cluster_object(api_client, cluster_objects, "v1", "persistentvolumes", {
        "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": cls},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "storageClassName": cls,
                 "persistentVolumeReclaimPolicy": "Retain", "hostPath": {"path": f"/tmp/{cls}"}}})
    assert await eventually(lambda: node_of(env, "user"), timeout=30)


async def test_wait_for_first_consumer_claim_pre_binds_the_static_volume_of_a_node(
        env: ControllerEnv, api_client: ApiClient, cluster_objects: list):
    cls = f"svp-{uuid.uuid4().hex[:8]}"
    target = f"{env.prefix}-{env.tag}-1"
    await create_cluster_object(api_client, cluster_objects, "storage.k8s.io/v1", "storageclasses", {
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": cls},
        "provisioner": "kubernetes.io/no-provisioner", "volumeBindingMode": "WaitForFirstConsumer"})
    affinity = {"required": {"nodeSelectorTerms": [{"matchExpressions": [
        {"key": "kubernetes.io/hostname", "operator": "In", "values": [target]}]}]}}
    await create_cluster_object(api_client, cluster_objects, "v1", "persistentvolumes", {
        "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": cls},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "storageClassName": cls,
                 "persistentVolumeReclaimPolicy": "Retain", "local": {"path": "/mnt/disk"},
                 "nodeAffinity": affinity}})
    await env.client.create("v1", "persistentvolumeclaims", {"metadata": {"name": "local"},
                                                             "spec": claim_spec(cls)}, env.ns)
    await create_pod(env, "user", volumes=uses("local"))
    assert await eventually(lambda: node_of(env, "user"), timeout=30) == target

    async def bound() -> dict | None:
        claim = await env.client.get("v1", "persistentvolumeclaims", "local", env.ns)
        return claim if (claim.get("status") or {}).get("phase") == "Bound" else None
    claim = await eventually(bound)
    assert claim["spec"]["volumeName"] == cls


async def test_higher_priority_pod_preempts_a_lower_one_on_a_full_node(
        apiserver: ApiServerForTest, api_client: ApiClient, cluster_objects: list):
    high = f"svp-high-{uuid.uuid4().hex[:8]}"
    await create_cluster_object(api_client, cluster_objects, "scheduling.k8s.io/v1", "priorityclasses", {
        "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": high}, "value": 1000})
    async with controller_env(apiserver, api_client, [], prefix="svp", nodes=1) as env:
        node = f"{env.prefix}-{env.tag}-0"
        big = {"name": "c", "image": "registry.local/app:1", "resources": {"requests": {"cpu": "3"}}}
        # a finalizer keeps the victim visible while it terminates, so its condition can be read
        low = await env.client.create("v1", "pods", {"metadata": {"name": "low", "finalizers": [HOLD]},
                                                     "spec": env.pod_spec(containers=[big])}, env.ns)
        assert low["spec"]["priority"] == 0
        assert await eventually(lambda: node_of(env, "low")) == node
        urgent = await create_pod(env, "urgent", containers=[big], priorityClassName=high)
        assert urgent["spec"]["priority"] == 1000

        async def victim_marked() -> dict | None:
            pod = await env.client.get("v1", "pods", "low", env.ns)
            marked = [c for c in pod["status"].get("conditions") or [] if c["type"] == "DisruptionTarget"]
            return marked[0] if marked and pod["metadata"].get("deletionTimestamp") else None
        condition = await eventually(victim_marked)
        assert (condition["status"], condition["reason"]) == ("True", "PreemptionByScheduler")
        assert condition["message"] == f"{env.scheduler_name}: preempting to accommodate a higher priority pod"

        async def nominated() -> str | None:
            return (await env.client.get("v1", "pods", "urgent", env.ns))["status"].get("nominatedNodeName")
        assert await eventually(nominated) == node
        await env.client.patch("v1", "pods", "low", {"metadata": {"finalizers": None}}, env.ns)
        assert await eventually(lambda: node_of(env, "urgent"), timeout=30) == node

        async def preempted_event() -> list[dict]:
            events, _ = await env.client.list_all("v1", "events", env.ns, field_selector="involvedObject.name=low")
            return [e for e in events if e["reason"] == "Preempted"]
        event = (await eventually(preempted_event))[0]
        assert event["message"] == f"Preempted by pod {urgent['metadata']['uid']} on node {node}"


async def test_pod_of_equal_priority_finds_no_victims(env: ControllerEnv):
    big = {"name": "c", "image": "registry.local/app:1", "resources": {"requests": {"cpu": "3"}}}
    for i in range(2):
        await create_pod(env, f"first-{i}", containers=[big])
    for i in range(2):
        assert await eventually(lambda i=i: node_of(env, f"first-{i}"))
    await create_pod(env, "second", containers=[big])

    async def no_victims() -> bool:
        return await pending_message(env, "second") == (
            "0/2 nodes are available: 2 Insufficient cpu. "
            "preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod.")
    await eventually(no_victims)
    for i in range(2):
        assert await node_of(env, f"first-{i}")
