"""NodeResourcesFit (filter + LeastAllocated score) and NodeResourcesBalancedAllocation."""

from __future__ import annotations

from kubeprov.scheduler.framework import (
    CPU,
    EPHEMERAL_STORAGE,
    MAX_NODE_SCORE,
    MEMORY,
    PODS,
    Cycle,
    NodeInfo,
    Status,
    is_scalar_resource,
    pod_requests,
    unschedulable,
)

SCORED_RESOURCES = ((CPU, 1), (MEMORY, 1))


def resource_checks(requests: dict[str, int]) -> list[tuple[str, int]]:
    """(resource, amount) of each resource the pod asks for, in Kubernetes' order (cpu, memory, storage,
    scalars): computed once per cycle, not once per node."""
    order = [CPU, MEMORY, EPHEMERAL_STORAGE] + sorted(k for k in requests if is_scalar_resource(k))
    return [(name, requests[name]) for name in order if requests.get(name, 0) > 0]


def insufficient(requests: dict[str, int], node: NodeInfo, checks: list[tuple[str, int]] | None = None) -> list[str]:
    """The reason for each resource the node cannot fit, in Kubernetes' order (pods, cpu, memory, storage, scalars).

    As in 1.32 these are all plain Unschedulable: preemption decides whether evicting pods could help.
    """
    out: list[str] = []
    allocatable, requested = node.allocatable, node.requested
    if len(node.pods) + 1 > allocatable.get(PODS, 0):
        out.append("Too many pods")
    for name, want in resource_checks(requests) if checks is None else checks:
        if want > allocatable.get(name, 0) - requested.get(name, 0):
            out.append(f"Insufficient {name}")
    return out


class NodeResourcesFit:
    name = "NodeResourcesFit"
    weight = 1

    def pre_filter(self, cycle: Cycle) -> None:
        requests = pod_requests(cycle.pod)
        cycle.state[self.name] = (requests, resource_checks(requests))

    def filter(self, cycle: Cycle, node: NodeInfo) -> Status | None:
        requests, checks = cycle.state[self.name]
        found = insufficient(requests, node, checks)
        return unschedulable(*found) if found else None

    def pre_score(self, cycle: Cycle, nodes: list[NodeInfo]) -> bool:
        cycle.state[self.name + "/score"] = pod_requests(cycle.pod, non_zero=True)
        return True

    def score(self, cycle: Cycle, node: NodeInfo) -> int:
        """LeastAllocated: share of each resource left free after placing the pod, weighted."""
        req = cycle.state[self.name + "/score"]
        total = weights = 0
        for name, weight in SCORED_RESOURCES:
            alloc = node.allocatable.get(name, 0)
            if alloc == 0:
                continue
            used = node.non_zero_requested.get(name, 0) + req.get(name, 0)
            s = 0 if used > alloc else (alloc - used) * MAX_NODE_SCORE // alloc
            total += s * weight
            weights += weight
        return total // weights if weights else 0

    def normalize(self, cycle: Cycle, scores: dict[str, int]) -> None:
        pass


class NodeResourcesBalancedAllocation:
    name = "NodeResourcesBalancedAllocation"
    weight = 1

    def pre_score(self, cycle: Cycle, nodes: list[NodeInfo]) -> bool:
        cycle.state[self.name] = pod_requests(cycle.pod)
        return True

    def score(self, cycle: Cycle, node: NodeInfo) -> int:
        """1 - standard deviation of the requested fractions of cpu and memory, scaled to 100."""
        req = cycle.state[self.name]
        fractions = []
        for name, _ in SCORED_RESOURCES:
            alloc = node.allocatable.get(name, 0)
            if alloc == 0:
                continue
            used = node.requested.get(name, 0) + req.get(name, 0)
            fractions.append(min(used / alloc, 1.0))
        if len(fractions) == 2:
            std = abs(fractions[0] - fractions[1]) / 2
        elif len(fractions) > 2:
            mean = sum(fractions) / len(fractions)
            std = (sum((f - mean) ** 2 for f in fractions) / len(fractions)) ** 0.5
        else:
            std = 0.0
        return int((1 - std) * MAX_NODE_SCORE)

    def normalize(self, cycle: Cycle, scores: dict[str, int]) -> None:
        pass
