"""The ResourceQuota, disruption and HPA controllers against our API server with hollow nodes: quota usage
follows creates and deletes, PodDisruptionBudget status drives evictions (429 when it would break the
budget), and an HPA without a metrics API reports ScalingActive False."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kubeprov.api.status import StatusError
from kubeprov.controllers.disruption import DisruptionController
from kubeprov.controllers.podautoscaler import HorizontalPodAutoscalerController
from kubeprov.controllers.replicaset import ReplicaSetController
from kubeprov.controllers.resourcequota import ResourceQuotaController
from tests.integration.apiserver_fixture import ApiServerForTest
from tests.integration.controller_env import ControllerEnv, controller_env, eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


async def make_pod(env: ControllerEnv, name: str, app: str = "web", cpu: str = "100m") -> dict[str, Any]:
    spec = env.pod_spec()
    spec["containers"][0]["resources"] = {"requests": {"cpu": cpu}, "limits": {"cpu": cpu}}
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": app}}, "spec": spec}
    return await env.client.create("v1", "pods", body, env.ns)


async def quota_used(env: ControllerEnv, name: str = "q") -> dict[str, str]:
    quota = await env.client.get("v1", "resourcequotas", name, env.ns)
    return (quota.get("status") or {}).get("used") or {}


async def pdb_status(env: ControllerEnv, name: str = "budget") -> dict[str, Any]:
    pdb = await env.client.get("policy/v1", "poddisruptionbudgets", name, env.ns)
    return pdb.get("status") or {}


async def running_ready(env: ControllerEnv, count: int, selector: str = "app=web") -> list[dict[str, Any]]:
    async def check() -> list[dict[str, Any]] | None:
        pods = await env.pods(selector)
        ready = [p for p in pods if any(c.get("type") == "Ready" and c.get("status") == "True"
                                        for c in (p.get("status") or {}).get("conditions") or [])]
        return ready if len(ready) == count else None
    return await eventually(check)


async def delete_pod(env: ControllerEnv, name: str) -> None:
    """Delete now, while the hollow kubelet may be writing the pod's status (the server re-checks a delete
    that loses such a race instead of answering 409)."""
    await env.client.delete("v1", "pods", name, env.ns, grace_period_seconds=0)


def evict(env: ControllerEnv, name: str) -> Any:
    body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": env.ns}}
    return env.client.create("v1", "pods", body, env.ns, name=name, subresource="eviction")


# ---- ResourceQuota ----------------------------------------------------------------------------


async def test_quota_used_follows_pod_create_and_delete(apiserver: ApiServerForTest, api_client: Any) -> None:
    async with controller_env(apiserver, api_client, [ResourceQuotaController], prefix="quota") as env:
        await env.client.create("v1", "resourcequotas", {"metadata": {"name": "q"}, "spec": {
            "hard": {"pods": "5", "requests.cpu": "2"}}}, env.ns)
        await eventually(lambda: _is(quota_used(env), {"pods": "0", "requests.cpu": "0"}))
        await make_pod(env, "a")
        await make_pod(env, "b", cpu="250m")
        await eventually(lambda: _is(quota_used(env), {"pods": "2", "requests.cpu": "350m"}))
        await running_ready(env, 2)  # the kubelet is done writing their status
        await delete_pod(env, "b")
        await eventually(lambda: _is(quota_used(env), {"pods": "1", "requests.cpu": "100m"}))
        quota = await env.client.get("v1", "resourcequotas", "q", env.ns)
        assert quota["status"]["hard"] == {"pods": "5", "requests.cpu": "2"}


async def test_quota_counts_objects_named_by_count(apiserver: ApiServerForTest, api_client: Any) -> None:
    async with controller_env(apiserver, api_client, [ResourceQuotaController], prefix="quota", nodes=0,
                              scheduler=False) as env:
        await env.client.create("v1", "configmaps", {"metadata": {"name": "one"}}, env.ns)
        await env.client.create("v1", "resourcequotas", {"metadata": {"name": "q"}, "spec": {
            "hard": {"configmaps": "4", "count/deployments.apps": "2"}}}, env.ns)
        await eventually(lambda: _is(quota_used(env), {"configmaps": "1", "count/deployments.apps": "0"}))
        await env.client.delete("v1", "configmaps", "one", env.ns)
        await eventually(lambda: _is(quota_used(env), {"configmaps": "0", "count/deployments.apps": "0"}))


# ---- PodDisruptionBudget ---------------------------------------------------------------------------


def budget(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "budget"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec}}


async def test_eviction_is_refused_when_it_would_break_the_budget(apiserver: ApiServerForTest,
                                                                 api_client: Any) -> None:
    async with controller_env(apiserver, api_client, [DisruptionController], prefix="pdb") as env:
        await make_pod(env, "a")
        await make_pod(env, "b")
        await running_ready(env, 2)
        await env.client.create("policy/v1", "poddisruptionbudgets", budget(minAvailable=2), env.ns)
        status = await eventually(lambda: _when(pdb_status(env), lambda s: s.get("currentHealthy") == 2))
        assert (status["desiredHealthy"], status["expectedPods"], status["disruptionsAllowed"]) == (2, 2, 0)
        condition = next(c for c in status["conditions"] if c["type"] == "DisruptionAllowed")
        assert (condition["status"], condition["reason"]) == ("False", "InsufficientPods")
        with pytest.raises(StatusError) as refused:
            await evict(env, "a")
        assert refused.value.code == 429
        assert refused.value.message == "Too many requests: Cannot evict pod as it would violate the pod's " \
                                        "disruption budget."
        assert refused.value.status["details"]["causes"] == [
            {"reason": "DisruptionBudget", "message": "The disruption budget budget needs 2 healthy pods and has 2 "
                                                      "currently"}]


async def test_eviction_is_allowed_when_the_budget_has_room(apiserver: ApiServerForTest, api_client: Any) -> None:
    async with controller_env(apiserver, api_client, [DisruptionController], prefix="pdb") as env:
        await make_pod(env, "a")
        await make_pod(env, "b")
        await running_ready(env, 2)
        await env.client.create("policy/v1", "poddisruptionbudgets", budget(minAvailable=1), env.ns)
        await eventually(lambda: _when(pdb_status(env), lambda s: s.get("disruptionsAllowed") == 1))
        await evict(env, "a")
        # the evicted pod is no longer healthy: no room left
        status = await eventually(lambda: _when(pdb_status(env), lambda s: s.get("currentHealthy") == 1))
        assert status["disruptionsAllowed"] == 0


async def test_two_evictions_racing_for_the_last_disruption_let_only_one_through(
        apiserver: ApiServerForTest, api_client: Any) -> None:
    # no disruption controller runs after the budget is counted: the eviction itself must spend the budget
    async with controller_env(apiserver, api_client, [DisruptionController], prefix="pdb") as env:
        for name in ("a", "b", "c"):
            await make_pod(env, name)
        await running_ready(env, 3)
        await env.client.create("policy/v1", "poddisruptionbudgets", budget(minAvailable=2), env.ns)
        await eventually(lambda: _when(pdb_status(env), lambda s: s.get("disruptionsAllowed") == 1))
        for controller in env.controllers:
            await controller.stop()
        results = await asyncio.gather(evict(env, "a"), evict(env, "b"), return_exceptions=True)
        refused = [r for r in results if isinstance(r, StatusError)]
        assert len(refused) == 1 and refused[0].code == 429, results
        status = await pdb_status(env)
        assert status["disruptionsAllowed"] == 0
        assert len(status["disruptedPods"]) == 1


async def test_a_pod_under_two_budgets_cannot_be_evicted(apiserver: ApiServerForTest, api_client: Any) -> None:
    async with controller_env(apiserver, api_client, [DisruptionController], prefix="pdb") as env:
        await make_pod(env, "a")
        await running_ready(env, 1)
        await env.client.create("policy/v1", "poddisruptionbudgets", budget(maxUnavailable=1), env.ns)
        second = budget(maxUnavailable=1)
        second["metadata"]["name"] = "second"
        await env.client.create("policy/v1", "poddisruptionbudgets", second, env.ns)
        await eventually(lambda: _when(pdb_status(env, "second"), lambda s: "disruptionsAllowed" in s))
        with pytest.raises(StatusError) as refused:
            await evict(env, "a")
        assert refused.value.code == 500
        assert "more than one PodDisruptionBudget" in refused.value.message


async def test_max_unavailable_counts_the_replica_set_scale(apiserver: ApiServerForTest, api_client: Any) -> None:
    async with controller_env(apiserver, api_client, [DisruptionController, ReplicaSetController],
                              prefix="pdb") as env:
        rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web"},
              "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                       "template": {"metadata": {"labels": {"app": "web"}}, "spec": env.pod_spec()}}}
        await env.client.create("apps/v1", "replicasets", rs, env.ns)
        await env.client.create("policy/v1", "poddisruptionbudgets", budget(maxUnavailable="34%"), env.ns)
        status = await eventually(lambda: _when(pdb_status(env), lambda s: s.get("currentHealthy") == 3))
        # 34 % of 3 rounds up to 2 unavailable
        assert (status["expectedPods"], status["desiredHealthy"], status["disruptionsAllowed"]) == (3, 1, 2)


# ---- HPA -------------------------------------------------------------------------------------------


async def test_hpa_without_metrics_api_is_not_scaling_active(apiserver: ApiServerForTest, api_client: Any) -> None:
    async with controller_env(apiserver, api_client, [HorizontalPodAutoscalerController], prefix="hpa",
                              nodes=0, scheduler=False) as env:
        deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                      "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                               "template": {"metadata": {"labels": {"app": "web"}}, "spec": env.pod_spec()}}}
        await env.client.create("apps/v1", "deployments", deployment, env.ns)
        hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"},
               "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                        "minReplicas": 1, "maxReplicas": 5,
                        "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                            "type": "Utilization", "averageUtilization": 50}}}]}}
        await env.client.create("autoscaling/v2", "horizontalpodautoscalers", hpa, env.ns)

        async def scaling_active() -> dict[str, Any] | None:
            obj = await env.client.get("autoscaling/v2", "horizontalpodautoscalers", "web", env.ns)
            found = [c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == "ScalingActive"]
            return found[0] if found else None
        condition = await eventually(scaling_active)
        assert (condition["status"], condition["reason"]) == ("False", "FailedGetResourceMetric")
        scale = await env.client.get("apps/v1", "deployments", "web", env.ns, subresource="scale")
        assert scale["spec"]["replicas"] == 2


async def _is(value: Any, expected: Any) -> bool:
    return await value == expected


async def _when(value: Any, check: Any) -> Any:
    result = await value
    return result if check(result) else None
