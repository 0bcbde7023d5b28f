"""DefaultPreemption (PostFilter), as kube-scheduler 1.32: which pods to evict so that a pod that fits nowhere fits.

Per node the preemption dry run removes every pod of lower priority; if the pod still does not fit, the node is
no candidate (its filter reason is reported). Otherwise the removed pods are added back, most important first
(higher priority, then earlier start) -- those whose eviction would violate a PodDisruptionBudget before the
others -- and each one the node can keep is reprieved; the rest are the victims. Among candidate nodes the one
with the fewest PDB violations wins, then the lowest highest-victim priority, the lowest priority sum, the
fewest victims, the latest start of its most important victims, then the first in node order.

A pod never preempts pods of equal or higher priority, does nothing with ``preemptionPolicy: Never``, and waits
(not eligible) while lower-priority pods it already preempted on its nominated node are terminating.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kubeprov.api import labels as labelsel
from kubeprov.scheduler.framework import NodeInfo, Status

DISRUPTION_TARGET = "DisruptionTarget"
PREEMPTION_BY_SCHEDULER = "PreemptionByScheduler"
TERMINATING_ON_NOMINATED = "not eligible due to a terminating pod on the nominated node."
POLICY_NEVER = "not eligible due to preemptionPolicy=Never."
INT32_OFFSET = 2**31  # kube-scheduler adds MaxInt32 + 1 to each priority before summing

Obj = dict[str, Any]


def priority(pod: Mapping[str, Any]) -> int:
    value = (pod.get("spec") or {}).get("priority")
    return value if isinstance(value, int) else 0


def start_time(pod: Mapping[str, Any]) -> str:
    """RFC 3339 start (or creation) time; sorts as text. Unknown sorts last (a pod not started yet is newest)."""
    status = pod.get("status") or {}
    return str(status.get("startTime") or (pod.get("metadata") or {}).get("creationTimestamp") or "9999")


def terminating_by_preemption(pod: Mapping[str, Any]) -> bool:
    if not (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    return any(c.get("type") == DISRUPTION_TARGET and c.get("status") == "True"
               and c.get("reason") == PREEMPTION_BY_SCHEDULER for c in (pod.get("status") or {}).get("conditions")
               or [])


def ineligible_reason(pod: Mapping[str, Any], nodes: Sequence[NodeInfo], nominated_status: Status | None) -> str:
    """Why the pod may not preempt now (``""``: it may)."""
    spec = pod.get("spec") or {}
    if spec.get("preemptionPolicy") == "Never":
        return POLICY_NEVER
    nominated = (pod.get("status") or {}).get("nominatedNodeName")
    if not nominated:
        return ""
    if nominated_status is not None and nominated_status.code == "UnschedulableAndUnresolvable":
        return ""
    prio = priority(pod)
    for ni in nodes:
        if ni.name == nominated:
            if any(priority(p) < prio and terminating_by_preemption(p) for p in ni.pods):
                return TERMINATING_ON_NOMINATED
    return ""


def _more_important_key(pod: Mapping[str, Any]) -> tuple[int, str]:
    return (-priority(pod), start_time(pod))


def split_by_pdb(pods: list[Obj], pdbs: Sequence[Mapping[str, Any]]) -> tuple[list[Obj], list[Obj]]:
    """(violating, non-violating): evicting a violating pod would take some matching PDB below its allowance."""
    allowed = [int((pdb.get("status") or {}).get("disruptionsAllowed") or 0) for pdb in pdbs]
    violating: list[Obj] = []
    other: list[Obj] = []
    for p in pods:
        meta = p.get("metadata") or {}
        hit = False
        for i, pdb in enumerate(pdbs):
            if (pdb.get("metadata") or {}).get("namespace") != meta.get("namespace"):
                continue
            selector = (pdb.get("spec") or {}).get("selector")
            if not selector or not (selector.get("matchLabels") or selector.get("matchExpressions")):
                continue
            try:
                if not labelsel.from_label_selector(selector).matches(meta.get("labels") or {}):
                    continue
            except labelsel.SelectorError:
                continue
            if meta.get("name") in ((pdb.get("status") or {}).get("disruptedPods") or {}):
                continue  # already counted as disrupted
            allowed[i] -= 1
            if allowed[i] < 0:
                hit = True
        (violating if hit else other).append(p)
    return violating, other


@dataclass
class Candidate:
    node: str
    victims: list[Obj]
    pdb_violations: int


FitsWithout = Callable[[NodeInfo, list[Obj]], Status | None]


def select_victims(pod: Mapping[str, Any], node: NodeInfo, fits_without: FitsWithout,
                   pdbs: Sequence[Mapping[str, Any]]) -> Candidate | Status:
    """The fewest, least important victims on ``node``, or the status saying preemption cannot help there."""
    prio = priority(pod)
    lower = [p for p in node.pods if priority(p) < prio]
    if not lower:
        return Status("UnschedulableAndUnresolvable", ("No preemption victims found for incoming pod",))
    fail = fits_without(node, lower)
    if fail is not None:
        return fail
    lower.sort(key=_more_important_key)
    violating, other = split_by_pdb(lower, pdbs)
    removed = {id(p) for p in lower}
    victims: list[Obj] = []
    violations = 0

    def reprieve(p: Obj) -> bool:
        removed.discard(id(p))
        if fits_without(node, [q for q in lower if id(q) in removed]) is None:
            return True
        removed.add(id(p))
        victims.append(p)
        return False

    for p in violating:
        if not reprieve(p):
            violations += 1
    for p in other:
        reprieve(p)
    victims.sort(key=_more_important_key)
    return Candidate(node.name, victims, violations)


def pick_candidate(candidates: list[Candidate]) -> Candidate:
    """kube-scheduler's pickOneNodeForPreemption, criterion after criterion; the first in node order wins ties."""
    def narrow(pool: list[Candidate], score: Callable[[Candidate], Any]) -> list[Candidate]:
        best = min(score(c) for c in pool)
        return [c for c in pool if score(c) == best]

    pool = narrow(candidates, lambda c: c.pdb_violations)
    pool = narrow(pool, lambda c: max((priority(v) for v in c.victims), default=-INT32_OFFSET))
    pool = narrow(pool, lambda c: sum(priority(v) + INT32_OFFSET for v in c.victims))
    pool = narrow(pool, lambda c: len(c.victims))
    if len(pool) > 1:
        def earliest_top(c: Candidate) -> str:
            top = max((priority(v) for v in c.victims), default=0)
            return min((start_time(v) for v in c.victims if priority(v) == top), default="")
        latest = max(earliest_top(c) for c in pool)
        pool = [c for c in pool if earliest_top(c) == latest]
    return pool[0]


def disruption_condition(scheduler_name: str, now: str) -> Obj:
    """The condition a victim gets before it is deleted."""
    return {"type": DISRUPTION_TARGET, "status": "True", "reason": PREEMPTION_BY_SCHEDULER,
            "message": f"{scheduler_name}: preempting to accommodate a higher priority pod",
            "lastTransitionTime": now}
