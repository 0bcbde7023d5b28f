"""Usage from the kubelets' cumulative counters, kept the way metrics-server keeps it.

Every node and container has a series of the last two points (cumulative CPU seconds, working
set bytes, the kubelet's timestamp). CPU usage is the counter's increase over the window between
the two points, in nanocores; memory is the newer point's working set. A point no newer than the
last is ignored, and a counter that went down (a restart) starts the series over, so a node or pod
appears only once it has two good points.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from kubeprov.apiserver.metrics_api.prometheus import Sample

NODE_CPU = "node_cpu_usage_seconds_total"
NODE_MEMORY = "node_memory_working_set_bytes"
CONTAINER_CPU = "container_cpu_usage_seconds_total"
CONTAINER_MEMORY = "container_memory_working_set_bytes"


@dataclass(frozen=True)
class Point:
    timestamp: float  # seconds since the epoch, from the kubelet
    cpu_ns: int  # cumulative CPU time, nanoseconds
    memory: int  # working set bytes


@dataclass(frozen=True)
class Usage:
    timestamp: float
    window: float  # seconds between the two points
    cpu_nanocores: int
    memory_bytes: int


class Series:
    """The last two points of one counter set."""

    def __init__(self) -> None:
        self.prev: Point | None = None
        self.last: Point | None = None

    def push(self, point: Point) -> None:
        if self.last is not None and point.timestamp <= self.last.timestamp:
            return
        if self.last is not None and point.cpu_ns < self.last.cpu_ns:
            self.prev = None  # the counter restarted: its old points say nothing about the new one
        else:
            self.prev = self.last
        self.last = point

    def usage(self) -> Usage | None:
        if self.prev is None or self.last is None:
            return None
        window = self.last.timestamp - self.prev.timestamp
        if window <= 0:
            return None
        rate = (self.last.cpu_ns - self.prev.cpu_ns) / window
        return Usage(self.last.timestamp, window, int(rate), self.last.memory)


@dataclass(frozen=True)
class NodeScrape:
    """One node's points from one scrape: the node's own and its containers' by (namespace, pod, container)."""

    node: Point | None
    containers: dict[tuple[str, str, str], Point]


def _stamp(sample: Sample, scraped_at: float) -> float:
    return sample.timestamp_ms / 1000.0 if sample.timestamp_ms else scraped_at


def decode(samples: Iterable[Sample], scraped_at: float) -> NodeScrape:
    """The resource metrics in a kubelet's /metrics/resource answer (other metrics are ignored)."""
    node_cpu: Sample | None = None
    node_mem: Sample | None = None
    cpu: dict[tuple[str, str, str], Sample] = {}
    mem: dict[tuple[str, str, str], Sample] = {}
    for s in samples:
        if s.name == NODE_CPU:
            node_cpu = s
        elif s.name == NODE_MEMORY:
            node_mem = s
        elif s.name in (CONTAINER_CPU, CONTAINER_MEMORY):
            key = (s.labels.get("namespace", ""), s.labels.get("pod", ""), s.labels.get("container", ""))
            if all(key):
                (cpu if s.name == CONTAINER_CPU else mem)[key] = s
    node = None
    if node_cpu is not None and node_cpu.value >= 0:
        node = Point(_stamp(node_cpu, scraped_at), int(node_cpu.value * 1e9),
                     int(node_mem.value) if node_mem is not None else 0)
    containers = {}
    for key, c in cpu.items():
        if c.value < 0:
            continue
        m = mem.get(key)
        containers[key] = Point(_stamp(c, scraped_at), int(c.value * 1e9), int(m.value) if m is not None else 0)
    return NodeScrape(node, containers)


@dataclass(frozen=True)
class PodUsage:
    timestamp: float
    window: float
    containers: list[tuple[str, Usage]]


class UsageStore:
    """Series for every node and container, replaced node by node as scrapes arrive."""

    def __init__(self) -> None:
        self._nodes: dict[str, Series] = {}
        # node -> (namespace, pod) -> container -> series
        self._pods: dict[str, dict[tuple[str, str], dict[str, Series]]] = {}

    def record(self, node: str, scrape: NodeScrape) -> None:
        if scrape.node is not None:
            self._nodes.setdefault(node, Series()).push(scrape.node)
        else:
            self._nodes.pop(node, None)
        old = self._pods.get(node, {})
        new: dict[tuple[str, str], dict[str, Series]] = {}
        for (ns, pod, container), point in scrape.containers.items():
            series = new.setdefault((ns, pod), {}).get(container) or old.get((ns, pod), {}).get(container) or Series()
            series.push(point)
            new[(ns, pod)][container] = series
        self._pods[node] = new

    def forget(self, node: str) -> None:
        self._nodes.pop(node, None)
        self._pods.pop(node, None)

    def nodes(self) -> list[str]:
        return list(self._nodes)

    def node(self, name: str) -> Usage | None:
        series = self._nodes.get(name)
        return series.usage() if series is not None else None

    def pod(self, namespace: str, name: str) -> PodUsage | None:
        for pods in self._pods.values():
            containers = pods.get((namespace, name))
            if containers is None:
                continue
            usages = [(c, u) for c, s in sorted(containers.items()) if (u := s.usage()) is not None]
            if len(usages) != len(containers) or not usages:
                return None  # as metrics-server: a pod is shown only when every container has usage
            newest = max(usages, key=lambda cu: cu[1].timestamp)[1]
            return PodUsage(newest.timestamp, newest.window, usages)
        return None
