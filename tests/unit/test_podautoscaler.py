"""The HPA: Kubernetes' replica calculation, stabilization, scaling policies, and one sync against a fake API
and a fake metrics source (conditions, events, scale writes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubeprov.api.informer import SharedInformerFactory
from kubeprov.api.status import StatusError
from kubeprov.controllers.podautoscaler import (
    AutoscalerMemory,
    HorizontalPodAutoscalerController,
    ScaleEvent,
    default_rules,
    limit_by_rate,
    limit_without_behavior,
    record_scale_event,
    stabilize,
)
from kubeprov.controllers.podautoscaler_metrics import MetricsError, PodMetric, resource_replicas

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
LONG_AGO = "2024-05-01T11:00:00Z"


def pod(name: str, cpu: str = "100m", ready: bool = True, phase: str = "Running", started: str = LONG_AGO,
        **metadata: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "labels": {"app": "web"}, **metadata},
            "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]},
            "status": {"phase": phase, "startTime": started, "conditions": [
                {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": LONG_AGO}]}}


def usage(**milli: int) -> dict[str, PodMetric]:
    return {name: PodMetric(value, NOW) for name, value in milli.items()}


def replicas(pods: list[dict[str, Any]], metrics: dict[str, PodMetric], target: int = 50, current: int = 0) -> int:
    return resource_replicas(current or len(pods), pods, metrics, "cpu", target_utilization=target, now=NOW).replicas


# ---- replica calculation -----------------------------------------------------------------------


def test_usage_above_target_scales_up_by_ratio() -> None:
    assert replicas([pod("a"), pod("b")], usage(a=100, b=100)) == 4


def test_usage_within_tolerance_keeps_replicas() -> None:
    assert replicas([pod("a"), pod("b")], usage(a=54, b=54)) == 2


def test_usage_below_target_scales_down() -> None:
    assert replicas([pod(n) for n in "abcd"], usage(a=10, b=10, c=10, d=10)) == 1


def test_utilization_and_average_are_reported() -> None:
    result = resource_replicas(2, [pod("a"), pod("b")], usage(a=30, b=50), "cpu", target_utilization=50, now=NOW)
    assert (result.utilization, result.average_value) == (40, 40)


def test_average_value_target() -> None:
    result = resource_replicas(2, [pod("a"), pod("b")], usage(a=300, b=300), "cpu", target_average=200, now=NOW)
    assert result.replicas == 3


def test_missing_metrics_count_as_full_use_on_scale_down() -> None:
    # without the missing pod at 100 % the ratio 0.2 would give 1 replica
    assert replicas([pod("a"), pod("b"), pod("c")], usage(a=10, b=10)) == 3


def test_missing_metrics_count_as_zero_on_scale_up() -> None:
    # the pods with metrics alone (140 % of target) would give ceil(1.4 * 2) = 3, a scale down; with the
    # missing pods at 0 the ratio drops below 1, the direction flips, so the count stays
    assert replicas([pod(n) for n in "abcd"], usage(a=70, b=70)) == 4


def test_unready_pods_count_as_zero_on_scale_up() -> None:
    pods = [pod("a"), pod("b", ready=False, started=NOW.strftime("%Y-%m-%dT%H:%M:%SZ"))]
    # b is still starting and not ready: its 100 % is ignored and counted as 0: (100 + 0) / 200 = 50 % of request
    assert replicas(pods, usage(a=100, b=100), target=50, current=2) == 2


def test_pending_and_deleted_pods_are_not_counted() -> None:
    pods = [pod("a"), pod("p", phase="Pending"), pod("d", deletionTimestamp="2024-05-01T11:59:00Z")]
    assert replicas(pods, usage(a=100, d=1000), current=3) == 3


def test_missing_request_is_an_error() -> None:
    no_request = pod("a")
    no_request["spec"]["containers"][0]["resources"] = {}
    with pytest.raises(MetricsError, match="missing request for cpu in container c of Pod a"):
        replicas([no_request], usage(a=100))


def test_no_metrics_for_ready_pods_is_an_error() -> None:
    with pytest.raises(MetricsError, match="did not receive metrics"):
        replicas([pod("a")], {})


# ---- stabilization and policies ------------------------------------------------------------------


UP = default_rules("up", None)
DOWN = default_rules("down", None)


def test_default_rules_are_kubernetes_defaults() -> None:
    assert DOWN["stabilizationWindowSeconds"] == 300
    assert UP["policies"] == [{"type": "Pods", "value": 4, "periodSeconds": 15},
                              {"type": "Percent", "value": 100, "periodSeconds": 15}]


def test_scale_down_uses_the_highest_recommendation_of_the_window() -> None:
    memory = AutoscalerMemory()
    stabilize(memory, 5, 8, UP, DOWN, NOW - timedelta(seconds=200))
    value, reason, _ = stabilize(memory, 8, 3, UP, DOWN, NOW)
    assert (value, reason) == (8, "ScaleDownStabilized")


def test_recommendations_older_than_the_window_do_not_count() -> None:
    memory = AutoscalerMemory()
    stabilize(memory, 5, 8, UP, DOWN, NOW - timedelta(seconds=400))
    assert stabilize(memory, 8, 3, UP, DOWN, NOW)[0] == 3


def test_scale_up_window_applies_the_lowest_recommendation() -> None:
    up = {**UP, "stabilizationWindowSeconds": 60}
    memory = AutoscalerMemory()
    stabilize(memory, 2, 4, up, DOWN, NOW - timedelta(seconds=30))
    assert stabilize(memory, 2, 10, up, DOWN, NOW)[:2] == (4, "ScaleUpStabilized")


def test_scale_up_is_limited_by_the_larger_policy() -> None:
    # 4 pods or 100 %: from 3, at most max(7, 6) = 7
    assert limit_by_rate(AutoscalerMemory(), 3, 20, 1, 50, UP, DOWN, NOW)[:2] == (7, "ScaleUpLimit")


def test_select_policy_min_takes_the_smaller_change() -> None:
    up = {**UP, "selectPolicy": "Min"}
    assert limit_by_rate(AutoscalerMemory(), 10, 40, 1, 50, up, DOWN, NOW)[0] == 14


def test_changes_in_the_period_reduce_what_a_policy_allows() -> None:
    up = {"selectPolicy": "Max", "policies": [{"type": "Pods", "value": 2, "periodSeconds": 60}]}
    memory = AutoscalerMemory(scale_up_events=[ScaleEvent(2, NOW - timedelta(seconds=30))])
    # 2 were added 30 s ago from 3 to 5: the period started at 3, so at most 5 now
    assert limit_by_rate(memory, 5, 9, 1, 50, up, DOWN, NOW)[0] == 5


def test_scale_down_percent_policy() -> None:
    down = {"selectPolicy": "Max", "policies": [{"type": "Percent", "value": 50, "periodSeconds": 60}]}
    assert limit_by_rate(AutoscalerMemory(), 10, 1, 1, 50, UP, down, NOW)[:2] == (5, "ScaleDownLimit")


def test_disabled_scale_down_keeps_replicas() -> None:
    down = {**DOWN, "selectPolicy": "Disabled"}
    assert limit_by_rate(AutoscalerMemory(), 10, 1, 1, 50, UP, down, NOW)[0] == 10


def test_min_and_max_replicas_bound_the_result() -> None:
    assert limit_by_rate(AutoscalerMemory(), 4, 9, 1, 5, UP, DOWN, NOW)[:2] == (5, "TooManyReplicas")
    assert limit_by_rate(AutoscalerMemory(), 4, 1, 2, 5, UP, DOWN, NOW)[:2] == (2, "TooFewReplicas")
    assert limit_by_rate(AutoscalerMemory(), 4, 5, 2, 5, UP, DOWN, NOW)[1] == "DesiredWithinRange"


def test_without_behavior_scale_up_is_at_most_double_or_four() -> None:
    assert limit_without_behavior(1, 10, 1, 20)[:2] == (4, "ScaleUpLimit")
    assert limit_without_behavior(5, 30, 1, 20)[:2] == (10, "ScaleUpLimit")


def test_scale_events_are_recorded_for_behaviors_only() -> None:
    memory = AutoscalerMemory()
    record_scale_event(memory, None, 2, 4, NOW)
    assert memory.scale_up_events == []
    record_scale_event(memory, {}, 2, 4, NOW)
    assert [e.change for e in memory.scale_up_events] == [2]


# ---- one sync ----------------------------------------------------------------------------------------


class FakeApi:
    """The scale subresource of one Deployment."""

    def __init__(self, replicas: int) -> None:
        self.replicas = replicas
        self.status_writes: list[dict[str, Any]] = []

    async def get(self, api_version: str, resource: str, name: str, namespace: str = "", *,
                  subresource: str = "") -> dict[str, Any]:
        if name != "web":
            raise StatusError({"code": 404, "message": f'deployments.apps "{name}" not found', "reason": "NotFound"})
        return {"kind": "Scale", "metadata": {"name": name, "namespace": namespace},
                "spec": {"replicas": self.replicas}, "status": {"replicas": self.replicas, "selector": "app=web"}}

    async def update(self, api_version: str, resource: str, obj: dict[str, Any], namespace: str = "", *,
                     subresource: str = "") -> dict[str, Any]:
        if subresource == "scale":
            self.replicas = obj["spec"]["replicas"]
        else:
            self.status_writes.append(obj["status"])
        return obj


class FakeMetrics:
    def __init__(self, values: dict[str, int] | None) -> None:
        self.values = values

    async def pod_metrics(self, resource: str, namespace: str, selector: str,
                          container: str = "") -> dict[str, PodMetric]:
        if self.values is None:
            raise MetricsError("unable to get metrics for resource cpu: unable to fetch metrics from resource "
                               "metrics API: the server could not find the requested resource "
                               "(get pods.metrics.k8s.io)")
        return {name: PodMetric(value, datetime.now(UTC)) for name, value in self.values.items()}


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []

    def event(self, obj: dict[str, Any], type_: str, reason: str, message: str) -> None:
        self.seen.append((type_, reason, message))


def hpa(target: str = "web", **spec: Any) -> dict[str, Any]:
    body = {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "minReplicas": 1, "maxReplicas": 10,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                "type": "Utilization", "averageUtilization": 50}}}]}
    body.update(spec)
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "h", "namespace": "ns", "generation": 1}, "spec": body}


async def sync_once(api: FakeApi, metrics: FakeMetrics, obj: dict[str, Any],
                    pods: list[dict[str, Any]]) -> tuple[dict[str, Any], Events]:
    events = Events()
    controller = HorizontalPodAutoscalerController(api, SharedInformerFactory(api), metrics=metrics,
                                                   recorder=events)  # type: ignore[arg-type]
    controller.pods.apply_list(pods, "1")
    controller.hpas.apply_list([obj], "1")
    await controller.sync("ns/h")
    return api.status_writes[-1], events


def conditions(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}


async def test_sync_scales_up_with_event_and_status() -> None:
    api = FakeApi(2)
    status, events = await sync_once(api, FakeMetrics({"a": 100, "b": 100}), hpa(), [pod("a"), pod("b")])
    assert api.replicas == 4
    assert ("Normal", "SuccessfulRescale",
            "New size: 4; reason: cpu resource utilization (percentage of request) above target") in events.seen
    assert (status["currentReplicas"], status["desiredReplicas"]) == (2, 4)
    assert status["currentMetrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "current": {"averageUtilization": 100, "averageValue": "100m"}}}]
    assert "lastScaleTime" in status
    assert conditions(status) == {"AbleToScale": ("True", "SucceededRescale"),
                                  "ScalingActive": ("True", "ValidMetricFound"),
                                  "ScalingLimited": ("False", "DesiredWithinRange")}


async def test_sync_without_metrics_api_sets_scaling_active_false() -> None:
    api = FakeApi(2)
    status, events = await sync_once(api, FakeMetrics(None), hpa(), [pod("a"), pod("b")])
    assert api.replicas == 2
    assert conditions(status)["ScalingActive"] == ("False", "FailedGetResourceMetric")
    message = next(c["message"] for c in status["conditions"] if c["type"] == "ScalingActive")
    assert message.startswith("the HPA was unable to compute the replica count: failed to get cpu utilization: ")
    assert any(reason == "FailedGetResourceMetric" for _, reason, _ in events.seen)


async def test_sync_with_missing_target_sets_able_to_scale_false() -> None:
    status, events = await sync_once(FakeApi(2), FakeMetrics({}), hpa(target="gone"), [])
    assert conditions(status)["AbleToScale"] == ("False", "FailedGetScale")
    assert events.seen[0][1] == "FailedGetScale"


async def test_sync_below_min_replicas_scales_to_min() -> None:
    api = FakeApi(1)
    _, events = await sync_once(api, FakeMetrics({}), hpa(minReplicas=3), [])
    assert api.replicas == 3
    assert ("Normal", "SuccessfulRescale",
            "New size: 3; reason: Current number of replicas below Spec.MinReplicas") in events.seen


async def test_sync_scale_down_is_stabilized_by_default() -> None:
    api = FakeApi(4)
    events = Events()
    controller = HorizontalPodAutoscalerController(api, SharedInformerFactory(api), metrics=FakeMetrics(
        {n: 10 for n in "abcd"}), recorder=events)  # type: ignore[arg-type]
    controller.pods.apply_list([pod(n) for n in "abcd"], "1")
    controller.hpas.apply_list([hpa()], "1")
    controller.memory["ns/h"] = AutoscalerMemory()
    stabilize(controller.memory["ns/h"], 4, 4, UP, DOWN, datetime.now(UTC) - timedelta(seconds=60))
    await controller.sync("ns/h")
    assert api.replicas == 4
    assert conditions(api.status_writes[-1])["ScalingActive"] == ("True", "ScaleDownStabilized")


async def test_container_resource_metric_scales_on_one_container() -> None:
    api = FakeApi(2)
    metric = {"type": "ContainerResource", "containerResource": {"name": "cpu", "container": "c", "target": {
        "type": "Utilization", "averageUtilization": 50}}}
    _, events = await sync_once(api, FakeMetrics({"a": 100, "b": 100}), hpa(metrics=[metric]), [pod("a"), pod("b")])
    assert api.replicas == 4
    assert ("Normal", "SuccessfulRescale", "New size: 4; reason: cpu container resource utilization "
                                           "(percentage of request) above target") in events.seen


async def test_metric_types_without_an_api_make_scaling_inactive() -> None:
    api = FakeApi(2)
    metric = {"type": "External", "external": {"metric": {"name": "queue"}, "target": {"type": "Value",
                                                                                       "value": "10"}}}
    status, _ = await sync_once(api, FakeMetrics({}), hpa(metrics=[metric]), [pod("a")])
    assert api.replicas == 2
    assert conditions(status)["ScalingActive"] == ("False", "FailedGetExternalMetric")
