"""The scheduling algorithm: filter nodes, score the feasible ones, pick one; pure functions over JSON dicts."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kubeprov.scheduler import messages
from kubeprov.scheduler import preemption as preemption_rules
from kubeprov.scheduler.framework import (
    UNSCHEDULABLE_AND_UNRESOLVABLE,
    Cycle,
    CycleState,
    NodeInfo,
    ScheduleResult,
    Status,
    VolumeLookup,
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
from kubeprov.scheduler.plugins.volume_binding import VolumeBinding

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


# plugins whose pre-filter may narrow the nodes to evaluate (state "<name>/nodes"), in the order they run
PRE_FILTER_NODE_PLUGINS = (NodeAffinity.name, VolumeBinding.name)


def default_filters() -> list[Any]:
    """The default profile's filter plugins (VolumeBinding the only volume one), in the order they run."""
    return [
        NodeUnschedulable(),
        NodeName(),
        TaintToleration(),
        NodeAffinity(),
        NodePorts(),
        NodeResourcesFit(),
        VolumeBinding(),
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
    only: set[str] | None = None
    narrowing: list[str] = []
    for name in PRE_FILTER_NODE_PLUGINS:
        names = cycle.state.get(name + "/nodes")
        if names is not None:
            narrowing.append(name)
            only = set(names) if only is None else only & set(names)
            if not only:
                msg = (f"node(s) didn't satisfy plugin {narrowing[0]}" if len(narrowing) == 1 else
                       f"node(s) didn't satisfy plugin(s) [{' '.join(narrowing)}] simultaneously")
                rejected = Status(UNSCHEDULABLE_AND_UNRESOLVABLE, (msg,), name)
                return [], {ni.name: rejected for ni in nodes}, msg
    absent = Status(UNSCHEDULABLE_AND_UNRESOLVABLE,
                    (f"node(s) didn't satisfy plugin(s) [{' '.join(sorted(narrowing))}]",),
                    narrowing[-1] if narrowing else "")
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


def _preemption(
    cycle: Cycle, nodes: list[NodeInfo], statuses: dict[str, Status], pdbs: Sequence[Mapping[str, Any]]
) -> tuple[dict[str, list[str]], list[preemption_rules.Candidate]]:
    """Dry-run preemption over the rejected nodes: per node, why preemption cannot help, or a candidate."""
    out: dict[str, list[str]] = {}
    candidates: list[preemption_rules.Candidate] = []
    by_name = {ni.name: ni for ni in nodes}

    def fits_without(target: NodeInfo, removed: list[dict]) -> Status | None:
        return _fits_without(cycle, target, removed)

    for ni in nodes:
        status = statuses.get(ni.name)
        if status is None:
            continue
        if status.code == UNSCHEDULABLE_AND_UNRESOLVABLE:
            out[ni.name] = [messages.PREEMPTION_NOT_HELPFUL]
            continue
        found = preemption_rules.select_victims(cycle.pod, by_name[ni.name], fits_without, pdbs)
        if isinstance(found, Status):
            out[ni.name] = list(found.reasons)
        else:
            candidates.append(found)
    return out, candidates


def _fits_without(cycle: Cycle, target: NodeInfo, removed: list[dict]) -> Status | None:
    ids = {id(p) for p in removed}
    trimmed = NodeInfo(target.node, [p for p in target.pods if id(p) not in ids])
    all_nodes = [trimmed if ni is target else ni for ni in cycle.all_nodes]
    trial = Cycle(cycle.pod, all_nodes, CycleState(), cycle.namespace_labels, cycle.default_spread_selector,
                  cycle.volumes)
    filters = default_filters()
    for plugin in filters:
        if plugin.pre_filter(trial) is not None:
            return Status(UNSCHEDULABLE_AND_UNRESOLVABLE, ())
    return run_filters(filters, trial, trimmed)


def _with_nominated(nodes: list[NodeInfo], pod: dict, nominated: Mapping[str, list[dict]] | None) -> list[NodeInfo]:
    """Nodes with the pods nominated to them (of at least this pod's priority) counted as if they ran there."""
    if not nominated:
        return nodes
    prio = preemption_rules.priority(pod)
    uid = (pod.get("metadata") or {}).get("uid")
    out = []
    for ni in nodes:
        extra = [p for p in nominated.get(ni.name, ()) if preemption_rules.priority(p) >= prio
                 and (p.get("metadata") or {}).get("uid") != uid]
        out.append(NodeInfo(ni.node, ni.pods + extra) if extra else ni)
    return out


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
    volumes: VolumeLookup | None = None,
    pdbs: Sequence[Mapping[str, Any]] | Callable[[], Sequence[Mapping[str, Any]]] = (),
    nominated: Mapping[str, list[dict]] | None = None,
) -> ScheduleResult:
    """One scheduling cycle for ``pod`` over the node snapshot ``nodes``.

    ``all_pods_by_node`` (node name -> pods) replaces the pods of the given nodes when supplied.
    ``default_spread_selector`` is the label selector of the services/controllers selecting the pod (the
    system-defaulted topology spread constraints use it). ``namespace_labels`` feeds affinity namespaceSelectors.
    ``start_index`` is where filtering starts in ``nodes`` (the caller advances it by ``result.processed`` so that
    a partial search, see ``percentage_of_nodes_to_score``, visits every node over time). ``volumes`` gives
    VolumeBinding the claims, volumes and classes (None: volumes are not checked); ``pdbs`` the
    PodDisruptionBudgets preemption respects (or a function giving them, called only when preempting);
    ``nominated`` (node -> pods) the pods that preempted room there.
    """
    rng = rng if rng is not None else random.Random()
    snapshot = _with_nominated(_snapshot(nodes, all_pods_by_node), pod, nominated)
    cycle = Cycle(pod, snapshot, CycleState(), namespace_labels, default_spread_selector, volumes)
    limit = num_feasible_nodes_to_find(len(snapshot), percentage_of_nodes_to_score)
    feasible, statuses, pre_filter_msg = _run_filters_all(cycle, default_filters(), snapshot, limit, start_index)
    processed = len(feasible) + len(statuses)
    failures = {name: list(s.reasons) for name, s in statuses.items()}
    names = [ni.name for ni in feasible]
    if not feasible:
        post = ""
        nominated_node, victims = None, []
        if preemption:
            nominated_name = (pod.get("status") or {}).get("nominatedNodeName")
            reason = preemption_rules.ineligible_reason(pod, snapshot, statuses.get(nominated_name or ""))
            if reason:
                post = "preemption: " + reason
            else:
                budgets = pdbs() if callable(pdbs) else pdbs
                pre_statuses, candidates = _preemption(cycle, snapshot, statuses, budgets)
                if candidates:
                    best = preemption_rules.pick_candidate(candidates)
                    nominated_node, victims = best.node, best.victims
                else:
                    post = messages.preemption_message(len(snapshot), pre_statuses.values())
        message = messages.fit_error(
            len(snapshot), failures.values(), pre_filter_msg=pre_filter_msg, post_filter_msg=post
        )
        return ScheduleResult(None, [], {}, failures, message, statuses, nominated_node, victims, processed)
    if len(feasible) == 1:
        return ScheduleResult(names[0], names, {}, failures, "", statuses, processed=processed)
    totals = score_nodes(cycle, feasible)
    chosen = select_host([(ni.name, totals[ni.name]) for ni in feasible], rng)
    return ScheduleResult(chosen, names, totals, failures, "", statuses, processed=processed)
