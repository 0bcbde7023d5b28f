"""Deployment behaviours kubectl users lean on: `kubectl rollout restart` rolls every pod, and
minReadySeconds holds pods back from counting as available."""

from __future__ import annotations

import time
from typing import Any

import pytest

from kubeprov.controllers.deployment import DeploymentController
from kubeprov.controllers.replicaset import ReplicaSetController
from tests.integration.apiserver_fixture import ApiServerForTest
from tests.integration.controller_env import ControllerEnv, controller_env, eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def deployment(env: ControllerEnv, name: str, replicas: int, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": env.pod_spec()}, **spec}}


async def complete(env: ControllerEnv, name: str) -> dict[str, Any] | None:
    d = await env.client.get("apps/v1", "deployments", name, env.ns)
    st, want = d.get("status") or {}, d["spec"]["replicas"]
    done = (st.get("observedGeneration", 0) >= d["metadata"]["generation"] and st.get("updatedReplicas") == want
            and st.get("availableReplicas") == want and st.get("replicas") == want)
    return d if done else None


async def test_rollout_restart_replaces_every_pod(apiserver: ApiServerForTest, api_client: Any) -> None:
    async with controller_env(apiserver, api_client, [ReplicaSetController, DeploymentController],
                              prefix="restart") as env:
        await env.client.create("apps/v1", "deployments", deployment(env, "web", 3), env.ns)
        await eventually(lambda: complete(env, "web"))
        before = {p["metadata"]["uid"] for p in await env.pods("app=web")}
        out = await env.kubectl("rollout", "restart", "deployment/web")
        assert out.returncode == 0, out.stderr
        assert "restarted" in out.stdout
        d = await eventually(lambda: complete(env, "web"))
        assert "kubectl.kubernetes.io/restartedAt" in d["spec"]["template"]["metadata"]["annotations"]
        after = {p["metadata"]["uid"] for p in await env.pods("app=web")}
        assert len(after) == 3 and not before & after
        sets, _ = await env.client.list_all("apps/v1", "replicasets", env.ns, label_selector="app=web")
        assert sorted(rs["spec"]["replicas"] for rs in sets) == [0, 3]


async def test_min_ready_seconds_delays_availability(apiserver: ApiServerForTest, api_client: Any) -> None:
    async with controller_env(apiserver, api_client, [ReplicaSetController, DeploymentController],
                              prefix="minready") as env:
        created = time.monotonic()
        await env.client.create("apps/v1", "deployments", deployment(env, "slow", 2, minReadySeconds=3), env.ns)

        async def ready_not_available() -> bool:
            d = await env.client.get("apps/v1", "deployments", "slow", env.ns)
            st = d.get("status") or {}
            return st.get("readyReplicas") == 2 and not st.get("availableReplicas")
        await eventually(ready_not_available)
        await eventually(lambda: complete(env, "slow"), timeout=20)
        assert time.monotonic() - created >= 3
