"""What the workload controllers ask of a pod: is it ready, available, active, finished, whose is it.

Kubernetes keeps these in ``k8s.io/kubernetes/pkg/api/v1/pod`` and ``controller_utils.go`` so that the
ReplicaSet, Deployment, StatefulSet, DaemonSet, Job, disruption and endpoints controllers all count a
pod the same way; so do we.
"""

from __future__ import annotations

from typing import Any

from kubeprov.controllers.timestamps import parse_time

Obj = dict[str, Any]

__all__ = ["controller_ref", "is_active", "is_available", "is_ready", "is_running_and_available",
           "is_running_and_ready", "is_terminal", "is_terminating", "parse_time", "phase", "ready_condition",
           "ready_since"]


def _meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def phase(pod: Obj) -> str:
    return (pod.get("status") or {}).get("phase") or ""


def is_terminating(pod: Obj) -> bool:
    """Whether the pod is being deleted (it has a ``deletionTimestamp``)."""
    return bool(_meta(pod).get("deletionTimestamp"))


def is_terminal(pod: Obj) -> bool:
    """Whether the pod finished (``Succeeded`` or ``Failed``): it will never run again."""
    return phase(pod) in ("Succeeded", "Failed")


def is_active(pod: Obj) -> bool:
    """Kubernetes' ``IsPodActive``: neither finished nor being deleted."""
    return not is_terminal(pod) and not is_terminating(pod)


def ready_condition(pod: Obj) -> Obj | None:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond
    return None


def is_ready(pod: Obj) -> bool:
    """``IsPodReady``: the Ready condition is True (whatever the phase)."""
    cond = ready_condition(pod)
    return cond is not None and cond.get("status") == "True"


def ready_since(pod: Obj) -> float:
    """When the Ready condition last changed (Unix time; 0.0 when unknown)."""
    return parse_time((ready_condition(pod) or {}).get("lastTransitionTime"))


def is_available(pod: Obj, min_ready_seconds: int, now: float) -> bool:
    """``IsPodAvailable``: ready, and for at least ``min_ready_seconds`` by ``now``."""
    if not is_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = ready_since(pod)
    return since > 0 and since + min_ready_seconds <= now


def is_running_and_ready(pod: Obj) -> bool:
    """The StatefulSet's notion of ready: Running as well as Ready."""
    return phase(pod) == "Running" and is_ready(pod)


def is_running_and_available(pod: Obj, min_ready_seconds: int, now: float) -> bool:
    return phase(pod) == "Running" and is_available(pod, min_ready_seconds, now)


def controller_ref(obj: Obj) -> Obj | None:
    """The owner reference with ``controller: true`` (at most one is allowed), if any."""
    for ref in _meta(obj).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref
    return None
