"""``/metrics/resource``: the kubelet's resource metrics, which metrics-server scrapes for ``kubectl top`` and HPAs.

Names, HELP texts, labels (sorted: container, namespace, pod) and family order are the kubelet's; every usage
sample carries the millisecond time it was read, ``container_start_time_seconds`` the start time itself.
Containers are the running ones; a pod's numbers come from its own cgroup (the parent of its containers').
"""

from __future__ import annotations

import asyncio
import posixpath
import time
from dataclasses import dataclass, field
from typing import Any

from kubeprov.kubelet.server import cgroups
from kubeprov.kubelet.server.logs import stamp_ns
from kubeprov.kubelet.server.promtext import family, sample

ERROR_HELP = "1 if there was an error while getting container metrics, 0 otherwise"


@dataclass(frozen=True)
class ContainerUsage:
    name: str
    start_time: float
    usage: cgroups.Usage | None


@dataclass(frozen=True)
class PodUsage:
    namespace: str
    name: str
    usage: cgroups.Usage | None
    containers: list[ContainerUsage] = field(default_factory=list)


@dataclass(frozen=True)
class Snapshot:
    node: cgroups.Usage | None
    pods: list[PodUsage]
    timestamp_ms: int
    error: bool = False


def render(snap: Snapshot) -> str:
    """The exposition text for ``snap``."""
    ts = snap.timestamp_ms
    cpu, mem, start, pod_cpu, pod_mem = [], [], [], [], []
    for pod in sorted(snap.pods, key=lambda p: (p.namespace, p.name)):
        for c in sorted(pod.containers, key=lambda c: c.name):
            labels = [("container", c.name), ("namespace", pod.namespace), ("pod", pod.name)]
            if c.usage is not None:
                cpu.append(sample("container_cpu_usage_seconds_total", labels, c.usage.cpu_seconds, ts))
                mem.append(sample("container_memory_working_set_bytes", labels, c.usage.memory_working_set, ts))
            if c.start_time > 0:
                start.append(sample("container_start_time_seconds", labels, c.start_time, int(c.start_time * 1000)))
        if pod.usage is not None:
            labels = [("namespace", pod.namespace), ("pod", pod.name)]
            pod_cpu.append(sample("pod_cpu_usage_seconds_total", labels, pod.usage.cpu_seconds, ts))
            pod_mem.append(sample("pod_memory_working_set_bytes", labels, pod.usage.memory_working_set, ts))
    node_cpu = [sample("node_cpu_usage_seconds_total", [], snap.node.cpu_seconds, ts)] if snap.node else []
    node_mem = [sample("node_memory_working_set_bytes", [], snap.node.memory_working_set, ts)] if snap.node else []
    error = [sample("resource_scrape_error", [], 1 if snap.error else 0)]
    old_error = [sample("scrape_error", [], 1 if snap.error else 0)]
    return "".join((
        family("container_cpu_usage_seconds_total",
               "[STABLE] Cumulative cpu time consumed by the container in core-seconds", "counter", cpu),
        family("container_memory_working_set_bytes",
               "[STABLE] Current working set of the container in bytes", "gauge", mem),
        family("container_start_time_seconds",
               "[STABLE] Start time of the container since unix epoch in seconds", "gauge", start),
        family("node_cpu_usage_seconds_total",
               "[STABLE] Cumulative cpu time consumed by the node in core-seconds", "counter", node_cpu),
        family("node_memory_working_set_bytes", "[STABLE] Current working set of the node in bytes", "gauge",
               node_mem),
        family("pod_cpu_usage_seconds_total",
               "[STABLE] Cumulative cpu time consumed by the pod in core-seconds", "counter", pod_cpu),
        family("pod_memory_working_set_bytes", "[STABLE] Current working set of the pod in bytes", "gauge", pod_mem),
        family("resource_scrape_error", f"[STABLE] {ERROR_HELP}", "gauge", error),
        family("scrape_error", f"[ALPHA] (Deprecated since 1.29.0) {ERROR_HELP}", "gauge", old_error),
    ))


def _epoch(stamp: str) -> float:
    ns = stamp_ns(stamp) if stamp else None
    return ns / 1e9 if ns else 0.0


async def collect(kubelet: Any) -> Snapshot:
    """Read every running container's cgroup (and its pod's) and the node's counters."""
    runtime = kubelet.runtime
    plan: list[tuple[str, str, str | None, list[tuple[str, float, str]]]] = []
    for worker in list(kubelet.workers.values()):
        containers: list[tuple[str, float, str]] = []
        pod_cgroup: str | None = None
        for c in worker.containers:
            if not c.cid:
                continue
            try:
                status = await runtime.container_status(c.cid)
                path = runtime._meta(c.cid).cgroups_path  # the runtime keeps each container's cgroup in its meta
            except KeyError:
                continue
            if status.state != "running":
                continue
            containers.append((c.name, _epoch(status.started_at), path))
            pod_cgroup = posixpath.dirname(path.rstrip("/"))
        if containers:
            plan.append((worker.namespace, worker.name, pod_cgroup, containers))

    def read() -> tuple[cgroups.Usage | None, list[PodUsage], bool]:
        failed = False
        pods = []
        for namespace, name, pod_path, entries in plan:
            out = []
            for cname, started, path in entries:
                usage = cgroups.cgroup_usage(path)
                failed = failed or usage is None
                out.append(ContainerUsage(cname, started, usage))
            pods.append(PodUsage(namespace, name, cgroups.cgroup_usage(pod_path) if pod_path else None, out))
        try:
            node: cgroups.Usage | None = cgroups.node_usage()
        except (OSError, ValueError):
            node, failed = None, True
        return node, pods, failed

    node, pods, error = await asyncio.to_thread(read)
    return Snapshot(node=node, pods=pods, timestamp_ms=int(time.time() * 1000), error=error)
