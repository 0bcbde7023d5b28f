"""/metrics/resource as metrics-server reads it: the kubelet's names, labels and timestamps, in text a strict
Prometheus parser accepts; cgroup v1/v2 and /proc readings; Go's float formatting."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kubeprov.kubelet.server import cgroups
from kubeprov.kubelet.server.metrics import POD_START_BUCKETS, KubeletMetrics, path_label
from kubeprov.kubelet.server.promtext import go_float, histogram
from kubeprov.kubelet.server.resource_metrics import ContainerUsage, PodUsage, Snapshot, render

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\n"])*)"')
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def parse(text: str) -> dict[str, dict[str, object]]:
    """A strict text-format 0.0.4 parser: family -> {type, help, samples: [(name, labels, value, ts)]}."""
    assert text.endswith("\n"), "the exposition must end with a newline"
    families: dict[str, dict[str, object]] = {}
    current = ""
    finished: set[str] = set()
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    for line in text[:-1].split("\n"):
        assert line, "no blank lines"
        if line.startswith("# "):
            kind, name, rest = (line[2:].split(" ", 2) + [""])[:3]
            assert kind in ("HELP", "TYPE"), line
            assert NAME.fullmatch(name), line
            if name != current:
                assert name not in finished, f"family {name} split"
                if current:
                    finished.add(current)
                current = name
            family = families.setdefault(name, {"samples": []})
            key = "help" if kind == "HELP" else "type"
            assert key not in family, f"second {kind} for {name}"
            if kind == "TYPE":
                assert rest in TYPES, line
                assert not family["samples"], "TYPE after samples"
            family[key] = rest
            continue
        assert not line.startswith("#"), line
        match = re.fullmatch(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)(?: (-?\d+))?", line)
        assert match, f"bad sample line {line!r}"
        name, label_text, value, ts = match.groups()
        labels: list[tuple[str, str]] = []
        if label_text:
            body = label_text[1:-1]
            pos = 0
            while pos < len(body):
                lm = LABEL.match(body, pos)
                assert lm, f"bad labels in {line!r}"
                labels.append((lm.group(1), lm.group(2)))
                pos = lm.end()
                if pos < len(body):
                    assert body[pos] == ",", line
                    pos += 1
        assert len({k for k, _ in labels}) == len(labels), "duplicate label"
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        family_name = name if name in families else base
        assert family_name == current and "type" in families[current], f"sample {name} outside its family"
        number = float(value.replace("Inf", "inf"))
        series = (name, tuple(sorted(labels)))
        assert series not in seen, f"duplicate series {series}"
        seen.add(series)
        families[current]["samples"].append((name, dict(labels), number, int(ts) if ts else None))  # type: ignore[union-attr]
    return families


def snapshot() -> Snapshot:
    web = PodUsage("team-a", "web-0", cgroups.Usage(3.5, 12_000_000), [
        ContainerUsage("nginx", 1767225601.5, cgroups.Usage(2.25, 10_485_760)),
        ContainerUsage("side\"car", 1767225602.0, cgroups.Usage(1.0, 1_000_000)),
    ])
    return Snapshot(node=cgroups.Usage(12345.67, 2_000_000_000), pods=[web], timestamp_ms=1767225660123)


def test_the_text_parses_strictly_with_the_kubelets_families_in_order() -> None:
    families = parse(render(snapshot()))
    assert list(families) == [
        "container_cpu_usage_seconds_total", "container_memory_working_set_bytes", "container_start_time_seconds",
        "node_cpu_usage_seconds_total", "node_memory_working_set_bytes", "pod_cpu_usage_seconds_total",
        "pod_memory_working_set_bytes", "resource_scrape_error", "scrape_error"]
    assert families["container_cpu_usage_seconds_total"]["type"] == "counter"
    assert families["container_memory_working_set_bytes"]["type"] == "gauge"
    assert str(families["node_cpu_usage_seconds_total"]["help"]).startswith("[STABLE] ")


def test_container_samples_carry_container_namespace_pod_and_the_read_time() -> None:
    families = parse(render(snapshot()))
    samples = families["container_memory_working_set_bytes"]["samples"]
    assert ("container_memory_working_set_bytes", {"container": "nginx", "namespace": "team-a", "pod": "web-0"},
            10_485_760.0, 1767225660123) in samples  # type: ignore[operator]
    assert ("container_memory_working_set_bytes", {"container": 'side\\"car', "namespace": "team-a",
                                                   "pod": "web-0"}, 1_000_000.0, 1767225660123) in samples  # type: ignore[operator]


def test_start_time_is_stamped_with_itself_and_pods_and_node_with_the_read_time() -> None:
    text = render(snapshot())
    assert ('container_start_time_seconds{container="nginx",namespace="team-a",pod="web-0"} 1.7672256015e+09 '
            "1767225601500\n") in text
    assert 'pod_cpu_usage_seconds_total{namespace="team-a",pod="web-0"} 3.5 1767225660123\n' in text
    assert "node_memory_working_set_bytes 2e+09 1767225660123\n" in text
    assert "resource_scrape_error 0\n" in text and "scrape_error 0\n" in text


def test_a_scrape_error_is_reported_and_missing_usage_leaves_samples_out() -> None:
    snap = Snapshot(node=None, pods=[PodUsage("ns", "p", None, [ContainerUsage("c", 0.0, None)])],
                    timestamp_ms=1, error=True)
    families = parse(render(snap))
    assert families["resource_scrape_error"]["samples"] == [("resource_scrape_error", {}, 1.0, None)]
    assert families["container_cpu_usage_seconds_total"]["samples"] == []
    assert families["node_cpu_usage_seconds_total"]["samples"] == []


@pytest.mark.parametrize(("value", "text"), [
    (0.0, "0"), (1.0, "1"), (3.5, "3.5"), (123456.0, "123456"), (1234567.0, "1.234567e+06"), (1e8, "1e+08"),
    (0.0001, "0.0001"), (0.00001, "1e-05"), (-2.5, "-2.5"), (float("inf"), "+Inf"), (1767225601.5, "1.7672256015e+09"),
])
def test_floats_are_formatted_like_go(value: float, text: str) -> None:
    assert go_float(value) == text


def test_histograms_are_cumulative_and_parse() -> None:
    text = "# HELP h x\n# TYPE h histogram\n" + histogram("h", [], (1, 2), [1, 2], 4.5, 4)
    samples = parse(text)["h"]["samples"]
    buckets = [(s[1]["le"], s[2]) for s in samples if s[0] == "h_bucket"]  # type: ignore[union-attr, index]
    assert buckets == [("1", 1.0), ("2", 3.0), ("+Inf", 4.0)]


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_cgroup_v1_usage_is_cpuacct_and_memory_less_inactive_file(tmp_path: Path) -> None:
    write(tmp_path / "cpuacct/kp/pod/c1/cpuacct.usage", "2500000000\n")
    write(tmp_path / "memory/kp/pod/c1/memory.usage_in_bytes", "10000\n")
    write(tmp_path / "memory/kp/pod/c1/memory.stat", "cache 5\ninactive_file 1\ntotal_inactive_file 4000\n")
    assert cgroups.cgroup_usage("/kp/pod/c1", tmp_path) == cgroups.Usage(2.5, 6000)


def test_cgroup_v2_usage_is_cpu_stat_and_memory_current_less_inactive_file(tmp_path: Path) -> None:
    write(tmp_path / "cgroup.controllers", "cpu memory\n")
    write(tmp_path / "kp/pod/cpu.stat", "usage_usec 1500000\nuser_usec 1\n")
    write(tmp_path / "kp/pod/memory.current", "8192\n")
    write(tmp_path / "kp/pod/memory.stat", "anon 1\ninactive_file 10000\n")
    assert cgroups.cgroup_usage("/kp/pod", tmp_path) == cgroups.Usage(1.5, 0)


def test_hybrid_hosts_fall_back_to_the_unified_hierarchy_and_missing_cgroups_are_none(tmp_path: Path) -> None:
    write(tmp_path / "unified/kp/c/cpu.stat", "usage_usec 2000000\n")
    write(tmp_path / "unified/kp/c/memory.current", "100\n")
    assert cgroups.cgroup_usage("/kp/c", tmp_path) == cgroups.Usage(2.0, 100)
    assert cgroups.cgroup_usage("/kp/gone", tmp_path) is None


def test_node_usage_from_proc_stat_and_meminfo() -> None:
    stat = "cpu  100 20 30 1000 50 5 5 10 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n"
    assert cgroups.node_cpu_seconds(stat, 100) == pytest.approx(1.7)
    meminfo = "MemTotal:  1000 kB\nMemFree:  200 kB\nInactive(file):  300 kB\n"
    assert cgroups.node_working_set(meminfo) == 500 * 1024


@pytest.mark.parametrize(("path", "bucket"), [
    ("/containerLogs/ns/p/c", "containerLogs"), ("/metrics", "metrics"), ("/metrics/resource", "metrics/resource"),
    ("/metrics/other", "metrics"), ("/stats/summary", "stats"), ("/pods", "pods"), ("/nope/x", "other"), ("/", "other"),
])
def test_request_metrics_bucket_paths_like_the_kubelet(path: str, bucket: str) -> None:
    assert path_label(path) == bucket


def test_request_labels_mark_exec_long_running_and_bound_unknown_methods() -> None:
    metrics = KubeletMetrics("n")
    assert metrics.request_labels("POST", "/exec/ns/p/c") == ("true", "POST", "exec", "readwrite")
    assert metrics.request_labels("BREW", "/pods") == ("false", "other", "pods", "readwrite")


class FakeWorker:
    def __init__(self, uid: str, start: str, running: bool) -> None:
        self.uid = uid
        state = {"running": {}} if running else {"waiting": {}}
        self.pod = {"spec": {"containers": [{"name": "c"}]},
                    "status": {"startTime": start, "containerStatuses": [{"name": "c", "state": state}]}}


def test_pod_start_duration_is_observed_once_per_pod_from_its_start_time() -> None:
    metrics = KubeletMetrics("n")
    metrics.sample_pod_starts([FakeWorker("adopted", "2026-01-01T00:00:00Z", True)], now=1767225700.0)
    assert metrics.pod_start.count == 0  # running before sampling began
    new = FakeWorker("new", "2026-01-01T00:01:00Z", False)
    metrics.sample_pod_starts([new], now=1767225661.0)
    assert metrics.pod_start.count == 0
    new.pod["status"]["containerStatuses"][0]["state"] = {"running": {}}
    metrics.sample_pod_starts([new], now=1767225663.0)
    metrics.sample_pod_starts([new], now=1767225670.0)
    assert (metrics.pod_start.count, metrics.pod_start.total) == (1, 3.0)
    assert metrics.pod_start.counts[POD_START_BUCKETS.index(3)] == 1
