"""Deployments on `kubeprov dev up --hollow-nodes 5`, judged by the real kubectl and the official client.

The real controllers (deployment, replicaset, garbage collector), the scheduler and the hollow
kubelets run as processes; each test works in a namespace of its own.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, config, watch

from tests.integration.dev_cluster import DevClusterForTest, poll

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

REPLICAS = 6
# the 25% defaults for 6 replicas: surge rounds up, unavailable rounds down
MAX_SURGE, MAX_UNAVAILABLE = 2, 1


@pytest.fixture
def ns(dev_cluster: DevClusterForTest) -> str:
    return dev_cluster.namespace("deploy")


def create_web(cluster: DevClusterForTest, ns: str, replicas: int = REPLICAS) -> None:
    cluster.ok("-n", ns, "create", "deployment", "web", "--image=nginx", f"--replicas={replicas}")
    cluster.ok("-n", ns, "rollout", "status", "deployment/web", "--timeout=90s", timeout=120)


def pods(cluster: DevClusterForTest, ns: str) -> list[dict[str, Any]]:
    return [p for p in cluster.json("-n", ns, "get", "pods")["items"] if not p["metadata"].get("deletionTimestamp")]


def is_ready(pod: Any) -> bool:
    conditions = (pod.status.conditions if pod.status else None) or []
    return any(c.type == "Ready" and c.status == "True" for c in conditions)


class PodCounter:
    """Watches a namespace's pods (official client) and keeps the extremes of what existed and was available."""

    def __init__(self, cluster: DevClusterForTest, ns: str) -> None:
        self.api = client.CoreV1Api(config.new_client_from_config(config_file=str(cluster.kubeconfig)))
        self.ns = ns
        self.pods: dict[str, Any] = {}
        self.armed = threading.Event()
        self.max_existing = 0
        self.min_available = REPLICAS
        self.watch = watch.Watch()
        self.stopping = False
        self.error: Exception | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self._count()
        except Exception as exc:  # the stream broke: an error unless we were done with it
            if not self.stopping:
                self.error = exc

    def _count(self) -> None:
        for event in self.watch.stream(self.api.list_namespaced_pod, self.ns, timeout_seconds=150):
            pod = event["object"]
            if event["type"] == "DELETED":
                self.pods.pop(pod.metadata.name, None)
            else:
                self.pods[pod.metadata.name] = pod
            existing = [p for p in self.pods.values() if p.metadata.deletion_timestamp is None
                        and (p.status.phase if p.status else "") not in ("Succeeded", "Failed")]
            available = [p for p in existing if is_ready(p)]
            if not self.armed.is_set():
                if len(available) >= REPLICAS:  # the initial list has been seen
                    self.armed.set()
                continue
            self.max_existing = max(self.max_existing, len(existing))
            self.min_available = min(self.min_available, len(available))

    def __enter__(self) -> PodCounter:
        self.thread.start()
        assert self.armed.wait(30), "the pod watch did not see the initial pods"
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping = True
        self.watch.stop()
        self.thread.join(timeout=5)
        assert self.error is None, f"the pod watch failed: {self.error!r}"


def test_deployment_rolls_out_and_spreads_over_nodes(dev_cluster: DevClusterForTest, ns: str) -> None:
    create_web(dev_cluster, ns)
    running = pods(dev_cluster, ns)
    assert len(running) == REPLICAS
    nodes = {p["spec"]["nodeName"] for p in running}
    assert len(nodes) >= 3, f"6 pods landed on {sorted(nodes)} only"
    status = dev_cluster.json("-n", ns, "get", "deployment", "web")["status"]
    assert status["readyReplicas"] == status["availableReplicas"] == status["updatedReplicas"] == REPLICAS


