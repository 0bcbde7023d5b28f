"""Prometheus text metrics: request counts and latency histograms by verb, resource and code."""

from __future__ import annotations

import bisect
from collections import defaultdict

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, str, str], int] = defaultdict(int)
        self.latency_counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * (len(BUCKETS) + 1))
        self.latency_sum: dict[tuple[str, str], float] = defaultdict(float)
        self.watchers = 0

    def observe(self, verb: str, group: str, resource: str, code: int, seconds: float) -> None:
        self.requests[(verb, group, resource, str(code))] += 1
        if verb == "WATCH":
            return  # a watch's duration is the client's choice, not latency
        key = (verb, resource)
        self.latency_counts[key][bisect.bisect_left(BUCKETS, seconds)] += 1
        self.latency_sum[key] += seconds

    def render(self) -> str:
        lines = [
            "# HELP apiserver_request_total Counter of API requests by verb, group, resource and HTTP code.",
            "# TYPE apiserver_request_total counter",
        ]
        for (verb, group, resource, code), n in sorted(self.requests.items()):
            lines.append(f'apiserver_request_total{{verb="{verb}",group="{group}",resource="{resource}",'
                         f'code="{code}"}} {n}')
        lines += [
            "# HELP apiserver_request_duration_seconds Response latency by verb and resource.",
            "# TYPE apiserver_request_duration_seconds histogram",
        ]
        for (verb, resource), counts in sorted(self.latency_counts.items()):
            labels = f'verb="{verb}",resource="{resource}"'
            total = 0
            for bound, n in zip(BUCKETS, counts, strict=False):
                total += n
                lines.append(f'apiserver_request_duration_seconds_bucket{{{labels},le="{bound}"}} {total}')
            total += counts[-1]
            lines.append(f'apiserver_request_duration_seconds_bucket{{{labels},le="+Inf"}} {total}')
            lines.append(f"apiserver_request_duration_seconds_sum{{{labels}}} {self.latency_sum[(verb, resource)]}")
            lines.append(f"apiserver_request_duration_seconds_count{{{labels}}} {total}")
        lines += [
            "# HELP apiserver_registered_watchers Number of open client watches.",
            "# TYPE apiserver_registered_watchers gauge",
            f"apiserver_registered_watchers {self.watchers}",
        ]
        return "\n".join(lines) + "\n"
