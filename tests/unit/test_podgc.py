"""The pod garbage collector's choices: which terminated pods go, and the status an orphan gets."""

from __future__ import annotations

from kubeprov.controllers.podgc import disruption_status, terminated_to_delete


def pod(name: str, phase: str, created: str, deleting: bool = False) -> dict:
    m: dict = {"name": name, "namespace": "ns", "creationTimestamp": created}
    if deleting:
        m["deletionTimestamp"] = created
    return {"metadata": m, "status": {"phase": phase}}


def test_only_the_oldest_terminated_pods_beyond_the_threshold_go() -> None:
    pods = [pod("new-done", "Succeeded", "2026-01-03T00:00:00Z"), pod("running", "Running", "2026-01-01T00:00:00Z"),
            pod("old-failed", "Failed", "2026-01-01T00:00:00Z"), pod("mid-done", "Succeeded", "2026-01-02T00:00:00Z")]
    assert [p["metadata"]["name"] for p in terminated_to_delete(pods, 1)] == ["old-failed", "mid-done"]
    assert terminated_to_delete(pods, 3) == []


def test_threshold_zero_keeps_every_terminated_pod() -> None:
    assert terminated_to_delete([pod("a", "Failed", "2026-01-01T00:00:00Z")], 0) == []


def test_pods_already_being_deleted_do_not_count() -> None:
    pods = [pod("a", "Failed", "2026-01-01T00:00:00Z", deleting=True), pod("b", "Failed", "2026-01-02T00:00:00Z")]
    assert terminated_to_delete(pods, 1) == []


def test_an_orphan_is_marked_failed_with_the_disruption_target_condition() -> None:
    status = disruption_status({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}},
                               "PodGC: node no longer exists")
    assert status["phase"] == "Failed"
    target = next(c for c in status["conditions"] if c["type"] == "DisruptionTarget")
    assert (target["status"], target["reason"], target["message"]) == ("True", "DeletionByPodGC",
                                                                       "PodGC: node no longer exists")
    assert any(c["type"] == "Ready" for c in status["conditions"])


def test_a_succeeded_orphan_keeps_its_phase() -> None:
    assert disruption_status({"status": {"phase": "Succeeded"}}, "x")["phase"] == "Succeeded"
