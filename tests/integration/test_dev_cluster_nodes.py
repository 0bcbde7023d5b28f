"""A node that dies on `kubeprov dev up --hollow-nodes 5`: NotReady, tainted, its pods evicted and replaced.

The hollow node is powered off with the ``hollow.kubeprov.dev/dead`` annotation (it stops renewing its
Lease and posting status, like a kubelet whose machine went down); the node lifecycle controller in
the controller manager process notices, and the ReplicaSet recreates the evicted pods elsewhere.
"""

from __future__ import annotations

from typing import Any

import pytest

from kubeprov.hollow import DEAD_ANNOTATION
from tests.integration.dev_cluster import HOLLOW_NODES, DevClusterForTest, poll

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]

UNREACHABLE = "node.kubernetes.io/unreachable"
REPLICAS = 5
TOLERATION_SECONDS = 10


def ready_status(node: dict[str, Any]) -> str:
    return next((c["status"] for c in node["status"].get("conditions") or [] if c["type"] == "Ready"), "")


def deployment(name: str) -> dict[str, Any]:
    labels = {"app": name}
    tolerations = [{"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": TOLERATION_SECONDS}
                   for key in (UNREACHABLE, "node.kubernetes.io/not-ready")]
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": REPLICAS, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"tolerations": tolerations,
                                           "containers": [{"name": "app", "image": "nginx:1.27"}]}}}}


def test_dead_node_goes_unknown_tainted_and_its_pods_move(dev_cluster: DevClusterForTest) -> None:
    ns = dev_cluster.namespace("nodes")
    dev_cluster.apply(ns, deployment("web"))
    dev_cluster.ok("-n", ns, "rollout", "status", "deployment/web", "--timeout=90s", timeout=120)
    pods = dev_cluster.json("-n", ns, "get", "pods")["items"]
    victim = pods[0]["spec"]["nodeName"]
    doomed = {p["metadata"]["name"] for p in pods if p["spec"]["nodeName"] == victim}

    dev_cluster.ok("annotate", "node", victim, f"{DEAD_ANNOTATION}=true")
    try:
        def unknown() -> dict[str, Any] | None:
            node = dev_cluster.json("get", "node", victim)
            return node if ready_status(node) == "Unknown" else None

        # 40 s grace period after the last heartbeat (renewed every 10 s), checked every 5 s
        node = poll(unknown, timeout=50, interval=1, what=f"{victim} to become NotReady")
        ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
        assert ready["reason"] == "NodeStatusUnknown" and ready["message"] == "Kubelet stopped posting node status."
        assert "NotReady" in dev_cluster.ok("get", "node", victim)

        def tainted() -> bool:
            taints = dev_cluster.json("get", "node", victim)["spec"].get("taints") or []
            return any(t["key"] == UNREACHABLE and t["effect"] == "NoExecute" and t.get("timeAdded") for t in taints)

        poll(tainted, timeout=30, interval=1, what="the unreachable NoExecute taint")

        def moved() -> list[dict[str, Any]]:
            items = dev_cluster.json("-n", ns, "get", "pods")["items"]
            live = [p for p in items if not p["metadata"].get("deletionTimestamp")]
            ready = [p for p in live if any(c["type"] == "Ready" and c["status"] == "True"
                                            for c in p["status"].get("conditions") or [])]
            evicted = [p for p in items if p["metadata"]["name"] in doomed and p["metadata"].get("deletionTimestamp")]
            gone = doomed - {p["metadata"]["name"] for p in items}
            if len(ready) == REPLICAS == len(live) and len(evicted) + len(gone) == len(doomed):
                return items
            return []

        items = poll(moved, timeout=60, interval=1, what="the evicted pods to be replaced on other nodes")
        live = [p for p in items if not p["metadata"].get("deletionTimestamp")]
        assert victim not in {p["spec"]["nodeName"] for p in live}
        for p in items:
            if p["metadata"]["name"] in doomed:
                target = next(c for c in p["status"]["conditions"] if c["type"] == "DisruptionTarget")
                assert target["reason"] == "DeletionByTaintManager"
    finally:
        dev_cluster.ok("annotate", "node", victim, f"{DEAD_ANNOTATION}-")
        poll(lambda: sum(ready_status(n) == "True" for n in dev_cluster.json("get", "nodes")["items"]) == HOLLOW_NODES
             and not any(t["key"] == UNREACHABLE for t in dev_cluster.json("get", "node", victim)["spec"].get("taints")
                         or []),
             timeout=40, interval=1, what=f"{victim} to be Ready and untainted again")
    # the revived kubelet finishes the deletions of the pods evicted while it was down
    poll(lambda: not doomed & {p["metadata"]["name"] for p in dev_cluster.json("-n", ns, "get", "pods")["items"]},
         timeout=30, interval=1, what="the evicted pods to be removed by the revived node")
    dev_cluster.kubectl("delete", "namespace", ns, "--wait=false")
