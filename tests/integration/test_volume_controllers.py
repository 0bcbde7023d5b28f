"""The PersistentVolume binder and the hostPath provisioner against our API server: matching and binding,
pre-binding, reclaiming, provisioning (immediate and on first consumer), and the events of a claim that waits.

Volumes and classes are cluster-scoped: each test uses a class name of its own and removes its volumes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubeprov.api.client import ApiClient
from kubeprov.controllers.volumes.hostpath import PROVISIONER, HostPathProvisioner
from kubeprov.controllers.volumes.pvbinder import (
    BIND_COMPLETED,
    BOUND_BY_CONTROLLER,
    NO_VOLUMES,
    PROVISIONED_BY,
    STORAGE_PROVISIONER,
    PersistentVolumeBinder,
)
from tests.integration.apiserver_fixture import ApiServerForTest
from tests.integration.controller_env import ControllerEnv, controller_env, delete_if_present, eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


class Volumes:
    """The test's class name and the volumes it made (deleted at the end)."""

    def __init__(self, env: ControllerEnv) -> None:
        self.env = env
        self.tag = uuid.uuid4().hex[:8]
        self.cls = f"cls-{self.tag}"
        self.names: list[str] = []

    async def pv(self, name: str, size: str, modes: list[str] | None = None, policy: str = "Retain",
                 labels: dict[str, str] | None = None, claim: str | None = None, cls: str | None = None) -> dict:
        full = f"{name}-{self.tag}"
        spec: dict[str, Any] = {"capacity": {"storage": size}, "accessModes": modes or ["ReadWriteOnce"],
                                "persistentVolumeReclaimPolicy": policy,
                                "storageClassName": self.cls if cls is None else cls,
                                "hostPath": {"path": f"/tmp/{full}"}}
        if claim:
            spec["claimRef"] = {"namespace": self.env.ns, "name": claim}
        self.names.append(full)
        body = {"apiVersion": "v1", "kind": "PersistentVolume",
                "metadata": {"name": full, "labels": labels or {}}, "spec": spec}
        return await self.env.client.create("v1", "persistentvolumes", body)

    async def pvc(self, name: str, size: str, modes: list[str] | None = None, cls: str | None = None,
                  **spec: Any) -> dict:
        body_spec: dict[str, Any] = {"accessModes": modes or ["ReadWriteOnce"],
                                     "resources": {"requests": {"storage": size}},
                                     "storageClassName": self.cls if cls is None else cls}
        body_spec.update(spec)
        return await self.env.client.create("v1", "persistentvolumeclaims",
                                            {"metadata": {"name": name}, "spec": body_spec}, self.env.ns)

    async def bound(self, name: str, timeout: float = 20.0) -> dict:
        async def check() -> dict | None:
            claim = await self.env.client.get("v1", "persistentvolumeclaims", name, self.env.ns)
            return claim if (claim.get("status") or {}).get("phase") == "Bound" else None
        return await eventually(check, timeout)

    async def volume(self, name: str) -> dict:
        return await self.env.client.get("v1", "persistentvolumes", name)

    async def cleanup(self) -> None:
        client = self.env.client
        volumes, _ = await client.list_all("v1", "persistentvolumes")
        for pv in volumes:
            if pv["metadata"]["name"] in self.names or pv["spec"].get("storageClassName") == self.cls:
                await delete_if_present(client, "v1", "persistentvolumes", pv["metadata"]["name"])


@pytest.fixture
async def env(apiserver: ApiServerForTest, api_client: ApiClient) -> AsyncIterator[ControllerEnv]:
    async with controller_env(apiserver, api_client, [PersistentVolumeBinder, HostPathProvisioner], prefix="vol",
                              options={HostPathProvisioner: {"create_default_class": False}}, nodes=1) as e:
        yield e


@pytest.fixture
async def vols(env: ControllerEnv) -> AsyncIterator[Volumes]:
    v = Volumes(env)
    try:
        yield v
    finally:
        await v.cleanup()


