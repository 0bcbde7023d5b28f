"""service-lb-ipam: LoadBalancer Services get pool addresses, honour loadBalancerIP/class, free them."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubeprov.api.informer import SharedInformerFactory
from kubeprov.controllers.config import ControllerManagerConfig
from kubeprov.controllers.servicelb import Pools, ServiceLBController, parse_range
from kubeprov.errors import KubeprovError


class FakeClient:
    """Records status writes and returns the written object."""

    def __init__(self) -> None:
        self.writes: list[dict] = []

    async def update(self, api_version: str, resource: str, obj: dict, namespace: str = "", *,
                     subresource: str = "", **_: Any) -> dict:
        assert (api_version, resource, subresource) == ("v1", "services", "status")
        self.writes.append(copy.deepcopy(obj))
        return obj


class FakeRecorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    def event(self, obj: dict, type_: str, reason: str, message: str) -> None:
        self.events.append((type_, reason, message))


def service(name: str, kind: str = "LoadBalancer", ingress: list[str] | None = None, **spec: Any) -> dict:
    svc: dict = {"metadata": {"namespace": "ns", "name": name, "resourceVersion": "1"},
                 "spec": {"type": kind, "clusterIP": "10.96.0.10", "ports": [{"port": 80}], **spec}}
    if ingress:
        svc["status"] = {"loadBalancer": {"ingress": [{"ip": ip} for ip in ingress]}}
    return svc


def controller(pools: list[str], services: list[dict]) -> tuple[ServiceLBController, FakeClient, FakeRecorder]:
    client, recorder = FakeClient(), FakeRecorder()
    ctl = ServiceLBController(client, SharedInformerFactory(client), pools=pools,  # type: ignore[arg-type]
                              recorder=recorder)
    ctl.services.apply_list(services, "1")
    return ctl, client, recorder


def written_ips(client: FakeClient) -> list[list[str]]:
    return [[i["ip"] for i in (w["status"]["loadBalancer"].get("ingress") or [])] for w in client.writes]


def test_cidr_pools_skip_network_and_broadcast_and_ranges_are_inclusive() -> None:
    assert [str(a) for a in parse_range("10.0.0.0/30")] == ["10.0.0.1", "10.0.0.2"]
    assert list(Pools(["10.0.0.5-10.0.0.6"]).addresses()) == ["10.0.0.5", "10.0.0.6"]


def test_a_bad_pool_is_a_config_error() -> None:
    with pytest.raises(KubeprovError, match="not an IPv4 CIDR"):
        ControllerManagerConfig.from_dict({"kubeconfig": "k", "load_balancer_pools": ["nonsense"]})


async def test_a_load_balancer_service_gets_the_lowest_free_address() -> None:
    ctl, client, recorder = controller(["10.0.0.10-10.0.0.12"], [service("a", ingress=["10.0.0.10"]), service("b")])
    await ctl.sync("ns/b")
    assert written_ips(client) == [["10.0.0.11"]]
    assert client.writes[0]["status"]["loadBalancer"]["ingress"][0]["ipMode"] == "VIP"
    assert recorder.events[0][:2] == ("Normal", "IPAllocated")


async def test_addresses_written_but_not_yet_seen_are_not_handed_out_twice() -> None:
    ctl, client, _ = controller(["10.0.0.10-10.0.0.12"], [service("a"), service("b")])
    await ctl.sync("ns/a")
    await ctl.sync("ns/b")
    assert written_ips(client) == [["10.0.0.10"], ["10.0.0.11"]]


async def test_requested_load_balancer_ip_is_honoured() -> None:
    ctl, client, _ = controller(["10.0.0.10-10.0.0.12"], [service("a", loadBalancerIP="10.0.0.12")])
    await ctl.sync("ns/a")
    assert written_ips(client) == [["10.0.0.12"]]


async def test_requested_address_outside_the_pools_fails_with_an_event() -> None:
    ctl, client, recorder = controller(["10.0.0.10-10.0.0.12"], [service("a", loadBalancerIP="192.0.2.1")])
    await ctl.sync("ns/a")
    assert client.writes == []
    assert recorder.events[0][:2] == ("Warning", "AllocationFailed")
    assert "not in any address pool" in recorder.events[0][2]


async def test_exhausted_pools_fail_with_an_event() -> None:
    ctl, client, recorder = controller(["10.0.0.10-10.0.0.10"], [service("a", ingress=["10.0.0.10"]), service("b")])
    await ctl.sync("ns/b")
    assert client.writes == []
    assert recorder.events == [("Warning", "AllocationFailed",
                                'Failed to allocate IP for "ns/b": no available IP in the address pools')]


async def test_services_with_a_load_balancer_class_are_left_alone() -> None:
    ctl, client, _ = controller(["10.0.0.10-10.0.0.12"], [service("a", loadBalancerClass="example.com/lb")])
    await ctl.sync("ns/a")
    assert client.writes == []


async def test_an_address_is_freed_when_the_service_stops_being_a_load_balancer() -> None:
    ctl, client, _ = controller(["10.0.0.10-10.0.0.10"], [service("a", kind="ClusterIP", ingress=["10.0.0.10"]),
                                                         service("b")])
    await ctl.sync("ns/a")
    assert written_ips(client) == [[]]
    ctl.services.apply_event("MODIFIED", client.writes[0])
    await ctl.sync("ns/b")
    assert written_ips(client)[-1] == ["10.0.0.10"]


async def test_an_address_is_freed_when_its_service_is_deleted() -> None:
    ctl, client, _ = controller(["10.0.0.10-10.0.0.10"], [service("a"), service("b")])
    await ctl.sync("ns/a")
    ctl.services.apply_event("DELETED", service("a"))
    await ctl.sync("ns/a")
    await ctl.sync("ns/b")
    assert written_ips(client) == [["10.0.0.10"], ["10.0.0.10"]]


async def test_an_address_already_held_is_kept() -> None:
    ctl, client, _ = controller(["10.0.0.10-10.0.0.12"], [service("a", ingress=["10.0.0.12"])])
    await ctl.sync("ns/a")
    assert client.writes == []


def test_without_pools_the_controller_is_off() -> None:
    assert ServiceLBController.options(ControllerManagerConfig(kubeconfig="k")) is None
