"""Services on `kubeprov dev up --hollow-nodes 5`, judged by the real kubectl only: `kubectl expose` gives
Endpoints and EndpointSlices with the ready pods' IPs, and `kubectl describe quota` shows usage."""

from __future__ import annotations

import pytest

from tests.integration.dev_cluster import DevClusterForTest, poll

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def ready_pod_ips(cluster: DevClusterForTest, ns: str) -> set[str]:
    pods = cluster.json("-n", ns, "get", "pods", "-l", "app=web")["items"]
    return {p["status"]["podIP"] for p in pods if not p["metadata"].get("deletionTimestamp")
            and p["status"].get("podIP")
            and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions") or [])}


@pytest.fixture
def exposed(dev_cluster: DevClusterForTest) -> tuple[str, set[str]]:
    """A namespace with deployment `web` (3 ready pods) exposed as service `web`; the pods' IPs."""
    ns = dev_cluster.namespace("svc")
    dev_cluster.ok("-n", ns, "create", "deployment", "web", "--image=nginx", "--replicas=3", "--port=80")
    dev_cluster.ok("-n", ns, "rollout", "status", "deployment/web", "--timeout=90s", timeout=120)
    dev_cluster.ok("-n", ns, "expose", "deployment", "web", "--port=8080", "--target-port=80")
    ips = poll(lambda: (lambda found: found if len(found) == 3 else None)(ready_pod_ips(dev_cluster, ns)),
               what="3 ready pods with IPs")
    return ns, ips


def test_get_endpoints_lists_the_ready_pods(dev_cluster: DevClusterForTest, exposed: tuple[str, set[str]]) -> None:
    ns, ips = exposed

    def listed() -> set[str] | None:
        ep = dev_cluster.json("-n", ns, "get", "endpoints", "web")
        found = {a["ip"] for s in ep.get("subsets") or [] for a in s.get("addresses") or []}
        return found if found == ips else None
    poll(listed, what="endpoints with the pods' IPs")
    table = dev_cluster.ok("-n", ns, "get", "endpoints", "web")
    assert all(f"{ip}:80" in table for ip in ips), table


def test_get_endpointslices_lists_the_ready_pods(dev_cluster: DevClusterForTest,
                                                 exposed: tuple[str, set[str]]) -> None:
    ns, ips = exposed

    def listed() -> set[str] | None:
        slices = dev_cluster.json("-n", ns, "get", "endpointslices", "-l", "kubernetes.io/service-name=web")
        found = {e["addresses"][0] for s in slices["items"] for e in s.get("endpoints") or []
                 if e["conditions"].get("ready")}
        return found if found == ips else None
    poll(listed, what="endpoint slices with the pods' IPs")
    table = dev_cluster.ok("-n", ns, "get", "endpointslices", "-l", "kubernetes.io/service-name=web")
    assert "IPv4" in table and all(ip in table for ip in ips), table


def test_describe_quota_shows_usage(dev_cluster: DevClusterForTest) -> None:
    ns = dev_cluster.namespace("quota")
    dev_cluster.ok("-n", ns, "create", "quota", "q", "--hard=pods=10,configmaps=5")
    dev_cluster.ok("-n", ns, "create", "configmap", "settings", "--from-literal=a=b")
    dev_cluster.ok("-n", ns, "run", "one", "--image=nginx")

    def described() -> str | None:
        text = dev_cluster.ok("-n", ns, "describe", "quota", "q")
        rows = {tuple(line.split()) for line in text.splitlines()}
        # the namespace also holds kube-root-ca.crt, published by the controller manager
        return text if ("pods", "1", "10") in rows and ("configmaps", "2", "5") in rows else None
    poll(described, what="kubectl describe quota with usage")
