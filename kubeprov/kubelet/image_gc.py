"""The kubelet's image garbage collector: every ``image_gc_period`` seconds, when the images filesystem is fuller
than the high threshold, delete images no container uses, least recently used first, down to the low threshold
(the choice itself is ``images.store.choose_images_to_free``; this module runs it and reports shortfalls)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kubeprov.aio import cancel_and_wait
from kubeprov.kubelet.images.service import GCResult, ImageService
from kubeprov.kubelet.images.store import disk_usage
from kubeprov.kubelet.runtime.manager import ContainerRuntime

if TYPE_CHECKING:
    from kubeprov.kubelet.agent import Kubelet
    from kubeprov.kubelet.pod_worker import PodWorker

log = logging.getLogger(__name__)
Usage = Callable[[], tuple[int, int]]


@dataclass(frozen=True)
class ImageGCPolicy:
    """imageGCHighThresholdPercent / imageGCLowThresholdPercent / imageMinimumGCAge; 100% disables GC."""

    high_percent: int = 85
    low_percent: int = 80
    min_age: float = 120.0
    period: float = 300.0

    @property
    def enabled(self) -> bool:
        return self.high_percent < 100


def bytes_to_free(used: int, capacity: int, policy: ImageGCPolicy) -> int:
    """What GC must free to get from above the high threshold down to the low one (0 below the high one)."""
    if capacity <= 0 or used * 100 < policy.high_percent * capacity:
        return 0
    return max(used - capacity * policy.low_percent // 100, 0)


def shortfall_message(wanted: int, freed: int) -> str:
    return (f"Failed to garbage collect required amount of images. Attempted to free {wanted} bytes, "
            f"but only found {freed} bytes eligible to free.")


async def images_in_use(runtime: ContainerRuntime, workers: Iterable[PodWorker]) -> set[str]:
    """Images of every container the runtime holds (running or not) and of every container a pod worker is
    about to start (an image just pulled must not go before its container exists)."""
    names = {status.image for status in await runtime.list_containers() if status.image}
    for worker in list(workers):
        names.update(str(c.spec.get("image", "")) for c in worker.containers if c.spec.get("image"))
    return names


class ImageGC:
    """One per kubelet; ``run_once`` is one GC pass, ``start`` runs passes every ``policy.period`` seconds."""

    def __init__(self, images: ImageService, policy: ImageGCPolicy, in_use: Callable[[], Awaitable[set[str]]],
                 warn: Callable[[str, str], None], usage: Usage | None = None) -> None:
        self.images = images
        self.policy = policy
        self.in_use = in_use
        self.warn = warn
        self.usage = usage or (lambda: disk_usage(images.store.root))
        self.passes = 0
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def for_kubelet(cls, kubelet: Kubelet, images: ImageService) -> ImageGC:
        config = kubelet.config
        policy = ImageGCPolicy(config.image_gc_high_threshold_percent, config.image_gc_low_threshold_percent,
                               config.image_minimum_gc_age, config.image_gc_period)

        def warn(reason: str, message: str) -> None:
            recorder = kubelet._recorder
            if recorder is not None:
                recorder.event(node_reference(kubelet.name), "Warning", reason, message)

        return cls(images, policy, lambda: images_in_use(kubelet.runtime, kubelet.workers.values()), warn)

    async def run_once(self) -> GCResult:
        used, capacity = self.usage()
        wanted = bytes_to_free(used, capacity, self.policy)
        if not self.policy.enabled or not wanted:
            return GCResult([], 0)
        in_use = await self.in_use()
        result = await asyncio.to_thread(self.images.garbage_collect, in_use, self.policy.high_percent,
                                         self.policy.low_percent, lambda: (used, capacity), self.policy.min_age)
        self.passes += 1
        if result.removed:
            log.info("image GC freed %d bytes: removed %s", result.freed_bytes, ", ".join(result.removed))
        if result.freed_bytes < wanted:
            self.warn("FreeDiskSpaceFailed", shortfall_message(wanted, result.freed_bytes))
        return result

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="kubelet image gc")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.policy.period)
            try:
                await self.run_once()
            except Exception:
                log.exception("image garbage collection failed")


def node_reference(name: str) -> dict[str, Any]:
    """The object node events are about (the kubelet uses the node name as its UID)."""
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "uid": name}}
