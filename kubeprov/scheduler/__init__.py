"""The scheduling algorithm: filter nodes, score the feasible ones, pick one; pure functions over JSON dicts."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from kubeprov.scheduler import messages
from kubeprov.scheduler.framework import (
    UNSCHEDULABLE_AND_UNRESOLVABLE,
    Cycle,
    CycleState,
    NodeInfo,
    ScheduleResult,
    Status,
    num_feasible_nodes_to_find,
    run_filters,
    select_host,
)
from kubeprov.scheduler.plugins.inter_pod_affinity import InterPodAffinity
from kubeprov.scheduler.plugins.node_affinity import NodeAffinity
from kubeprov.scheduler.plugins.node_basic import NodeName, NodePorts, NodeUnschedulable
from kubeprov.scheduler.plugins.node_resources import NodeResourcesBalancedAllocation, NodeResourcesFit
from kubeprov.scheduler.plugins.pod_topology_spread import PodTopologySpread, default_selector
from kubeprov.scheduler.plugins.taint_toleration import TaintToleration

__all__ = [
    "CycleState",
    "NodeInfo",
    "ScheduleResult",
    "Status",
    "default_filters",
    "default_selector",
    "default_scorers",
    "schedule",
    "score_nodes",
]


def default_filters() -> list[Any]:
    """The default profile's filter plugins (volume plugins aside), in the order they run."""
    return [
        NodeUnschedulable(),
        NodeName(),
        TaintToleration(),
        NodeAffinity(),
        NodePorts(),
        NodeResourcesFit(),
        PodTopologySpread(),
        InterPodAffinity(),
    ]


def default_scorers() -> list[Any]:
    """The default profile's score plugins with their weights (ImageLocality left out)."""
    return [
        TaintToleration(),
        NodeAffinity(),
        NodeResourcesFit(),
        PodTopologySpread(),
        InterPodAffinity(),
        NodeResourcesBalancedAllocation(),
    ]


def _snapshot(nodes: list[NodeInfo], all_pods_by_node: Mapping[str, list[dict]] | None) -> list[NodeInfo]:
    if all_pods_by_node is None:
        return list(nodes)
    return [NodeInfo(ni.node, list(all_pods_by_node.get(ni.name, ni.pods))) for ni in nodes]


def _run_filters_all(
    cycle: Cycle, filters: list[Any], nodes: list[NodeInfo], limit: int, start: int = 0
) -> tuple[list[NodeInfo], dict[str, Status], str]:
    """Pre-filters, then filters node by node until ``limit`` feasible nodes are found.

    Returns the feasible nodes, the status of each rejected node and the pre-filter rejection message, if any.
    """
    for plugin in filters:
        status = plugin.pre_filter(cycle)
        if status is not None:
            rejected = Status(status.code, status.reasons, plugin.name)
            return [], {ni.name: rejected for ni in nodes}, ", ".join(status.reasons)
    only = cycle.state.get(NodeAffinity.name + "/nodes")
    absent = Status(UNSCHEDULABLE_AND_UNRESOLVABLE, (messages.NODE_AFFINITY_PREFILTER_ABSENT,), NodeAffinity.name)
    feasible: list[NodeInfo] = []
    statuses: dict[str, Status] = {}
    ordered = nodes[start % len(nodes) :] + nodes[: start % len(nodes)] if nodes else []
    for ni in ordered:
        if only is not None and ni.name not in only:
            statuses[ni.name] = absent
            continue
        if len(feasible) >= limit:
            continue
        status = run_filters(filters, cycle, ni)
        if status is None:
            feasible.append(ni)
        else:
            statuses[ni.name] = status
    return feasible, statuses, ""


def score_nodes(cycle: Cycle, feasible: list[NodeInfo], scorers: list[Any] | None = None) -> dict[str, int]:
    """Weighted sum over score plugins of each plugin's normalized 0..100 score."""
    totals = {ni.name: 0 for ni in feasible}
    for plugin in scorers if scorers is not None else default_scorers():
        if not plugin.pre_score(cycle, feasible):
            continue
        scores = {ni.name: plugin.score(cycle, ni) for ni in feasible}
        plugin.normalize(cycle, scores)
        for name, s in scores.items():
            totals[name] += s * plugin.weight
    return totals


def _priority(pod: Mapping[str, Any]) -> int:
    value = (pod.get("spec") or {}).get("priority")
    return value if isinstance(value, int) else 0


