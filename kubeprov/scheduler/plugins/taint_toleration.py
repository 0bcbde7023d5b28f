"""TaintToleration: filter on NoSchedule/NoExecute taints, score by untolerated PreferNoSchedule taints."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubeprov.scheduler.framework import Cycle, NodeInfo, Status, default_normalize, unresolvable


def tolerates(toleration: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    """v1.Toleration.ToleratesTaint."""
    effect = toleration.get("effect") or ""
    if effect and effect != (taint.get("effect") or ""):
        return False
    key = toleration.get("key") or ""
    if key and key != (taint.get("key") or ""):
        return False
    op = toleration.get("operator") or "Equal"
    if op == "Exists":
        return True
    if op == "Equal":
        return (toleration.get("value") or "") == (taint.get("value") or "")
    return False


def node_taints(node: NodeInfo) -> list[dict]:
    return list((node.node.get("spec") or {}).get("taints") or [])


def pod_tolerations(pod: Mapping[str, Any]) -> list[dict]:
    return list((pod.get("spec") or {}).get("tolerations") or [])


def first_untolerated(taints: list[dict], tolerations: list[dict], effects: tuple[str, ...]) -> dict | None:
    for taint in taints:
        if (taint.get("effect") or "") not in effects:
            continue
        if not any(tolerates(t, taint) for t in tolerations):
            return taint
    return None


class TaintToleration:
    name = "TaintToleration"
    weight = 3

    def pre_filter(self, cycle: Cycle) -> None:
        pass

    def filter(self, cycle: Cycle, node: NodeInfo) -> Status | None:
        taint = first_untolerated(node_taints(node), pod_tolerations(cycle.pod), ("NoSchedule", "NoExecute"))
        if taint is None:
            return None
        return unresolvable(f"node(s) had untolerated taint {{{taint.get('key') or ''}: {taint.get('value') or ''}}}")

    def pre_score(self, cycle: Cycle, nodes: list[NodeInfo]) -> bool:
        cycle.state[self.name] = [
            t for t in pod_tolerations(cycle.pod) if (t.get("effect") or "") in ("", "PreferNoSchedule")
        ]
        return True

    def score(self, cycle: Cycle, node: NodeInfo) -> int:
        tolerations = cycle.state[self.name]
        return sum(
            1
            for taint in node_taints(node)
            if taint.get("effect") == "PreferNoSchedule" and not any(tolerates(t, taint) for t in tolerations)
        )

    def normalize(self, cycle: Cycle, scores: dict[str, int]) -> None:
        default_normalize(scores, reverse=True)
