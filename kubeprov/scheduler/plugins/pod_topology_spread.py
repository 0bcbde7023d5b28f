"""PodTopologySpread: DoNotSchedule constraints as a filter, ScheduleAnyway (and system defaults) as a score."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kubeprov.api.labels import Operator, Selector, SelectorError, from_label_selector, new_requirement
from kubeprov.scheduler.framework import (
    MAX_NODE_SCORE,
    Cycle,
    NodeInfo,
    Status,
    labels_of,
    name_of,
    namespace_of,
    unresolvable,
    unschedulable,
)
from kubeprov.scheduler.plugins.node_affinity import required_matches
from kubeprov.scheduler.plugins.taint_toleration import first_untolerated, node_taints, pod_tolerations

HOSTNAME = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"
# The system-defaulted constraints (applied when the pod has none and a controller/service selects it).
SYSTEM_DEFAULT_CONSTRAINTS = (
    {"topologyKey": HOSTNAME, "maxSkew": 3, "whenUnsatisfiable": "ScheduleAnyway"},
    {"topologyKey": ZONE, "maxSkew": 5, "whenUnsatisfiable": "ScheduleAnyway"},
)


@dataclass
class Constraint:
    max_skew: int
    topology_key: str
    selector: Selector
    min_domains: int
    honor_affinity: bool
    honor_taints: bool


def _constraint(pod: Mapping[str, Any], raw: Mapping[str, Any], selector_raw: Any) -> Constraint:
    try:
        selector = from_label_selector(selector_raw)
        own = labels_of(pod)
        for key in raw.get("matchLabelKeys") or []:
            if key in own:
                selector = selector.add(new_requirement(key, Operator.IN, [own[key]]))
    except SelectorError:
        selector = Selector.nothing()
    return Constraint(
        max_skew=int(raw.get("maxSkew") or 1),
        topology_key=str(raw.get("topologyKey") or ""),
        selector=selector,
        min_domains=int(raw.get("minDomains") or 1),
        honor_affinity=(raw.get("nodeAffinityPolicy") or "Honor") == "Honor",
        honor_taints=(raw.get("nodeTaintsPolicy") or "Ignore") == "Honor",
    )


def pod_constraints(pod: Mapping[str, Any], when: str) -> list[Constraint]:
    raw = (pod.get("spec") or {}).get("topologySpreadConstraints") or []
    return [_constraint(pod, c, c.get("labelSelector")) for c in raw if c.get("whenUnsatisfiable") == when]


def _counts_node(c: Constraint, pod: Mapping[str, Any], node: NodeInfo) -> bool:
    """nodeAffinityPolicy / nodeTaintsPolicy: whether this node's pods count at all."""
    if c.honor_affinity and not required_matches(pod, node.node):
        return False
    if c.honor_taints and first_untolerated(node_taints(node), pod_tolerations(pod), ("NoSchedule", "NoExecute")):
        return False
    return True


def _has_keys(node: NodeInfo, constraints: list[Constraint]) -> bool:
    labels = node.labels
    return all(c.topology_key in labels for c in constraints)


def _count_matching(node: NodeInfo, selector: Selector, namespace: str) -> int:
    """The node's pods in ``namespace`` that ``selector`` matches (memoized on the NodeInfo: the pods of one
    Deployment are scheduled one after the other against mostly unchanged nodes)."""
    key = (PodTopologySpread.name, selector.requirements, selector.is_nothing(), namespace)
    count = node.memo.get(key)
    if count is None:
        count = node.memo[key] = sum(
            1
            for p in node.pods
            if namespace_of(p) == namespace
            and not (p.get("metadata") or {}).get("deletionTimestamp")
            and selector.matches(labels_of(p))
        )
    return count


