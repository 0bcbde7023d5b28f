"""resourceFieldRef values and termination messages, as the kubelet computes them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kubeprov.kubelet.env import resource_field_value, termination_message

ALLOCATABLE = {"cpu": "2", "memory": "4Gi", "ephemeral-storage": "100Gi"}
CONTAINER = {"name": "c", "resources": {"limits": {"cpu": "250m", "memory": "64Mi"},
                                        "requests": {"cpu": "100m", "memory": "32Mi"}}}


@pytest.mark.parametrize(("resource", "divisor", "expected"), [
    ("limits.cpu", None, "1"),  # 250m rounded up to whole cores
    ("limits.cpu", "1m", "250"),
    ("requests.cpu", "1m", "100"),
    ("limits.memory", None, str(64 * 1024 * 1024)),
    ("limits.memory", "1Mi", "64"),
    ("requests.memory", "1M", "34"),  # 33.55 MB rounded up
])
def test_resource_field_values_divide_and_round_up(resource: str, divisor: str | None, expected: str) -> None:
    ref = {"resource": resource, **({"divisor": divisor} if divisor else {})}
    assert resource_field_value(ref, CONTAINER, ALLOCATABLE) == expected


def test_an_unset_limit_is_the_nodes_allocatable() -> None:
    assert resource_field_value({"resource": "limits.cpu"}, {"name": "c"}, ALLOCATABLE) == "2"
    assert resource_field_value({"resource": "limits.ephemeral-storage", "divisor": "1Gi"}, {"name": "c"},
                                ALLOCATABLE) == "100"


def test_an_unset_request_is_zero() -> None:
    assert resource_field_value({"resource": "requests.memory"}, {"name": "c"}, ALLOCATABLE) == "0"


def test_an_unknown_resource_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unsupported container resource"):
        resource_field_value({"resource": "limits.gpu"}, CONTAINER, ALLOCATABLE)


def write_log(path: Path, lines: list[str]) -> None:
    path.write_text("".join(f"2026-01-01T00:00:00.000000000Z stdout F {line}\n" for line in lines))


def test_the_termination_file_is_the_message_even_with_fallback(tmp_path: Path) -> None:
    (tmp_path / "msg").write_text("bye")
    write_log(tmp_path / "log", ["from log"])
    container = {"terminationMessagePolicy": "FallbackToLogsOnError"}
    assert termination_message(container, tmp_path / "msg", 1, tmp_path / "log") == "bye"


def test_fallback_to_logs_takes_the_last_80_lines_only_after_a_failure(tmp_path: Path) -> None:
    (tmp_path / "msg").write_text("")
    write_log(tmp_path / "log", [f"line {i}" for i in range(100)])
    container = {"terminationMessagePolicy": "FallbackToLogsOnError"}
    message = termination_message(container, tmp_path / "msg", 2, tmp_path / "log")
    assert message.splitlines()[0] == "line 20" and message.endswith("line 99\n")
    assert termination_message(container, tmp_path / "msg", 0, tmp_path / "log") == ""
    assert termination_message({"terminationMessagePolicy": "File"}, tmp_path / "msg", 2, tmp_path / "log") == ""


def test_a_termination_message_is_cut_at_4096_bytes(tmp_path: Path) -> None:
    (tmp_path / "msg").write_text(json.dumps("x" * 5000))
    assert len(termination_message({}, tmp_path / "msg", 0, tmp_path / "log")) == 4096
