"""NodeUnschedulable, NodeName and NodePorts filters."""

from __future__ import annotations

from kubeprov.scheduler.framework import Cycle, NodeInfo, Status, host_ports, unresolvable, unschedulable
from kubeprov.scheduler.plugins.taint_toleration import tolerates

UNSCHEDULABLE_TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}


class NodeUnschedulable:
    name = "NodeUnschedulable"
    reason = "node(s) were unschedulable"

    def pre_filter(self, cycle: Cycle) -> None:
        pass

    def filter(self, cycle: Cycle, node: NodeInfo) -> Status | None:
        if not (node.node.get("spec") or {}).get("unschedulable"):
            return None
        tolerations = (cycle.pod.get("spec") or {}).get("tolerations") or []
        if any(tolerates(t, UNSCHEDULABLE_TAINT) for t in tolerations):
            return None
        return unresolvable(self.reason)


class NodeName:
    name = "NodeName"
    reason = "node(s) didn't match the requested node name"

    def pre_filter(self, cycle: Cycle) -> None:
        pass

    def filter(self, cycle: Cycle, node: NodeInfo) -> Status | None:
        wanted = (cycle.pod.get("spec") or {}).get("nodeName")
        if not wanted or wanted == node.name:
            return None
        return unresolvable(self.reason)


def ports_conflict(a: tuple[str, str, int], b: tuple[str, str, int]) -> bool:
    if a[1] != b[1] or a[2] != b[2]:
        return False
    return a[0] == "0.0.0.0" or b[0] == "0.0.0.0" or a[0] == b[0]


class NodePorts:
    name = "NodePorts"
    reason = "node(s) didn't have free ports for the requested pod ports"

    def pre_filter(self, cycle: Cycle) -> None:
        cycle.state[self.name] = host_ports(cycle.pod)

    def filter(self, cycle: Cycle, node: NodeInfo) -> Status | None:
        wanted = cycle.state.get(self.name) or []
        for w in wanted:
            if any(ports_conflict(w, used) for used in node.used_ports):
                return unschedulable(self.reason)
        return None
