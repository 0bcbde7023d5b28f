"""``/metrics``: the kubelet's own metrics (running pods and containers, pod start latency, HTTP requests).

One ``KubeletMetrics`` per server holds the counters; gauges are computed from the kubelet at scrape time.
Pod start durations are observed by ``sample_pod_starts`` (called every second by the server): from the pod's
``status.startTime`` (when the kubelet first saw it) to the moment all its containers run.
"""

from __future__ import annotations

import bisect
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from kubeprov.controllers.timestamps import parse_time
from kubeprov.kubelet.server.promtext import family, histogram, sample

POD_START_BUCKETS = (0.5, 1, 2, 3, 4, 5, 6, 8, 10, 20, 30, 45, 60, 120, 180, 240, 300, 360, 480, 600, 900, 1200,
                     1800, 2700, 3600)
CONTAINER_STATES = ("created", "exited", "running", "unknown")
# the kubelet's request buckets (anything else is "other"), and the ones it counts as long-running
PATH_BUCKETS = frozenset({"attach", "configz", "containerLogs", "cri", "debug", "exec", "healthz", "logs", "metrics",
                          "metrics/cadvisor", "metrics/probes", "metrics/resource", "pods", "portForward", "run",
                          "runningpods", "spec", "stats"})
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"})
LONG_RUNNING = frozenset({"exec", "attach", "debug"})


@dataclass
class Histogram:
    buckets: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * len(self.buckets)

    def observe(self, value: float) -> None:
        index = bisect.bisect_left(self.buckets, value)
        if index < len(self.buckets):
            self.counts[index] += 1
        self.total += value
        self.count += 1


def path_label(path: str) -> str:
    """The kubelet's ``path`` label: the first segment of the URL path (``containerLogs``, ``pods``...), two for
    the metrics endpoints (``metrics/resource``), ``other`` for anything unknown (labels stay bounded)."""
    parts = path.strip("/").split("/")
    two = "/".join(parts[:2])
    if two in PATH_BUCKETS:
        return two
    return parts[0] if parts[0] in PATH_BUCKETS else "other"


class KubeletMetrics:
    def __init__(self, node: str) -> None:
        self.node = node
        self.requests: Counter[tuple[str, str, str, str]] = Counter()
        self.inflight: Counter[tuple[str, str, str, str]] = Counter()
        self.pod_start = Histogram(POD_START_BUCKETS)
        self._seen: set[str] = set()
        self._first_sample = True

    def request_labels(self, method: str, path: str) -> tuple[str, str, str, str]:
        segment = path_label(path)
        method = method if method in METHODS else "other"
        return ("true" if segment in LONG_RUNNING else "false", method, segment, "readwrite")

    def sample_pod_starts(self, workers: list[Any], now: float | None = None) -> None:
        """Observe pods whose containers all run, once per pod uid; pods already running when sampling
        began (adopted after a restart) are not observed."""
        now = time.time() if now is None else now
        for worker in workers:
            if worker.uid in self._seen:
                continue
            status = worker.pod.get("status") or {}
            spec_names = {c.get("name") for c in (worker.pod.get("spec") or {}).get("containers") or []}
            running = {s.get("name") for s in status.get("containerStatuses") or []
                       if "running" in (s.get("state") or {})}
            if not spec_names or not spec_names <= running:
                continue
            self._seen.add(worker.uid)
            started = parse_time(status.get("startTime"))
            if not self._first_sample and started:
                self.pod_start.observe(max(now - started, 0.0))
        self._first_sample = False

    async def render(self, kubelet: Any) -> str:
        workers = list(kubelet.workers.values())
        states: Counter[str] = Counter({s: 0 for s in CONTAINER_STATES})
        for container in await kubelet.runtime.list_containers():
            states[container.state if container.state in CONTAINER_STATES else "unknown"] += 1
        running_pods = sum(1 for w in workers if w.sandbox_ready and not w.done)
        labels = ("long_running", "method", "path", "server_type")
        return "".join((
            family("kubelet_http_inflight_requests", "[ALPHA] Number of the inflight http requests", "gauge",
                   [sample("kubelet_http_inflight_requests", list(zip(labels, key, strict=True)), n)
                    for key, n in sorted(self.inflight.items())]),
            family("kubelet_http_requests_total",
                   "[ALPHA] Number of the http requests received since the server started", "counter",
                   [sample("kubelet_http_requests_total", list(zip(labels, key, strict=True)), n)
                    for key, n in sorted(self.requests.items())]),
            family("kubelet_node_name", "[ALPHA] The node's name. The count is always 1.", "gauge",
                   [sample("kubelet_node_name", [("node", self.node)], 1)]),
            family("kubelet_pod_start_duration_seconds",
                   "[ALPHA] Duration in seconds from kubelet seeing a pod for the first time to the pod starting "
                   "to run", "histogram",
                   [histogram("kubelet_pod_start_duration_seconds", [], self.pod_start.buckets,
                              self.pod_start.counts, self.pod_start.total, self.pod_start.count)]),
            family("kubelet_running_containers", "[ALPHA] Number of containers currently running", "gauge",
                   [sample("kubelet_running_containers", [("container_state", s)], states[s])
                    for s in CONTAINER_STATES]),
            family("kubelet_running_pods", "[ALPHA] Number of pods that have a running pod sandbox", "gauge",
                   [sample("kubelet_running_pods", [], running_pods)]),
        ))
