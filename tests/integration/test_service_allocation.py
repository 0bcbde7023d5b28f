"""Service ClusterIPs and NodePorts: allocated once, never twice under concurrency, released on delete."""

from __future__ import annotations

import json
import random
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.integration.apiserver_fixture import ApiServerForTest
from tests.integration.certs import RawClient

pytestmark = pytest.mark.integration


def service(name: str, node_port: int | None = None) -> dict:
    port = {"port": 80, "targetPort": 8080}
    if node_port:
        port["nodePort"] = node_port
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"type": "NodePort", "selector": {"app": name}, "ports": [port]}}


def test_concurrent_creates_get_distinct_cluster_ips_and_node_ports(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("alloc")
    client = RawClient(apiserver.kubeconfig)

    def create(i: int) -> dict:
        resp = client.request("POST", f"/api/v1/namespaces/{ns}/services", service(f"s{i}"))
        assert resp.status == 201, resp.body
        return json.loads(resp.body)

    with ThreadPoolExecutor(max_workers=16) as pool:
        created = list(pool.map(create, range(40)))
    ips = [s["spec"]["clusterIP"] for s in created]
    ports = [s["spec"]["ports"][0]["nodePort"] for s in created]
    assert len(set(ips)) == 40
    assert len(set(ports)) == 40
    assert all(30000 <= p <= 32767 for p in ports)


def test_a_taken_node_port_is_refused_and_freed_by_delete(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("alloc")
    client = RawClient(apiserver.kubeconfig)
    # other tests share the cluster and may hold any one port: claim the first free one from a random start
    start = random.randrange(30000, 32700)
    for port in range(start, start + 60):
        first = client.request("POST", f"/api/v1/namespaces/{ns}/services", service("a", port))
        if first.status == 201:
            break
    assert first.status == 201, first.body
    clash = client.request("POST", f"/api/v1/namespaces/{ns}/services", service("b", port))
    doc = json.loads(clash.body)
    assert (clash.status, doc["reason"]) == (422, "Invalid")
    assert f"spec.ports[0].nodePort: Invalid value: {port}: provided port is already allocated" in doc["message"]
    assert client.request("DELETE", f"/api/v1/namespaces/{ns}/services/a").status == 200
    again = client.request("POST", f"/api/v1/namespaces/{ns}/services", service("b", port))
    assert again.status == 201, again.body


def test_cluster_ip_is_released_when_the_service_is_deleted(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("alloc")
    client = RawClient(apiserver.kubeconfig)
    body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "fixed"},
            "spec": {"clusterIP": "10.100.200.7", "ports": [{"port": 80}]}}
    assert client.request("POST", f"/api/v1/namespaces/{ns}/services", body).status == 201
    body["metadata"]["name"] = "other"
    clash = client.request("POST", f"/api/v1/namespaces/{ns}/services", body)
    assert clash.status == 422
    assert "provided IP is already allocated" in json.loads(clash.body)["message"]
    assert client.request("DELETE", f"/api/v1/namespaces/{ns}/services/fixed").status == 200
    assert client.request("POST", f"/api/v1/namespaces/{ns}/services", body).status == 201


def test_a_local_load_balancer_gets_a_health_check_node_port_given_back_when_no_longer_local(
        apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("alloc")
    client = RawClient(apiserver.kubeconfig)
    body = service("lb")
    body["spec"].update(type="LoadBalancer", externalTrafficPolicy="Local")
    created = client.request("POST", f"/api/v1/namespaces/{ns}/services", body)
    assert created.status == 201, created.body
    spec = json.loads(created.body)["spec"]
    health = spec["healthCheckNodePort"]
    assert 30000 <= health <= 32767 and health != spec["ports"][0]["nodePort"]
    patched = client.request("PATCH", f"/api/v1/namespaces/{ns}/services/lb",
                             {"spec": {"externalTrafficPolicy": "Cluster"}},
                             content_type="application/merge-patch+json")
    assert patched.status == 200, patched.body
    assert "healthCheckNodePort" not in json.loads(patched.body)["spec"]
    reuse = client.request("POST", f"/api/v1/namespaces/{ns}/services", service("reuse", health))
    assert reuse.status == 201, reuse.body