class PodTopologySpread:
    name = "PodTopologySpread"
    weight = 2
    reason = "node(s) didn't match pod topology spread constraints"
    reason_missing_label = "node(s) didn't match pod topology spread constraints (missing required label)"

    def pre_filter(self, cycle: Cycle) -> None:
        pod = cycle.pod
        constraints = pod_constraints(pod, "DoNotSchedule")
        # per constraint: topology value -> matching pods (every eligible domain present, possibly with 0)
        counts: list[dict[str, int]] = [{} for _ in constraints]
        if constraints:
            ns = namespace_of(pod)
            for ni in cycle.all_nodes:
                if not _has_keys(ni, constraints):
                    continue
                for i, c in enumerate(constraints):
                    if not _counts_node(c, pod, ni):
                        continue
                    value = ni.labels[c.topology_key]
                    counts[i][value] = counts[i].get(value, 0) + _count_matching(ni, c.selector, ns)
        cycle.state[self.name] = (constraints, counts)

    def filter(self, cycle: Cycle, node: NodeInfo) -> Status | None:
        constraints, counts = cycle.state[self.name]
        labels = node.labels
        for c in constraints:
            if c.topology_key not in labels:
                return unresolvable(self.reason_missing_label)
        for c, domains in zip(constraints, counts, strict=True):
            min_match = min(domains.values()) if domains else 0
            if len(domains) < c.min_domains:
                min_match = 0
            self_match = 1 if c.selector.matches(labels_of(cycle.pod)) else 0
            match = domains.get(labels[c.topology_key], 0)
            if match + self_match - min_match > c.max_skew:
                return unschedulable(self.reason)
        return None

    def _score_constraints(self, cycle: Cycle) -> tuple[list[Constraint], bool]:
        pod = cycle.pod
        if (pod.get("spec") or {}).get("topologySpreadConstraints"):
            return pod_constraints(pod, "ScheduleAnyway"), True
        selector = cycle.default_spread_selector
        if selector is None:
            return [], False
        constraints = [_constraint(pod, c, selector) for c in SYSTEM_DEFAULT_CONSTRAINTS]
        if any(c.selector.is_empty() or c.selector.is_nothing() for c in constraints):
            return [], False
        return constraints, False

    def pre_score(self, cycle: Cycle, nodes: list[NodeInfo]) -> bool:
        constraints, require_all = self._score_constraints(cycle)
        if not constraints:
            return False
        pod = cycle.pod
        ignored: set[str] = set()
        # per constraint: topology value (of a feasible node) -> matching pods; hostname is counted in score()
        value_counts: list[dict[str, int]] = [{} for _ in constraints]
        for ni in nodes:
            if require_all and not _has_keys(ni, constraints):
                ignored.add(ni.name)
                continue
            for i, c in enumerate(constraints):
                if c.topology_key != HOSTNAME:
                    value_counts[i].setdefault(ni.labels.get(c.topology_key, ""), 0)
        weights = []
        for i, c in enumerate(constraints):
            size = len(nodes) - len(ignored) if c.topology_key == HOSTNAME else len(value_counts[i])
            weights.append(math.log(size + 2))
        ns = namespace_of(pod)
        for ni in cycle.all_nodes:
            if require_all and not _has_keys(ni, constraints):
                continue
            for i, c in enumerate(constraints):
                if c.topology_key == HOSTNAME or not _counts_node(c, pod, ni):
                    continue
                value = ni.labels.get(c.topology_key, "")
                if value in value_counts[i]:
                    value_counts[i][value] += _count_matching(ni, c.selector, ns)
        cycle.state[self.name + "/score"] = (constraints, ignored, value_counts, weights)
        return True

    def score(self, cycle: Cycle, node: NodeInfo) -> int:
        constraints, _, value_counts, weights = cycle.state[self.name + "/score"]
        labels = node.labels
        total = 0.0
        ns = namespace_of(cycle.pod)
        for i, (c, w) in enumerate(zip(constraints, weights, strict=True)):
            if c.topology_key not in labels:
                continue
            if c.topology_key == HOSTNAME:
                cnt = _count_matching(node, c.selector, ns)
            else:
                cnt = value_counts[i].get(labels[c.topology_key], 0)
            total += cnt * w + (c.max_skew - 1)
        return _round_half_away(total)

    def normalize(self, cycle: Cycle, scores: dict[str, int]) -> None:
        _, ignored, _, _ = cycle.state[self.name + "/score"]
        valid = [v for k, v in scores.items() if k not in ignored]
        lo = min(valid, default=0)
        hi = max(valid, default=0)
        for k, v in scores.items():
            if k in ignored:
                scores[k] = 0
            elif hi == 0:
                scores[k] = MAX_NODE_SCORE
            else:
                scores[k] = MAX_NODE_SCORE * (hi + lo - v) // hi


def _round_half_away(x: float) -> int:
    return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))


_CONTROLLER_KINDS = {
    ("v1", "ReplicationController"),
    ("apps/v1", "ReplicaSet"),
    ("apps/v1", "StatefulSet"),
}


def default_selector(
    pod: Mapping[str, Any],
    *,
    services: Sequence[Mapping[str, Any]] = (),
    controllers: Sequence[Mapping[str, Any]] = (),
) -> dict | None:
    """The selector the system-default constraints spread over, like kube-scheduler's DefaultSelector.

    The selectors of the pod's namespace's services that select it are merged, plus the label selector of the
    pod's controller (a ReplicationController, ReplicaSet or StatefulSet among ``controllers``). Returns a
    LabelSelector dict, or None when nothing selects the pod.
    """
    ns = namespace_of(pod)
    pod_labels = labels_of(pod)
    match_labels: dict[str, str] = {}
    for svc in services:
        if namespace_of(svc) != ns:
            continue
        sel = (svc.get("spec") or {}).get("selector")
        if sel is None:
            continue
        if all(pod_labels.get(k) == v for k, v in sel.items()):
            match_labels.update(sel)
    expressions: list[dict] = []
    owner = next(
        (o for o in (pod.get("metadata") or {}).get("ownerReferences") or [] if o.get("controller")),
        None,
    )
    if owner is not None and (owner.get("apiVersion"), owner.get("kind")) in _CONTROLLER_KINDS:
        for ctl in controllers:
            if ctl.get("kind") == owner.get("kind") and name_of(ctl) == owner.get("name") and namespace_of(ctl) == ns:
                sel = (ctl.get("spec") or {}).get("selector") or {}
                if ctl.get("kind") == "ReplicationController":
                    match_labels.update(sel)
                else:
                    expressions.extend(
                        {"key": k, "operator": "In", "values": [v]} for k, v in (sel.get("matchLabels") or {}).items()
                    )
                    expressions.extend(sel.get("matchExpressions") or [])
                break
    if not match_labels and not expressions:
        return None
    return {"matchLabels": match_labels, "matchExpressions": expressions}
