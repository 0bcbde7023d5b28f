"""PodDisruptionBudget arithmetic of the disruption controller: expected and desired counts, percentages,
healthy pods, disrupted pods, the status and its condition."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubeprov.controllers.disruption import (
    build_status,
    count_healthy,
    disrupted_pods,
    expected_and_desired,
    scaled_value,
    status_equal,
    uses_scale,
)

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def pdb(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "b", "namespace": "ns", "generation": 3}, "spec": spec}


def pod(name: str, ready: bool = True, deleting: bool = False) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if deleting:
        metadata["deletionTimestamp"] = "2024-05-01T11:59:00Z"
    return {"metadata": metadata, "status": {"conditions": [{"type": "Ready", "status": str(ready)}]}}


def stamp(delta: timedelta) -> str:
    return (NOW + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(("value", "total", "up", "expected"), [
    (2, 10, True, 2), ("50%", 5, True, 3), ("50%", 5, False, 2), ("34%", 3, True, 2), ("0%", 7, True, 0)])
def test_scaled_value_rounds_percentages(value: int | str, total: int, up: bool, expected: int) -> None:
    assert scaled_value(value, total, up) == expected


def test_integer_min_available_counts_the_pods() -> None:
    assert not uses_scale(pdb(minAvailable=2))
    assert expected_and_desired(pdb(minAvailable=2), 3, 0) == (3, 2)


def test_percentage_min_available_uses_the_scale_rounded_up() -> None:
    assert uses_scale(pdb(minAvailable="50%"))
    assert expected_and_desired(pdb(minAvailable="50%"), 2, 5) == (5, 3)


def test_max_unavailable_uses_the_scale_and_rounds_unavailable_up() -> None:
    assert uses_scale(pdb(maxUnavailable=1))
    assert expected_and_desired(pdb(maxUnavailable="30%"), 4, 4) == (4, 2)
    assert expected_and_desired(pdb(maxUnavailable=5), 3, 3) == (3, 0)


def test_healthy_pods_are_ready_not_deleting_and_not_disrupted() -> None:
    pods = [pod("a"), pod("b", ready=False), pod("c", deleting=True), pod("d")]
    assert count_healthy(pods, {"d": stamp(timedelta())}) == 1


def test_disrupted_pods_expire_after_two_minutes_and_drop_deleting_pods() -> None:
    status = {"disruptedPods": {"fresh": stamp(-timedelta(seconds=30)), "old": stamp(-timedelta(minutes=3)),
                                "deleting": stamp(timedelta())}}
    budget = {**pdb(minAvailable=1), "status": status}
    result = disrupted_pods(budget, [pod("fresh"), pod("old"), pod("deleting", deleting=True)], NOW)
    assert result.kept == {"fresh": status["disruptedPods"]["fresh"]}
    assert [p["metadata"]["name"] for p in result.stale] == ["old"]
    assert result.recheck == NOW + timedelta(seconds=90)


def test_status_with_room_allows_disruptions() -> None:
    status = build_status(pdb(minAvailable=2), current_healthy=3, desired_healthy=2, expected=3, disrupted={},
                          now=NOW)
    assert {k: status[k] for k in ("disruptionsAllowed", "currentHealthy", "desiredHealthy", "expectedPods",
                                   "observedGeneration")} == {"disruptionsAllowed": 1, "currentHealthy": 3,
                                                              "desiredHealthy": 2, "expectedPods": 3,
                                                              "observedGeneration": 3}
    [condition] = status["conditions"]
    assert (condition["type"], condition["status"], condition["reason"]) == ("DisruptionAllowed", "True",
                                                                             "SufficientPods")


def test_status_without_room_or_without_expected_pods_allows_none() -> None:
    short = build_status(pdb(minAvailable=2), current_healthy=2, desired_healthy=2, expected=2, disrupted={},
                         now=NOW)
    assert short["disruptionsAllowed"] == 0
    assert (short["conditions"][0]["status"], short["conditions"][0]["reason"]) == ("False", "InsufficientPods")
    empty = build_status(pdb(maxUnavailable=1), current_healthy=0, desired_healthy=0, expected=0, disrupted={},
                         now=NOW)
    assert empty["disruptionsAllowed"] == 0


def test_failure_fails_safe_with_sync_failed() -> None:
    status = build_status(pdb(maxUnavailable=1), current_healthy=3, desired_healthy=0, expected=3, disrupted={},
                          now=NOW, failure="found no controllers for pod 'x'")
    assert status["disruptionsAllowed"] == 0
    assert status["conditions"][0]["reason"] == "SyncFailed"


def test_condition_keeps_its_transition_time_while_unchanged() -> None:
    first = build_status(pdb(minAvailable=1), current_healthy=3, desired_healthy=1, expected=3, disrupted={},
                         now=NOW)
    later = build_status({**pdb(minAvailable=1), "status": first}, current_healthy=2, desired_healthy=1,
                         expected=3, disrupted={}, now=NOW + timedelta(minutes=5))
    assert later["conditions"][0]["lastTransitionTime"] == first["conditions"][0]["lastTransitionTime"]
    assert not status_equal(first, later)
    again = build_status({**pdb(minAvailable=1), "status": later}, current_healthy=2, desired_healthy=1,
                         expected=3, disrupted={}, now=NOW + timedelta(minutes=6))
    assert status_equal(later, again)
