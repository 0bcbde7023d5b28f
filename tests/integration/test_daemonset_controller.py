"""The DaemonSet controller against the session API server, with a scheduler of the test's own and hollow nodes:
one pod per pool node, nodes joining later, taints and tolerations, rolling update bounds, OnDelete, revisions."""

from __future__ import annotations

from typing import Any

import pytest

from kubeprov.api.client import ApiClient
from kubeprov.api.informer import Informer
from kubeprov.controllers.daemonset import DaemonSetController, target_node
from kubeprov.controllers.podutil import is_ready
from kubeprov.hollow import HollowFleet, HollowNodeSpec
from tests.integration.apiserver_fixture import ApiServerForTest
from tests.integration.controller_env import ControllerEnv, controller_env, eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def ds_body(env: ControllerEnv, name: str, image: str = "agent:1", **spec: Any) -> dict:
    template_spec = env.pod_spec(image, **spec.pop("pod", {}))
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": template_spec}, **spec}}


async def create_ds(env: ControllerEnv, name: str, image: str = "agent:1", **spec: Any) -> dict:
    return await env.client.create("apps/v1", "daemonsets", ds_body(env, name, image, **spec), env.ns)


async def get_ds(env: ControllerEnv, name: str) -> dict:
    return await env.client.get("apps/v1", "daemonsets", name, env.ns)


async def set_image(env: ControllerEnv, name: str, image: str) -> None:
    await env.client.patch("apps/v1", "daemonsets", name, {"spec": {"template": {"spec": {"containers": [
        {"name": "c", "image": image}]}}}}, env.ns, patch_type="strategic")


async def rolled_out(env: ControllerEnv, name: str, nodes: int) -> dict | None:
    """What ``kubectl rollout status`` waits for, with ``nodes`` desired."""
    ds = await get_ds(env, name)
    st = ds.get("status") or {}
    done = (st.get("observedGeneration", 0) >= ds["metadata"]["generation"]
            and st.get("desiredNumberScheduled") == nodes and st.get("updatedNumberScheduled") == nodes
            and st.get("numberAvailable") == nodes and st.get("numberReady") == nodes)
    return ds if done else None


async def pods_by_node(env: ControllerEnv, name: str) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for pod in await env.pods(f"app={name}"):
        out.setdefault(pod["spec"].get("nodeName") or "", []).append(pod)
    return out


async def one_per_node(env: ControllerEnv, name: str, nodes: set[str]) -> dict[str, list[dict]] | None:
    by_node = await pods_by_node(env, name)
    ok = set(by_node) == nodes and all(len(p) == 1 and is_ready(p[0]) for p in by_node.values())
    return by_node if ok else None


def pool_nodes(env: ControllerEnv) -> set[str]:
    assert env.fleet is not None
    return {n.name for n in env.fleet.nodes}


@pytest.fixture
async def env(apiserver: ApiServerForTest, api_client: ApiClient):
    async with controller_env(apiserver, api_client, [DaemonSetController], prefix="ds", nodes=3) as e:
        yield e


async def test_one_pod_per_node_pinned_by_node_affinity(env: ControllerEnv):
    await create_ds(env, "agent")
    by_node = await eventually(lambda: one_per_node(env, "agent", pool_nodes(env)))
    for node, [pod] in by_node.items():
        terms = pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert terms == {"nodeSelectorTerms": [{"matchFields": [
            {"key": "metadata.name", "operator": "In", "values": [node]}]}]}
        assert target_node(pod) == node
        keys = {(t["key"], t["effect"]) for t in pod["spec"]["tolerations"]}
        assert ("node.kubernetes.io/unschedulable", "NoSchedule") in keys
        assert ("node.kubernetes.io/not-ready", "NoExecute") in keys
        labels = pod["metadata"]["labels"]
        assert labels["pod-template-generation"] == "1" and labels["controller-revision-hash"]
    ds = await eventually(lambda: rolled_out(env, "agent", 3))
    st = ds["status"]
    assert (st["currentNumberScheduled"], st["numberMisscheduled"]) == (3, 0)
    assert st.get("numberUnavailable", 0) == 0


async def test_node_added_later_gets_a_pod(env: ControllerEnv):
    await create_ds(env, "late")
    await eventually(lambda: one_per_node(env, "late", pool_nodes(env)))
    extra = HollowFleet(env.client, [HollowNodeSpec(f"ds-{env.tag}-extra", labels=dict(env.pool))],
                        lease_interval=1.0, status_interval=5.0)
    await extra.start()
    try:
        await eventually(lambda: one_per_node(env, "late", pool_nodes(env) | {f"ds-{env.tag}-extra"}))
    finally:
        await extra.stop(delete_nodes=True)
    # the node is gone: so is its pod
    await eventually(lambda: one_per_node(env, "late", pool_nodes(env)))


