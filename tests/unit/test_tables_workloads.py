"""Rows of workload kinds: deployments, replica sets, stateful sets, daemon sets, jobs, cron jobs,
controller revisions, replication controllers, autoscalers and disruption budgets."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kubeprov.apiserver.resources import Registry, builtin_resources
from kubeprov.apiserver.tables import to_table

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
META = {"name": "web", "namespace": "default", "creationTimestamp": "2025-03-01T11:50:00Z"}
TEMPLATE = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
    {"name": "nginx", "image": "nginx:1.27"}, {"name": "log", "image": "busybox:1.36"}]}}
SELECTOR = {"matchLabels": {"app": "web"}, "matchExpressions": [
    {"key": "tier", "operator": "In", "values": ["front", "back"]}, {"key": "legacy", "operator": "DoesNotExist"}]}
REGISTRY = Registry(builtin_resources())


def row(group: str, version: str, resource: str, obj: dict) -> list:
    rt = REGISTRY.get(group, version, resource)
    assert rt is not None
    return to_table(rt, [{"metadata": META, **obj}], now=NOW)["rows"][0]["cells"]


def headers(group: str, version: str, resource: str) -> list[str]:
    rt = REGISTRY.get(group, version, resource)
    assert rt is not None
    return [c["name"] for c in to_table(rt, [], now=NOW)["columnDefinitions"]]


def test_deployment_row() -> None:
    obj = {"spec": {"replicas": 3, "selector": SELECTOR, "template": TEMPLATE},
           "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}}
    assert row("apps", "v1", "deployments", obj) == [
        "web", "2/3", 3, 2, "10m", "nginx,log", "nginx:1.27,busybox:1.36", "app=web,!legacy,tier in (back,front)"]


def test_new_deployment_has_zero_counts() -> None:
    obj = {"spec": {"replicas": 1, "template": TEMPLATE}}
    assert row("apps", "v1", "deployments", obj)[1:4] == ["0/1", 0, 0]


def test_replica_set_row() -> None:
    obj = {"spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web", "pod-template-hash": "7d9"}},
                    "template": TEMPLATE}, "status": {"replicas": 2, "readyReplicas": 1}}
    assert row("apps", "v1", "replicasets", obj) == [
        "web", 2, 2, 1, "10m", "nginx,log", "nginx:1.27,busybox:1.36", "app=web,pod-template-hash=7d9"]


def test_stateful_set_row() -> None:
    obj = {"spec": {"replicas": 3, "template": TEMPLATE}, "status": {"readyReplicas": 3}}
    assert row("apps", "v1", "statefulsets", obj) == ["web", "3/3", "10m", "nginx,log", "nginx:1.27,busybox:1.36"]
    assert headers("apps", "v1", "statefulsets") == ["Name", "Ready", "Age", "Containers", "Images"]


def test_daemon_set_row() -> None:
    template = {**TEMPLATE, "spec": {**TEMPLATE["spec"], "nodeSelector": {"kubernetes.io/os": "linux"}}}
    obj = {"spec": {"selector": {"matchLabels": {"app": "web"}}, "template": template},
           "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2,
                      "updatedNumberScheduled": 3, "numberAvailable": 2}}
    assert row("apps", "v1", "daemonsets", obj) == [
        "web", 3, 3, 2, 3, 2, "kubernetes.io/os=linux", "10m", "nginx,log", "nginx:1.27,busybox:1.36", "app=web"]


def test_controller_revision_names_its_controller() -> None:
    meta = {**META, "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db",
                                         "controller": True}]}
    rt = REGISTRY.get("apps", "v1", "controllerrevisions")
    assert rt is not None
    cells = to_table(rt, [{"metadata": meta, "revision": 4}], now=NOW)["rows"][0]["cells"]
    assert cells == ["web", "statefulset.apps/db", 4, "10m"]


def test_job_columns_of_1_32() -> None:
    assert headers("batch", "v1", "jobs") == ["Name", "Status", "Completions", "Duration", "Age", "Containers",
                                              "Images", "Selector"]


@pytest.mark.parametrize(("conditions", "status"), [
    ([], "Running"),
    ([{"type": "Complete", "status": "True"}], "Complete"),
    ([{"type": "Failed", "status": "True"}], "Failed"),
    ([{"type": "Suspended", "status": "True"}], "Suspended"),
    ([{"type": "FailureTarget", "status": "True"}], "FailureTarget"),
    ([{"type": "Complete", "status": "False"}], "Running"),
])
def test_job_status(conditions: list[dict], status: str) -> None:
    obj = {"spec": {"template": TEMPLATE}, "status": {"conditions": conditions}}
    assert row("batch", "v1", "jobs", obj)[1] == status


def test_finished_job_shows_completions_and_duration() -> None:
    obj = {"spec": {"completions": 3, "template": TEMPLATE, "selector": {"matchLabels": {"job": "web"}}},
           "status": {"succeeded": 3, "startTime": "2025-03-01T11:50:00Z", "completionTime": "2025-03-01T11:51:05Z",
                      "conditions": [{"type": "Complete", "status": "True"}]}}
    assert row("batch", "v1", "jobs", obj) == [
        "web", "Complete", "3/3", "65s", "10m", "nginx,log", "nginx:1.27,busybox:1.36", "job=web"]


def test_running_job_duration_counts_to_now() -> None:
    obj = {"spec": {"parallelism": 2, "template": TEMPLATE}, "status": {"startTime": "2025-03-01T11:57:00Z"}}
    assert row("batch", "v1", "jobs", obj)[2:4] == ["0/1 of 2", "3m"]


def test_unstarted_job_has_no_duration() -> None:
    assert row("batch", "v1", "jobs", {"spec": {"template": TEMPLATE}})[2:4] == ["0/1", ""]


def test_cron_job_row() -> None:
    obj = {"spec": {"schedule": "*/5 * * * *", "suspend": False,
                    "jobTemplate": {"spec": {"template": TEMPLATE}}},
           "status": {"active": [{"name": "web-1"}], "lastScheduleTime": "2025-03-01T11:55:00Z"}}
    assert row("batch", "v1", "cronjobs", obj) == [
        "web", "*/5 * * * *", "<none>", "False", 1, "5m", "10m", "nginx,log", "nginx:1.27,busybox:1.36", "<none>"]


def test_cron_job_never_scheduled() -> None:
    obj = {"spec": {"schedule": "@daily", "timeZone": "Etc/UTC", "jobTemplate": {"spec": {"template": TEMPLATE}}}}
    assert row("batch", "v1", "cronjobs", obj)[1:6] == ["@daily", "Etc/UTC", "<unset>", 0, "<none>"]


def test_replication_controller_row() -> None:
    obj = {"spec": {"replicas": 2, "selector": {"app": "web"}, "template": TEMPLATE},
           "status": {"replicas": 2, "readyReplicas": 2}}
    assert row("", "v1", "replicationcontrollers", obj) == [
        "web", 2, 2, 2, "10m", "nginx,log", "nginx:1.27,busybox:1.36", "app=web"]


def test_autoscaler_row_with_utilization_and_value_targets() -> None:
    obj = {"spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 1, "maxReplicas": 5,
                    "metrics": [
                        {"type": "Resource", "resource": {"name": "cpu", "target": {
                            "type": "Utilization", "averageUtilization": 80}}},
                        {"type": "Resource", "resource": {"name": "memory", "target": {
                            "type": "AverageValue", "averageValue": "200Mi"}}}]},
           "status": {"currentReplicas": 2, "currentMetrics": [
               {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 40}}}]}}
    assert row("autoscaling", "v2", "horizontalpodautoscalers", obj) == [
        "web", "Deployment/web", "cpu: 40%/80%, memory: <unknown>/200Mi", "1", 5, 2, "10m"]


def test_autoscaler_limits_targets_to_two() -> None:
    metric = {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue",
                                                                           "averageValue": "10"}}}
    obj = {"spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 3,
                    "metrics": [metric, metric, metric]}}
    assert row("autoscaling", "v2", "horizontalpodautoscalers", obj)[2:4] == [
        "<unknown>/10, <unknown>/10 + 1 more...", "<unset>"]


def test_autoscaler_read_through_v1() -> None:
    obj = {"spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 1, "maxReplicas": 3,
                    "targetCPUUtilizationPercentage": 50}, "status": {"currentCPUUtilizationPercentage": 10}}
    assert row("autoscaling", "v1", "horizontalpodautoscalers", obj)[2] == "cpu: 10%/50%"


def test_disruption_budget_row() -> None:
    obj = {"spec": {"minAvailable": "50%"}, "status": {"disruptionsAllowed": 1}}
    assert row("policy", "v1", "poddisruptionbudgets", obj) == ["web", "50%", "N/A", 1, "10m"]
