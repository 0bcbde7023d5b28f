"""The Endpoints and EndpointSlice controllers against our API server, with hollow nodes that make pods
Running and Ready with pod IPs: addresses follow pods becoming ready, not ready and deleted."""

from __future__ import annotations

from typing import Any

import pytest

from kubeprov.controllers.endpoints import EndpointsController
from kubeprov.controllers.endpointslices import EndpointSliceController
from kubeprov.hollow.node import UNREADY_ANNOTATION
from tests.integration.apiserver_fixture import ApiServerForTest
from tests.integration.controller_env import ControllerEnv, controller_env, eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

CONTROLLERS = [EndpointsController, EndpointSliceController]


def service(name: str = "web", target_port: int | str = "http") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "labels": {"team": "a"}},
            "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 80, "targetPort": target_port}]}}


async def make_pod(env: ControllerEnv, name: str, app: str = "web", port_name: str = "http") -> dict[str, Any]:
    spec = env.pod_spec()
    spec["containers"][0]["ports"] = [{"name": port_name, "containerPort": 8080}]
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": app}}, "spec": spec}
    return await env.client.create("v1", "pods", body, env.ns)


async def ready_ip(env: ControllerEnv, name: str) -> str:
    async def check() -> str | None:
        pod = await env.client.get("v1", "pods", name, env.ns)
        ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                    for c in (pod.get("status") or {}).get("conditions") or [])
        return pod["status"].get("podIP") if ready else None
    return await eventually(check)


async def addresses(env: ControllerEnv, name: str = "web") -> tuple[set[str], set[str]]:
    ep = await env.client.get("v1", "endpoints", name, env.ns)
    ready = {a["ip"] for s in ep.get("subsets") or [] for a in s.get("addresses") or []}
    unready = {a["ip"] for s in ep.get("subsets") or [] for a in s.get("notReadyAddresses") or []}
    return ready, unready


async def slice_endpoints(env: ControllerEnv, name: str = "web") -> dict[str, dict[str, Any]]:
    items, _ = await env.client.list_all("discovery.k8s.io/v1", "endpointslices", env.ns,
                                         label_selector=f"kubernetes.io/service-name={name}")
    return {e["addresses"][0]: e for s in items for e in s.get("endpoints") or []}


