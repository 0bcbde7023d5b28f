"""Our test images, built from Debian's static busybox and pushed with our own registry client.

* ``registry.local/busybox:1``: busybox with its applet links in /bin (sh, nc, nslookup, httpd, ...),
  pushed as an OCI index with one linux/amd64 manifest (so pulls exercise platform selection).
* ``registry.local/web:1`` and ``web:2``: the busybox layer (shared, same digest) plus a start-up script
  that writes a page naming the version and the pod (``POD_NAME``, else the hostname), then runs busybox
  httpd on 8080 in the foreground. busybox ``wget`` segfaults on this kernel: use ``nc`` for HTTP checks.

Layers are deterministic (fixed mtimes, root owner, gzip without timestamps), so rebuilding gives the
same digests. Run: ``python -m kubeprov.kubelet.images.testimages --registry 127.0.0.1:PORT``.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import io
import json
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from kubeprov.kubelet.images.hosts import Credentials, RegistryHosts
from kubeprov.kubelet.images.localregistry import LocalRegistry
from kubeprov.kubelet.images.reference import parse
from kubeprov.kubelet.images.registry import OCI_INDEX, OCI_MANIFEST, RegistryClient
from kubeprov.kubelet.images.store import sha256_digest

BUSYBOX = Path("/bin/busybox")
MTIME = 1_700_000_000
CREATED = "2023-11-14T22:13:20Z"
LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
TEST_REGISTRY = "registry.local"
WEB_PORT = 8080

START_WEB = """#!/bin/sh
# Write this pod's page, then serve it with busybox httpd. The shell stays PID 1 and ends on SIGTERM
# (a PID 1 without a handler ignores it, and the pod would take its whole grace period to stop).
# The trap comes first, so a SIGTERM at any moment after start is honoured.
trap 'kill -TERM $server 2>/dev/null; exit 0' TERM INT
dir=/www
if ! touch "$dir/.writable" 2>/dev/null; then dir=/tmp/www; mkdir -p "$dir"; fi
echo "web version ${WEB_VERSION} pod ${POD_NAME:-$(hostname)}" > "$dir/index.html"
httpd -f -p "${PORT:-8080}" -h "$dir" &
server=$!
wait $server
"""

PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
GROUP = "root:x:0:\nnogroup:x:65534:\n"


@dataclass
class BuiltImage:
    """An image ready to push: its tag, blobs by digest, manifest bytes, and the optional index."""

    name: str
    manifest: bytes
    blobs: dict[str, bytes] = field(default_factory=dict)
    index: bytes | None = None

    @property
    def digest(self) -> str:
        """What a pull by tag resolves to (the index when there is one)."""
        return sha256_digest(self.index or self.manifest)


class LayerBuilder:
    """A deterministic tar layer built in memory."""

    def __init__(self) -> None:
        self._buf = io.BytesIO()
        self._tar = tarfile.open(fileobj=self._buf, mode="w", format=tarfile.PAX_FORMAT)

    def _info(self, name: str, mode: int) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.mtime, info.mode, info.uid, info.gid, info.uname, info.gname = MTIME, mode, 0, 0, "root", "root"
        return info

    def dir(self, name: str, mode: int = 0o755) -> LayerBuilder:
        info = self._info(name, mode)
        info.type = tarfile.DIRTYPE
        self._tar.addfile(info)
        return self

    def file(self, name: str, data: bytes, mode: int = 0o644) -> LayerBuilder:
        info = self._info(name, mode)
        info.size = len(data)
        self._tar.addfile(info, io.BytesIO(data))
        return self

    def symlink(self, name: str, target: str) -> LayerBuilder:
        info = self._info(name, 0o777)
        info.type, info.linkname = tarfile.SYMTYPE, target
        self._tar.addfile(info)
        return self

    def finish(self) -> tuple[bytes, bytes]:
        """(gzip blob, uncompressed tar): the blob is pushed, the tar's hash is the diff ID."""
        self._tar.close()
        raw = self._buf.getvalue()
        return gzip.compress(raw, compresslevel=6, mtime=0), raw


def busybox_applets(busybox: Path = BUSYBOX) -> list[str]:
    out = subprocess.run([str(busybox), "--list"], check=True, capture_output=True, text=True).stdout
    return sorted(a for a in out.split() if a and a != "busybox" and "/" not in a)


def busybox_layer(busybox: Path = BUSYBOX) -> tuple[bytes, bytes]:
    layer = LayerBuilder()
    for d in ("bin", "etc", "root", "usr", "usr/local", "usr/local/bin", "var"):
        layer.dir(d, 0o700 if d == "root" else 0o755)
    layer.dir("tmp", 0o1777)
    layer.file("bin/busybox", busybox.read_bytes(), 0o755)
    for applet in busybox_applets(busybox):
        layer.symlink(f"bin/{applet}", "busybox")
    layer.file("etc/passwd", PASSWD.encode()).file("etc/group", GROUP.encode())
    return layer.finish()


