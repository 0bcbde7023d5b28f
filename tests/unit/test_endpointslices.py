"""The EndpointSlice controller's pure parts: endpoints from pods, and packing slices with little churn."""

from __future__ import annotations

from typing import Any

from kubeprov.controllers.endpointslices import desired_endpoints, plan_slices

TEMPLATE = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
            "metadata": {"generateName": "web-", "namespace": "ns",
                         "labels": {"kubernetes.io/service-name": "web"}, "ownerReferences": []}}
PORTS = [{"name": "", "port": 8080, "protocol": "TCP"}]


def svc(**spec: Any) -> dict[str, Any]:
    body = {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}]}
    body.update(spec)
    return {"metadata": {"name": "web", "namespace": "ns", "uid": "svc-uid"}, "spec": body}


def pod(name: str, ip: str, ready: bool = True, node: str = "n1", **meta: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}", "labels": {"app": "web"}, **meta},
            "spec": {"nodeName": node, "containers": [{"name": "c"}]},
            "status": {"phase": "Running", "podIP": ip,
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def endpoint(i: int, ready: bool = True) -> dict[str, Any]:
    return {"addresses": [f"10.0.{i // 200}.{i % 200}"],
            "conditions": {"ready": ready, "serving": ready, "terminating": False},
            "targetRef": {"kind": "Pod", "namespace": "ns", "name": f"p{i}", "uid": f"uid-p{i}"}}


def existing(name: str, endpoints: list[dict[str, Any]]) -> dict[str, Any]:
    return {**TEMPLATE, "metadata": {**TEMPLATE["metadata"], "name": name}, "ports": PORTS, "endpoints": endpoints}


def desired(endpoints: list[dict[str, Any]]) -> dict[tuple, tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    return {(("", 8080, "TCP", ""),): (PORTS, endpoints)}


def test_endpoint_conditions_node_and_zone() -> None:
    out = desired_endpoints(svc(), [pod("a", "10.1.0.1"), pod("b", "10.1.0.2", ready=False, node="n2")],
                            {"n1": "zone-a"})
    [(ports, endpoints)] = out.values()
    assert ports == PORTS
    assert endpoints[0] == {"addresses": ["10.1.0.1"], "conditions": {"ready": True, "serving": True,
                                                                       "terminating": False},
                            "targetRef": {"kind": "Pod", "namespace": "ns", "name": "a", "uid": "uid-a"},
                            "nodeName": "n1", "zone": "zone-a"}
    assert endpoints[1]["conditions"] == {"ready": False, "serving": False, "terminating": False}
    assert "zone" not in endpoints[1]


def test_terminating_ready_pod_is_serving_but_not_ready() -> None:
    out = desired_endpoints(svc(), [pod("a", "10.1.0.1", deletionTimestamp="2024-01-01T00:00:00Z")], {})
    [(_, [ep])] = out.values()
    assert ep["conditions"] == {"ready": False, "serving": True, "terminating": True}


def test_publish_not_ready_addresses_makes_every_endpoint_ready() -> None:
    out = desired_endpoints(svc(publishNotReadyAddresses=True), [pod("a", "10.1.0.1", ready=False)], {})
    [(_, [ep])] = out.values()
    assert ep["conditions"]["ready"] is True


def test_new_endpoints_are_packed_into_slices_of_at_most_max() -> None:
    plan = plan_slices([], desired([endpoint(i) for i in range(250)]), TEMPLATE, max_per_slice=100)
    assert [len(s["endpoints"]) for s in plan.create] == [100, 100, 50]
    assert all(s["metadata"]["generateName"] == "web-" for s in plan.create)


def test_nothing_changed_means_nothing_written() -> None:
    eps = [endpoint(i) for i in range(3)]
    assert plan_slices([existing("web-a", eps)], desired(eps), TEMPLATE).empty


def test_one_endpoint_becoming_ready_updates_only_its_slice() -> None:
    first = [endpoint(i) for i in range(100)]
    second = [endpoint(i, ready=i != 150) for i in range(100, 200)]
    now = first + [endpoint(i) for i in range(100, 200)]
    plan = plan_slices([existing("web-a", first), existing("web-b", second)], desired(now), TEMPLATE)
    assert [s["metadata"]["name"] for s in plan.update] == ["web-b"]
    assert not plan.create and not plan.delete


def test_new_endpoint_fills_a_slice_with_room_instead_of_creating_one() -> None:
    eps = [endpoint(i) for i in range(101)]
    plan = plan_slices([existing("web-a", eps[:100]), existing("web-b", eps[100:])],
                       desired(eps + [endpoint(101)]), TEMPLATE)
    assert not plan.create
    assert [(s["metadata"]["name"], len(s["endpoints"])) for s in plan.update] == [("web-b", 2)]


def test_removed_endpoints_leave_their_slice_and_an_emptied_slice_is_deleted() -> None:
    eps = [endpoint(i) for i in range(4)]
    plan = plan_slices([existing("web-a", eps[:2]), existing("web-b", eps[2:])], desired(eps[:1]), TEMPLATE)
    assert [s["metadata"]["name"] for s in plan.delete] == ["web-b"]
    assert [[e["targetRef"]["name"] for e in s["endpoints"]] for s in plan.update] == [["p0"]]


def test_no_endpoints_keeps_one_empty_placeholder_slice() -> None:
    plan = plan_slices([], {}, TEMPLATE)
    assert [(s["endpoints"], s["ports"]) for s in plan.create] == [([], [])]
    placeholder = {**existing("web-a", []), "ports": []}
    assert plan_slices([placeholder], {}, TEMPLATE).empty


def test_placeholder_is_replaced_when_endpoints_appear() -> None:
    placeholder = {**existing("web-a", []), "ports": []}
    plan = plan_slices([placeholder], desired([endpoint(0)]), TEMPLATE)
    assert [s["metadata"]["name"] for s in plan.delete] == ["web-a"]
    assert len(plan.create) == 1


def test_label_drift_is_repaired_in_place() -> None:
    eps = [endpoint(0)]
    drifted = existing("web-a", eps)
    drifted["metadata"]["labels"] = {"kubernetes.io/service-name": "web", "extra": "x"}
    plan = plan_slices([drifted], desired(eps), TEMPLATE)
    assert [s["metadata"]["labels"] for s in plan.update] == [TEMPLATE["metadata"]["labels"]]
