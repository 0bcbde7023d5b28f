"""The dev node's image registry: Debian's docker-registry on 127.0.0.1, storage under the dev folder,
seeded once with the test images (a restarted registry keeps them, so seeding is skipped)."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from pathlib import Path

from kubeprov.errors import KubeprovError
from kubeprov.kubelet.images.localregistry import DOCKER_REGISTRY, LocalRegistry
from kubeprov.kubelet.images.registry import OCI_INDEX, OCI_MANIFEST
from kubeprov.kubelet.images.testimages import TEST_REGISTRY, push_test_images
from kubeprov.lifecycle.devprocs import ProcessRecord, ProcessTable

TEST_IMAGES = ("busybox:1", "web:1", "web:2")


def start_registry(table: ProcessTable, directory: Path, port: int) -> LocalRegistry:
    """Start docker-registry on ``port`` (recorded as ``registry``) unless it already runs."""
    registry = LocalRegistry(directory / "registry", port)
    if any(r.name == "registry" for r in table.running()) and registry.ready():
        return registry
    if not Path(DOCKER_REGISTRY).exists():
        raise KubeprovError(f"{DOCKER_REGISTRY} is missing", "install Debian's docker-registry (`make setup`)")
    try:
        registry.start()
    except RuntimeError as err:
        raise KubeprovError(f"the image registry did not start on {registry.address}", str(err)) from None
    assert registry._proc is not None
    table.add(ProcessRecord("registry", registry._proc.pid, str(registry.workdir / "config.yml")))
    return registry


def has_image(address: str, name: str) -> bool:
    repository, tag = name.split(":")
    request = urllib.request.Request(f"http://{address}/v2/{repository}/manifests/{tag}", method="HEAD",
                                     headers={"Accept": f"{OCI_INDEX}, {OCI_MANIFEST}"})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError):
        return False


def seed(address: str) -> bool:
    """Push the test images unless all are there; True when it pushed."""
    if all(has_image(address, name) for name in TEST_IMAGES):
        return False
    asyncio.run(push_test_images(address))
    return True


def registries_config(address: str) -> dict[str, str]:
    """The kubelet's ``registries`` setting: ``registry.local`` served by the local registry."""
    return {TEST_REGISTRY: f"http://{address}"}
