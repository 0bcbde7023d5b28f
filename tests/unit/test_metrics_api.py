"""metrics.k8s.io: parsing the kubelet's resource metrics, rates from two points, and metrics-server's formats."""

from __future__ import annotations

import pytest

from kubeprov.apiserver.metrics_api.api import node_metrics, pod_metrics, table
from kubeprov.apiserver.metrics_api.formats import cpu_quantity, go_duration, memory_quantity, rfc3339
from kubeprov.apiserver.metrics_api.prometheus import parse_line, parse_text
from kubeprov.apiserver.metrics_api.usage import NodeScrape, Point, Series, UsageStore, decode

T0 = 1_700_000_000_000  # ms


def kubelet_text(step: int) -> str:
    """What a kubelet's /metrics/resource says at scrape ``step`` (10 s apart)."""
    ts = T0 + step * 10_000
    return f"""# HELP node_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the node in core-seconds
# TYPE node_cpu_usage_seconds_total counter
node_cpu_usage_seconds_total {100 + step * 5} {ts}
node_memory_working_set_bytes 2.147483648e+09 {ts}
container_cpu_usage_seconds_total{{container="app",namespace="ns",pod="web"}} {1 + step * 0.25} {ts}
container_memory_working_set_bytes{{container="app",namespace="ns",pod="web"}} 1.048576e+07 {ts}
container_start_time_seconds{{container="app",namespace="ns",pod="web"}} 1.7e+09 {ts}
pod_cpu_usage_seconds_total{{namespace="ns",pod="web"}} {1 + step * 0.25} {ts}
scrape_error 0
"""


def test_sample_line_with_escaped_labels_and_timestamp() -> None:
    s = parse_line('container_cpu_usage_seconds_total{container="a\\"b",namespace="n",pod="p"} 1.5 1700000000123')
    assert s is not None
    assert (s.name, s.labels, s.value, s.timestamp_ms) == ("container_cpu_usage_seconds_total",
                                                         {"container": 'a"b', "namespace": "n", "pod": "p"},
                                                         1.5, 1700000000123)


def test_comments_and_malformed_lines_are_skipped() -> None:
    assert [s.name for s in parse_text("# HELP x\nbroken{ 1\nok 2\n\n")] == ["ok"]


def test_decode_reads_node_and_container_points() -> None:
    scrape = decode(parse_text(kubelet_text(1)), scraped_at=0.0)
    assert scrape.node == Point((T0 + 10_000) / 1000, 105 * 10**9, 2 * 1024**3)
    assert scrape.containers == {("ns", "web", "app"): Point((T0 + 10_000) / 1000, 1_250_000_000, 10 * 1024**2)}


def test_rate_needs_two_points_and_is_the_increase_over_the_window() -> None:
    series = Series()
    series.push(Point(100.0, 1_000_000_000, 5))
    assert series.usage() is None
    series.push(Point(110.0, 3_500_000_000, 7))
    usage = series.usage()
    assert usage is not None
    assert (usage.cpu_nanocores, usage.memory_bytes, usage.window, usage.timestamp) == (250_000_000, 7, 10.0, 110.0)


def test_a_point_no_newer_than_the_last_is_ignored() -> None:
    series = Series()
    series.push(Point(100.0, 1, 0))
    series.push(Point(110.0, 2, 0))
    series.push(Point(110.0, 99, 0))
    assert series.last == Point(110.0, 2, 0)


def test_a_counter_that_went_down_starts_over() -> None:
    series = Series()
    series.push(Point(100.0, 50, 0))
    series.push(Point(110.0, 60, 0))
    series.push(Point(120.0, 5, 0))
    assert series.usage() is None


def test_pod_appears_once_all_its_containers_have_two_points() -> None:
    store = UsageStore()
    store.record("n1", decode(parse_text(kubelet_text(0)), 0.0))
    assert store.pod("ns", "web") is None and store.node("n1") is None
    store.record("n1", decode(parse_text(kubelet_text(1)), 0.0))
    pod = store.pod("ns", "web")
    assert pod is not None and [(c, u.cpu_nanocores) for c, u in pod.containers] == [("app", 25_000_000)]
    node = store.node("n1")
    assert node is not None and node.cpu_nanocores == 500_000_000


def test_pods_gone_from_a_scrape_are_dropped() -> None:
    store = UsageStore()
    store.record("n1", decode(parse_text(kubelet_text(0)), 0.0))
    store.record("n1", decode(parse_text(kubelet_text(1)), 0.0))
    store.record("n1", NodeScrape(None, {}))
    assert store.pod("ns", "web") is None and store.node("n1") is None


@pytest.mark.parametrize(("nanocores", "text"), [(0, "0"), (123, "123n"), (250_000_000, "250m"),
                                                 (2_000_000_000, "2"), (1_500_000, "1500u"),
                                                 (167_448_229, "167448229n")])
def test_cpu_is_go_canonical_decimal(nanocores: int, text: str) -> None:
    assert cpu_quantity(nanocores) == text


@pytest.mark.parametrize(("num_bytes", "text"), [(0, "0"), (512, "512"), (1000, "1k"), (2048, "2Ki"),
                                                 (2059296 * 1024, "2059296Ki"), (1025, "1025"),
                                                 (10 * 1024**2, "10Mi")])
def test_memory_is_go_canonical_binary(num_bytes: int, text: str) -> None:
    assert memory_quantity(num_bytes) == text


@pytest.mark.parametrize(("seconds", "text"), [(15, "15s"), (10.104, "10.104s"), (90, "1m30s"), (3600, "1h0m0s"),
                                               (0.25, "250ms"), (0, "0s")])
def test_window_is_a_go_duration(seconds: float, text: str) -> None:
    assert go_duration(seconds) == text


def test_node_and_pod_metrics_objects() -> None:
    store = UsageStore()
    store.record("n1", decode(parse_text(kubelet_text(0)), 0.0))
    store.record("n1", decode(parse_text(kubelet_text(1)), 0.0))
    node_usage = store.node("n1")
    assert node_usage is not None
    node = node_metrics({"metadata": {"name": "n1", "labels": {"zone": "a"}}}, node_usage, 1_700_000_100.0)
    assert node == {"kind": "NodeMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
                    "metadata": {"name": "n1", "creationTimestamp": "2023-11-14T22:15:00Z", "labels": {"zone": "a"}},
                    "timestamp": rfc3339((T0 + 10_000) / 1000), "window": "10s",
                    "usage": {"cpu": "500m", "memory": "2Gi"}}
    pod = pod_metrics({"metadata": {"name": "web", "namespace": "ns"}}, store, 1_700_000_100.0)
    assert pod is not None
    assert pod["containers"] == [{"name": "app", "usage": {"cpu": "25m", "memory": "10Mi"}}]
    assert table([pod], "Metadata")["rows"][0]["cells"] == ["web", "25m", "10Mi", "10s"]
