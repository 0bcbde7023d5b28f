"""The ResourceQuota controller's count: status.used from the namespace's objects, with scopes."""

from __future__ import annotations

from typing import Any

from kubeprov.controllers.resourcequota import compute_used, status_current, status_for


def quota(hard: dict[str, str], **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "q", "namespace": "ns"}, "spec": {"hard": hard, **spec}}


def pod(name: str, cpu: str = "", memory: str = "", phase: str = "Running", **spec: Any) -> dict[str, Any]:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
    container: dict[str, Any] = {"name": "c", "image": "x"}
    if requests:
        container["resources"] = {"requests": requests, "limits": requests}
    return {"metadata": {"name": name, "namespace": "ns"}, "spec": {"containers": [container], **spec},
            "status": {"phase": phase}}


def used(q: dict[str, Any], objects: dict[tuple[str, str], list[dict[str, Any]]]) -> dict[str, str]:
    return status_for(q, compute_used(q, objects))["used"]


def test_pods_and_compute_resources_are_summed() -> None:
    q = quota({"pods": "10", "requests.cpu": "4", "limits.memory": "4Gi"})
    pods = [pod("a", "500m", "1Gi"), pod("b", "250m", "512Mi")]
    assert used(q, {("", "pods"): pods}) == {"limits.memory": "1536Mi", "pods": "2", "requests.cpu": "750m"}


def test_finished_pods_use_no_compute_but_count_as_objects() -> None:
    q = quota({"pods": "10", "count/pods": "10", "requests.cpu": "4"})
    pods = [pod("a", "1"), pod("done", "1", phase="Succeeded")]
    assert used(q, {("", "pods"): pods}) == {"count/pods": "2", "pods": "1", "requests.cpu": "1"}


def test_nothing_counted_is_zero() -> None:
    q = quota({"configmaps": "5", "services.nodeports": "2"})
    assert used(q, {}) == {"configmaps": "0", "services.nodeports": "0"}


def test_object_counts_and_service_node_ports() -> None:
    q = quota({"configmaps": "5", "count/secrets": "5", "services": "3", "services.nodeports": "4"})
    services = [{"metadata": {"name": "s"}, "spec": {"type": "NodePort", "ports": [{"port": 1}, {"port": 2}]}},
                {"metadata": {"name": "t"}, "spec": {"type": "ClusterIP", "ports": [{"port": 1}]}}]
    objects = {("", "configmaps"): [{"metadata": {"name": "c"}}], ("", "secrets"): [{}, {}],
               ("", "services"): services}
    assert used(q, objects) == {"configmaps": "1", "count/secrets": "2", "services": "2",
                                "services.nodeports": "2"}


def test_best_effort_scope_counts_only_best_effort_pods() -> None:
    q = quota({"pods": "10"}, scopes=["BestEffort"])
    assert used(q, {("", "pods"): [pod("be"), pod("burstable", "100m")]}) == {"pods": "1"}


def test_priority_class_scope_selector() -> None:
    q = quota({"pods": "10"}, scopeSelector={"matchExpressions": [
        {"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}]})
    pods = [pod("a", priorityClassName="high"), pod("b", priorityClassName="low"), pod("c")]
    assert used(q, {("", "pods"): pods}) == {"pods": "1"}


def test_status_hard_is_a_copy_of_spec_hard() -> None:
    q = quota({"pods": "10", "requests.cpu": "1000m"})
    assert status_for(q, compute_used(q, {}))["hard"] == {"pods": "10", "requests.cpu": "1"}


def test_status_compared_as_quantities() -> None:
    q = quota({"requests.cpu": "1"})
    q["status"] = {"hard": {"requests.cpu": "1000m"}, "used": {"requests.cpu": "500m"}}
    assert status_current(q, {"hard": {"requests.cpu": "1"}, "used": {"requests.cpu": "0.5"}})
    assert not status_current(q, {"hard": {"requests.cpu": "1"}, "used": {"requests.cpu": "600m"}})
