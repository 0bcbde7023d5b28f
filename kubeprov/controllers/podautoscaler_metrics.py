"""Resource metrics for the HPA and Kubernetes' replica calculation from them.

:class:`MetricsSource` is what the controller asks for pod usage; :class:`ApiMetricsSource` reads
``metrics.k8s.io/v1beta1`` PodMetrics through the API (404/503 while no metrics server is registered),
tests pass a fake. :func:`resource_replicas` is ``ReplicaCalculator.GetResourceReplicas`` /
``GetRawResourceReplicas``: usage over target with a 10 % tolerance, where pods still starting (cpu only)
or not ready are left out on a scale up, and pods without metrics count as using 100 % (or the
target) on a scale down and nothing on a scale up, so that missing data never makes the change bigger.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from kubeprov.api.quantity import Quantity, QuantityError
from kubeprov.api.status import StatusError
from kubeprov.apiserver.admission.resources import container_requests
from kubeprov.controllers.timestamps import parse_datetime

Obj = dict[str, Any]
TOLERANCE = 0.1
CPU_INITIALIZATION_PERIOD = timedelta(minutes=5)
DELAY_OF_INITIAL_READINESS_STATUS = timedelta(seconds=30)


class MetricsError(Exception):
    """Metrics could not be had (no metrics API, no pods, no request ...): the message goes to conditions."""


@dataclass
class PodMetric:
    """One pod's usage of one resource, in thousandths (millicores, millibytes), and when it was taken."""

    value: int
    timestamp: datetime
    window: timedelta = field(default=timedelta(seconds=30))


class MetricsSource(Protocol):
    async def pod_metrics(self, resource: str, namespace: str, selector: str,
                          container: str = "") -> dict[str, PodMetric]:
        """Pod name -> usage of ``resource`` by the pods matching ``selector``; raises :class:`MetricsError`."""
        ...


def _parse_window(text: Any) -> timedelta:
    try:
        return timedelta(seconds=float(str(text).removesuffix("s")))
    except ValueError:
        return timedelta(seconds=30)


