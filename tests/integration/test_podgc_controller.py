"""The pod garbage collector against our API server: pods of a deleted node and terminated pods over the
threshold are deleted."""

from __future__ import annotations

from typing import Any

import pytest

from kubeprov.api.status import StatusError
from kubeprov.controllers.podgc import PodGCController
from tests.integration.apiserver_fixture import ApiServerForTest
from tests.integration.controller_env import ControllerEnv, controller_env, eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


async def gone(env: ControllerEnv, name: str) -> bool:
    try:
        await env.client.get("v1", "pods", name, env.ns)
    except StatusError as exc:
        if exc.code == 404:
            return True
        raise
    return False


async def bound_pod(env: ControllerEnv, name: str, node: str, **meta: Any) -> dict:
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, **meta},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "registry.local/app:1"}]}}
    return await env.client.create("v1", "pods", body, env.ns)


async def test_pods_of_a_deleted_node_are_removed(apiserver: ApiServerForTest, api_client: Any) -> None:
    async with controller_env(apiserver, api_client, [PodGCController], prefix="podgc", nodes=0, scheduler=False,
                              options={PodGCController: {"period": 0.5}}) as env:
        node = f"podgc-gone-{env.tag}"
        await env.client.create("v1", "nodes", {"metadata": {"name": node}})
        await bound_pod(env, "orphan", node)
        await bound_pod(env, "kept", "")  # unbound and not terminating: not podgc's business
        await env.client.delete("v1", "nodes", node)
        assert await eventually(lambda: gone(env, "orphan"))
        assert not await gone(env, "kept")


async def test_terminated_pods_over_the_threshold_go_oldest_first(apiserver: ApiServerForTest,
                                                                 api_client: Any) -> None:
    async with controller_env(apiserver, api_client, [PodGCController], prefix="podgc", nodes=0, scheduler=False,
                              options={PodGCController: {"period": 0.5, "terminated_pod_gc_threshold": 1}}) as env:
        node = f"podgc-node-{env.tag}"
        await env.client.create("v1", "nodes", {"metadata": {"name": node}})
        try:
            for name in ("first", "second"):
                pod = await bound_pod(env, name, node)
                pod.setdefault("status", {})["phase"] = "Succeeded"
                await env.client.update("v1", "pods", pod, env.ns, subresource="status")
            assert await eventually(lambda: gone(env, "first"))
            assert not await gone(env, "second")
        finally:
            await env.client.delete("v1", "nodes", node)