async def test_endpoints_list_ready_pods_with_resolved_named_port_and_follow_deletion(
        apiserver: ApiServerForTest, api_client: Any) -> None:
    async with controller_env(apiserver, api_client, CONTROLLERS, prefix="ep") as env:
        await env.client.create("v1", "services", service(), env.ns)
        await make_pod(env, "a")
        await make_pod(env, "b")
        ips = {await ready_ip(env, "a"), await ready_ip(env, "b")}
        await eventually(lambda: _equals(addresses(env), (ips, set())))
        ep = await env.client.get("v1", "endpoints", "web", env.ns)
        assert ep["subsets"][0]["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
        assert ep["metadata"]["labels"] == {"team": "a", "endpointslice.kubernetes.io/skip-mirror": "true"}
        assert "endpoints.kubernetes.io/last-change-trigger-time" in ep["metadata"]["annotations"]
        await env.client.delete("v1", "pods", "b", env.ns, grace_period_seconds=0)
        ip_a = await ready_ip(env, "a")
        await eventually(lambda: _equals(addresses(env), ({ip_a}, set())))


async def test_pod_without_the_named_port_is_left_out(apiserver: ApiServerForTest, api_client: Any) -> None:
    async with controller_env(apiserver, api_client, CONTROLLERS, prefix="ep") as env:
        await env.client.create("v1", "services", service(), env.ns)
        await make_pod(env, "a")
        await make_pod(env, "other", port_name="metrics")
        ip_a = await ready_ip(env, "a")
        await ready_ip(env, "other")
        await eventually(lambda: _equals(addresses(env), ({ip_a}, set())))
        slices = await eventually(lambda: _has_ports(env))
        assert {tuple(p["port"] for p in s.get("ports") or []) for s in slices} == {(8080,), ()}


async def test_pod_turning_not_ready_moves_to_not_ready_addresses(apiserver: ApiServerForTest,
                                                                   api_client: Any) -> None:
    async with controller_env(apiserver, api_client, CONTROLLERS, prefix="ep") as env:
        await env.client.create("v1", "services", service(), env.ns)
        await make_pod(env, "a")
        ip = await ready_ip(env, "a")
        await eventually(lambda: _equals(addresses(env), ({ip}, set())))
        # the hollow kubelet's readiness probe starts failing, then passes again
        await env.client.patch("v1", "pods", "a", {"metadata": {"annotations": {UNREADY_ANNOTATION: "true"}}},
                               env.ns)
        await eventually(lambda: _equals(addresses(env), (set(), {ip})))
        await eventually(lambda: _conditions_are(env, ip, {"ready": False, "serving": False,
                                                           "terminating": False}))
        await env.client.patch("v1", "pods", "a", {"metadata": {"annotations": {UNREADY_ANNOTATION: None}}}, env.ns)
        await eventually(lambda: _equals(addresses(env), ({ip}, set())))


async def test_unchanged_endpoints_are_not_written_again(apiserver: ApiServerForTest, api_client: Any) -> None:
    async with controller_env(apiserver, api_client, CONTROLLERS, prefix="ep") as env:
        await env.client.create("v1", "services", service(), env.ns)
        await make_pod(env, "a")
        ip = await ready_ip(env, "a")
        await eventually(lambda: _equals(addresses(env), ({ip}, set())))
        before = await env.client.get("v1", "endpoints", "web", env.ns)
        controller = env.controllers[0]
        syncs = controller.metrics.syncs
        await env.client.patch("v1", "pods", "a", {"metadata": {"annotations": {"touched": "yes"}}}, env.ns)

        async def synced_again() -> bool:
            return controller.metrics.syncs > syncs and len(controller.queue) == 0
        await eventually(synced_again)
        after = await env.client.get("v1", "endpoints", "web", env.ns)
        assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


async def test_endpoints_of_a_deleted_service_are_deleted(apiserver: ApiServerForTest, api_client: Any) -> None:
    async with controller_env(apiserver, api_client, CONTROLLERS, prefix="ep") as env:
        await env.client.create("v1", "services", service(), env.ns)
        await eventually(lambda: env.client.get("v1", "endpoints", "web", env.ns))
        await env.client.delete("v1", "services", "web", env.ns)

        async def gone() -> bool:
            items, _ = await env.client.list_all("v1", "endpoints", env.ns)
            return not items
        await eventually(gone)


async def test_service_without_selector_keeps_its_own_endpoints(apiserver: ApiServerForTest,
                                                                 api_client: Any) -> None:
    async with controller_env(apiserver, api_client, CONTROLLERS, prefix="ep") as env:
        manual = {"metadata": {"name": "ext"}, "subsets": [{"addresses": [{"ip": "192.0.2.1"}],
                                                             "ports": [{"port": 443}]}]}
        await env.client.create("v1", "services", {"metadata": {"name": "ext"},
                                                   "spec": {"ports": [{"port": 443}]}}, env.ns)
        created = await env.client.create("v1", "endpoints", manual, env.ns)
        await make_pod(env, "a", app="ext")
        await ready_ip(env, "a")
        controller = env.controllers[0]
        syncs = controller.metrics.syncs
        await env.client.patch("v1", "services", "ext", {"metadata": {"labels": {"x": "y"}}}, env.ns)
        await eventually(lambda: _true(controller.metrics.syncs > syncs and len(controller.queue) == 0))
        ep = await env.client.get("v1", "endpoints", "ext", env.ns)
        assert ep["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


async def test_slices_carry_zone_owner_and_labels(apiserver: ApiServerForTest, api_client: Any) -> None:
    env = ControllerEnv(apiserver, api_client, "eps")
    try:
        await env.start(CONTROLLERS, node_specs=env.node_specs(1, zone="zone-a"))
        svc = await env.client.create("v1", "services", service(), env.ns)
        await make_pod(env, "a")
        ip = await ready_ip(env, "a")
        endpoints = await eventually(lambda: _ready_slice(env, ip))
        assert endpoints[ip]["zone"] == "zone-a"
        assert endpoints[ip]["targetRef"]["name"] == "a"
        items, _ = await env.client.list_all("discovery.k8s.io/v1", "endpointslices", env.ns)
        [s] = items
        assert s["metadata"]["name"].startswith("web-")
        assert s["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] == \
            "endpointslice-controller.k8s.io"
        assert s["metadata"]["ownerReferences"][0]["uid"] == svc["metadata"]["uid"]
        assert s["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    finally:
        await env.stop()


async def _equals(value: Any, expected: Any) -> bool:
    return await value == expected


async def _true(value: bool) -> bool:
    return value


async def _has_ports(env: ControllerEnv) -> list[dict[str, Any]] | None:
    items, _ = await env.client.list_all("discovery.k8s.io/v1", "endpointslices", env.ns)
    ports = {tuple(p["port"] for p in s.get("ports") or []) for s in items if s.get("endpoints")}
    return items if ports == {(8080,), ()} else None


async def _conditions_are(env: ControllerEnv, ip: str, conditions: dict[str, bool]) -> bool:
    endpoints = await slice_endpoints(env)
    return ip in endpoints and endpoints[ip]["conditions"] == conditions


async def _ready_slice(env: ControllerEnv, ip: str) -> dict[str, dict[str, Any]] | None:
    endpoints = await slice_endpoints(env)
    return endpoints if ip in endpoints and endpoints[ip]["conditions"]["ready"] else None


async def test_slices_are_packed_and_updated_in_place(apiserver: ApiServerForTest, api_client: Any) -> None:
    async with controller_env(apiserver, api_client, [EndpointSliceController], prefix="eps",
                              options={EndpointSliceController: {"max_endpoints_per_slice": 2}}) as env:
        await env.client.create("v1", "services", service(), env.ns)
        for name in ("a", "b", "c"):
            await make_pod(env, name)
        ips = {await ready_ip(env, name) for name in ("a", "b", "c")}

        async def packed() -> dict[str, set[str]] | None:
            items, _ = await env.client.list_all("discovery.k8s.io/v1", "endpointslices", env.ns)
            by_name = {s["metadata"]["name"]: {e["addresses"][0] for e in s.get("endpoints") or []
                                               if e["conditions"]["ready"]} for s in items}
            found = set().union(*by_name.values()) if by_name else set()
            return by_name if found == ips and sorted(len(v) for v in by_name.values()) == [1, 2] else None
        before = await eventually(packed)
        await env.client.delete("v1", "pods", "a", env.ns, grace_period_seconds=0)
        ip_a = next(iter(ips - {await ready_ip(env, "b"), await ready_ip(env, "c")}))

        async def shrunk() -> dict[str, set[str]] | None:
            items, _ = await env.client.list_all("discovery.k8s.io/v1", "endpointslices", env.ns)
            by_name = {s["metadata"]["name"]: {e["addresses"][0] for e in s.get("endpoints") or []} for s in items}
            return by_name if ip_a not in set().union(*by_name.values()) else None
        after = await eventually(shrunk)
        # no slice was recreated: what is left are the slices of before, holding the other pods
        assert set(after) <= set(before)
        assert set().union(*after.values()) == ips - {ip_a}