class ApiMetricsSource:
    """PodMetrics from ``metrics.k8s.io/v1beta1`` (what metrics-server serves through aggregation)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    async def pod_metrics(self, resource: str, namespace: str, selector: str,
                          container: str = "") -> dict[str, PodMetric]:
        try:
            items, _ = await self.client.list_all("metrics.k8s.io/v1beta1", "pods", namespace,
                                                  label_selector=selector)
        except StatusError as exc:
            what = {404: "the server could not find the requested resource",
                    503: "the server is currently unable to handle the request"}.get(exc.code, exc.message)
            raise MetricsError(f"unable to get metrics for resource {resource}: unable to fetch metrics from "
                               f"resource metrics API: {what} (get pods.metrics.k8s.io)") from exc
        out: dict[str, PodMetric] = {}
        for item in items:
            total, found = 0, False
            for c in item.get("containers") or []:
                if container and c.get("name") != container:
                    continue
                usage = (c.get("usage") or {}).get(resource)
                if usage is None:
                    continue
                try:
                    total += Quantity.parse(str(usage)).milli_value()
                    found = True
                except QuantityError:
                    continue
            if found:
                stamp = parse_datetime(item.get("timestamp")) or datetime.now(UTC)
                window = _parse_window(item.get("window"))
                out[(item.get("metadata") or {}).get("name", "")] = PodMetric(total, stamp, window)
        if not out:
            raise MetricsError(f"unable to get metrics for resource {resource}: no metrics returned from resource "
                               "metrics API")
        return out


# ---- the replica calculation ---------------------------------------------------------------------


@dataclass
class ReplicaResult:
    replicas: int
    utilization: int | None  # percent of request (Utilization targets)
    average_value: int  # thousandths per pod
    timestamp: datetime


def _ready_condition(pod: Obj) -> Obj | None:
    return next((c for c in (pod.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"), None)


def group_pods(pods: list[Obj], metrics: dict[str, PodMetric], resource: str,
               now: datetime) -> tuple[int, set[str], set[str], set[str]]:
    """``groupPods``: (ready pods with metrics, unready pods, pods missing metrics, ignored pods)."""
    ready, unready, missing, ignored = 0, set(), set(), set()
    for pod in pods:
        name = (pod.get("metadata") or {}).get("name", "")
        status = pod.get("status") or {}
        if (pod.get("metadata") or {}).get("deletionTimestamp") or status.get("phase") == "Failed":
            ignored.add(name)
            continue
        if status.get("phase") == "Pending":
            unready.add(name)
            continue
        metric = metrics.get(name)
        if metric is None:
            missing.add(name)
            continue
        if resource == "cpu":
            condition = _ready_condition(pod)
            started = parse_datetime(status.get("startTime")) if status.get("startTime") else None
            if condition is None or started is None:
                is_unready = True
            else:
                changed = parse_datetime(condition.get("lastTransitionTime")) or started
                if started + CPU_INITIALIZATION_PERIOD > now:
                    # while starting, a metric taken before the pod was ready for a whole window is not trusted
                    is_unready = condition.get("status") == "False" or metric.timestamp < changed + metric.window
                else:
                    is_unready = condition.get("status") == "False" and \
                        started + DELAY_OF_INITIAL_READINESS_STATUS > changed
            if is_unready:
                unready.add(name)
                continue
        ready += 1
    return ready, unready, missing, ignored


def pod_requests(pods: list[Obj], resource: str, container: str = "") -> dict[str, int]:
    """Pod name -> the sum of its containers' requests of ``resource`` (thousandths); a missing request
    is an error, as utilization cannot be computed without it."""
    out: dict[str, int] = {}
    for pod in pods:
        name = (pod.get("metadata") or {}).get("name", "")
        total = 0
        for c in (pod.get("spec") or {}).get("containers") or []:
            if container and c.get("name") != container:
                continue
            request = container_requests(c).get(resource)
            if request is None:
                raise MetricsError(f"missing request for {resource} in container {c.get('name', '')} of Pod {name}")
            total += request.milli_value()
        out[name] = total
    return out


def utilization_ratio(metrics: dict[str, PodMetric], requests: dict[str, int],
                      target: int) -> tuple[float, int, int]:
    """``GetResourceUtilizationRatio``: (usage/target ratio, utilization %, average usage)."""
    total_metrics, total_requests, count = 0, 0, 0
    for name, metric in metrics.items():
        if name not in requests:
            continue
        total_metrics += metric.value
        total_requests += requests[name]
        count += 1
    if total_requests == 0:
        raise MetricsError("no metrics returned matched known pods")
    utilization = int(total_metrics * 100 / total_requests)
    return utilization / target, utilization, total_metrics // count


def resource_replicas(current: int, pods: list[Obj], metrics: dict[str, PodMetric], resource: str, *,
                      target_utilization: int | None = None, target_average: int | None = None,
                      container: str = "", now: datetime | None = None,
                      tolerance: float = TOLERANCE) -> ReplicaResult:
    """Kubernetes' replica proposal for one Resource metric (Utilization or AverageValue target)."""
    now = now or datetime.now(UTC)
    if not pods:
        raise MetricsError("no pods returned by selector while calculating replica count")
    timestamp = min((m.timestamp for m in metrics.values()), default=now)
    ready, unready, missing, ignored = group_pods(pods, metrics, resource, now)
    usable = {n: m for n, m in metrics.items() if n not in unready and n not in ignored}
    if not usable:
        raise MetricsError("did not receive metrics for targeted pods (pods might be unready)")
    if target_utilization is not None:
        requests = pod_requests(pods, resource, container)

        def ratio_of(values: dict[str, PodMetric]) -> tuple[float, int, int]:
            return utilization_ratio(values, requests, target_utilization)
        fallback_down = {n: requests.get(n, 0) * max(100, target_utilization) // 100 for n in missing}
    else:
        target = max(1, int(target_average or 0))

        def ratio_of(values: dict[str, PodMetric]) -> tuple[float, int, int]:
            average = sum(m.value for m in values.values()) // max(1, len(values))
            return average / target, 0, average
        fallback_down = {n: target for n in missing}
    usage_ratio, utilization, average = ratio_of(usable)
    scale_up_with_unready = bool(unready) and usage_ratio > 1.0

    def result(replicas: int) -> ReplicaResult:
        return ReplicaResult(replicas, utilization if target_utilization is not None else None, average, timestamp)

    if not scale_up_with_unready and not missing:
        if abs(1.0 - usage_ratio) <= tolerance:
            return result(current)
        return result(math.ceil(usage_ratio * ready))
    filled = dict(usable)
    if missing:
        for name in missing:
            value = fallback_down[name] if usage_ratio < 1.0 else 0
            filled[name] = PodMetric(value, now)
    if scale_up_with_unready:
        for name in unready:
            filled[name] = PodMetric(0, now)
    new_ratio, _, _ = ratio_of(filled)
    if abs(1.0 - new_ratio) <= tolerance or (usage_ratio < 1.0 < new_ratio) or (usage_ratio > 1.0 > new_ratio):
        return result(current)
    replicas = math.ceil(new_ratio * len(filled))
    if (new_ratio < 1.0 and replicas > current) or (new_ratio > 1.0 and replicas < current):
        return result(current)
    return result(replicas)
