"""One stored object, several served versions: HorizontalPodAutoscaler autoscaling/v1 and v2."""

from __future__ import annotations

import json

import pytest

from tests.integration.apiserver_fixture import ApiServerForTest

pytestmark = pytest.mark.integration

HPA_V1 = {
    "apiVersion": "autoscaling/v1",
    "kind": "HorizontalPodAutoscaler",
    "metadata": {"name": "web"},
    "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
             "minReplicas": 1, "maxReplicas": 4, "targetCPUUtilizationPercentage": 60},
}


def test_hpa_created_as_v1_reads_back_as_v2_with_a_cpu_resource_metric(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("hpa")
    out = apiserver.kubectl("create", "-n", ns, "-f", "-", input=json.dumps(HPA_V1))
    assert out.returncode == 0, out.stderr
    v2 = json.loads(apiserver.kubectl("get", "horizontalpodautoscalers.v2.autoscaling", "web", "-n", ns,
                                      "-o", "json").stdout)
    assert v2["apiVersion"] == "autoscaling/v2"
    assert v2["spec"]["metrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}}]


def test_hpa_reads_back_as_v1_with_its_cpu_target(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("hpa")
    assert apiserver.kubectl("create", "-n", ns, "-f", "-", input=json.dumps(HPA_V1)).returncode == 0
    v1 = json.loads(apiserver.kubectl("get", "horizontalpodautoscalers.v1.autoscaling", "web", "-n", ns,
                                      "-o", "json").stdout)
    assert v1["apiVersion"] == "autoscaling/v1"
    assert v1["spec"]["targetCPUUtilizationPercentage"] == 60
    assert v1["spec"]["maxReplicas"] == 4