def test_rolling_update_stays_within_max_surge_and_max_unavailable(dev_cluster: DevClusterForTest, ns: str) -> None:
    create_web(dev_cluster, ns)
    with PodCounter(dev_cluster, ns) as counter:
        dev_cluster.ok("-n", ns, "set", "image", "deployment/web", "nginx=nginx:1.27")
        dev_cluster.ok("-n", ns, "rollout", "status", "deployment/web", "--timeout=90s", timeout=120)
    assert counter.max_existing <= REPLICAS + MAX_SURGE
    assert counter.min_available >= REPLICAS - MAX_UNAVAILABLE
    assert counter.max_existing > REPLICAS, "the rollout never surged: were the pods replaced at all?"
    images = {p["spec"]["containers"][0]["image"] for p in pods(dev_cluster, ns)}
    assert images == {"nginx:1.27"}


def test_rollout_history_lists_revisions_and_undo_restores_the_old_template(dev_cluster: DevClusterForTest,
                                                                            ns: str) -> None:
    create_web(dev_cluster, ns)
    dev_cluster.ok("-n", ns, "set", "image", "deployment/web", "nginx=nginx:1.27")
    dev_cluster.ok("-n", ns, "rollout", "status", "deployment/web", "--timeout=90s", timeout=120)
    history = dev_cluster.ok("-n", ns, "rollout", "history", "deployment/web")
    revisions = [line.split()[0] for line in history.splitlines()[2:] if line.strip()]
    assert revisions == ["1", "2"], history
    dev_cluster.ok("-n", ns, "rollout", "undo", "deployment/web")
    dev_cluster.ok("-n", ns, "rollout", "status", "deployment/web", "--timeout=90s", timeout=120)
    deployment = dev_cluster.json("-n", ns, "get", "deployment", "web")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx"
    assert deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert {p["spec"]["containers"][0]["image"] for p in pods(dev_cluster, ns)} == {"nginx"}


def test_scale_up_then_down(dev_cluster: DevClusterForTest, ns: str) -> None:
    create_web(dev_cluster, ns)
    for replicas in (9, 3):
        dev_cluster.ok("-n", ns, "scale", "deployment/web", f"--replicas={replicas}")
        dev_cluster.ok("-n", ns, "rollout", "status", "deployment/web", "--timeout=90s", timeout=120)
        poll(lambda n=replicas: len(pods(dev_cluster, ns)) == n, what=f"{replicas} pods")
        assert dev_cluster.json("-n", ns, "get", "deployment", "web")["status"]["availableReplicas"] == replicas


def owned_objects(cluster: DevClusterForTest, ns: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return cluster.json("-n", ns, "get", "replicasets")["items"], pods(cluster, ns)


def test_delete_deployment_removes_its_replicasets_and_pods(dev_cluster: DevClusterForTest, ns: str) -> None:
    create_web(dev_cluster, ns, replicas=3)
    assert all(owned_objects(dev_cluster, ns))
    dev_cluster.ok("-n", ns, "delete", "deployment", "web")
    poll(lambda: owned_objects(dev_cluster, ns) == ([], []), what="ReplicaSets and pods to be collected")


def test_delete_deployment_orphan_keeps_replicasets_and_pods(dev_cluster: DevClusterForTest, ns: str) -> None:
    create_web(dev_cluster, ns, replicas=3)
    dev_cluster.ok("-n", ns, "delete", "deployment", "web", "--cascade=orphan")
    assert dev_cluster.kubectl("-n", ns, "get", "deployment", "web").returncode != 0

    def orphaned() -> list[dict[str, Any]]:
        sets, _ = owned_objects(dev_cluster, ns)
        return sets if sets and all(not rs["metadata"].get("ownerReferences") for rs in sets) else []

    sets = poll(orphaned, what="the ReplicaSet to lose its ownerReferences")
    assert len(sets) == 1 and sets[0]["spec"]["replicas"] == 3
    assert len(pods(dev_cluster, ns)) == 3


@pytest.fixture(autouse=True)
def _no_leaks(dev_cluster: DevClusterForTest, ns: str) -> Iterator[None]:
    """Free the shared cluster's nodes for the next tests."""
    yield
    dev_cluster.kubectl("delete", "namespace", ns, "--wait=false")
