"""InterPodAffinity: required pod (anti-)affinity as a filter, preferred terms as a score."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubeprov.api.labels import Operator, Selector, SelectorError, from_label_selector, new_requirement
from kubeprov.scheduler.framework import (
    MAX_NODE_SCORE,
    Cycle,
    NodeInfo,
    Status,
    labels_of,
    namespace_of,
    unresolvable,
    unschedulable,
)

HARD_POD_AFFINITY_WEIGHT = 1


@dataclass
class Term:
    """A PodAffinityTerm resolved against the pod that owns it."""

    selector: Selector
    namespaces: frozenset[str]
    namespace_selector: Selector | None
    topology_key: str
    weight: int = 0

    def matches(self, pod: Mapping[str, Any], namespace_labels: Mapping[str, Mapping[str, str]] | None) -> bool:
        ns = namespace_of(pod)
        if ns not in self.namespaces:
            if self.namespace_selector is None:
                return False
            ns_labels = (namespace_labels or {}).get(ns, {})
            if not self.namespace_selector.matches(ns_labels):
                return False
        return self.selector.matches(labels_of(pod))


def _term(owner: Mapping[str, Any], raw: Mapping[str, Any], weight: int = 0) -> Term:
    try:
        selector = from_label_selector(raw.get("labelSelector"))
        own = labels_of(owner)
        if not selector.is_nothing():
            for key in raw.get("matchLabelKeys") or []:
                if key in own:
                    selector = selector.add(new_requirement(key, Operator.IN, [own[key]]))
            for key in raw.get("mismatchLabelKeys") or []:
                if key in own:
                    selector = selector.add(new_requirement(key, Operator.NOT_IN, [own[key]]))
        ns_sel_raw = raw.get("namespaceSelector")
        ns_selector = from_label_selector(ns_sel_raw) if ns_sel_raw is not None else None
    except SelectorError:
        selector, ns_selector = Selector.nothing(), None
    namespaces = frozenset(raw.get("namespaces") or [])
    if not namespaces and ns_selector is None:
        namespaces = frozenset([namespace_of(owner)])
    return Term(selector, namespaces, ns_selector, str(raw.get("topologyKey") or ""), weight)


def _affinity(pod: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    return ((pod.get("spec") or {}).get("affinity") or {}).get(kind) or {}


def required_terms(pod: Mapping[str, Any], kind: str) -> list[Term]:
    raw = _affinity(pod, kind).get("requiredDuringSchedulingIgnoredDuringExecution") or []
    return [_term(pod, t) for t in raw]


def preferred_terms(pod: Mapping[str, Any], kind: str) -> list[Term]:
    raw = _affinity(pod, kind).get("preferredDuringSchedulingIgnoredDuringExecution") or []
    return [_term(pod, t.get("podAffinityTerm") or {}, int(t.get("weight") or 0)) for t in raw]


def _pods_with_nodes(cycle: Cycle, which: str = "pods") -> list[tuple[dict, NodeInfo]]:
    """(pod, its node) over the cluster; ``which`` names the NodeInfo list: ``pods`` or one of its subsets."""
    own_uid = (cycle.pod.get("metadata") or {}).get("uid")
    out = []
    for ni in cycle.all_nodes:
        for p in getattr(ni, which):
            if own_uid and (p.get("metadata") or {}).get("uid") == own_uid:
                continue
            out.append((p, ni))
    return out


class InterPodAffinity:
    name = "InterPodAffinity"
    weight = 2
    reason_existing_anti = "node(s) didn't satisfy existing pods anti-affinity rules"
    reason_affinity = "node(s) didn't match pod affinity rules"
    reason_anti = "node(s) didn't match pod anti-affinity rules"

    def pre_filter(self, cycle: Cycle) -> None:
        pod, nsl = cycle.pod, cycle.namespace_labels
        affinity = required_terms(pod, "podAffinity")
        anti = required_terms(pod, "podAntiAffinity")
        existing_anti: dict[tuple[str, str], int] = {}
        affinity_counts: dict[tuple[str, str], int] = {}
        anti_counts: dict[tuple[str, str], int] = {}
        # without terms of its own, only existing pods' required anti-affinity can reject the pod
        which = "pods" if affinity or anti else "pods_with_required_anti_affinity"
        for other, ni in _pods_with_nodes(cycle, which):
            labels = ni.labels
            for term in required_terms(other, "podAntiAffinity"):
                if term.topology_key in labels and term.matches(pod, nsl):
                    pair = (term.topology_key, labels[term.topology_key])
                    existing_anti[pair] = existing_anti.get(pair, 0) + 1
            if affinity and all(t.matches(other, nsl) for t in affinity):
                for t in affinity:
                    if t.topology_key in labels:
                        pair = (t.topology_key, labels[t.topology_key])
                        affinity_counts[pair] = affinity_counts.get(pair, 0) + 1
            for t in anti:
                if t.topology_key in labels and t.matches(other, nsl):
                    pair = (t.topology_key, labels[t.topology_key])
                    anti_counts[pair] = anti_counts.get(pair, 0) + 1
        cycle.state[self.name] = (affinity, anti, existing_anti, affinity_counts, anti_counts)

    def filter(self, cycle: Cycle, node: NodeInfo) -> Status | None:
        affinity, anti, existing_anti, affinity_counts, anti_counts = cycle.state[self.name]
        labels = node.labels
        # Checked in this order: the pod's affinity, the pod's anti-affinity, then existing pods' anti-affinity.
        if affinity and not self._satisfies_affinity(cycle, affinity, affinity_counts, labels):
            return unresolvable(self.reason_affinity)
        for t in anti:
            if t.topology_key in labels and anti_counts.get((t.topology_key, labels[t.topology_key]), 0) > 0:
                return unschedulable(self.reason_anti)
        if existing_anti and any(existing_anti.get(pair, 0) > 0 for pair in labels.items()):
            return unschedulable(self.reason_existing_anti)
        return None

    @staticmethod
    def _satisfies_affinity(
        cycle: Cycle, affinity: list[Term], counts: dict[tuple[str, str], int], labels: dict[str, str]
    ) -> bool:
        pods_exist = True
        for t in affinity:
            if t.topology_key not in labels:
                return False
            if counts.get((t.topology_key, labels[t.topology_key]), 0) <= 0:
                pods_exist = False
        if pods_exist:
            return True
        # The first pod of a group that has affinity to itself may go anywhere with the topologies.
        return not counts and all(t.matches(cycle.pod, cycle.namespace_labels) for t in affinity)

    def pre_score(self, cycle: Cycle, nodes: list[NodeInfo]) -> bool:
        pod, nsl = cycle.pod, cycle.namespace_labels
        pref_aff = preferred_terms(pod, "podAffinity")
        pref_anti = preferred_terms(pod, "podAntiAffinity")
        topology_score: dict[tuple[str, str], int] = {}

        def add(term: Term, target: Mapping[str, Any], labels: dict[str, str], mult: int) -> None:
            if term.topology_key in labels and term.matches(target, nsl):
                pair = (term.topology_key, labels[term.topology_key])
                topology_score[pair] = topology_score.get(pair, 0) + term.weight * mult

        # without preferred terms of its own, only pods with (anti-)affinity terms add to the score
        which = "pods" if pref_aff or pref_anti else "pods_with_affinity"
        for other, ni in _pods_with_nodes(cycle, which):
            labels = ni.labels
            for t in pref_aff:
                add(t, other, labels, 1)
            for t in pref_anti:
                add(t, other, labels, -1)
            for t in required_terms(other, "podAffinity"):
                t.weight = HARD_POD_AFFINITY_WEIGHT
                add(t, pod, labels, 1)
            for t in preferred_terms(other, "podAffinity"):
                add(t, pod, labels, 1)
            for t in preferred_terms(other, "podAntiAffinity"):
                add(t, pod, labels, -1)
        cycle.state[self.name + "/score"] = topology_score
        return bool(topology_score)

    def score(self, cycle: Cycle, node: NodeInfo) -> int:
        topology_score = cycle.state[self.name + "/score"]
        return sum(topology_score.get(pair, 0) for pair in node.labels.items())

    def normalize(self, cycle: Cycle, scores: dict[str, int]) -> None:
        if not scores:
            return
        lo, hi = min(scores.values()), max(scores.values())
        diff = hi - lo
        for k, v in scores.items():
            scores[k] = int(MAX_NODE_SCORE * ((v - lo) / diff)) if diff > 0 else 0
