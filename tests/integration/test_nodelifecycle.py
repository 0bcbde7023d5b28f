"""The node lifecycle controller with hollow nodes: unreachable nodes, taints, taint-based eviction.

Each test has nodes of its own (a unique name prefix) and restricts the controller to them."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from kubeprov.api.client import ApiClient
from kubeprov.api.informer import SharedInformerFactory
from kubeprov.api.status import StatusError
from kubeprov.controllers.nodelifecycle import (
    NodeLifecycleController,
    TokenBucket,
    compute_zone_state,
    matching_tolerations,
    min_toleration_seconds,
    tolerates,
)
from kubeprov.hollow import HollowFleet, HollowNodeSpec
from tests.integration.apiserver_fixture import ApiServerForTest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

GRACE = 3.0
UNREACHABLE = "node.kubernetes.io/unreachable"


@pytest.fixture
async def namespace(apiserver: ApiServerForTest, client: ApiClient) -> str:
    ns = apiserver.namespace("nlc")
    await client.create("v1", "serviceaccounts", {"metadata": {"name": "default"}}, ns)
    return ns


@pytest.fixture
async def cluster(client: ApiClient) -> AsyncIterator[tuple[HollowFleet, NodeLifecycleController]]:
    """Two hollow nodes in one zone (so one dead node is not a full disruption) and the controller."""
    prefix = f"nlc-{uuid.uuid4().hex[:6]}-"
    fleet = HollowFleet(client, [HollowNodeSpec(f"{prefix}{i}", zone="zone-a") for i in range(2)],
                        lease_interval=0.5, status_interval=5.0, restart_backoff=0.0)
    await fleet.start()
    factory = SharedInformerFactory(client)
    controller = NodeLifecycleController(client, factory, node_monitor_grace_period=GRACE, node_monitor_period=0.3,
                                         node_filter=lambda name: name.startswith(prefix))
    await factory.start()
    await controller.start(30)
    try:
        yield fleet, controller
    finally:
        await controller.stop()
        await factory.stop()
        await fleet.stop(delete_nodes=True)


async def until(check, timeout: float = 15.0, interval: float = 0.1):
    async with asyncio.timeout(timeout):
        while True:
            result = await check()
            if result:
                return result
            await asyncio.sleep(interval)


def ready(obj: dict) -> dict:
    return next(c for c in obj["status"]["conditions"] if c["type"] == "Ready")


def taint_keys(node: dict) -> set[tuple[str, str]]:
    return {(t["key"], t["effect"]) for t in node["spec"].get("taints") or []}


async def bind_pod(client: ApiClient, ns: str, node: str, name: str, tolerations: list | None = None) -> dict:
    spec: dict = {"containers": [{"name": "c", "image": "nginx:1.27"}]}
    if tolerations:
        spec["tolerations"] = tolerations
    await client.create("v1", "pods", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}, ns)
    await client.create("v1", "pods", {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name},
                                       "target": {"apiVersion": "v1", "kind": "Node", "name": node}},
                        ns, name=name, subresource="binding")
    return await client.get("v1", "pods", name, ns)


async def deleted(client: ApiClient, ns: str, name: str) -> bool:
    try:
        pod = await client.get("v1", "pods", name, ns)
    except StatusError as exc:
        return exc.code == 404
    return bool(pod["metadata"].get("deletionTimestamp"))


def test_tolerations():
    taint = {"key": UNREACHABLE, "effect": "NoExecute"}
    assert tolerates({"key": UNREACHABLE, "operator": "Exists"}, taint)
    assert tolerates({"operator": "Exists"}, taint)
    assert tolerates({"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute"}, taint)
    assert not tolerates({"key": UNREACHABLE, "operator": "Exists", "effect": "NoSchedule"}, taint)
    assert tolerates({"key": UNREACHABLE, "value": ""}, taint)
    assert not tolerates({"key": UNREACHABLE, "value": "x"}, taint)
    assert not tolerates({"key": "other", "operator": "Exists"}, taint)
    other = {"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"}
    tol = [{"key": UNREACHABLE, "operator": "Exists", "tolerationSeconds": 5},
           {"operator": "Exists", "tolerationSeconds": 300}]
    assert matching_tolerations(tol[:1], [taint, other]) is None
    used = matching_tolerations(tol, [taint, other])
    assert min_toleration_seconds(used) == 5
    assert min_toleration_seconds([{"operator": "Exists"}]) is None
    assert min_toleration_seconds([{"operator": "Exists", "tolerationSeconds": -3}]) == 0


def test_zone_states_and_rate_limit():
    assert compute_zone_state(["False", "Unknown"], 0.55) == "FullDisruption"
    assert compute_zone_state(["True", "Unknown"], 0.55) == "Normal"
    assert compute_zone_state(["True", "False", "False", "Unknown"], 0.55) == "PartialDisruption"
    assert compute_zone_state(["True", "True", "False", "False", "Unknown", "True", "True"], 0.55) == "Normal"
    bucket = TokenBucket(0.5)
    assert bucket.try_accept(100.0)
    assert not bucket.try_accept(101.0)
    assert bucket.try_accept(102.1)
    assert not TokenBucket(0.0).try_accept(1.0)


async def test_dead_node_becomes_unknown_and_tainted_then_recovers(client, cluster):
    fleet, _controller = cluster
    dead, alive = fleet.nodes
    dead.die()
    started = time.monotonic()

    async def unreachable():
        node = await client.get("v1", "nodes", dead.name)
        keys = taint_keys(node)
        if ready(node)["status"] == "Unknown" and {(UNREACHABLE, "NoSchedule"), (UNREACHABLE, "NoExecute")} <= keys:
            return node
        return None
    node = await until(unreachable, timeout=GRACE + 6)
    assert time.monotonic() - started >= GRACE - 0.5
    cond = ready(node)
    assert cond["reason"] == "NodeStatusUnknown"
    assert cond["message"] == "Kubelet stopped posting node status."
    conditions = {c["type"]: c["status"] for c in node["status"]["conditions"]}
    assert conditions["MemoryPressure"] == conditions["DiskPressure"] == conditions["PIDPressure"] == "Unknown"
    no_execute = next(t for t in node["spec"]["taints"] if t["effect"] == "NoExecute")
    assert no_execute["timeAdded"]

    other = await client.get("v1", "nodes", alive.name)
    assert ready(other)["status"] == "True"
    assert not other["spec"].get("taints")

    dead.revive()

    async def recovered():
        node = await client.get("v1", "nodes", dead.name)
        return ready(node)["status"] == "True" and not node["spec"].get("taints")
    await until(recovered, timeout=10)


async def test_taint_based_eviction(client, namespace, cluster):
    fleet, _controller = cluster
    dead, alive = fleet.nodes
    # DefaultTolerationSeconds gives every pod 300 s unless it says otherwise: 0 s means evicted at once
    await bind_pod(client, namespace, dead.name, "intolerant",
                   [{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 0}])
    await bind_pod(client, namespace, dead.name, "five-seconds",
                   [{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5}])
    await bind_pod(client, namespace, dead.name, "forever",
                   [{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute"}])
    await bind_pod(client, namespace, alive.name, "elsewhere")

    async def running():
        for name in ("intolerant", "five-seconds", "forever"):
            pod = await client.get("v1", "pods", name, namespace)
            if not pod["status"].get("conditions") or ready(pod)["status"] != "True":
                return False
        return True
    await until(running)
    dead.die()

    async def tainted():
        node = await client.get("v1", "nodes", dead.name)
        return (UNREACHABLE, "NoExecute") in taint_keys(node)
    await until(tainted, timeout=GRACE + 6)
    tainted_at = time.monotonic()

    await until(lambda: deleted(client, namespace, "intolerant"), timeout=3)
    pod = await client.get("v1", "pods", "intolerant", namespace)
    target = next(c for c in pod["status"]["conditions"] if c["type"] == "DisruptionTarget")
    assert target["reason"] == "DeletionByTaintManager"

    # the pods left on the dead node are marked NotReady
    async def not_ready():
        pod = await client.get("v1", "pods", "forever", namespace)
        return ready(pod)["status"] == "False"
    await until(not_ready, timeout=5)

    await asyncio.sleep(max(0.0, tainted_at + 3.5 - time.monotonic()))
    assert not await deleted(client, namespace, "five-seconds")
    await until(lambda: deleted(client, namespace, "five-seconds"), timeout=4)
    assert time.monotonic() - tainted_at >= 4.0

    await asyncio.sleep(0.5)
    assert not await deleted(client, namespace, "forever")
    assert not await deleted(client, namespace, "elsewhere")
    elsewhere = await client.get("v1", "pods", "elsewhere", namespace)
    assert ready(elsewhere)["status"] == "True"


async def test_whole_zone_down_is_not_evicted(client, namespace, cluster):
    """Every node not Ready: Kubernetes' disruption mode, no NoExecute taints, no evictions.

    (The nodes' leases lapse a moment apart, so the first may be tainted briefly while the other still
    counts as Ready; the pod's toleration outlasts that moment, and its eviction is called off.)"""
    fleet, _controller = cluster
    await bind_pod(client, namespace, fleet.nodes[0].name, "stays",
                   [{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 2}])
    for node in fleet.nodes:
        node.die()

    async def all_unknown():
        nodes = [await client.get("v1", "nodes", n.name) for n in fleet.nodes]
        return all(ready(n)["status"] == "Unknown" and (UNREACHABLE, "NoSchedule") in taint_keys(n) for n in nodes)
    await until(all_unknown, timeout=GRACE + 6)
    await asyncio.sleep(3)
    for n in fleet.nodes:
        node = await client.get("v1", "nodes", n.name)
        assert (UNREACHABLE, "NoExecute") not in taint_keys(node)
    assert not await deleted(client, namespace, "stays")
