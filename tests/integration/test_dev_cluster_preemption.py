"""Priorities, preemption and claims on `kubeprov dev up --hollow-nodes 5`, judged by the real kubectl.

The hollow nodes have 4 cpu each. A node is made full with a 3-cpu pod; another 3-cpu pod pinned to that
node only fits once the first one is gone.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.dev_cluster import DevClusterForTest, poll

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

HOSTNAME = "kubernetes.io/hostname"
NOT_HELPFUL = "preemption: 0/5 nodes are available: 5 Preemption is not helpful for scheduling."


@pytest.fixture
def ns(dev_cluster: DevClusterForTest) -> Iterator[str]:
    name = dev_cluster.namespace("prio")
    yield name
    dev_cluster.kubectl("delete", "namespace", name, "--wait=false")


@pytest.fixture
def classes(dev_cluster: DevClusterForTest) -> Iterator[list[str]]:
    """PriorityClasses the test made (cluster-scoped), deleted at the end."""
    made: list[str] = []
    yield made
    for name in made:
        dev_cluster.kubectl("delete", "priorityclass", name, "--wait=false")


def priority_class(cluster: DevClusterForTest, made: list[str], value: int, policy: str = "") -> str:
    name = f"prio-{value}-{uuid.uuid4().hex[:6]}"
    body: dict[str, Any] = {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name},
                            "value": value}
    if policy:
        body["preemptionPolicy"] = policy
    cluster.apply("default", body)
    made.append(name)
    return name


def pod(name: str, node: str, cpu: str = "3", priority_class_name: str = "", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"nodeSelector": {HOSTNAME: node}, "terminationGracePeriodSeconds": 1,
                            "containers": [{"name": "app", "image": "nginx:1.27",
                                            "resources": {"requests": {"cpu": cpu}}}], **spec}
    if priority_class_name:
        body["priorityClassName"] = priority_class_name
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": body}


def node_of(cluster: DevClusterForTest, ns: str, name: str) -> str:
    return poll(lambda: cluster.json("-n", ns, "get", "pod", name)["spec"].get("nodeName"), timeout=45,
                what=f"pod {name} to be scheduled")


def pending_with(cluster: DevClusterForTest, ns: str, name: str, message: str) -> None:
    def condition() -> bool:
        p = cluster.json("-n", ns, "get", "pod", name)
        assert not p["spec"].get("nodeName"), f"pod {name} was bound to {p['spec']['nodeName']}"
        scheduled = [c for c in p["status"].get("conditions") or [] if c["type"] == "PodScheduled"]
        return bool(scheduled) and scheduled[0]["status"] == "False" and scheduled[0].get("message") == message

    poll(condition, timeout=45, what=f"pod {name} to be pending with {message!r}")
    described = cluster.ok("-n", ns, "describe", "pod", name)
    assert "FailedScheduling" in described and message in described, described


@pytest.fixture
def node(dev_cluster: DevClusterForTest) -> str:
    return sorted(n["metadata"]["name"] for n in dev_cluster.json("get", "nodes")["items"])[-1]


def test_high_priority_pod_preempts_a_low_priority_one_on_a_full_node(dev_cluster: DevClusterForTest, ns: str,
                                                                       node: str, classes: list[str]) -> None:
    high = priority_class(dev_cluster, classes, 1000)
    dev_cluster.apply(ns, pod("low", node))
    assert node_of(dev_cluster, ns, "low") == node
    dev_cluster.apply(ns, pod("high", node, priority_class_name=high))
    got = dev_cluster.json("-n", ns, "get", "pod", "high")
    assert got["spec"]["priority"] == 1000 and got["spec"]["preemptionPolicy"] == "PreemptLowerPriority"
    assert node_of(dev_cluster, ns, "high") == node
    poll(lambda: dev_cluster.kubectl("-n", ns, "get", "pod", "low").returncode != 0, timeout=30,
         what="the victim to be gone")
    events = dev_cluster.json("-n", ns, "get", "events", "--field-selector", "reason=Preempted")["items"]
    assert [e["message"] for e in events] == [f"Preempted by pod {got['metadata']['uid']} on node {node}"]
    assert events[0]["involvedObject"]["name"] == "low"


def test_pod_that_may_not_preempt_stays_pending(dev_cluster: DevClusterForTest, ns: str, node: str,
                                                classes: list[str]) -> None:
    polite = priority_class(dev_cluster, classes, 1000, policy="Never")
    dev_cluster.apply(ns, pod("low", node))
    assert node_of(dev_cluster, ns, "low") == node
    dev_cluster.apply(ns, pod("polite", node, priority_class_name=polite))
    pending_with(dev_cluster, ns, "polite",
                 "0/5 nodes are available: 1 Insufficient cpu, 4 node(s) didn't match Pod's node affinity/selector. "
                 "preemption: not eligible due to preemptionPolicy=Never.")
    assert dev_cluster.json("-n", ns, "get", "pod", "low")["spec"]["nodeName"] == node


def test_unknown_priority_class_is_refused(dev_cluster: DevClusterForTest, ns: str, node: str) -> None:
    out = dev_cluster.kubectl("-n", ns, "apply", "-f", "-",
                              input=json.dumps(pod("lost", node, priority_class_name="no-such")))
    assert out.returncode != 0
    assert 'pods "lost" is forbidden: no PriorityClass with name no-such was found' in out.stderr


def test_pod_with_a_claim_of_a_missing_class_stays_pending(dev_cluster: DevClusterForTest, ns: str) -> None:
    dev_cluster.apply(ns, {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
                           "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "no-such-class",
                                    "resources": {"requests": {"storage": "1Gi"}}}})
    dev_cluster.apply(ns, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "user"},
                           "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}],
                                    "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]}})
    pending_with(dev_cluster, ns, "user",
                 f"0/5 nodes are available: pod has unbound immediate PersistentVolumeClaims. {NOT_HELPFUL}")


def test_pod_with_a_missing_claim_stays_pending_then_runs_with_a_provisioned_volume(
        dev_cluster: DevClusterForTest, ns: str) -> None:
    dev_cluster.apply(ns, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "user"},
                           "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}],
                                    "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]}})
    pending_with(dev_cluster, ns, "user",
                 f'0/5 nodes are available: persistentvolumeclaim "data" not found. {NOT_HELPFUL}')
    # the default class `standard` binds at once through the hostpath provisioner
    dev_cluster.apply(ns, {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
                           "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})
    assert node_of(dev_cluster, ns, "user")