def web_layer() -> tuple[bytes, bytes]:
    layer = LayerBuilder().dir("www").dir("usr/local/bin").file("usr/local/bin/start-web", START_WEB.encode(), 0o755)
    return layer.finish()


def build_image(name: str, layers: list[tuple[bytes, bytes]], config: dict, with_index: bool = False) -> BuiltImage:
    """Config JSON + OCI manifest (+ index) for ``layers`` given as (blob, uncompressed tar)."""
    config_doc = {
        "created": CREATED,
        "architecture": "amd64",
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [sha256_digest(raw) for _blob, raw in layers]},
        "history": [{"created": CREATED, "created_by": "kubeprov testimages"} for _ in layers],
    }
    config_raw = json.dumps(config_doc, sort_keys=True).encode()
    image = BuiltImage(name, b"")
    image.blobs[sha256_digest(config_raw)] = config_raw
    for blob, _raw in layers:
        image.blobs[sha256_digest(blob)] = blob
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": CONFIG_TYPE, "digest": sha256_digest(config_raw), "size": len(config_raw)},
        "layers": [{"mediaType": LAYER_GZIP, "digest": sha256_digest(b), "size": len(b)} for b, _raw in layers],
    }
    image.manifest = json.dumps(manifest, sort_keys=True).encode()
    if with_index:
        index = {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": sha256_digest(image.manifest),
                    "size": len(image.manifest),
                    "platform": {"os": "linux", "architecture": "amd64"},
                }
            ],
        }
        image.index = json.dumps(index, sort_keys=True).encode()
    return image


def build_test_images(busybox: Path = BUSYBOX, registry: str = TEST_REGISTRY) -> list[BuiltImage]:
    base = busybox_layer(busybox)
    images = [build_image(f"{registry}/busybox:1", [base], {"Cmd": ["sh"], "Env": [PATH_ENV]}, with_index=True)]
    web = web_layer()
    for version in (1, 2):
        config = {
            "Cmd": ["/usr/local/bin/start-web"],
            "Env": [PATH_ENV, f"WEB_VERSION={version}"],
            "WorkingDir": "/www",
            "ExposedPorts": {f"{WEB_PORT}/tcp": {}},
            "Labels": {"org.opencontainers.image.version": str(version)},
        }
        images.append(build_image(f"{registry}/web:{version}", [base, web], config))
    return images


async def push_image(client: RegistryClient, image: BuiltImage, creds: Credentials | None = None) -> str:
    """Blobs, then the manifest (by digest when an index follows), then the index under the tag;
    ``creds`` (registry -> user, password) for a registry that wants them."""
    ref = parse(image.name)
    for data in image.blobs.values():
        await client.push_blob(ref, data, creds)
    if image.index is None:
        return await client.push_manifest(ref, image.manifest, OCI_MANIFEST, creds)
    await client.push_manifest(ref.with_digest(sha256_digest(image.manifest)), image.manifest, OCI_MANIFEST, creds)
    return await client.push_manifest(ref, image.index, OCI_INDEX, creds)


def local_registry_hosts(address: str) -> RegistryHosts:
    """``registry.local`` aliased to the local registry at ``address`` (plain HTTP)."""
    return RegistryHosts.from_config({TEST_REGISTRY: f"http://{address}"})


async def push_test_images(address: str, busybox: Path = BUSYBOX) -> dict[str, str]:
    """Build and push every test image to the registry at ``address``; returns name -> digest."""
    images = await asyncio.to_thread(build_test_images, busybox)
    async with RegistryClient(local_registry_hosts(address)) as client:
        return {image.name: await push_image(client, image) for image in images}


@dataclass
class SeededRegistry:
    """A running local registry with our test images; ``hosts`` aliases ``registry.local`` to it."""

    registry: LocalRegistry
    digests: dict[str, str]

    @property
    def address(self) -> str:
        return self.registry.address

    @property
    def hosts(self) -> RegistryHosts:
        return local_registry_hosts(self.registry.address)


def seeded_registry(workdir: Path) -> Iterator[SeededRegistry]:
    """Start docker-registry in ``workdir``, push the test images, yield, stop it (a fixture body)."""
    registry = LocalRegistry(workdir).start()
    try:
        yield SeededRegistry(registry, asyncio.run(push_test_images(registry.address)))
    finally:
        registry.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build our busybox-based test images and push them.")
    parser.add_argument("--registry", required=True, help="host:port of the registry (plain HTTP)")
    parser.add_argument("--busybox", type=Path, default=BUSYBOX, help="static busybox binary")
    args = parser.parse_args(argv)
    for name, digest in asyncio.run(push_test_images(args.registry, args.busybox)).items():
        print(f"{name}@{digest}")


if __name__ == "__main__":
    main()
