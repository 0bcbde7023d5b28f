"""The horizontal pod autoscaler: autoscaling/v2 HPAs on cpu/memory Resource metrics, through the scale subresource.

Every ``sync_period`` (15 s) each HPA is reconciled as Kubernetes does: the target's scale is read
(``AbleToScale``), each metric proposes a replica count (:mod:`podautoscaler_metrics`), the highest wins;
the proposal is stabilized (the lowest recent recommendation for a scale up, the highest for a scale
down; windows from ``behavior``, 300 s down by default) and limited by the scaling policies (Pods/Percent
per period, ``selectPolicy``) and min/max replicas (``ScalingLimited``); a new size is written to the
scale subresource with a ``SuccessfulRescale`` event. Without metrics (no metrics API yet)
``ScalingActive`` is False with reason ``FailedGetResourceMetric`` and nothing is scaled.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from kubeprov.api import labels
from kubeprov.api.quantity import Quantity
from kubeprov.api.status import StatusError
from kubeprov.controllers.base import Controller, Obj, key_of, meta, split_key
from kubeprov.controllers.podautoscaler_metrics import (
    ApiMetricsSource,
    MetricsError,
    MetricsSource,
    resource_replicas,
)
from kubeprov.controllers.timestamps import format_time

API_VERSION = "autoscaling/v2"
SYNC_PERIOD = 15.0
DEFAULT_SCALE_DOWN_WINDOW = 300
# metric types whose APIs (custom.metrics.k8s.io, external.metrics.k8s.io) are not served here
UNSERVED_METRIC_REASONS = {"Pods": "FailedGetPodsMetric", "Object": "FailedGetObjectMetric",
                           "External": "FailedGetExternalMetric"}
# the scale subresource's resource of the usual kinds (others: lower-case plural of the kind)
RESOURCES = {"Deployment": "deployments", "ReplicaSet": "replicasets", "StatefulSet": "statefulsets",
             "ReplicationController": "replicationcontrollers"}


# ---- behavior ------------------------------------------------------------------------------------


def default_rules(direction: str, rules: Obj | None) -> Obj:
    """``GenerateHPAScaleUpRules`` / ``GenerateHPAScaleDownRules``: fill what the user left out."""
    rules = dict(rules or {})
    if direction == "up":
        defaults: Obj = {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                         "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15},
                                      {"type": "Percent", "value": 100, "periodSeconds": 15}]}
    else:
        defaults = {"stabilizationWindowSeconds": DEFAULT_SCALE_DOWN_WINDOW, "selectPolicy": "Max",
                    "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}
    for k, v in defaults.items():
        if rules.get(k) is None:
            rules[k] = v
    return rules


@dataclass
class ScaleEvent:
    change: int
    timestamp: datetime
    outdated: bool = False


@dataclass
class Recommendation:
    replicas: int
    timestamp: datetime


@dataclass
class AutoscalerMemory:
    """What Kubernetes keeps per HPA between syncs: recent recommendations and scale events."""

    recommendations: list[Recommendation] = field(default_factory=list)
    scale_up_events: list[ScaleEvent] = field(default_factory=list)
    scale_down_events: list[ScaleEvent] = field(default_factory=list)


def changes_in_period(period_seconds: int, events: list[ScaleEvent], now: datetime) -> int:
    """``getReplicasChangePerPeriod``."""
    cutoff = now - timedelta(seconds=period_seconds)
    return sum(e.change for e in events if e.timestamp > cutoff and not e.outdated)


def _limit_by_policies(current: int, memory: AutoscalerMemory, rules: Obj, now: datetime, up: bool) -> int:
    """The bound each policy puts on the replica count, from the count at the start of its period
    (the changes made within the period undone), combined as ``selectPolicy`` says: ``Max`` allows
    the largest change, ``Min`` the smallest."""
    select = rules.get("selectPolicy", "Max")
    if select == "Disabled":
        return current
    results = []
    for policy in rules.get("policies") or []:
        period = int(policy.get("periodSeconds") or 15)
        start = current - changes_in_period(period, memory.scale_up_events, now) + \
            changes_in_period(period, memory.scale_down_events, now)
        value = int(policy.get("value") or 0)
        if policy.get("type") == "Pods":
            results.append(start + value if up else start - value)
        elif up:
            results.append(math.ceil(start * (1 + value / 100)))
        else:
            results.append(int(start * (1 - value / 100)))
    if not results:
        return current
    largest_change = max if up else min
    smallest_change = min if up else max
    return smallest_change(results) if select == "Min" else largest_change(results)


def scale_up_limit(current: int, memory: AutoscalerMemory, rules: Obj, now: datetime) -> int:
    """``calculateScaleUpLimitWithScalingRules``."""
    return _limit_by_policies(current, memory, rules, now, up=True)


def scale_down_limit(current: int, memory: AutoscalerMemory, rules: Obj, now: datetime) -> int:
    """``calculateScaleDownLimitWithBehaviors``: ``Min`` picks the smallest change, i.e. the highest count."""
    return _limit_by_policies(current, memory, rules, now, up=False)


def stabilize(memory: AutoscalerMemory, current: int, desired: int, up: Obj, down: Obj,
              now: datetime) -> tuple[int, str, str]:
    """``stabilizeRecommendationWithBehaviors``: (recommendation, reason, message); records ``desired``."""
    if desired >= current:
        window = int(up.get("stabilizationWindowSeconds") or 0)
        better = min
        reason = "ScaleUpStabilized"
        message = "recent recommendations were lower than current one, applying the lowest recent recommendation"
    else:
        window = int(down.get("stabilizationWindowSeconds") or 0)
        better = max
        reason = "ScaleDownStabilized"
        message = "recent recommendations were higher than current one, applying the highest recent recommendation"
    longest = max(int(up.get("stabilizationWindowSeconds") or 0), int(down.get("stabilizationWindowSeconds") or 0))
    obsolete = now - timedelta(seconds=longest)
    cutoff = now - timedelta(seconds=window)
    recommendation = desired
    old_index: int | None = None
    for i, rec in enumerate(memory.recommendations):
        if rec.timestamp > cutoff:
            recommendation = better(rec.replicas, recommendation)
        if rec.timestamp < obsolete:
            old_index = i
    if old_index is not None:
        memory.recommendations[old_index] = Recommendation(desired, now)
    else:
        memory.recommendations.append(Recommendation(desired, now))
    return recommendation, reason, message


def stabilize_down(memory: AutoscalerMemory, desired: int, window: int, now: datetime) -> tuple[int, str, str]:
    """``stabilizeRecommendation`` (an HPA without ``behavior``): the highest recommendation of the window."""
    cutoff = now - timedelta(seconds=window)
    recommendation = desired
    old_index: int | None = None
    for i, rec in enumerate(memory.recommendations):
        if rec.timestamp < cutoff:
            old_index = i
        else:
            recommendation = max(recommendation, rec.replicas)
    if old_index is not None:
        memory.recommendations[old_index] = Recommendation(desired, now)
    else:
        memory.recommendations.append(Recommendation(desired, now))
    return recommendation, "ScaleDownStabilized", \
        "recent recommendations were higher than current one, applying the highest recent recommendation"


_TOO_FEW = "TooFewReplicas", "the desired replica count is less than the minimum replica count"


def _upper_bound(rate_limit: int, max_replicas: int) -> tuple[int, str, str]:
    """The lower of the scale-up rate limit and ``maxReplicas``, with the ScalingLimited reason naming it."""
    if max_replicas > rate_limit:
        return rate_limit, "ScaleUpLimit", "the desired replica count is increasing faster than the maximum scale rate"
    return max_replicas, "TooManyReplicas", "the desired replica count is more than the maximum replica count"


def _lower_bound(rate_limit: int, min_replicas: int) -> tuple[int, str, str]:
    """The higher of the scale-down rate limit and ``minReplicas``, with the ScalingLimited reason naming it."""
    if min_replicas < rate_limit:
        return (rate_limit, "ScaleDownLimit",
                "the desired replica count is decreasing faster than the maximum scale rate")
    return (min_replicas, *_TOO_FEW)


_WITHIN_RANGE = "DesiredWithinRange", "the desired count is within the acceptable range"


def limit_by_rate(memory: AutoscalerMemory, current: int, desired: int, min_replicas: int, max_replicas: int,
                  up: Obj, down: Obj, now: datetime) -> tuple[int, str, str]:
    """``convertDesiredReplicasWithBehaviorRate``: (replicas, ScalingLimited reason, message)."""
    if desired > current:
        bound = _upper_bound(max(scale_up_limit(current, memory, up, now), current), max_replicas)
        if desired > bound[0]:
            return bound
    elif desired < current:
        bound = _lower_bound(min(scale_down_limit(current, memory, down, now), current), min_replicas)
        if desired < bound[0]:
            return bound
    return (desired, *_WITHIN_RANGE)


def limit_without_behavior(current: int, desired: int, min_replicas: int, max_replicas: int) -> tuple[int, str, str]:
    """``convertDesiredReplicasWithRules``: at most double (at least 4) per sync, within min/max."""
    bound = _upper_bound(max(2 * current, 4), max_replicas)
    if desired < min_replicas:
        return (min_replicas, *_TOO_FEW)
    if desired > bound[0]:
        return bound
    return (desired, *_WITHIN_RANGE)


def record_scale_event(memory: AutoscalerMemory, behavior: Obj | None, previous: int, new: int,
                       now: datetime) -> None:
    """``storeScaleEvent``: remember the change for the policies' periods (reusing an outdated slot)."""
    if behavior is None or previous == new:
        return
    up = new > previous
    rules = default_rules("up" if up else "down", behavior.get("scaleUp" if up else "scaleDown"))
    longest = max([int(p.get("periodSeconds") or 15) for p in rules.get("policies") or []], default=0)
    events = memory.scale_up_events if up else memory.scale_down_events
    cutoff = now - timedelta(seconds=longest)
    for e in events:
        if e.timestamp < cutoff:
            e.outdated = True
    event = ScaleEvent(abs(new - previous), now)
    slot = next((i for i, e in enumerate(events) if e.outdated), None)
    if slot is None:
        events.append(event)
    else:
        events[slot] = event


