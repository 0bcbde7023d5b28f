"""Services on a real node (`dev up --kubelet`): a Deployment of 3 web pods behind a NodePort Service, reached
by DNS name and ClusterIP from a pod and through the NodePort from the host, spread over every pod, and still
answering while one of them is deleted."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.integration.dev_cluster import poll
from tests.integration.kubelet_cluster import NEEDS_ROOT, KubeletClusterForTest, namespace_of

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(300),
    pytest.mark.skipif(os.geteuid() != 0, reason=NEEDS_ROOT),
]
BUSYBOX = "registry.local/busybox:1"
WEB = "registry.local/web:1"
REQUEST = 'printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 3 {host} {port} | tail -n 1'


@dataclass
class WebService:
    ns: str
    cluster_ip: str
    node_port: int


def deployment(replicas: int) -> dict:
    container = {"name": "web", "image": WEB, "ports": [{"containerPort": 8080}],
                 "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                 "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1}}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"terminationGracePeriodSeconds": 5, "containers": [container]}}}}


@pytest.fixture(scope="module")
def web(kubelet_cluster: KubeletClusterForTest) -> WebService:
    ns = namespace_of(kubelet_cluster, "node-svc")
    kubelet_cluster.apply(ns, deployment(3))
    kubelet_cluster.apply(ns, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                               "spec": {"type": "NodePort", "selector": {"app": "web"},
                                        "ports": [{"port": 80, "targetPort": 8080}]}})
    idle = 'trap "exit 0" TERM; while true; do sleep 1; done'
    kubelet_cluster.ok("-n", ns, "run", "client", f"--image={BUSYBOX}", "--command", "--", "sh", "-c", idle)
    kubelet_cluster.ok("-n", ns, "rollout", "status", "deployment/web", "--timeout=90s", timeout=120)
    kubelet_cluster.wait_ready(ns, "client")
    service = kubelet_cluster.json("-n", ns, "get", "service", "web")
    return WebService(ns, service["spec"]["clusterIP"], service["spec"]["ports"][0]["nodePort"])


def from_client(cluster: KubeletClusterForTest, ns: str, host: str, port: int) -> str:
    out = cluster.kubectl("-n", ns, "exec", "client", "--", "sh", "-c", REQUEST.format(host=host, port=port))
    return out.stdout.strip() if out.returncode == 0 else ""


def web_pods(cluster: KubeletClusterForTest, ns: str) -> set[str]:
    pods = cluster.json("-n", ns, "get", "pods", "-l", "app=web")["items"]
    return {p["metadata"]["name"] for p in pods if not p["metadata"].get("deletionTimestamp")}


def test_a_pod_reaches_the_service_by_its_dns_name(kubelet_cluster: KubeletClusterForTest, web: WebService) -> None:
    name = f"web.{web.ns}.svc.cluster.local"
    page = poll(lambda: from_client(kubelet_cluster, web.ns, name, 80), 30, what=f"an answer from {name}")
    assert page.startswith("web version 1 pod web-")


def test_a_pod_reaches_the_service_by_its_cluster_ip(kubelet_cluster: KubeletClusterForTest, web: WebService) -> None:
    page = poll(lambda: from_client(kubelet_cluster, web.ns, web.cluster_ip, 80), 30, what="an answer")
    assert page.startswith("web version 1 pod web-")


def answering_pods(ask: Callable[[], str], expected: set[str], timeout: float = 30.0) -> set[str]:
    """Ask until every expected pod answered (or ``timeout`` seconds passed); the pods that answered."""
    seen: set[str] = set()
    deadline = time.monotonic() + timeout
    while not seen >= expected and time.monotonic() < deadline:
        page = ask()
        if page:
            seen.add(page.rsplit(" ", 1)[-1])
    return seen


def test_requests_through_the_node_port_spread_over_all_three_pods(kubelet_cluster: KubeletClusterForTest,
                                                                   web: WebService) -> None:
    node_ip = kubelet_cluster.node.node_ip
    expected = web_pods(kubelet_cluster, web.ns)
    assert len(expected) == 3
    seen = answering_pods(lambda: kubelet_cluster.http_get(node_ip, web.node_port).strip(), expected)
    assert seen == expected


def test_deleting_a_pod_keeps_the_service_answering(kubelet_cluster: KubeletClusterForTest, web: WebService) -> None:
    node_ip = kubelet_cluster.node.node_ip
    victim = sorted(web_pods(kubelet_cluster, web.ns))[0]
    kubelet_cluster.ok("-n", web.ns, "delete", "pod", victim, "--wait=false")

    def ready_addresses() -> set[str]:
        slices = kubelet_cluster.json("-n", web.ns, "get", "endpointslices", "-l", "kubernetes.io/service-name=web")
        return {(e.get("targetRef") or {}).get("name", "") for s in slices["items"] for e in s.get("endpoints") or []
                if (e.get("conditions") or {}).get("ready")}

    poll(lambda: victim not in ready_addresses(), 30, what=f"{victim} to leave the ready endpoints")

    def served_by_the_others() -> bool:
        answer = kubelet_cluster.http_get(node_ip, web.node_port).strip()
        return answer.startswith("web version 1 pod web-") and not answer.endswith(victim)

    # the proxy applies the change up to min_sync_period (1 s) after the API has it, and the victim stops at
    # once (no preStop delay); 20 good answers in a row would come by chance from 3 endpoints once in 3,000
    poll(lambda: all(served_by_the_others() for _ in range(20)), 15, what="the proxy to stop sending to the victim")
    answers = [kubelet_cluster.http_get(node_ip, web.node_port).strip() for _ in range(15)]
    assert all(a.startswith("web version 1 pod web-") for a in answers), answers
    assert not any(a.endswith(victim) for a in answers)
    # the Deployment replaces it, and the replacement is served too
    poll(lambda: len(ready_addresses()) == 3, 60, what="three ready endpoints again")
    expected = web_pods(kubelet_cluster, web.ns)
    assert answering_pods(lambda: kubelet_cluster.http_get(node_ip, web.node_port).strip(), expected) == expected
