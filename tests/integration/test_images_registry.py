"""Image pulls against the real docker-registry seeded with our test images (fixture ``oci_registry``)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kubeprov.kubelet.images.errors import (
    DigestMismatch,
    ImageNotFound,
    ImagePullBackOffError,
    NeverPullError,
    RegistryUnavailable,
)
from kubeprov.kubelet.images.hosts import RegistryHosts
from kubeprov.kubelet.images.localregistry import free_port
from kubeprov.kubelet.images.reference import parse
from kubeprov.kubelet.images.registry import RegistryClient
from kubeprov.kubelet.images.service import ImageService
from kubeprov.kubelet.images.store import sha256_digest
from kubeprov.kubelet.images.testimages import LayerBuilder, build_image, push_image
from kubeprov.kubelet.images.unpack import OVERLAY, chain_ids, is_root
from tests.integration.controller_env import eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

needs_root = pytest.mark.skipif(not is_root(), reason="needs root: overlay snapshots and mount")


@pytest.fixture
async def images(oci_registry, tmp_path: Path) -> AsyncIterator[ImageService]:
    async with RegistryClient(oci_registry.hosts) as client:
        yield ImageService(tmp_path / "images", client)


async def test_pull_by_tag_through_the_registry_local_alias(oci_registry, images: ImageService) -> None:
    record = await images.ensure("registry.local/web:1")
    assert record.digest == oci_registry.digests["registry.local/web:1"]
    assert all(images.store.content.has(d) for d in record.blobs())
    assert record.config["config"]["ExposedPorts"] == {"8080/tcp": {}}
    assert "WEB_VERSION=1" in record.config["config"]["Env"]


async def test_pull_by_digest(oci_registry, images: ImageService) -> None:
    digest = oci_registry.digests["registry.local/web:2"]
    record = await images.ensure(f"registry.local/web@{digest}")
    assert record.digest == digest and record.name == f"registry.local/web@{digest}"


async def test_index_is_resolved_to_the_amd64_manifest(oci_registry, images: ImageService) -> None:
    record = await images.ensure("registry.local/busybox:1")
    assert record.digest == oci_registry.digests["registry.local/busybox:1"]
    assert record.platform_manifest != record.digest and images.store.content.has(record.platform_manifest)


async def test_loopback_registry_is_reached_over_http_without_config(oci_registry, tmp_path: Path) -> None:
    async with RegistryClient(RegistryHosts()) as client:
        record = await ImageService(tmp_path, client).ensure(f"{oci_registry.address}/busybox:1")
    assert record.digest == oci_registry.digests["registry.local/busybox:1"]


async def test_unpacked_busybox_runs(images: ImageService) -> None:
    record = await images.ensure("registry.local/busybox:1")
    (top,) = images.lowerdirs(record)
    out = subprocess.run([str(top / "bin/busybox"), "echo", "hi"], capture_output=True, text=True, check=True)
    assert out.stdout == "hi\n"
    assert os.readlink(top / "bin/nc") == "busybox"


async def test_shared_base_layer_is_unpacked_once(images: ImageService) -> None:
    busybox = await images.ensure("registry.local/busybox:1")
    web = await images.ensure("registry.local/web:1")
    assert images.snapshots.mode != OVERLAY or images.lowerdirs(web)[-1] == images.lowerdirs(busybox)[0]
    assert chain_ids([web.layers[0].diff_id]) == chain_ids([busybox.layers[0].diff_id])


@needs_root
async def test_web_snapshots_mount_as_overlay_lowerdirs(images: ImageService, tmp_path: Path) -> None:
    record = await images.ensure("registry.local/web:2")
    target = tmp_path / "rootfs"
    target.mkdir()
    lower = ":".join(str(p) for p in images.lowerdirs(record))
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", f"lowerdir={lower}", str(target)], check=True)
    try:
        out = subprocess.run(
            ["chroot", str(target), "/bin/sh", "-c", "ls /usr/local/bin; echo $0"],
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        subprocess.run(["umount", str(target)], check=True)
    assert out.stdout.split() == ["start-web", "/bin/sh"]


@needs_root
async def test_web_image_serves_its_version_and_pod_name_and_nc_fetches_it(
    images: ImageService, tmp_path: Path
) -> None:
    record = await images.ensure("registry.local/web:2")
    target, upper, work = tmp_path / "rootfs", tmp_path / "upper", tmp_path / "work"
    for d in (target, upper, work):
        d.mkdir()
    lower = ":".join(str(p) for p in images.lowerdirs(record))
    options = f"lowerdir={lower},upperdir={upper},workdir={work}"
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", options, str(target)], check=True)
    # a container runtime gives the container /dev; the start script needs /dev/null
    (target / "dev").mkdir(exist_ok=True)
    subprocess.run(["mount", "--bind", "/dev", str(target / "dev")], check=True)
    port = free_port()
    env = [*record.config["config"]["Env"], "POD_NAME=web-abc", f"PORT={port}"]
    server = subprocess.Popen(["chroot", str(target), "/bin/env", "-i", *env, *record.config["config"]["Cmd"]])
    request = f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 127.0.0.1 {port}"

    async def page() -> str | None:
        proc = await asyncio.create_subprocess_exec(
            "chroot", str(target), "/bin/sh", "-c", request, stdout=asyncio.subprocess.PIPE
        )
        out = (await proc.communicate())[0].decode()
        return out if " 200 " in out else None

    try:
        response = await eventually(page, timeout=20)
    finally:
        server.terminate()
        server.wait(10)
        subprocess.run(["umount", str(target / "dev")], check=True)
        subprocess.run(["umount", str(target)], check=True)
    assert response.endswith("web version 2 pod web-abc\n")


async def test_unknown_image_is_not_found_with_containerd_wording(images: ImageService) -> None:
    with pytest.raises(ImageNotFound) as err:
        await images.ensure("registry.local/nope:1")
    assert str(err.value).endswith(
        'failed to resolve reference "registry.local/nope:1": registry.local/nope:1: not found'
    )


async def test_failed_pull_backs_off_for_that_image(images: ImageService) -> None:
    with pytest.raises(ImageNotFound):
        await images.ensure("registry.local/nope:2", backoff_key="pod-uid_registry.local/nope:2")
    with pytest.raises(ImagePullBackOffError, match='Back-off pulling image "registry.local/nope:2"'):
        await images.ensure("registry.local/nope:2", backoff_key="pod-uid_registry.local/nope:2")


async def test_if_not_present_uses_the_store_and_always_asks_the_registry(images: ImageService) -> None:
    pulled = await images.ensure("registry.local/web:1")
    async with RegistryClient(RegistryHosts.from_config({"registry.local": "http://127.0.0.1:1"})) as offline:
        node = ImageService(images.root, offline)
        assert (await node.ensure("registry.local/web:1", policy="IfNotPresent")).digest == pulled.digest
        with pytest.raises(RegistryUnavailable):
            await node.ensure("registry.local/web:1", policy="Always")


async def test_never_policy_with_missing_image(images: ImageService) -> None:
    with pytest.raises(NeverPullError):
        await images.ensure("registry.local/web:1", policy="Never")


async def test_tampered_layer_in_the_registry_is_a_digest_mismatch(oci_registry, images: ImageService) -> None:
    unique = os.urandom(16).hex().encode()
    layer = LayerBuilder().file("unique", unique).finish()
    built = build_image("registry.local/tampered:1", [layer], {"Cmd": ["sh"]})
    async with RegistryClient(oci_registry.hosts) as client:
        await push_image(client, built)
    layer_digest = sha256_digest(layer[0])
    hexd = layer_digest.split(":")[1]
    data = oci_registry.registry.workdir / "data/docker/registry/v2/blobs/sha256" / hexd[:2] / hexd / "data"
    blob = bytearray(data.read_bytes())
    blob[-10] ^= 0xFF
    data.write_bytes(bytes(blob))
    with pytest.raises(DigestMismatch) as err:
        await images.ensure("registry.local/tampered:1")
    assert err.value.expected == layer_digest
    assert not images.store.content.has(layer_digest) and images.store.get("registry.local/tampered:1") is None


async def test_skopeo_agrees_with_our_manifest(oci_registry, images: ImageService) -> None:
    record = await images.ensure("registry.local/busybox:1")
    out = subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", f"docker://{oci_registry.address}/busybox:1"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    inspected = json.loads(out.stdout)
    assert inspected["Digest"] == record.digest
    assert inspected["Layers"] == [layer.digest for layer in record.layers]
    assert (inspected["Os"], inspected["Architecture"]) == ("linux", "amd64")


def _tree(root: Path) -> dict[str, tuple[str, int]]:
    """Relative path -> (kind or link target, mode bits) for everything under ``root``."""
    out = {}
    for path in root.rglob("*"):
        st = path.lstat()
        kind = f"-> {os.readlink(path)}" if path.is_symlink() else ("dir" if path.is_dir() else "file")
        out[str(path.relative_to(root))] = (kind, st.st_mode & 0o7777 if not path.is_symlink() else 0)
    return out


def _umoci_rootfs(address: str, name: str, tmp_path: Path) -> Path:
    layout = f"{tmp_path / 'oci'}:{name.replace(':', '-')}"
    src = f"docker://{address}/{name}"
    subprocess.run(["skopeo", "copy", "--src-tls-verify=false", src, f"oci:{layout}"], check=True, capture_output=True)
    subprocess.run(["umoci", "unpack", "--image", layout, str(tmp_path / "bundle")], check=True, capture_output=True)
    return tmp_path / "bundle" / "rootfs"


@needs_root
async def test_copy_mode_rootfs_matches_umoci_unpack(oci_registry, tmp_path: Path) -> None:
    async with RegistryClient(oci_registry.hosts) as client:
        service = ImageService(tmp_path / "ours", client, snapshot_mode="copy")
        (ours,) = service.lowerdirs(await service.ensure("registry.local/web:1"))
    src = f"docker://{oci_registry.address}/web:1"
    layout = f"oci:{tmp_path / 'oci'}:web"
    subprocess.run(
        ["skopeo", "copy", "--src-tls-verify=false", src, layout], check=True, capture_output=True, timeout=60
    )
    subprocess.run(["umoci", "unpack", "--image", layout[4:], str(tmp_path / "bundle")], check=True, timeout=60)
    assert _tree(ours) == _tree(tmp_path / "bundle" / "rootfs")


@needs_root
async def test_whiteouts_of_a_pulled_image_agree_with_umoci_in_both_modes(oci_registry, tmp_path: Path) -> None:
    lower = LayerBuilder().dir("d").file("d/a", b"a").file("d/b", b"b").dir("etc").file("etc/gone", b"g")
    upper = LayerBuilder().dir("d").file("d/.wh..wh..opq", b"").file("d/c", b"c").file("etc/.wh.gone", b"")
    built = build_image("registry.local/whiteouts:1", [lower.finish(), upper.finish()], {"Cmd": ["sh"]})
    async with RegistryClient(oci_registry.hosts) as client:
        await push_image(client, built)
        copy = ImageService(tmp_path / "copy", client, snapshot_mode="copy")
        (flat,) = copy.lowerdirs(await copy.ensure("registry.local/whiteouts:1"))
        overlay = ImageService(tmp_path / "overlay", client, snapshot_mode=OVERLAY)
        lowers = overlay.lowerdirs(await overlay.ensure("registry.local/whiteouts:1"))
    expected = _tree(_umoci_rootfs(oci_registry.address, "whiteouts:1", tmp_path))
    assert sorted(expected) == ["d", "d/c", "etc"]
    assert _tree(flat) == expected
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    subprocess.run(
        ["mount", "-t", "overlay", "overlay", "-o", "lowerdir=" + ":".join(map(str, lowers)), str(mnt)], check=True
    )
    try:
        assert _tree(mnt) == expected
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


async def test_gc_removes_unused_images_but_keeps_what_is_in_use(images: ImageService) -> None:
    web1 = await images.ensure("registry.local/web:1")
    web2 = await images.ensure("registry.local/web:2")
    await images.ensure("registry.local/busybox:1")
    result = images.garbage_collect({"registry.local/web:1"}, usage=lambda: (10**12, 10**12))
    assert images.lookup("registry.local/web:2") is None and images.lookup("registry.local/busybox:1") is None
    assert images.lookup("registry.local/web:1") is not None
    assert not images.store.content.has(web2.config_digest) and images.store.content.has(web1.config_digest)
    assert all(p.is_dir() for p in images.lowerdirs(web1))
    assert "registry.local/web:2" in result.removed


async def test_gc_frees_least_recently_used_first_and_only_what_is_needed(images: ImageService) -> None:
    web2 = await images.ensure("registry.local/web:2")
    busybox = await images.ensure("registry.local/busybox:1")
    images.mark_used(web2, when=1.0)
    images.mark_used(busybox, when=2.0)
    images.garbage_collect(set(), high_percent=85, low_percent=80, usage=lambda: (86, 100))
    assert images.lookup("registry.local/web:2") is None
    assert images.lookup("registry.local/busybox:1") is not None


def test_reference_of_pinned_record_round_trips(oci_registry) -> None:
    digest = oci_registry.digests["registry.local/web:1"]
    assert str(parse(f"registry.local/web@{digest}")) == f"registry.local/web@{digest}"


async def test_concurrent_ensures_of_one_image_share_one_pull(images: ImageService) -> None:
    first, second = await asyncio.gather(images.ensure("registry.local/web:1"), images.ensure("registry.local/web:1"))
    assert first is second
