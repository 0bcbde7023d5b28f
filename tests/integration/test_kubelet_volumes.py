"""Volumes from the real API server: configMap/secret contents and updates, a projected bound token that
authenticates, and persistentVolumeClaim -> PersistentVolume -> host path resolution."""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kubeprov.api.client import ApiClient
from kubeprov.api.status import StatusError
from kubeprov.kubelet.volumes import mounts
from kubeprov.kubelet.volumes.errors import VolumeError
from kubeprov.kubelet.volumes.manager import VolumeConfig, VolumeManager
from tests.integration.apiserver_fixture import ApiServerForTest

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(60),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: secret and projected volumes are tmpfs mounts"),
]


@pytest.fixture
async def ns(apiserver: ApiServerForTest, api_client: ApiClient) -> str:
    name = apiserver.namespace("vol")
    await api_client.create("v1", "serviceaccounts", {"metadata": {"name": "robot"}}, name)
    ca = (apiserver.pki_dir / "ca.crt").read_text()
    root_ca = {"metadata": {"name": "kube-root-ca.crt"}, "data": {"ca.crt": ca}}
    try:
        await api_client.create("v1", "configmaps", root_ca, name)
    except StatusError as exc:  # the root-CA publisher may have made it already
        if exc.code != 409:
            raise
    return name


@pytest.fixture
async def manager(tmp_path: Path, api_client: ApiClient) -> AsyncIterator[VolumeManager]:
    mgr = VolumeManager(api_client, VolumeConfig(root=tmp_path / "kubelet"))
    try:
        yield mgr
    finally:
        for point in mounts.mounts_under(tmp_path):
            mounts.unmount(point)


async def make_pod(client: ApiClient, ns: str, volumes: list[dict[str, Any]]) -> dict[str, Any]:
    pod = {"metadata": {"name": "vols"}, "spec": {
        "serviceAccountName": "robot", "automountServiceAccountToken": False, "volumes": volumes,
        "containers": [{"name": "c", "image": "busybox"}]}}
    return await client.create("v1", "pods", pod, ns)


async def test_config_map_and_secret_volumes_hold_the_objects_data(api_client: ApiClient, ns: str,
                                                                    manager: VolumeManager) -> None:
    await api_client.create("v1", "configmaps", {"metadata": {"name": "cfg"}, "data": {"app.conf": "x=1"}}, ns)
    await api_client.create("v1", "secrets", {"metadata": {"name": "sec"},
                                              "data": {"pw": base64.b64encode(b"hunter2").decode()}}, ns)
    pod = await make_pod(api_client, ns, [{"name": "c", "configMap": {"name": "cfg"}},
                                          {"name": "s", "secret": {"secretName": "sec"}}])
    got = await manager.setup(pod)
    assert (got["c"].path / "app.conf").read_text() == "x=1"
    assert (got["s"].path / "pw").read_text() == "hunter2"
    assert mounts.is_mount_point(got["s"].path)


async def test_a_changed_config_map_is_swapped_into_the_volume(api_client: ApiClient, ns: str,
                                                                manager: VolumeManager) -> None:
    await api_client.create("v1", "configmaps", {"metadata": {"name": "cfg"}, "data": {"k": "old"}}, ns)
    pod = await make_pod(api_client, ns, [{"name": "c", "configMap": {"name": "cfg"}}])
    got = await manager.setup(pod)
    await api_client.patch("v1", "configmaps", "cfg", {"data": {"k": "new"}}, ns)
    assert await manager.refresh(pod) == ["c"]
    assert (got["c"].path / "k").read_text() == "new"


async def test_the_projected_token_authenticates_as_the_pods_service_account(
        apiserver: ApiServerForTest, api_client: ApiClient, ns: str, manager: VolumeManager) -> None:
    pod = await make_pod(api_client, ns, [{"name": "api", "projected": {"sources": [
        {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]}}]}}])
    got = await manager.setup(pod)
    folder = got["api"].path
    assert (folder / "ca.crt").read_text() == (apiserver.pki_dir / "ca.crt").read_text()
    assert (folder / "namespace").read_text() == ns
    token = (folder / "token").read_text()
    async with ApiClient(apiserver.url, ca_file=apiserver.pki_dir / "ca.crt", token=token) as as_pod:
        review = await as_pod.create("authentication.k8s.io/v1", "selfsubjectreviews",
                                     {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
    assert review["status"]["userInfo"]["username"] == f"system:serviceaccount:{ns}:robot"


async def test_the_projected_token_is_reused_until_it_needs_renewal(api_client: ApiClient, ns: str,
                                                                     manager: VolumeManager) -> None:
    pod = await make_pod(api_client, ns, [{"name": "api", "projected": {"sources": [
        {"serviceAccountToken": {"path": "token"}}]}}])
    await manager.setup(pod)
    assert await manager.refresh(pod) == []


async def test_a_bound_claim_resolves_to_its_host_path_volume(api_client: ApiClient, ns: str, tmp_path: Path,
                                                               manager: VolumeManager) -> None:
    pv_name = f"pv-{ns}"
    data = tmp_path / "pv-data"
    await api_client.create("v1", "persistentvolumes", {"metadata": {"name": pv_name}, "spec": {
        "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "storageClassName": "",
        "hostPath": {"path": str(data), "type": "DirectoryOrCreate"}}})
    try:
        await api_client.create("v1", "persistentvolumeclaims", {"metadata": {"name": "claim"}, "spec": {
            "accessModes": ["ReadWriteOnce"], "storageClassName": "", "volumeName": pv_name,
            "resources": {"requests": {"storage": "1Gi"}}}}, ns)
        await api_client.patch("v1", "persistentvolumeclaims", "claim", {"status": {"phase": "Bound"}}, ns,
                               subresource="status")
        pod = await make_pod(api_client, ns, [{"name": "d", "persistentVolumeClaim": {"claimName": "claim"}}])
        got = await manager.setup(pod)
        assert got["d"].path == data and data.is_dir() and not got["d"].managed
    finally:
        await api_client.delete("v1", "persistentvolumes", pv_name)


async def test_an_unbound_claim_fails_set_up(api_client: ApiClient, ns: str, manager: VolumeManager) -> None:
    await api_client.create("v1", "persistentvolumeclaims", {"metadata": {"name": "waiting"}, "spec": {
        "accessModes": ["ReadWriteOnce"], "storageClassName": "none",
        "resources": {"requests": {"storage": "1Gi"}}}}, ns)
    pod = await make_pod(api_client, ns, [{"name": "d", "persistentVolumeClaim": {"claimName": "waiting"}}])
    with pytest.raises(VolumeError, match='persistentvolumeclaim "waiting" is not bound'):
        await manager.setup(pod)
