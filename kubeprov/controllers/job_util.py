"""Pure helpers of the Job controller: pod states, conditions, completion indexes, backoff.

Kept apart from the controller so the arithmetic (how many pods to want, when a Job is done, how
long to wait after failures) is unit-tested without an API server.
"""

from __future__ import annotations

from typing import Any

from kubeprov.controllers.podutil import is_active as is_active  # re-exported: the Job tests count with it
from kubeprov.controllers.podutil import is_ready as is_ready
from kubeprov.controllers.podutil import is_terminating as terminating
from kubeprov.controllers.podutil import phase
from kubeprov.controllers.timestamps import epoch_text as now_time
from kubeprov.controllers.timestamps import parse_epoch as parse_time

Obj = dict[str, Any]

TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"
NAME_LABEL = "batch.kubernetes.io/job-name"
UID_LABEL = "batch.kubernetes.io/controller-uid"
LEGACY_NAME_LABEL = "job-name"
LEGACY_UID_LABEL = "controller-uid"
INDEX_ENV = "JOB_COMPLETION_INDEX"
DEFAULT_BACKOFF = 10.0
MAX_BACKOFF = 360.0


def is_succeeded(pod: Obj) -> bool:
    return phase(pod) == "Succeeded"


def is_failed(pod: Obj, job: Obj) -> bool:
    """A failed pod; a deleted one that did not succeed counts as failed too (it may never reach Failed),
    unless the Job only replaces Failed pods (podReplacementPolicy Failed / podFailurePolicy)."""
    if phase(pod) == "Failed":
        return True
    spec = job.get("spec") or {}
    if spec.get("podReplacementPolicy") == "Failed" or spec.get("podFailurePolicy") is not None:
        return False
    return terminating(pod) and phase(pod) != "Succeeded"


def has_finalizer(pod: Obj) -> bool:
    return TRACKING_FINALIZER in ((pod.get("metadata") or {}).get("finalizers") or [])


def condition(job: Obj, type_: str) -> Obj | None:
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_ and cond.get("status") == "True":
            return cond
    return None


def finished(job: Obj) -> str | None:
    """"Complete" or "Failed" when the Job has that terminal condition, else None."""
    for type_ in ("Complete", "Failed"):
        if condition(job, type_) is not None:
            return type_
    return None


def new_condition(type_: str, reason: str, message: str, now: float, status: str = "True") -> Obj:
    stamp = now_time(now)
    return {"type": type_, "status": status, "lastProbeTime": stamp, "lastTransitionTime": stamp,
            "reason": reason, "message": message}


def set_condition(conditions: list[Obj], cond: Obj) -> list[Obj]:
    """Replace the condition of the same type (keeping its transition time when the status is unchanged)."""
    out = []
    placed = False
    for existing in conditions:
        if existing.get("type") == cond["type"]:
            if existing.get("status") == cond["status"]:
                cond = {**cond, "lastTransitionTime": existing.get("lastTransitionTime", cond["lastTransitionTime"])}
                if (existing.get("reason"), existing.get("message")) == (cond.get("reason"), cond.get("message")):
                    cond = existing
            out.append(cond)
            placed = True
        else:
            out.append(existing)
    if not placed:
        out.append(cond)
    return out


def is_indexed(job: Obj) -> bool:
    return (job.get("spec") or {}).get("completionMode") == "Indexed"


def pod_index(pod: Obj) -> int | None:
    meta = pod.get("metadata") or {}
    text = (meta.get("annotations") or {}).get(COMPLETION_INDEX) or (meta.get("labels") or {}).get(COMPLETION_INDEX)
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def parse_indexes(text: str | None, completions: int) -> set[int]:
    """``"0-2,5"`` -> {0, 1, 2, 5} (indexes beyond ``completions`` dropped)."""
    out: set[int] = set()
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        low, _, high = part.partition("-")
        try:
            first, last = int(low), int(high or low)
        except ValueError:
            continue
        out.update(i for i in range(first, last + 1) if 0 <= i < completions)
    return out


