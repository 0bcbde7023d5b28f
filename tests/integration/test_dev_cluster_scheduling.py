"""The scheduler process of `kubeprov dev up --hollow-nodes 5`, judged by the real kubectl.

Taints and tolerations, node affinity, pod (anti-)affinity and resource fit, each set up so that a
scheduler ignoring the rule would place the pods elsewhere; the FailedScheduling messages are
kube-scheduler 1.32's, read back from ``kubectl describe pod`` and the pod's PodScheduled condition.
The five hollow nodes have 4 cpu each and spread over two zones (``zone-0``: hollow-0, 2, 4;
``zone-1``: hollow-1, 3).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.dev_cluster import DevClusterForTest, poll

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

HOSTNAME = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"
NO_VICTIMS = "preemption: 0/5 nodes are available: 5 No preemption victims found for incoming pod."
NOT_HELPFUL = "preemption: 0/5 nodes are available: 5 Preemption is not helpful for scheduling."


@pytest.fixture
def ns(dev_cluster: DevClusterForTest) -> Iterator[str]:
    name = dev_cluster.namespace("sched")
    yield name
    dev_cluster.kubectl("delete", "namespace", name, "--wait=false")


@pytest.fixture
def nodes(dev_cluster: DevClusterForTest) -> list[str]:
    return sorted(n["metadata"]["name"] for n in dev_cluster.json("get", "nodes")["items"])


def pod(name: str, *, labels: dict[str, str] | None = None, cpu: str | None = None, node_name: str | None = None,
        node_selector: dict[str, str] | None = None, tolerations: list[dict[str, Any]] | None = None,
        affinity: dict[str, Any] | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "app", "image": "nginx:1.27"}
    if cpu:
        container["resources"] = {"requests": {"cpu": cpu}}
    spec: dict[str, Any] = {"containers": [container]}
    for key, value in (("nodeName", node_name), ("nodeSelector", node_selector), ("tolerations", tolerations),
                       ("affinity", affinity)):
        if value:
            spec[key] = value
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {"app": name}},
            "spec": spec}


def deployment(name: str, replicas: int, affinity: dict[str, Any]) -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"affinity": affinity,
                                           "containers": [{"name": "app", "image": "nginx:1.27"}]}}}}


def node_of(cluster: DevClusterForTest, ns: str, name: str) -> str:
    return poll(lambda: cluster.json("-n", ns, "get", "pod", name)["spec"].get("nodeName"), timeout=30,
                what=f"pod {name} to be scheduled")


def unschedulable(cluster: DevClusterForTest, ns: str, name: str, message: str) -> None:
    """The pod stays unbound with ``message`` in its PodScheduled condition and FailedScheduling event."""

    def condition() -> bool:
        p = cluster.json("-n", ns, "get", "pod", name)
        assert not p["spec"].get("nodeName"), f"pod {name} was bound to {p['spec']['nodeName']}"
        scheduled = [c for c in p["status"].get("conditions") or [] if c["type"] == "PodScheduled"]
        return bool(scheduled) and scheduled[0]["status"] == "False" and scheduled[0].get("message") == message

    poll(condition, timeout=30, what=f"pod {name} to be reported unschedulable with {message!r}")
    assert scheduled_reason(cluster, ns, name) == "Unschedulable"
    described = cluster.ok("-n", ns, "describe", "pod", name)
    assert "FailedScheduling" in described and message in described, described


def scheduled_reason(cluster: DevClusterForTest, ns: str, name: str) -> str:
    p = cluster.json("-n", ns, "get", "pod", name)
    return next(c.get("reason", "") for c in p["status"]["conditions"] if c["type"] == "PodScheduled")


def deployment_pods(cluster: DevClusterForTest, ns: str, app: str) -> list[dict[str, Any]]:
    return [p for p in cluster.json("-n", ns, "get", "pods", "-l", f"app={app}")["items"]
            if not p["metadata"].get("deletionTimestamp")]


# ---- taints and tolerations -------------------------------------------------------------------


def test_noschedule_taint_keeps_pods_off_and_a_toleration_lets_them_on(dev_cluster: DevClusterForTest, ns: str,
                                                                      nodes: list[str]) -> None:
    target = nodes[0]
    dev_cluster.ok("taint", "node", target, "dedicated=test:NoSchedule")
    try:
        pinned = {HOSTNAME: target}
        dev_cluster.apply(ns, pod("plain", node_selector=pinned))
        unschedulable(dev_cluster, ns, "plain",
                      "0/5 nodes are available: 1 node(s) had untolerated taint {dedicated: test}, 4 node(s) didn't "
                      f"match Pod's node affinity/selector. {NOT_HELPFUL}")
        toleration = [{"key": "dedicated", "operator": "Equal", "value": "test", "effect": "NoSchedule"}]
        dev_cluster.apply(ns, pod("tolerant", node_selector=pinned, tolerations=toleration))
        assert node_of(dev_cluster, ns, "tolerant") == target
    finally:
        dev_cluster.ok("taint", "node", target, "dedicated-")
    # the cluster changed: the pending pod is scheduled
    assert node_of(dev_cluster, ns, "plain") == target


# ---- node affinity ----------------------------------------------------------------------------


def test_required_node_affinity_keeps_replicas_in_the_zone(dev_cluster: DevClusterForTest, ns: str) -> None:
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": ZONE, "operator": "In", "values": ["zone-1"]}]}]}}}
    dev_cluster.apply(ns, deployment("zonal", 4, affinity))
    dev_cluster.ok("-n", ns, "rollout", "status", "deployment/zonal", "--timeout=60s", timeout=90)
    zones = {dev_cluster.json("get", "node", p["spec"]["nodeName"])["metadata"]["labels"][ZONE]
             for p in deployment_pods(dev_cluster, ns, "zonal")}
    assert zones == {"zone-1"}


def test_preferred_node_affinity_picks_the_preferred_node(dev_cluster: DevClusterForTest, ns: str,
                                                          nodes: list[str]) -> None:
    preferred = nodes[-1]
    affinity = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 100, "preference": {"matchExpressions": [{"key": HOSTNAME, "operator": "In",
                                                             "values": [preferred]}]}}]}}
    # one after the other: least-allocated scoring alone would move each next pod elsewhere
    for i in range(3):
        dev_cluster.apply(ns, pod(f"pref-{i}", affinity=affinity))
        assert node_of(dev_cluster, ns, f"pref-{i}") == preferred


def test_required_node_affinity_matching_no_node_stays_pending(dev_cluster: DevClusterForTest, ns: str) -> None:
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": ZONE, "operator": "In", "values": ["zone-9"]}]}]}}}
    dev_cluster.apply(ns, pod("nowhere", affinity=affinity))
    unschedulable(dev_cluster, ns, "nowhere",
                  f"0/5 nodes are available: 5 node(s) didn't match Pod's node affinity/selector. {NOT_HELPFUL}")


# ---- pod affinity and anti-affinity -----------------------------------------------------------


def test_required_pod_anti_affinity_leaves_the_sixth_replica_pending(dev_cluster: DevClusterForTest,
                                                                     ns: str) -> None:
    affinity = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "solo"}}, "topologyKey": HOSTNAME}]}}
    dev_cluster.apply(ns, deployment("solo", 6, affinity))

    def five_bound_one_pending() -> list[dict[str, Any]]:
        pods = deployment_pods(dev_cluster, ns, "solo")
        bound = [p for p in pods if p["spec"].get("nodeName")]
        return pods if len(pods) == 6 and len(bound) == 5 else []

    pods = poll(five_bound_one_pending, timeout=40, what="5 pods bound and 1 pending")
    assert len({p["spec"]["nodeName"] for p in pods if p["spec"].get("nodeName")}) == 5
    pending = next(p["metadata"]["name"] for p in pods if not p["spec"].get("nodeName"))
    unschedulable(dev_cluster, ns, pending,
                  f"0/5 nodes are available: 5 node(s) didn't match pod anti-affinity rules. {NO_VICTIMS}")


def test_required_pod_affinity_follows_the_target_pod(dev_cluster: DevClusterForTest, ns: str,
                                                      nodes: list[str]) -> None:
    home = nodes[2]
    dev_cluster.apply(ns, pod("db", node_selector={HOSTNAME: home}))
    assert node_of(dev_cluster, ns, "db") == home
    affinity = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": HOSTNAME}]}}
    dev_cluster.apply(ns, deployment("cache", 3, affinity))
    dev_cluster.ok("-n", ns, "rollout", "status", "deployment/cache", "--timeout=60s", timeout=90)
    assert {p["spec"]["nodeName"] for p in deployment_pods(dev_cluster, ns, "cache")} == {home}


def test_required_pod_affinity_without_a_target_stays_pending(dev_cluster: DevClusterForTest, ns: str) -> None:
    affinity = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "ghost"}}, "topologyKey": HOSTNAME}]}}
    dev_cluster.apply(ns, pod("follower", affinity=affinity))
    unschedulable(dev_cluster, ns, "follower",
                  f"0/5 nodes are available: 5 node(s) didn't match pod affinity rules. {NOT_HELPFUL}")


# ---- resource fit -----------------------------------------------------------------------------


def test_a_request_bigger_than_any_node_stays_pending(dev_cluster: DevClusterForTest, ns: str) -> None:
    dev_cluster.apply(ns, pod("huge", cpu="100"))
    unschedulable(dev_cluster, ns, "huge", f"0/5 nodes are available: 5 Insufficient cpu. {NO_VICTIMS}")


def test_a_request_that_fits_only_one_node_lands_there(dev_cluster: DevClusterForTest, ns: str,
                                                       nodes: list[str]) -> None:
    free = nodes[1]
    for node in nodes:
        if node != free:  # 3 of 4 cpu taken on every other node (bound directly, no scheduler)
            dev_cluster.apply(ns, pod(f"filler-{node}", cpu="3", node_name=node))
    dev_cluster.apply(ns, pod("fits", cpu="3"))
    assert node_of(dev_cluster, ns, "fits") == free
    dev_cluster.apply(ns, pod("no-room", cpu="2"))
    unschedulable(dev_cluster, ns, "no-room", f"0/5 nodes are available: 5 Insufficient cpu. {NO_VICTIMS}")
    # room is made: the pending pod is scheduled where the filler was
    dev_cluster.ok("-n", ns, "delete", "pod", f"filler-{nodes[0]}")
    assert node_of(dev_cluster, ns, "no-room") == nodes[0]
