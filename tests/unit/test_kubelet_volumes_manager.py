"""VolumeManager against a fake API: directories, hostPath types, subPath, updates, tmpfs and teardown."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import pytest

from kubeprov.api import status
from kubeprov.api.status import StatusError
from kubeprov.kubelet.volumes import mounts
from kubeprov.kubelet.volumes.errors import VolumeError
from kubeprov.kubelet.volumes.manager import MountedVolume, VolumeConfig, VolumeManager, subpath_source

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: mounts tmpfs")


class FakeApi:
    """Just ``get`` over a dict keyed by (resource, namespace, name)."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}

    async def get(self, api_version: str, resource: str, name: str, namespace: str = "") -> dict[str, Any]:
        try:
            return self.objects[(resource, namespace, name)]
        except KeyError:
            raise StatusError(status.not_found(resource, name)) from None


def pod(*volumes: dict, uid: str = "u-1") -> dict:
    return {"metadata": {"name": "p", "namespace": "ns", "uid": uid},
            "spec": {"containers": [{"name": "c"}], "volumes": list(volumes)}}


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


@pytest.fixture
def manager(tmp_path: Path, api: FakeApi) -> Any:
    mgr = VolumeManager(api, VolumeConfig(root=tmp_path / "kubelet"))  # type: ignore[arg-type]
    yield mgr
    for point in mounts.mounts_under(tmp_path):
        mounts.unmount(point)


async def test_empty_dir_on_disk_is_a_world_writable_directory_in_the_kubelet_layout(manager: Any,
                                                                                     tmp_path: Path) -> None:
    got = await manager.setup(pod({"name": "scratch", "emptyDir": {}}))
    path = tmp_path / "kubelet/pods/u-1/volumes/kubernetes.io~empty-dir/scratch"
    assert got["scratch"].path == path
    assert path.stat().st_mode & 0o777 == 0o777


async def test_config_map_volume_lists_its_keys(manager: Any, api: FakeApi) -> None:
    api.objects[("configmaps", "ns", "cfg")] = {"data": {"a": "1", "b": "2"}}
    got = await manager.setup(pod({"name": "v", "configMap": {"name": "cfg"}}))
    assert (got["v"].path / "a").read_text() == "1"
    assert got["v"].read_only


async def test_a_missing_config_map_fails_set_up_with_the_volume_named(manager: Any) -> None:
    with pytest.raises(VolumeError, match='volume "v" : configmap "cfg" not found'):
        await manager.setup(pod({"name": "v", "configMap": {"name": "cfg"}}))


async def test_refresh_rewrites_a_changed_config_map_and_skips_an_unchanged_one(manager: Any, api: FakeApi) -> None:
    api.objects[("configmaps", "ns", "cfg")] = {"data": {"a": "1"}}
    the_pod = pod({"name": "v", "configMap": {"name": "cfg"}})
    got = await manager.setup(the_pod)
    assert await manager.refresh(the_pod) == []
    api.objects[("configmaps", "ns", "cfg")] = {"data": {"a": "2"}}
    assert await manager.refresh(the_pod) == ["v"]
    assert (got["v"].path / "a").read_text() == "2"


async def test_host_path_directory_or_create_makes_the_directory(manager: Any, tmp_path: Path) -> None:
    target = tmp_path / "host" / "data"
    got = await manager.setup(pod({"name": "h", "hostPath": {"path": str(target), "type": "DirectoryOrCreate"}}))
    assert target.is_dir() and got["h"].path == target and not got["h"].managed


async def test_host_path_directory_type_refuses_a_file(manager: Any, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(VolumeError, match="is not a directory"):
        await manager.setup(pod({"name": "h", "hostPath": {"path": str(tmp_path / "f"), "type": "Directory"}}))


async def test_host_path_file_or_create_makes_an_empty_file(manager: Any, tmp_path: Path) -> None:
    await manager.setup(pod({"name": "h", "hostPath": {"path": str(tmp_path / "new.txt"), "type": "FileOrCreate"}}))
    assert (tmp_path / "new.txt").read_bytes() == b""


async def test_host_path_socket_type_checks_for_a_socket(manager: Any, tmp_path: Path) -> None:
    sock_path = tmp_path / "s.sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(sock_path))
        got = await manager.setup(pod({"name": "h", "hostPath": {"path": str(sock_path), "type": "Socket"}}))
    assert got["h"].path == sock_path
    with pytest.raises(VolumeError, match="is not a socket"):
        await manager.setup(pod({"name": "h", "hostPath": {"path": str(tmp_path), "type": "Socket"}}))


async def test_host_path_file_type_needs_an_existing_file(manager: Any, tmp_path: Path) -> None:
    with pytest.raises(VolumeError, match="does not exist"):
        await manager.setup(pod({"name": "h", "hostPath": {"path": str(tmp_path / "nope"), "type": "File"}}))


def test_sub_path_is_created_inside_the_volume(tmp_path: Path) -> None:
    volume = MountedVolume("v", "emptyDir", tmp_path)
    assert subpath_source(volume, {"subPath": "a/b"}) == (tmp_path / "a/b").resolve()
    assert (tmp_path / "a/b").is_dir()


def test_sub_path_may_not_climb_out_or_follow_a_symlink_out(tmp_path: Path) -> None:
    volume = MountedVolume("v", "emptyDir", tmp_path / "vol")
    (tmp_path / "vol").mkdir()
    (tmp_path / "vol" / "evil").symlink_to("/etc")
    with pytest.raises(VolumeError):
        subpath_source(volume, {"subPath": "../x"})
    with pytest.raises(VolumeError, match="outside"):
        subpath_source(volume, {"subPath": "evil"})


@needs_root
async def test_secret_volume_is_on_tmpfs_and_teardown_unmounts_and_removes_it(manager: Any, api: FakeApi) -> None:
    api.objects[("secrets", "ns", "s")] = {"data": {"pw": "aHVudGVyMg=="}}
    got = await manager.setup(pod({"name": "sec", "secret": {"secretName": "s", "defaultMode": 0o400}}))
    assert mounts.is_mount_point(got["sec"].path)
    assert (got["sec"].path / "pw").read_text() == "hunter2"
    assert (got["sec"].path / "pw").stat().st_mode & 0o777 == 0o400
    manager.teardown("u-1")
    assert not mounts.is_mount_point(got["sec"].path)
    assert not got["sec"].path.exists()


@needs_root
async def test_memory_empty_dir_is_a_tmpfs_of_the_size_limit(manager: Any) -> None:
    got = await manager.setup(pod({"name": "m", "emptyDir": {"medium": "Memory", "sizeLimit": "8Mi"}}))
    stats = os.statvfs(got["m"].path)
    assert stats.f_blocks * stats.f_frsize == 8 * 1024 * 1024


@needs_root
async def test_set_up_twice_keeps_one_mount(manager: Any, api: FakeApi, tmp_path: Path) -> None:
    the_pod = pod({"name": "m", "emptyDir": {"medium": "Memory"}})
    await manager.setup(the_pod)
    await manager.setup(the_pod)
    assert len(mounts.mounts_under(tmp_path)) == 1
