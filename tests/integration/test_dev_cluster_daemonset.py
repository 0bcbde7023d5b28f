"""A DaemonSet on `kubeprov dev up --hollow-nodes 5`, judged by the real kubectl: one pod on each node, one on a
node that joins later (a hollow node started by the test), `kubectl rollout status`, history and undo."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from kubeprov.api.client import ApiClient
from kubeprov.hollow import HollowFleet, HollowNodeSpec
from tests.integration.dev_cluster import DevClusterForTest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(200)]


def daemonset(image: str) -> dict:
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
            "spec": {"selector": {"matchLabels": {"app": "agent"}},
                     "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 2}},
                     "template": {"metadata": {"labels": {"app": "agent"}},
                                  "spec": {"terminationGracePeriodSeconds": 0,
                                           "containers": [{"name": "agent", "image": image}]}}}}


async def kubectl(cluster: DevClusterForTest, *args: str, timeout: float = 90.0) -> str:
    """kubectl that must succeed, in a thread so the in-process hollow node keeps beating."""
    return await asyncio.to_thread(cluster.ok, *args, timeout=timeout)


async def kubectl_json(cluster: DevClusterForTest, *args: str) -> dict:
    return await asyncio.to_thread(cluster.json, *args)


async def wait_for(check: Callable[[], Awaitable[Any]], timeout: float = 90.0) -> Any:
    async with asyncio.timeout(timeout):
        while True:
            result = await check()
            if result:
                return result
            await asyncio.sleep(0.5)


async def test_one_pod_per_node_including_a_node_added_later(dev_cluster: DevClusterForTest):
    ns = await asyncio.to_thread(dev_cluster.namespace, "ds")
    nodes = {n["metadata"]["name"] for n in (await kubectl_json(dev_cluster, "get", "nodes"))["items"]}
    assert len(nodes) >= 5
    await asyncio.to_thread(dev_cluster.apply, ns, daemonset("agent:1"))

    async def one_ready_pod_on(wanted: set[str]) -> dict[str, dict] | None:
        pods = (await kubectl_json(dev_cluster, "-n", ns, "get", "pods", "-l", "app=agent"))["items"]
        live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        by_node = {p["spec"].get("nodeName"): p for p in live}
        ready = all(any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))
                    for p in live)
        return by_node if ready and len(live) == len(by_node) and set(by_node) >= wanted else None

    await wait_for(lambda: one_ready_pod_on(nodes))
    out = await kubectl(dev_cluster, "-n", ns, "rollout", "status", "daemonset/agent", "--timeout=90s", timeout=100)
    assert "successfully rolled out" in out

    extra = f"late-{uuid.uuid4().hex[:6]}"
    async with ApiClient.from_kubeconfig(dev_cluster.kubeconfig, user_agent="ds-acceptance") as client:
        fleet = HollowFleet(client, [HollowNodeSpec(extra)], lease_interval=2.0, status_interval=10.0)
        await fleet.start()
        try:
            by_node = await wait_for(lambda: one_ready_pod_on(nodes | {extra}))
            affinity = by_node[extra]["spec"]["affinity"]["nodeAffinity"]
            pinned = affinity["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]
            assert pinned["matchFields"][0]["values"] == [extra]
            out = await kubectl(dev_cluster, "-n", ns, "rollout", "status", "daemonset/agent", "--timeout=90s",
                                timeout=100)
            assert "successfully rolled out" in out
            ds = await kubectl_json(dev_cluster, "-n", ns, "get", "daemonset", "agent")
            assert ds["status"]["desiredNumberScheduled"] == len(nodes) + 1
        finally:
            await fleet.stop(delete_nodes=True)
    # the node is gone, and its pod with it
    await wait_for(lambda: _no_pod_on(dev_cluster, ns, extra))


async def _no_pod_on(cluster: DevClusterForTest, ns: str, node: str) -> bool:
    pods = (await kubectl_json(cluster, "-n", ns, "get", "pods", "-l", "app=agent"))["items"]
    return not any(p["spec"].get("nodeName") == node for p in pods)


async def test_rollout_history_and_undo(dev_cluster: DevClusterForTest):
    ns = await asyncio.to_thread(dev_cluster.namespace, "dsroll")
    await asyncio.to_thread(dev_cluster.apply, ns, daemonset("agent:1"))
    await kubectl(dev_cluster, "-n", ns, "rollout", "status", "daemonset/agent", "--timeout=90s", timeout=100)
    await kubectl(dev_cluster, "-n", ns, "set", "image", "daemonset/agent", "agent=agent:2")
    await kubectl(dev_cluster, "-n", ns, "rollout", "status", "daemonset/agent", "--timeout=90s", timeout=100)
    history = await kubectl(dev_cluster, "-n", ns, "rollout", "history", "daemonset/agent")
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["1", "2"]
    await kubectl(dev_cluster, "-n", ns, "rollout", "undo", "daemonset/agent")
    await kubectl(dev_cluster, "-n", ns, "rollout", "status", "daemonset/agent", "--timeout=90s", timeout=100)
    ds = await kubectl_json(dev_cluster, "-n", ns, "get", "daemonset", "agent")
    assert ds["spec"]["template"]["spec"]["containers"][0]["image"] == "agent:1"
    pods = (await kubectl_json(dev_cluster, "-n", ns, "get", "pods", "-l", "app=agent"))["items"]
    assert {p["spec"]["containers"][0]["image"] for p in pods if not p["metadata"].get("deletionTimestamp")} == \
        {"agent:1"}
    history = await kubectl(dev_cluster, "-n", ns, "rollout", "history", "daemonset/agent")
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["2", "3"]
