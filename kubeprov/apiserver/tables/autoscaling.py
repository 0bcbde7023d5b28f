"""Printer of horizontal pod autoscalers (autoscaling/v2 objects, and v1 objects read through v1)."""

from __future__ import annotations

from datetime import datetime

from kubeprov.apiserver.tables.age import since
from kubeprov.apiserver.tables.common import AGE, NAME, NONE, UNSET, Column, Printer, creation, get, name_of

UNKNOWN = "<unknown>"
SHOWN_METRICS = 2


def _percent(value: object) -> str | None:
    return None if value is None else f"{value}%"


def _resource_metric(source: dict | None, current: dict | None) -> str:
    """``cpu: 40%/80%`` or ``memory: 100Mi/200Mi`` for Resource and ContainerResource metrics."""
    source = source or {}
    target = source.get("target") or {}
    now = (current or {}).get("current") or {}
    name = source.get("name", "")
    if target.get("averageValue") is not None:
        return f"{name}: {now.get('averageValue') or UNKNOWN}/{target['averageValue']}"
    shown = _percent(now.get("averageUtilization")) if current else None
    return f"{name}: {shown or UNKNOWN}/{_percent(target.get('averageUtilization')) or '<auto>'}"


def _value_metric(source: dict | None, current: dict | None) -> str:
    """External and Object metrics: ``current/target``, with `` (avg)`` for per-pod targets."""
    target = (source or {}).get("target") or {}
    now = (current or {}).get("current") or {}
    if target.get("averageValue") is not None:
        return f"{now.get('averageValue') or UNKNOWN}/{target['averageValue']} (avg)"
    return f"{now.get('value') or UNKNOWN}/{target.get('value', '')}"


def _metric(spec: dict, status: dict | None) -> str:
    kind = spec.get("type")
    field = {"Resource": "resource", "ContainerResource": "containerResource", "Pods": "pods",
             "Object": "object", "External": "external"}.get(kind or "")
    if field is None:
        return "<unknown type>"
    source, current = spec.get(field), (status or {}).get(field)
    if kind in ("Resource", "ContainerResource"):
        return _resource_metric(source, current)
    if kind == "Pods":
        now = (current or {}).get("current") or {}
        return f"{now.get('averageValue') or UNKNOWN}/{get(source, 'target', 'averageValue', default='')}"
    return _value_metric(source, current)


def _v1_metrics(hpa: dict) -> tuple[list[dict], list[dict]]:
    """autoscaling/v1 keeps one CPU target; read it as the v2 Resource metric it stands for."""
    target = get(hpa, "spec", "targetCPUUtilizationPercentage")
    if target is None:
        return [], []
    spec = [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization",
                                                                        "averageUtilization": target}}}]
    current = get(hpa, "status", "currentCPUUtilizationPercentage")
    status = [] if current is None else [{"type": "Resource", "resource": {
        "name": "cpu", "current": {"averageUtilization": current}}}]
    return spec, status


def hpa_targets(hpa: dict) -> str:
    spec = hpa.get("spec") or {}
    if "targetCPUUtilizationPercentage" in spec and "metrics" not in spec:
        specs, statuses = _v1_metrics(hpa)
    else:
        specs = spec.get("metrics") or []
        statuses = get(hpa, "status", "currentMetrics", default=[])
    if not specs:
        return NONE
    shown = [_metric(spec, statuses[i] if i < len(statuses) else None) for i, spec in enumerate(specs)]
    text = ", ".join(shown[:SHOWN_METRICS])
    return f"{text} + {len(shown) - SHOWN_METRICS} more..." if len(shown) > SHOWN_METRICS else text


def _hpa_cells(hpa: dict, now: datetime) -> list:
    ref = get(hpa, "spec", "scaleTargetRef", default={})
    min_replicas = get(hpa, "spec", "minReplicas")
    return [name_of(hpa), f"{ref.get('kind', '')}/{ref.get('name', '')}", hpa_targets(hpa),
            UNSET if min_replicas is None else str(min_replicas), get(hpa, "spec", "maxReplicas", default=0),
            get(hpa, "status", "currentReplicas", default=0), since(creation(hpa), now)]


HORIZONTAL_POD_AUTOSCALER = Printer(
    (NAME, Column("Reference", description="The resource being scaled."),
     Column("Targets", description="Current and target values of the metrics used to scale."),
     Column("MinPods", description="Lower limit for the number of replicas."),
     Column("MaxPods", description="Upper limit for the number of replicas."),
     Column("Replicas", description="Current number of replicas of the scaled resource."), AGE),
    _hpa_cells,
)
