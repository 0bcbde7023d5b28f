"""The Endpoints controller's pure computations: which pods, which addresses, which ports, grouping."""

from __future__ import annotations

from typing import Any

from kubeprov.controllers.endpoints import (
    MAX_CAPACITY,
    address_count,
    compute_subsets,
    desired_labels,
    find_port,
    truncate,
)


def svc(ports: list[dict[str, Any]] | None = None, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"selector": {"app": "web"}, "clusterIP": "10.0.0.10",
                            "ports": ports if ports is not None else [{"port": 80, "targetPort": 8080,
                                                                        "protocol": "TCP"}]}
    body.update(spec)
    return {"metadata": {"name": "web", "namespace": "ns", "labels": {"team": "a"}}, "spec": body}


def pod(name: str, ip: str = "10.1.0.1", ready: bool = True, ports: list[dict[str, Any]] | None = None,
        **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"nodeName": "n1", "containers": [{"name": "c", "ports": ports or []}]}
    spec.update(extra.pop("spec", {}))
    status: dict[str, Any] = {"phase": "Running", "podIP": ip,
                              "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    if not ip:
        del status["podIP"]
    metadata = {"name": name, "namespace": "ns", "uid": f"uid-{name}", "labels": {"app": "web"}}
    metadata.update(extra.pop("metadata", {}))
    return {"metadata": metadata, "spec": spec, "status": status}


def test_ready_pod_is_an_address_with_node_and_target_ref() -> None:
    subsets = compute_subsets(svc(), [pod("a")])
    assert subsets == [{"addresses": [{"ip": "10.1.0.1", "nodeName": "n1", "targetRef": {
        "kind": "Pod", "namespace": "ns", "name": "a", "uid": "uid-a"}}],
        "ports": [{"port": 8080, "protocol": "TCP"}]}]


def test_unready_pod_goes_to_not_ready_addresses() -> None:
    subsets = compute_subsets(svc(), [pod("a"), pod("b", "10.1.0.2", ready=False)])
    assert [a["ip"] for a in subsets[0]["addresses"]] == ["10.1.0.1"]
    assert [a["ip"] for a in subsets[0]["notReadyAddresses"]] == ["10.1.0.2"]


def test_publish_not_ready_addresses_lists_unready_pods_as_ready() -> None:
    subsets = compute_subsets(svc(publishNotReadyAddresses=True), [pod("b", ready=False)])
    assert [a["ip"] for a in subsets[0]["addresses"]] == ["10.1.0.1"]
    assert "notReadyAddresses" not in subsets[0]


def test_pods_without_ip_or_terminating_are_left_out() -> None:
    terminating = pod("t", "10.1.0.3", metadata={"deletionTimestamp": "2024-01-01T00:00:00Z"})
    assert compute_subsets(svc(), [pod("noip", ip=""), terminating]) == []


def test_finished_pod_with_restart_policy_never_is_left_out() -> None:
    done = pod("d", spec={"restartPolicy": "Never"})
    done["status"]["phase"] = "Succeeded"
    assert compute_subsets(svc(), [done]) == []


def test_named_target_port_resolves_per_pod_and_groups_by_port_set() -> None:
    service = svc([{"name": "http", "port": 80, "targetPort": "web", "protocol": "TCP"}])
    pods = [pod("a", "10.1.0.1", ports=[{"name": "web", "containerPort": 8080}]),
            pod("b", "10.1.0.2", ports=[{"name": "web", "containerPort": 9090}]),
            pod("c", "10.1.0.3", ports=[{"name": "other", "containerPort": 7070}])]
    subsets = compute_subsets(service, pods)
    assert [(s["ports"][0]["port"], [a["ip"] for a in s["addresses"]]) for s in subsets] == [
        (8080, ["10.1.0.1"]), (9090, ["10.1.0.2"])]
    assert subsets[0]["ports"][0]["name"] == "http"


def test_find_port_matches_protocol() -> None:
    p = pod("a", ports=[{"name": "dns", "containerPort": 53, "protocol": "UDP"}])
    assert find_port(p, {"port": 53, "targetPort": "dns", "protocol": "TCP"}) is None
    assert find_port(p, {"port": 53, "targetPort": "dns", "protocol": "UDP"}) == 53


def test_hostname_set_when_subdomain_is_the_service() -> None:
    subsets = compute_subsets(svc(), [pod("a", spec={"hostname": "h0", "subdomain": "web"}),
                                      pod("b", "10.1.0.2", spec={"hostname": "h1", "subdomain": "other"})])
    hostnames = {a["ip"]: a.get("hostname") for a in subsets[0]["addresses"]}
    assert hostnames == {"10.1.0.1": "h0", "10.1.0.2": None}


def test_headless_service_without_ports_lists_addresses() -> None:
    subsets = compute_subsets(svc([], clusterIP="None"), [pod("a")])
    assert subsets == [{"addresses": [{"ip": "10.1.0.1", "nodeName": "n1", "targetRef": {
        "kind": "Pod", "namespace": "ns", "name": "a", "uid": "uid-a"}}]}]


def test_addresses_are_sorted_so_equal_inputs_give_equal_subsets() -> None:
    pods = [pod("b", "10.1.0.2"), pod("a", "10.1.0.1")]
    assert compute_subsets(svc(), pods) == compute_subsets(svc(), list(reversed(pods)))


def test_truncate_keeps_capacity_ready_first() -> None:
    pods = [pod(f"p{i}", f"10.2.{i // 250}.{i % 250}", ready=i % 2 == 0) for i in range(MAX_CAPACITY + 10)]
    subsets = compute_subsets(svc(), pods)
    kept = truncate(subsets)
    assert address_count(kept) == MAX_CAPACITY
    assert len(kept[0]["addresses"]) == (MAX_CAPACITY + 10) // 2


def test_labels_copy_service_labels_and_skip_mirror() -> None:
    assert desired_labels(svc()) == {"team": "a", "endpointslice.kubernetes.io/skip-mirror": "true"}
    assert desired_labels(svc(clusterIP="None"))["service.kubernetes.io/headless"] == ""
