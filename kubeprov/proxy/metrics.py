"""The proxy's Prometheus metrics (kube-proxy's names where kube-proxy has one)."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

# kube-proxy's buckets: exponential from 1 ms, doubling, 15 of them
SYNC_BUCKETS = tuple(0.001 * 2 ** i for i in range(15))


@dataclass
class Histogram:
    name: str
    help: str
    buckets: tuple[float, ...] = SYNC_BUCKETS
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def observe(self, value: float) -> None:
        if not self.counts:
            self.counts = [0] * len(self.buckets)
        index = bisect.bisect_left(self.buckets, value)
        for i in range(index, len(self.buckets)):
            self.counts[i] += 1
        self.total += value
        self.count += 1

    def text(self) -> list[str]:
        counts = self.counts or [0] * len(self.buckets)
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        lines += [f'{self.name}_bucket{{le="{bound:g}"}} {n}' for bound, n in zip(self.buckets, counts, strict=True)]
        lines += [f'{self.name}_bucket{{le="+Inf"}} {self.count}', f"{self.name}_sum {self.total}",
                  f"{self.name}_count {self.count}"]
        return lines


@dataclass
class ProxyMetrics:
    sync: Histogram = field(default_factory=lambda: Histogram(
        "kubeproxy_sync_proxy_rules_duration_seconds", "SyncProxyRules latency in seconds"))
    full_sync: Histogram = field(default_factory=lambda: Histogram(
        "kubeproxy_sync_full_proxy_rules_duration_seconds", "SyncProxyRules latency in seconds for full resyncs"))
    partial_sync: Histogram = field(default_factory=lambda: Histogram(
        "kubeproxy_sync_partial_proxy_rules_duration_seconds",
        "SyncProxyRules latency in seconds for partial resyncs"))
    last_sync_timestamp: float = 0.0
    failures: int = 0
    services: int = 0
    endpoints: int = 0

    def text(self) -> str:
        lines = self.sync.text() + self.full_sync.text() + self.partial_sync.text()
        lines += [
            "# HELP kubeproxy_sync_proxy_rules_last_timestamp_seconds The last time proxy rules were "
            "successfully synced",
            "# TYPE kubeproxy_sync_proxy_rules_last_timestamp_seconds gauge",
            f"kubeproxy_sync_proxy_rules_last_timestamp_seconds {self.last_sync_timestamp}",
            "# HELP kubeproxy_sync_proxy_rules_nftables_sync_failures_total Cumulative proxy nftables sync failures",
            "# TYPE kubeproxy_sync_proxy_rules_nftables_sync_failures_total counter",
            f"kubeproxy_sync_proxy_rules_nftables_sync_failures_total {self.failures}",
            "# HELP kubeprov_proxy_service_ports Service ports programmed by the last sync",
            "# TYPE kubeprov_proxy_service_ports gauge",
            f"kubeprov_proxy_service_ports {self.services}",
            "# HELP kubeprov_proxy_endpoints Endpoints (DNAT targets) programmed by the last sync",
            "# TYPE kubeprov_proxy_endpoints gauge",
            f"kubeprov_proxy_endpoints {self.endpoints}",
        ]
        return "\n".join(lines) + "\n"
