"""autoscaling: HorizontalPodAutoscalers (stored as v2, also served as v1) and v1<->v2 conversion.

The strategy works on either shape, chosen by ``apiVersion``: a body still in ``autoscaling/v1``
form is defaulted and validated with the v1 rules, anything else with the v2 rules.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

from kubeprov.api.fielderrors import FieldError, Path, forbidden, invalid, not_supported, required
from kubeprov.apiserver.strategy.base import Strategy
from kubeprov.apiserver.strategy.util import (
    Obj,
    as_list,
    as_map,
    as_str,
    check_int,
    default,
    is_int,
    maps,
    msgs_to_errors,
    path_segment_name,
    quantity_error,
    quantity_of,
    sub,
)

V1 = "autoscaling/v1"
V2 = "autoscaling/v2"
METRIC_TYPES = ("ContainerResource", "External", "Object", "Pods", "Resource")
_SOURCE_FIELD = {
    "Object": "object",
    "Pods": "pods",
    "Resource": "resource",
    "ContainerResource": "containerResource",
    "External": "external",
}
DEFAULT_CPU_METRIC: Obj = {
    "type": "Resource",
    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}},
}
_SCALE_UP_DEFAULTS: Obj = {
    "stabilizationWindowSeconds": 0,
    "selectPolicy": "Max",
    "policies": [
        {"type": "Pods", "value": 4, "periodSeconds": 15},
        {"type": "Percent", "value": 100, "periodSeconds": 15},
    ],
}
_SCALE_DOWN_DEFAULTS: Obj = {
    "selectPolicy": "Max",
    "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
}


# --------------------------------------------------------------------------- conversion


def _cpu_utilization(metrics: Any, kind: str) -> int | None:
    for _, metric in maps(metrics):
        source = as_map(metric.get("resource"))
        if metric.get("type") == "Resource" and source.get("name") == "cpu":
            value = as_map(source.get(kind)).get("averageUtilization")
            if is_int(value):
                return value
    return None


def hpa_v2_to_v1(obj: dict) -> dict:
    """An ``autoscaling/v2`` HPA as ``autoscaling/v1`` (only the CPU utilization metric survives)."""
    spec, status = as_map(obj.get("spec")), as_map(obj.get("status"))
    out_spec: Obj = {}
    for key in ("scaleTargetRef", "minReplicas", "maxReplicas"):
        if key in spec:
            out_spec[key] = copy.deepcopy(spec[key])
    target = _cpu_utilization(spec.get("metrics"), "target")
    if target is not None:
        out_spec["targetCPUUtilizationPercentage"] = target
    out: Obj = {
        "apiVersion": V1,
        "kind": "HorizontalPodAutoscaler",
        "metadata": copy.deepcopy(obj.get("metadata", {})),
        "spec": out_spec,
    }
    if "status" in obj:
        out_status: Obj = {}
        for key in ("observedGeneration", "lastScaleTime"):
            if status.get(key) is not None:
                out_status[key] = copy.deepcopy(status[key])
        out_status["currentReplicas"] = status.get("currentReplicas", 0)
        out_status["desiredReplicas"] = status.get("desiredReplicas", 0)
        current = _cpu_utilization(status.get("currentMetrics"), "current")
        if current is not None:
            out_status["currentCPUUtilizationPercentage"] = current
        out["status"] = out_status
    return out


def hpa_v1_to_v2(obj: dict) -> dict:
    """An ``autoscaling/v1`` HPA as ``autoscaling/v2`` (the CPU target becomes a Resource metric)."""
    spec, status = as_map(obj.get("spec")), as_map(obj.get("status"))
    out_spec: Obj = {}
    for key in ("scaleTargetRef", "minReplicas", "maxReplicas"):
        if key in spec:
            out_spec[key] = copy.deepcopy(spec[key])
    target = spec.get("targetCPUUtilizationPercentage")
    if target is not None:
        out_spec["metrics"] = [
            {
                "type": "Resource",
                "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": target}},
            }
        ]
    out: Obj = {
        "apiVersion": V2,
        "kind": "HorizontalPodAutoscaler",
        "metadata": copy.deepcopy(obj.get("metadata", {})),
        "spec": out_spec,
    }
    if "status" in obj:
        out_status: Obj = {}
        for key in ("observedGeneration", "lastScaleTime", "currentReplicas"):
            if status.get(key) is not None:
                out_status[key] = copy.deepcopy(status[key])
        out_status["desiredReplicas"] = status.get("desiredReplicas", 0)
        current = status.get("currentCPUUtilizationPercentage")
        out_status["currentMetrics"] = (
            [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": current}}}]
            if current is not None
            else None
        )
        out["status"] = out_status
    return out


# --------------------------------------------------------------------------- validation


def _target_ref_errors(ref: Any, path: Path) -> list[FieldError]:
    """``ValidateCrossVersionObjectReference``."""
    ref = as_map(ref)
    errs: list[FieldError] = []
    for key in ("kind", "name"):
        value = as_str(ref.get(key))
        if not value:
            errs.append(required(path.child(key), ""))
        else:
            errs.extend(msgs_to_errors(path.child(key), value, path_segment_name(value)))
    return errs


def _replica_errors(spec: Obj, path: Path) -> list[FieldError]:
    errs: list[FieldError] = []
    min_replicas = check_int(spec, "minReplicas", path.child("minReplicas"), errs)
    max_replicas = spec.get("maxReplicas", 0)
    max_replicas = max_replicas if is_int(max_replicas) else 0
    if min_replicas is not None and min_replicas < 1:
        errs.append(invalid(path.child("minReplicas"), min_replicas, "must be greater than or equal to 1"))
    if max_replicas < 1:
        errs.append(invalid(path.child("maxReplicas"), max_replicas, "must be greater than 0"))
    if min_replicas is not None and max_replicas < min_replicas:
        errs.append(invalid(path.child("maxReplicas"), max_replicas, "must be greater than or equal to `minReplicas`"))
    return errs


def _target_errors(target: Obj, path: Path) -> list[FieldError]:
    """``validateMetricTarget``."""
    errs: list[FieldError] = []
    ttype = target.get("type")
    if not ttype:
        errs.append(required(path.child("type"), "must specify a metric target type"))
    elif ttype not in ("Utilization", "Value", "AverageValue"):
        errs.append(invalid(path.child("type"), ttype, "must be either Utilization, Value, or AverageValue"))
    for key in ("value", "averageValue"):
        raw = target.get(key)
        if raw is None:
            continue
        err = quantity_error(raw, path.child(key))
        q = quantity_of(raw)
        if err is not None:
            errs.append(err)
        elif q is not None and q.sign() != 1:
            errs.append(invalid(path.child(key), str(q), "must be positive"))
    utilization = target.get("averageUtilization")
    if utilization is not None and (not is_int(utilization) or utilization < 1):
        errs.append(invalid(path.child("averageUtilization"), utilization, "must be greater than 0"))
    return errs


def _metric_errors(metric: Obj, path: Path) -> list[FieldError]:
    """``validateMetricSpec`` and the source-specific checks."""
    errs: list[FieldError] = []
    mtype = metric.get("type")
    if not mtype:
        errs.append(required(path.child("type"), "must specify a metric source type"))
    present = [field for field in _SOURCE_FIELD.values() if metric.get(field) is not None]
    expected = _SOURCE_FIELD.get(mtype) if isinstance(mtype, str) else None
    if mtype and expected is None:
        errs.append(not_supported(path.child("type"), mtype, METRIC_TYPES))
    if expected is not None and expected not in present:
        errs.append(required(path.child(expected), "must populate information for the given metric source"))
    if len(present) != 1 and expected is not None:
        errs.extend(
            forbidden(path.child(field), "must populate the given metric source only")
            for field in present
            if field != expected
        )
    if expected in ("resource", "containerResource") and isinstance(metric.get(expected), dict):
        source = metric[expected]
        spath = path.child(expected)
        if not as_str(source.get("name")):
            errs.append(required(spath.child("name"), "must specify a resource name"))
        if expected == "containerResource" and not as_str(source.get("container")):
            errs.append(required(spath.child("container"), "must specify a container"))
        target = as_map(source.get("target"))
        errs.extend(_target_errors(target, spath.child("target")))
        if target.get("averageValue") is None and target.get("averageUtilization") is None:
            errs.append(
                required(
                    spath.child("target", "averageUtilization"),
                    "must set either a target raw value or a target utilization",
                )
            )
        if target.get("averageValue") is not None and target.get("averageUtilization") is not None:
            errs.append(
                forbidden(
                    spath.child("target", "averageValue"),
                    "may not set both a target raw value and a target utilization",
                )
            )
    elif expected in ("pods", "object", "external") and isinstance(metric.get(expected), dict):
        source = metric[expected]
        spath = path.child(expected)
        if not as_str(as_map(source.get("metric")).get("name")):
            errs.append(required(spath.child("metric", "name"), "must specify a metric name"))
        errs.extend(_target_errors(as_map(source.get("target")), spath.child("target")))
        if expected == "object":
            errs.extend(_target_ref_errors(source.get("describedObject"), spath.child("describedObject")))
    return errs


def _default_rules(rules: Any, defaults: Obj) -> Obj:
    out = copy.deepcopy(defaults)
    for key, value in as_map(rules).items():
        if value is not None:
            out[key] = value
    return out


class HorizontalPodAutoscalerStrategy(Strategy):
    """``HorizontalPodAutoscaler`` in either served version."""

    kind = "HorizontalPodAutoscaler"
    has_status = True
    initial_status: ClassVar[Obj | None] = {"currentMetrics": None, "desiredReplicas": 0}

    @staticmethod
    def is_v1(obj: Obj) -> bool:
        return obj.get("apiVersion") == V1

    def set_defaults(self, obj: Obj) -> None:
        spec = sub(obj, "spec")
        if spec is None:
            return
        default(spec, "minReplicas", 1)
        if self.is_v1(obj):
            return
        if not as_list(spec.get("metrics")):
            spec["metrics"] = [copy.deepcopy(DEFAULT_CPU_METRIC)]
        behavior = spec.get("behavior")
        if isinstance(behavior, dict):
            behavior["scaleUp"] = _default_rules(behavior.get("scaleUp"), _SCALE_UP_DEFAULTS)
            behavior["scaleDown"] = _default_rules(behavior.get("scaleDown"), _SCALE_DOWN_DEFAULTS)

    def on_create(self, obj: Obj) -> None:
        if self.is_v1(obj):
            obj["status"] = {"currentReplicas": 0, "desiredReplicas": 0}

    def validate_object(self, obj: Obj, old: Obj | None) -> list[FieldError]:
        spec = as_map(obj.get("spec"))
        path = Path("spec")
        errs = _replica_errors(spec, path)
        errs.extend(_target_ref_errors(spec.get("scaleTargetRef"), path.child("scaleTargetRef")))
        if self.is_v1(obj):
            target = spec.get("targetCPUUtilizationPercentage")
            if target is not None and (not is_int(target) or target < 1):
                errs.append(invalid(path.child("targetCPUUtilizationPercentage"), target, "must be greater than 0"))
            return errs
        for i, metric in maps(spec.get("metrics")):
            errs.extend(_metric_errors(metric, path.child("metrics").index(i)))
        behavior = spec.get("behavior")
        if isinstance(behavior, dict):
            for direction in ("scaleUp", "scaleDown"):
                rules = as_map(behavior.get(direction))
                rpath = path.child("behavior", direction)
                window = rules.get("stabilizationWindowSeconds")
                if is_int(window) and not 0 <= window <= 3600:
                    errs.append(
                        invalid(
                            rpath.child("stabilizationWindowSeconds"),
                            window,
                            "must be less than or equal to 3600"
                            if window > 3600
                            else "must be greater than or equal to zero",
                        )
                    )
                for j, policy in maps(rules.get("policies")):
                    ppath = rpath.child("policies").index(j)
                    if not is_int(policy.get("value")) or policy["value"] <= 0:
                        errs.append(invalid(ppath.child("value"), policy.get("value"), "must be greater than zero"))
                    period = policy.get("periodSeconds")
                    if not is_int(period) or period <= 0:
                        errs.append(invalid(ppath.child("periodSeconds"), period, "must be greater than zero"))
                    elif period > 1800:
                        errs.append(invalid(ppath.child("periodSeconds"), period, "must be less than or equal to 1800"))
        return errs

    def validate_status(self, new: Obj, old: Obj) -> list[FieldError]:
        status = as_map(new.get("status"))
        errs: list[FieldError] = []
        for key in ("currentReplicas", "desiredReplicas"):
            value = check_int(status, key, Path("status", key), errs)
            if value is not None and value < 0:
                errs.append(invalid(Path("status", key), value, "must be greater than or equal to 0"))
        return errs