async def storage_class(client: ApiClient, name: str, mode: str = "Immediate", policy: str = "Delete") -> None:
    await client.create("storage.k8s.io/v1", "storageclasses", {
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": name},
        "provisioner": PROVISIONER, "reclaimPolicy": policy, "volumeBindingMode": mode})


async def event_reasons(env: ControllerEnv, name: str) -> dict[str, str]:
    events, _ = await env.client.list_all("v1", "events", env.ns, field_selector=f"involvedObject.name={name}")
    return {e["reason"]: e["message"] for e in events}


async def test_claim_binds_to_the_smallest_matching_volume(env: ControllerEnv, vols: Volumes):
    await vols.pv("big", "10Gi")
    await vols.pv("small", "2Gi")
    await vols.pv("tiny", "1Gi")
    await vols.pv("rwx", "2Gi", modes=["ReadWriteMany"])
    await vols.pv("other-class", "2Gi", cls="elsewhere")
    await vols.pvc("data", "1500Mi", modes=["ReadWriteOnce"])
    claim = await vols.bound("data")
    assert claim["spec"]["volumeName"] == f"small-{vols.tag}"
    assert claim["status"]["capacity"] == {"storage": "2Gi"} and claim["status"]["accessModes"] == ["ReadWriteOnce"]
    annotations = claim["metadata"]["annotations"]
    assert annotations[BIND_COMPLETED] == "yes" and annotations[BOUND_BY_CONTROLLER] == "yes"
    pv = await vols.volume(f"small-{vols.tag}")
    assert pv["status"]["phase"] == "Bound"
    ref = pv["spec"]["claimRef"]
    assert (ref["kind"], ref["namespace"], ref["name"], ref["uid"]) == (
        "PersistentVolumeClaim", env.ns, "data", claim["metadata"]["uid"])
    assert pv["metadata"]["annotations"][BOUND_BY_CONTROLLER] == "yes"


async def test_selector_and_access_modes_narrow_the_match(env: ControllerEnv, vols: Volumes):
    await vols.pv("plain", "1Gi", modes=["ReadWriteOnce", "ReadOnlyMany"])
    await vols.pv("fast", "5Gi", modes=["ReadWriteOnce", "ReadOnlyMany"], labels={"tier": "fast"})
    await vols.pvc("picky", "1Gi", modes=["ReadOnlyMany"], selector={"matchLabels": {"tier": "fast"}})
    claim = await vols.bound("picky")
    assert claim["spec"]["volumeName"] == f"fast-{vols.tag}"


async def test_pre_bound_volume_waits_for_its_claim(env: ControllerEnv, vols: Volumes):
    await vols.pv("reserved", "1Gi", claim="mine")
    await vols.pv("free", "1Gi")
    await vols.pvc("other", "1Gi")
    other = await vols.bound("other")
    assert other["spec"]["volumeName"] == f"free-{vols.tag}"
    await vols.pvc("mine", "1Gi")
    mine = await vols.bound("mine")
    assert mine["spec"]["volumeName"] == f"reserved-{vols.tag}"
    pv = await vols.volume(f"reserved-{vols.tag}")
    assert pv["spec"]["claimRef"]["uid"] == mine["metadata"]["uid"]
    assert BOUND_BY_CONTROLLER not in (pv["metadata"].get("annotations") or {})


async def test_claim_naming_its_volume_binds_to_it(env: ControllerEnv, vols: Volumes):
    await vols.pv("smaller", "1Gi")
    await vols.pv("named", "3Gi")
    await vols.pvc("direct", "1Gi", volumeName=f"named-{vols.tag}")
    claim = await vols.bound("direct")
    assert claim["spec"]["volumeName"] == f"named-{vols.tag}"
    assert BOUND_BY_CONTROLLER not in claim["metadata"]["annotations"]
    assert (await vols.volume(f"named-{vols.tag}"))["status"]["phase"] == "Bound"


