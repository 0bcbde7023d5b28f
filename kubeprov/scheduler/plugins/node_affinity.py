"""NodeAffinity: spec.nodeSelector and required node affinity as a filter, preferred terms as a score."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubeprov.scheduler.framework import Cycle, NodeInfo, Status, default_normalize, unresolvable


def _int64(text: str) -> int | None:
    try:
        return int(text, 10)
    except (TypeError, ValueError):
        return None


def _expression_matches(expr: Mapping[str, Any], values_of: Mapping[str, str]) -> bool:
    key = expr.get("key") or ""
    op = expr.get("operator") or ""
    values = list(expr.get("values") or [])
    present = key in values_of
    value = values_of.get(key, "")
    # An invalid requirement makes its term match nothing, as a parse error does in Kubernetes.
    if op in ("In", "NotIn") and not values or op in ("Exists", "DoesNotExist") and values:
        return False
    if op == "In":
        return present and value in values
    if op == "NotIn":
        return not present or value not in values
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return not present
    if op in ("Gt", "Lt"):
        if not present or len(values) != 1:
            return False
        have, want = _int64(value), _int64(values[0])
        if have is None or want is None:
            return False
        return have > want if op == "Gt" else have < want
    return False


def term_matches(term: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    """A NodeSelectorTerm: all expressions and all fields must match; an empty term matches nothing."""
    exprs = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not exprs and not fields:
        return False
    labels = (node.get("metadata") or {}).get("labels") or {}
    if not all(_expression_matches(e, labels) for e in exprs):
        return False
    node_fields = {"metadata.name": (node.get("metadata") or {}).get("name") or ""}
    for f in fields:
        if f.get("key") != "metadata.name" or f.get("operator") not in ("In", "NotIn"):
            return False
        if not _expression_matches(f, node_fields):
            return False
    return True


def required_matches(pod: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    """nodeSelector and requiredDuringSchedulingIgnoredDuringExecution (terms ORed)."""
    spec = pod.get("spec") or {}
    labels = (node.get("metadata") or {}).get("labels") or {}
    for k, v in (spec.get("nodeSelector") or {}).items():
        if labels.get(k) != v:
            return False
    node_affinity = (spec.get("affinity") or {}).get("nodeAffinity") or {}
    required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    if required is not None:
        terms = required.get("nodeSelectorTerms") or []
        if not any(term_matches(t, node) for t in terms):
            return False
    return True


def required_node_names(pod: Mapping[str, Any]) -> set[str] | None:
    """Node names the required terms are limited to by ``matchFields metadata.name In``; None when not limited.

    Terms are ORed: one term without such a field leaves every node eligible; fields within a term are ANDed.
    """
    node_affinity = ((pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {}
    required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    if required is None:
        return None
    names: set[str] | None = None
    for term in required.get("nodeSelectorTerms") or []:
        term_names: set[str] | None = None
        for f in term.get("matchFields") or []:
            if f.get("key") == "metadata.name" and f.get("operator") == "In":
                values = set(f.get("values") or [])
                term_names = values if term_names is None else term_names & values
        if term_names is None:
            return None
        names = term_names if names is None else names | term_names
    return names


class NodeAffinity:
    name = "NodeAffinity"
    weight = 2
    reason = "node(s) didn't match Pod's node affinity/selector"
    reason_conflict = "pod affinity terms conflict"

    def pre_filter(self, cycle: Cycle) -> Status | None:
        """Narrows the nodes to evaluate (state ``NodeAffinity/nodes``) or rejects conflicting name terms."""
        names = required_node_names(cycle.pod)
        cycle.state[self.name + "/nodes"] = names
        if names is not None and not names:
            return unresolvable(self.reason_conflict)
        return None

    def filter(self, cycle: Cycle, node: NodeInfo) -> Status | None:
        return None if required_matches(cycle.pod, node.node) else unresolvable(self.reason)

    def pre_score(self, cycle: Cycle, nodes: list[NodeInfo]) -> bool:
        node_affinity = ((cycle.pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {}
        preferred = node_affinity.get("preferredDuringSchedulingIgnoredDuringExecution") or []
        cycle.state[self.name] = [p for p in preferred if p.get("weight")]
        return bool(cycle.state[self.name])

    def score(self, cycle: Cycle, node: NodeInfo) -> int:
        total = 0
        for p in cycle.state[self.name]:
            if term_matches(p.get("preference") or {}, node.node):
                total += int(p.get("weight") or 0)
        return total

    def normalize(self, cycle: Cycle, scores: dict[str, int]) -> None:
        default_normalize(scores)