async def test_tainted_node_only_with_toleration(apiserver: ApiServerForTest, api_client: ApiClient):
    env = ControllerEnv(apiserver, api_client, "ds")
    taint = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
    specs = env.node_specs(1) + [HollowNodeSpec(f"ds-{env.tag}-tainted", labels=dict(env.pool), taints=[taint])]
    await env.start([DaemonSetController], node_specs=specs)
    try:
        plain = {f"ds-{env.tag}-0"}
        await create_ds(env, "picky")
        await create_ds(env, "tolerant", pod={"tolerations": [{"key": "dedicated", "operator": "Equal",
                                                               "value": "gpu", "effect": "NoSchedule"}]})
        await eventually(lambda: one_per_node(env, "tolerant", plain | {f"ds-{env.tag}-tainted"}))
        await eventually(lambda: one_per_node(env, "picky", plain))
        ds = await eventually(lambda: rolled_out(env, "picky", 1))
        assert ds["status"]["desiredNumberScheduled"] == 1
    finally:
        await env.stop()


class Unavailability:
    """Watches a DaemonSet's pods and records the most pool nodes without a ready, live pod at once."""

    def __init__(self, client: ApiClient, ns: str, app: str, nodes: set[str]) -> None:
        self.informer = Informer(client, "v1", "pods", namespace=ns, label_selector=f"app={app}")
        self.nodes = nodes
        self.most = 0
        self.informer.add_handler(on_add=self._check, on_update=lambda _o, n: self._check(n), on_delete=self._check)

    def _check(self, _pod: dict) -> None:
        served = {p["spec"].get("nodeName") for p in self.informer.list()
                  if is_ready(p) and not p["metadata"].get("deletionTimestamp")}
        self.most = max(self.most, len(self.nodes - served))

    async def __aenter__(self) -> Unavailability:
        await self.informer.start()
        await self.informer.wait_synced(10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.informer.stop()


async def test_rolling_update_respects_max_unavailable(env: ControllerEnv):
    await create_ds(env, "roll", updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}})
    await eventually(lambda: rolled_out(env, "roll", 3))
    async with Unavailability(env.client, env.ns, "roll", pool_nodes(env)) as watch:
        await set_image(env, "roll", "agent:2")
        ds = await eventually(lambda: rolled_out(env, "roll", 3), 40)
        by_node = await eventually(lambda: one_per_node(env, "roll", pool_nodes(env)))
    assert watch.most == 1
    assert {p[0]["spec"]["containers"][0]["image"] for p in by_node.values()} == {"agent:2"}
    assert {p[0]["metadata"]["labels"]["pod-template-generation"] for p in by_node.values()} == {"2"}
    revisions, _ = await env.client.list_all("apps/v1", "controllerrevisions", env.ns)
    assert sorted(r["revision"] for r in revisions) == [1, 2]
    current = next(r for r in revisions if r["revision"] == 2)
    assert current["metadata"]["labels"]["controller-revision-hash"] == \
        next(iter(by_node.values()))[0]["metadata"]["labels"]["controller-revision-hash"]
    assert ds["status"]["updatedNumberScheduled"] == 3


async def test_rolling_update_with_surge_keeps_every_node_served(env: ControllerEnv):
    await create_ds(env, "surge", updateStrategy={"type": "RollingUpdate", "rollingUpdate": {
        "maxUnavailable": 0, "maxSurge": 1}})
    await eventually(lambda: rolled_out(env, "surge", 3))
    async with Unavailability(env.client, env.ns, "surge", pool_nodes(env)) as watch:
        await set_image(env, "surge", "agent:2")
        await eventually(lambda: rolled_out(env, "surge", 3), 40)
        by_node = await eventually(lambda: one_per_node(env, "surge", pool_nodes(env)))
    assert watch.most == 0
    assert {p[0]["spec"]["containers"][0]["image"] for p in by_node.values()} == {"agent:2"}


async def test_on_delete_replaces_only_deleted_pods(env: ControllerEnv):
    await create_ds(env, "manual", updateStrategy={"type": "OnDelete"})
    before = await eventually(lambda: one_per_node(env, "manual", pool_nodes(env)))
    await set_image(env, "manual", "agent:2")

    async def observed() -> bool:
        ds = await get_ds(env, "manual")
        return ds.get("status", {}).get("observedGeneration") == 2
    await eventually(observed)
    node, [victim] = sorted(before.items())[0]
    await env.client.delete("v1", "pods", victim["metadata"]["name"], env.ns)

    async def replaced() -> dict | None:
        by_node = await one_per_node(env, "manual", pool_nodes(env))
        if by_node and by_node[node][0]["metadata"]["uid"] != victim["metadata"]["uid"]:
            return by_node
        return None
    after = await eventually(replaced)
    images = {n: p[0]["spec"]["containers"][0]["image"] for n, p in after.items()}
    assert images.pop(node) == "agent:2"
    assert set(images.values()) == {"agent:1"}
    ds = await get_ds(env, "manual")
    assert ds["status"]["updatedNumberScheduled"] == 1