async def test_deleted_claim_releases_and_deletes_or_retains_its_volume(env: ControllerEnv, vols: Volumes):
    await vols.pv("keep", "1Gi", policy="Retain")
    await vols.pvc("a", "1Gi")
    await vols.bound("a")
    await vols.pv("drop", "1Gi", policy="Delete")
    await vols.pvc("b", "1Gi")
    assert (await vols.bound("b"))["spec"]["volumeName"] == f"drop-{vols.tag}"
    await env.client.delete("v1", "persistentvolumeclaims", "a", env.ns)
    await env.client.delete("v1", "persistentvolumeclaims", "b", env.ns)

    async def released() -> dict | None:
        pv = await vols.volume(f"keep-{vols.tag}")
        return pv if pv["status"]["phase"] == "Released" else None
    kept = await eventually(released)
    assert kept["spec"]["claimRef"]["name"] == "a"

    async def gone() -> bool:
        volumes, _ = await env.client.list_all("v1", "persistentvolumes")
        return f"drop-{vols.tag}" not in {v["metadata"]["name"] for v in volumes}
    await eventually(gone)


async def test_unmatched_claim_without_class_reports_failed_binding(env: ControllerEnv, vols: Volumes):
    await vols.pvc("lonely", "1Gi", cls="")

    async def reported() -> dict | None:
        reasons = await event_reasons(env, "lonely")
        return reasons if "FailedBinding" in reasons else None
    reasons = await eventually(reported)
    assert reasons["FailedBinding"] == NO_VOLUMES
    claim = await env.client.get("v1", "persistentvolumeclaims", "lonely", env.ns)
    assert claim["status"]["phase"] == "Pending"


async def test_provisioner_creates_a_prebound_hostpath_volume(env: ControllerEnv, vols: Volumes):
    await storage_class(env.client, vols.cls)
    try:
        await vols.pvc("dyn", "3Gi")
        claim = await vols.bound("dyn")
        assert claim["metadata"]["annotations"][STORAGE_PROVISIONER] == PROVISIONER
        name = f"pvc-{claim['metadata']['uid']}"
        assert claim["spec"]["volumeName"] == name
        pv = await vols.volume(name)
        assert pv["metadata"]["annotations"][PROVISIONED_BY] == PROVISIONER
        assert pv["spec"]["hostPath"]["path"] == f"/var/lib/kubeprov/volumes/{name}"
        assert pv["spec"]["capacity"] == {"storage": "3Gi"}
        assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Delete"
        assert pv["spec"]["storageClassName"] == vols.cls
        reasons = await event_reasons(env, "dyn")
        assert {"ExternalProvisioning", "Provisioning", "ProvisioningSucceeded"} <= set(reasons)
        await env.client.delete("v1", "persistentvolumeclaims", "dyn", env.ns)

        async def gone() -> bool:
            volumes, _ = await env.client.list_all("v1", "persistentvolumes")
            return name not in {v["metadata"]["name"] for v in volumes}
        await eventually(gone)
    finally:
        await env.client.delete("storage.k8s.io/v1", "storageclasses", vols.cls)


async def test_wait_for_first_consumer_provisions_once_a_pod_is_scheduled(env: ControllerEnv, vols: Volumes):
    await storage_class(env.client, vols.cls, mode="WaitForFirstConsumer")
    try:
        await vols.pvc("late", "1Gi")

        async def waiting() -> bool:
            return "WaitForFirstConsumer" in await event_reasons(env, "late")
        await eventually(waiting)
        claim = await env.client.get("v1", "persistentvolumeclaims", "late", env.ns)
        assert claim["status"]["phase"] == "Pending" and not claim["spec"].get("volumeName")
        pod_spec = env.pod_spec(volumes=[{"name": "d", "persistentVolumeClaim": {"claimName": "late"}}])
        await env.client.create("v1", "pods", {"metadata": {"name": "user"}, "spec": pod_spec}, env.ns)
        claim = await vols.bound("late")
        pod = await env.client.get("v1", "pods", "user", env.ns)
        assert claim["metadata"]["annotations"]["volume.kubernetes.io/selected-node"] == pod["spec"]["nodeName"]
        pv = await vols.volume(claim["spec"]["volumeName"])
        term = pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]
        assert term["values"] == [pod["spec"]["nodeName"]]
    finally:
        await env.client.delete("storage.k8s.io/v1", "storageclasses", vols.cls)