# ---- status ------------------------------------------------------------------------------------


def set_condition(status: Obj, kind: str, ok: bool, reason: str, message: str, now: datetime) -> None:
    """Set a condition, keeping its transition time while its status stays."""
    conditions = status.setdefault("conditions", [])
    value = "True" if ok else "False"
    for c in conditions:
        if c.get("type") == kind:
            if c.get("status") != value:
                c["lastTransitionTime"] = format_time(now)
            c.update({"status": value, "reason": reason, "message": message})
            return
    conditions.append({"type": kind, "status": value, "lastTransitionTime": format_time(now),
                       "reason": reason, "message": message})


def metric_name(metric: Obj) -> str:
    """How Kubernetes names a metric in reasons: ``cpu resource utilization (percentage of request)``."""
    container = metric.get("type") == "ContainerResource"
    resource = metric.get("containerResource" if container else "resource") or {}
    target = resource.get("target") or {}
    what = "container resource" if container else "resource"
    if target.get("type") == "Utilization":
        return f"{resource.get('name')} {what} utilization (percentage of request)"
    return f"{resource.get('name')} {what}"


def format_milli(value: int) -> str:
    """A quantity from thousandths, the way Kubernetes prints it (``250m``, ``2``)."""
    return str(value // 1000) if value % 1000 == 0 else f"{value}m"


# ---- the controller ----------------------------------------------------------------------------


class Reconcile:
    """The outcome of one sync, before it is written."""

    def __init__(self, hpa: Obj, now: datetime) -> None:
        self.hpa = hpa
        self.now = now
        self.status: Obj = copy.deepcopy(hpa.get("status") or {})
        self.status.setdefault("conditions", [])

    def condition(self, kind: str, ok: bool, reason: str, message: str) -> None:
        set_condition(self.status, kind, ok, reason, message, self.now)


class HorizontalPodAutoscalerController(Controller):
    name = "horizontalpodautoscaling"

    @classmethod
    def options(cls, config: Any) -> dict[str, Any] | None:
        return {"sync_period": float(getattr(config, "horizontal_pod_autoscaler_sync_period", SYNC_PERIOD))}

    def __init__(self, *args: Any, sync_period: float = SYNC_PERIOD, metrics: MetricsSource | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sync_period = sync_period
        self.metrics: MetricsSource = metrics or ApiMetricsSource(self.client)
        self.hpas = self.informer(API_VERSION, "horizontalpodautoscalers")
        self.pods = self.informer("v1", "pods")
        self.hpas.add_handler(on_add=self._hpa, on_update=self._hpa_updated, on_delete=self._hpa_deleted)
        self.memory: dict[str, AutoscalerMemory] = {}
        self.every(sync_period, lambda: [self._hpa(hpa) for hpa in self.hpas.list()])

    def _hpa(self, hpa: Obj) -> None:
        if self.wants(meta(hpa).get("namespace", "")):
            self.enqueue(key_of(hpa))

    def _hpa_updated(self, old: Obj, new: Obj) -> None:
        if (old.get("spec") or {}) != (new.get("spec") or {}):  # our status writes do not call for a sync
            self._hpa(new)

    def _hpa_deleted(self, hpa: Obj) -> None:
        self.memory.pop(key_of(hpa), None)

    # ---- sync ------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        namespace, name = split_key(key)
        hpa = self.hpas.get(namespace, name)
        if hpa is None:
            self.memory.pop(key, None)
            return
        rec = Reconcile(hpa, datetime.now(UTC))
        await self.reconcile(key, rec)
        await self._write_status(hpa, rec.status)

    async def reconcile(self, key: str, rec: Reconcile) -> None:
        hpa = rec.hpa
        spec = hpa.get("spec") or {}
        namespace = meta(hpa).get("namespace", "")
        ref = spec.get("scaleTargetRef") or {}
        kind = str(ref.get("kind", ""))
        target_api = str(ref.get("apiVersion") or "apps/v1")
        resource = RESOURCES.get(kind, kind.lower() + "s")
        reference = f"{kind}/{ref.get('name', '')}"
        try:
            scale = await self.client.get(target_api, resource, ref.get("name", ""), namespace, subresource="scale")
        except StatusError as exc:
            message = f"the HPA controller was unable to get the target's current scale: {exc.message}"
            self.event(hpa, "Warning", "FailedGetScale", exc.message)
            rec.condition("AbleToScale", False, "FailedGetScale", message)
            return
        rec.condition("AbleToScale", True, "SucceededGetScale", "the HPA controller was able to get the target's "
                                                                "current scale")
        current = int((scale.get("spec") or {}).get("replicas") or 0)
        rec.status["currentReplicas"] = current
        min_replicas = int(spec.get("minReplicas") if spec.get("minReplicas") is not None else 1)
        max_replicas = int(spec.get("maxReplicas") or 0)
        desired, rescale_reason, metric_label = 0, "", ""
        if current == 0 and min_replicas != 0:
            rec.condition("ScalingActive", False, "ScalingDisabled",
                          "scaling is disabled since the replica count of the target is zero")
            desired = 0
        elif current > max_replicas:
            desired, rescale_reason = max_replicas, "Current number of replicas above Spec.MaxReplicas"
        elif current < min_replicas:
            desired, rescale_reason = min_replicas, "Current number of replicas below Spec.MinReplicas"
        else:
            selector = str((scale.get("status") or {}).get("selector") or "")
            if not selector:
                self.event(hpa, "Warning", "SelectorRequired", "selector is required")
                rec.condition("ScalingActive", False, "InvalidSelector",
                              "the HPA target's scale is missing a selector")
                return
            proposal = await self.compute_replicas(rec, current, selector)
            if proposal is None:
                return
            proposed, metric_label = proposal
            rescale_reason = f"{metric_label} above target" if proposed > current else "All metrics below target"
            desired = self.normalize(key, rec, current, proposed, min_replicas, max_replicas, metric_label)
        if desired != current:
            await self.rescale(rec, target_api, resource, scale, current, desired, rescale_reason, reference, key)
        rec.status["desiredReplicas"] = desired

    async def compute_replicas(self, rec: Reconcile, current: int, selector: str) -> tuple[int, str] | None:
        """``computeReplicasForMetrics``: the highest proposal; None (and ScalingActive False) when no metric
        gave one, or when some failed and the others would scale down."""
        hpa = rec.hpa
        namespace = meta(hpa).get("namespace", "")
        metrics = (hpa.get("spec") or {}).get("metrics") or []
        best, best_name, statuses, errors = -1, "", [], []
        pods = [p for p in self.pods.list(namespace) if _matches(selector, p)]
        for metric in metrics:
            kind = metric.get("type")
            if kind not in ("Resource", "ContainerResource"):
                reason = UNSERVED_METRIC_REASONS.get(str(kind), "InvalidMetricSourceType")
                errors.append((reason, f"failed to get {str(kind).lower()} metric: the custom and external "
                                       "metrics APIs are not served"))
                continue
            field_name = "resource" if kind == "Resource" else "containerResource"
            resource = metric.get(field_name) or {}
            name = str(resource.get("name", ""))
            container = str(resource.get("container", "")) if kind == "ContainerResource" else ""
            target = resource.get("target") or {}
            try:
                values = await self.metrics.pod_metrics(name, namespace, selector, container)
                if target.get("type") == "Utilization":
                    result = resource_replicas(current, pods, values, name,
                                               target_utilization=int(target.get("averageUtilization") or 0),
                                               container=container, now=rec.now)
                    current_status: Obj = {"averageUtilization": result.utilization,
                                           "averageValue": format_milli(result.average_value)}
                else:
                    average = Quantity.parse(str(target.get("averageValue") or "0")).milli_value()
                    result = resource_replicas(current, pods, values, name, target_average=average,
                                               container=container, now=rec.now)
                    current_status = {"averageValue": format_milli(result.average_value)}
            except MetricsError as exc:
                what = "utilization" if target.get("type") == "Utilization" else "usage"
                reason = "FailedGetResourceMetric" if kind == "Resource" else "FailedGetContainerResourceMetric"
                errors.append((reason, f"failed to get {name} {what}: {exc}"))
                self.event(hpa, "Warning", reason, str(exc))
                continue
            entry: Obj = {"name": name, "current": current_status}
            if container:
                entry["container"] = container
            statuses.append({"type": kind, field_name: entry})
            if result.replicas > best:
                best, best_name = result.replicas, metric_name(metric)
        if statuses:
            rec.status["currentMetrics"] = statuses
        if errors and (best == -1 or best < current):
            reason, message = errors[0]
            self.event(hpa, "Warning", "FailedComputeMetricsReplicas",
                       f"invalid metrics ({len(errors)} invalid out of {len(metrics)}), first error is: {message}")
            rec.condition("ScalingActive", False, reason,
                          f"the HPA was unable to compute the replica count: {message}")
            return None
        if best == -1:
            rec.condition("ScalingActive", False, "InvalidMetricSourceType", "the HPA has no metrics to scale on")
            return None
        return best, best_name

    def normalize(self, key: str, rec: Reconcile, current: int, proposed: int, min_replicas: int,
                  max_replicas: int, metric_label: str) -> int:
        memory = self.memory.setdefault(key, AutoscalerMemory())
        behavior = (rec.hpa.get("spec") or {}).get("behavior")
        up = default_rules("up", (behavior or {}).get("scaleUp"))
        down = default_rules("down", (behavior or {}).get("scaleDown"))
        if behavior is None:
            stabilized, reason, message = stabilize_down(memory, proposed, DEFAULT_SCALE_DOWN_WINDOW, rec.now)
        else:
            stabilized, reason, message = stabilize(memory, current, proposed, up, down, rec.now)
        if stabilized != proposed:
            rec.condition("ScalingActive", True, reason, message)
        else:
            rec.condition("ScalingActive", True, "ValidMetricFound",
                          f"the HPA was able to successfully calculate a replica count from {metric_label}")
        if behavior is None:
            desired, reason, message = limit_without_behavior(current, stabilized, min_replicas, max_replicas)
        else:
            desired, reason, message = limit_by_rate(memory, current, stabilized, min_replicas, max_replicas,
                                                     up, down, rec.now)
        rec.condition("ScalingLimited", desired != stabilized, reason, message)
        return desired

    async def rescale(self, rec: Reconcile, api_version: str, resource: str, scale: Obj, current: int, desired: int,
                      reason: str, reference: str, key: str) -> None:
        hpa = rec.hpa
        new_scale = copy.deepcopy(scale)
        new_scale.setdefault("spec", {})["replicas"] = desired
        try:
            await self.client.update(api_version, resource, new_scale, meta(hpa).get("namespace", ""),
                                     subresource="scale")
        except StatusError as exc:
            self.event(hpa, "Warning", "FailedRescale", f"New size: {desired}; reason: {reason}; error: {exc.message}")
            rec.condition("AbleToScale", False, "FailedUpdateScale",
                          f"the HPA controller was unable to update the target scale: {exc.message}")
            return
        rec.condition("AbleToScale", True, "SucceededRescale",
                      f"the HPA controller was able to update the target scale to {desired}")
        self.event(hpa, "Normal", "SuccessfulRescale", f"New size: {desired}; reason: {reason}")
        self.log.info("successful rescale of %s (%s), old size: %d, new size: %d, reason: %s", key, reference,
                      current, desired, reason)
        record_scale_event(self.memory.setdefault(key, AutoscalerMemory()),
                           (hpa.get("spec") or {}).get("behavior"), current, desired, rec.now)
        rec.status["lastScaleTime"] = format_time(rec.now)

    async def _write_status(self, hpa: Obj, status: Obj) -> None:
        status["observedGeneration"] = int(meta(hpa).get("generation") or 0)
        status.setdefault("currentReplicas", 0)
        status.setdefault("desiredReplicas", status.get("currentReplicas", 0))
        if status == (hpa.get("status") or {}):
            return
        await self.write_status(hpa, status, API_VERSION, "horizontalpodautoscalers", conflict_retry=0.1)


def _matches(selector: str, pod: Obj) -> bool:
    try:
        return labels.parse(selector).matches(meta(pod).get("labels") or {})
    except labels.SelectorError:
        return False
