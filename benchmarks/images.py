"""Pull + unpack time of the web test image from a local docker-registry, cold and warm.

Run: ``.venv/bin/python benchmarks/images.py [--runs N]``. It starts its own docker-registry in a
temporary folder, pushes our test images (busybox-static based) and measures, each over N runs:

* cold: an empty image store: resolve, fetch config + 2 layers, verify digests, unpack snapshots;
* warm, pull policy Always: the store has everything: one manifest request, no blob or unpack work;
* warm, IfNotPresent: a local record lookup, no registry traffic.

Reference point: containerd on similar hardware pulls a ~1 MiB two-layer image from a local registry in
tens of milliseconds; the figure to watch here is cold vs warm, and unpack's share of cold.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kubeprov.kubelet.images.localregistry import LocalRegistry
from kubeprov.kubelet.images.registry import RegistryClient
from kubeprov.kubelet.images.service import ImageService
from kubeprov.kubelet.images.testimages import local_registry_hosts, push_test_images

IMAGE = "registry.local/web:1"


def summary(label: str, samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    return f"  {label:<28} median {statistics.median(ms):8.1f} ms   min {ms[0]:8.1f} ms   max {ms[-1]:8.1f} ms"


async def bench(address: str, folder: Path, runs: int) -> None:
    async with RegistryClient(local_registry_hosts(address)) as client:
        cold, unpack = [], []
        for i in range(runs):
            service = ImageService(folder / f"cold-{i}", client)
            started = time.perf_counter()
            record = await service.ensure(IMAGE)
            cold.append(time.perf_counter() - started)
            fresh = ImageService(folder / f"unpack-{i}", client)
            for digest in record.blobs():
                fresh.store.content.put(service.store.content.read(digest))
            started = time.perf_counter()
            fresh.snapshots.unpack(record, fresh.store.content)
            unpack.append(time.perf_counter() - started)
        warm_always, warm_present = [], []
        for _ in range(runs):
            started = time.perf_counter()
            await service.ensure(IMAGE, policy="Always")
            warm_always.append(time.perf_counter() - started)
            started = time.perf_counter()
            await service.ensure(IMAGE, policy="IfNotPresent")
            warm_present.append(time.perf_counter() - started)
    size = record.size / (1 << 20)
    print(f"{IMAGE}: {len(record.layers)} layers, {size:.2f} MiB compressed, snapshot mode {service.snapshots.mode}")
    print(summary("cold pull + unpack", cold))
    print(summary("  of which unpack alone", unpack))
    print(summary("warm, policy Always", warm_always))
    print(summary("warm, policy IfNotPresent", warm_present))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kubeprov-images-bench-") as tmp:
        folder = Path(tmp)
        with LocalRegistry(folder / "registry") as registry:
            started = time.perf_counter()
            asyncio.run(push_test_images(registry.address))
            print(f"docker-registry on {registry.address}; test images built and pushed in "
                  f"{time.perf_counter() - started:.2f}s")
            asyncio.run(bench(registry.address, folder, args.runs))


if __name__ == "__main__":
    main()