def _preemption_statuses(
    cycle: Cycle, nodes: list[NodeInfo], statuses: dict[str, Status]
) -> tuple[dict[str, list[str]], list[tuple[str, list[dict]]]]:
    """Dry-run preemption: per node, the reasons preemption cannot help, or the victims that would make room."""
    prio = _priority(cycle.pod)
    out: dict[str, list[str]] = {}
    candidates: list[tuple[str, list[dict]]] = []
    by_name = {ni.name: ni for ni in nodes}
    for name, status in statuses.items():
        if status.code == UNSCHEDULABLE_AND_UNRESOLVABLE:
            out[name] = [messages.PREEMPTION_NOT_HELPFUL]
            continue
        ni = by_name[name]
        lower = [p for p in ni.pods if _priority(p) < prio]
        if not lower:
            out[name] = [messages.NO_PREEMPTION_VICTIMS]
            continue
        fail = _fits_without(cycle, nodes, ni, lower)
        if fail is not None:
            out[name] = list(fail.reasons)
            continue
        # Reprieve as many victims as possible, most important (highest priority) first.
        removed = list(lower)
        victims: list[dict] = []
        for p in sorted(lower, key=_priority, reverse=True):
            trial = [q for q in removed if q is not p]
            if _fits_without(cycle, nodes, ni, trial) is None:
                removed = trial
            else:
                victims.append(p)
        candidates.append((name, victims))
    return out, candidates


def _fits_without(cycle: Cycle, nodes: list[NodeInfo], target: NodeInfo, removed: list[dict]) -> Status | None:
    ids = {id(p) for p in removed}
    trimmed = NodeInfo(target.node, [p for p in target.pods if id(p) not in ids])
    all_nodes = [trimmed if ni is target else ni for ni in cycle.all_nodes]
    trial = Cycle(cycle.pod, all_nodes, CycleState(), cycle.namespace_labels, cycle.default_spread_selector)
    filters = default_filters()
    for plugin in filters:
        if plugin.pre_filter(trial) is not None:
            return Status(UNSCHEDULABLE_AND_UNRESOLVABLE, ())
    return run_filters(filters, trial, trimmed)


def _pick_candidate(candidates: list[tuple[str, list[dict]]]) -> tuple[str, list[dict]]:
    """Fewest important victims: lowest highest-victim priority, then lowest priority sum, then fewest victims."""

    def key(c: tuple[str, list[dict]]) -> tuple[int, int, int]:
        prios = [_priority(p) for p in c[1]]
        return (max(prios, default=-(2**31)), sum(prios), len(prios))

    return min(candidates, key=key)


def schedule(
    pod: dict,
    nodes: list[NodeInfo],
    *,
    all_pods_by_node: Mapping[str, list[dict]] | None = None,
    percentage_of_nodes_to_score: int = 0,
    rng: random.Random | None = None,
    default_spread_selector: Mapping[str, Any] | None = None,
    namespace_labels: Mapping[str, Mapping[str, str]] | None = None,
    preemption: bool = True,
    start_index: int = 0,
) -> ScheduleResult:
    """One scheduling cycle for ``pod`` over the node snapshot ``nodes``.

    ``all_pods_by_node`` (node name -> pods) replaces the pods of the given nodes when supplied.
    ``default_spread_selector`` is the label selector of the services/controllers selecting the pod (the
    system-defaulted topology spread constraints use it). ``namespace_labels`` feeds affinity namespaceSelectors.
    ``start_index`` is where filtering starts in ``nodes`` (the caller advances it by ``result.processed`` so that
    a partial search, see ``percentage_of_nodes_to_score``, visits every node over time).
    """
    rng = rng if rng is not None else random.Random()
    snapshot = _snapshot(nodes, all_pods_by_node)
    cycle = Cycle(pod, snapshot, CycleState(), namespace_labels, default_spread_selector)
    limit = num_feasible_nodes_to_find(len(snapshot), percentage_of_nodes_to_score)
    feasible, statuses, pre_filter_msg = _run_filters_all(cycle, default_filters(), snapshot, limit, start_index)
    processed = len(feasible) + len(statuses)
    failures = {name: list(s.reasons) for name, s in statuses.items()}
    names = [ni.name for ni in feasible]
    if not feasible:
        post = ""
        nominated, victims = None, []
        if preemption:
            if (pod.get("spec") or {}).get("preemptionPolicy") == "Never":
                post = "preemption: " + messages.PREEMPTION_POLICY_NEVER
            else:
                pre_statuses, candidates = _preemption_statuses(cycle, snapshot, statuses)
                if candidates:
                    nominated, victims = _pick_candidate(candidates)
                else:
                    post = messages.preemption_message(len(snapshot), pre_statuses.values())
        message = messages.fit_error(
            len(snapshot), failures.values(), pre_filter_msg=pre_filter_msg, post_filter_msg=post
        )
        return ScheduleResult(None, [], {}, failures, message, statuses, nominated, victims, processed)
    if len(feasible) == 1:
        return ScheduleResult(names[0], names, {}, failures, "", statuses, processed=processed)
    totals = score_nodes(cycle, feasible)
    chosen = select_host([(ni.name, totals[ni.name]) for ni in feasible], rng)
    return ScheduleResult(chosen, names, totals, failures, "", statuses, processed=processed)