def format_indexes(indexes: set[int]) -> str:
    """{0, 1, 2, 5} -> ``"0-2,5"`` (status.completedIndexes)."""
    parts: list[str] = []
    ordered = sorted(indexes)
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)


def wanted_active(job: Obj, succeeded: int) -> int:
    """How many pods a NonIndexed Job wants running now."""
    spec = job.get("spec") or {}
    parallelism = int(spec.get("parallelism") if spec.get("parallelism") is not None else 1)
    completions = spec.get("completions")
    if completions is None:
        # a work queue: once one pod succeeded, no new pods are started
        return 0 if succeeded > 0 else parallelism
    return max(0, min(int(completions) - succeeded, parallelism))


def is_complete(job: Obj, succeeded: int, active: int, completed_indexes: set[int]) -> bool:
    spec = job.get("spec") or {}
    completions = spec.get("completions")
    if is_indexed(job):
        return len(completed_indexes) >= int(completions or 0)
    if completions is None:
        return succeeded > 0 and active == 0
    return succeeded >= int(completions)


def backoff_delay(failures: int, base: float = DEFAULT_BACKOFF, cap: float = MAX_BACKOFF) -> float:
    """The wait before a new pod after ``failures`` failures: base, 2 base, 4 base, ... at most ``cap``."""
    if failures <= 0:
        return 0.0
    return min(base * 2 ** min(failures - 1, 30), cap)


def past_deadline(job: Obj, now: float) -> bool:
    spec, status = job.get("spec") or {}, job.get("status") or {}
    deadline = spec.get("activeDeadlineSeconds")
    start = parse_time(status.get("startTime"))
    if deadline is None or start is None or spec.get("suspend"):
        return False
    return now - start >= int(deadline)


def deadline_remaining(job: Obj, now: float) -> float | None:
    spec, status = job.get("spec") or {}, job.get("status") or {}
    deadline = spec.get("activeDeadlineSeconds")
    start = parse_time(status.get("startTime"))
    if deadline is None or start is None:
        return None
    return start + int(deadline) - now


def _exit_code_matches(pod: Obj, rule: Obj) -> str | None:
    """The message part for the first container whose non-zero exit code matches ``onExitCodes``."""
    requirement = rule.get("onExitCodes") or {}
    name = requirement.get("containerName")
    values = set(requirement.get("values") or [])
    operator = requirement.get("operator")
    status = pod.get("status") or {}
    for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        terminated = (cs.get("state") or {}).get("terminated")
        if not terminated or (name and cs.get("name") != name):
            continue
        code = int(terminated.get("exitCode") or 0)
        if code == 0:
            continue
        if (operator == "In" and code in values) or (operator == "NotIn" and code not in values):
            return f"Container {cs.get('name')} for pod {{pod}} failed with exit code {code}"
    return None


def _condition_matches(pod: Obj, rule: Obj) -> str | None:
    for pattern in rule.get("onPodConditions") or []:
        for cond in (pod.get("status") or {}).get("conditions") or []:
            if cond.get("type") == pattern.get("type") and cond.get("status") == (pattern.get("status") or "True"):
                return f"Pod {{pod}} has condition {cond.get('type')}"
    return None


def failure_policy_action(job: Obj, pod: Obj) -> tuple[str, str]:
    """(action, message) of the first ``podFailurePolicy`` rule matching a failed pod; ("Count", "") when
    none does (or the Job has no policy). Only pods in phase Failed are judged."""
    policy = (job.get("spec") or {}).get("podFailurePolicy")
    if not policy or phase(pod) != "Failed":
        return "Count", ""
    name = f"{(pod.get('metadata') or {}).get('namespace', '')}/{(pod.get('metadata') or {}).get('name', '')}"
    for i, rule in enumerate(policy.get("rules") or []):
        text = _exit_code_matches(pod, rule) if rule.get("onExitCodes") else _condition_matches(pod, rule)
        if text is None:
            continue
        action = rule.get("action") or "Count"
        return action, f"{text.format(pod=name)} matching {action} rule at index {i}"
    return "Count", ""
