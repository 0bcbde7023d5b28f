"""The kubelet's image service: ensure an image for a container (policy, secrets, back-off), pull it
into the content store, unpack its snapshots, and garbage-collect unused images."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from kubeprov.kubelet.images.errors import (
    ImagePullBackOffError,
    ImagePullError,
    InvalidImageName,
    NeverPullError,
    PullBackoff,
)
from kubeprov.kubelet.images.hosts import Credentials
from kubeprov.kubelet.images.reference import Reference, ReferenceError, parse
from kubeprov.kubelet.images.registry import MANIFEST_TYPES, RegistryClient
from kubeprov.kubelet.images.store import (
    NEVER,
    GCCandidate,
    ImageRecord,
    ImageStore,
    LayerRecord,
    choose_images_to_free,
    default_pull_policy,
    disk_usage,
    should_pull,
)
from kubeprov.kubelet.images.unpack import LayerError, Snapshotter

PARALLEL_LAYERS = 3


@dataclass
class GCResult:
    removed: list[str]
    freed_bytes: int


@dataclass
class ImageService:
    """One per kubelet: owns the store, the snapshots and the registry client (not the session)."""

    root: Path
    client: RegistryClient
    snapshot_mode: str | None = None
    backoff: PullBackoff = field(default_factory=PullBackoff)

    def __post_init__(self) -> None:
        self.store = ImageStore(Path(self.root) / "content")
        self.snapshots = Snapshotter(Path(self.root), self.snapshot_mode)
        self._pulls: dict[str, asyncio.Future[ImageRecord]] = {}

    def lookup(self, image: str) -> ImageRecord | None:
        try:
            return self.store.get(str(parse(image)))
        except ReferenceError:
            return None

    async def ensure(
        self,
        image: str,
        policy: str | None = None,
        creds: Credentials | None = None,
        backoff_key: str | None = None,
    ) -> ImageRecord:
        """kubelet's EnsureImageExists: honour imagePullPolicy and the per-key pull back-off."""
        try:
            ref = parse(image)
        except ReferenceError as e:
            raise InvalidImageName(image, str(e)) from e
        policy = policy or default_pull_policy(ref)
        present = self.store.get(str(ref))
        if not should_pull(policy, present is not None):
            if present is None:
                assert policy == NEVER
                raise NeverPullError(image)
            self.mark_used(present)
            return present
        key = backoff_key or image
        if self.backoff.in_backoff(key):
            raise ImagePullBackOffError(image)
        try:
            record = await self.pull(ref, creds)
        except ImagePullError:
            self.backoff.failed(key)
            raise
        self.backoff.succeeded(key)
        return record

    async def pull(self, ref: Reference, creds: Credentials | None = None) -> ImageRecord:
        """Pull (deduplicating concurrent pulls of the same name) and unpack; returns the stored record."""
        name = str(ref)
        running = self._pulls.get(name)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[ImageRecord] = asyncio.get_running_loop().create_future()
        self._pulls[name] = future
        try:
            record = await self._pull(ref, creds)
            future.set_result(record)
            return record
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as e:
            future.set_exception(e)
            future.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        finally:
            del self._pulls[name]

    async def _pull(self, ref: Reference, creds: Credentials | None) -> ImageRecord:
        image = str(ref)
        content = self.store.content
        resolved = await self.client.resolve(ref, creds)
        for manifest in filter(None, (resolved.index, resolved.manifest)):
            if not content.has(manifest.digest):
                content.put(manifest.raw, manifest.digest)
        if resolved.manifest.media_type not in MANIFEST_TYPES:
            raise ImagePullError(image, f"unsupported manifest media type {resolved.manifest.media_type!r}")
        body = resolved.manifest.json
        endpoints = [resolved.manifest.endpoint]
        config_digest = body["config"]["digest"]
        if not content.has(config_digest):
            await self.client.fetch_blob(ref, config_digest, content.writer(config_digest), creds, endpoints)
        config = json.loads(content.read(config_digest))
        diff_ids = config.get("rootfs", {}).get("diff_ids", [])
        if len(diff_ids) != len(body["layers"]):
            raise ImagePullError(image, "mismatched image rootfs and manifest layers")
        limit = asyncio.Semaphore(PARALLEL_LAYERS)

        async def fetch(digest: str) -> None:
            async with limit:
                if not content.has(digest):
                    await self.client.fetch_blob(ref, digest, content.writer(digest), creds, endpoints)

        await asyncio.gather(*(fetch(layer["digest"]) for layer in body["layers"]))
        now = time.time()
        previous = self.store.get(image)
        record = ImageRecord(
            name=image,
            digest=resolved.digest,
            media_type=(resolved.index or resolved.manifest).media_type,
            config_digest=config_digest,
            layers=[
                LayerRecord(layer["digest"], layer.get("mediaType", ""), int(layer.get("size", 0)), diff_id)
                for layer, diff_id in zip(body["layers"], diff_ids, strict=True)
            ],
            size=int(body["config"].get("size", 0)) + sum(int(layer.get("size", 0)) for layer in body["layers"]),
            config=config,
            last_used=now,
            first_seen=previous.first_seen if previous else now,
            platform_manifest=resolved.manifest.digest,
        )
        try:
            await asyncio.to_thread(self.snapshots.unpack, record, content)
        except LayerError as e:
            raise ImagePullError(image, f"failed to extract layer: {e}") from e
        self.store.put(record)
        if ref.digest is None:
            pinned = ImageRecord(**{**record.__dict__, "name": str(ref.with_digest(record.digest))})
            self.store.put(pinned)
        return record

    def mark_used(self, image: ImageRecord, when: float | None = None) -> None:
        """Record a use of the image under every name it has (GC ranks images, not names)."""
        for record in self.store.list():
            if record.image_id == image.image_id:
                self.store.touch(record.name, when)

    def lowerdirs(self, image: ImageRecord) -> list[Path]:
        return self.snapshots.lowerdirs(image)

    def garbage_collect(
        self,
        in_use: Iterable[str],
        high_percent: int = 85,
        low_percent: int = 80,
        usage: Callable[[], tuple[int, int]] | None = None,
        min_age: float = 0.0,
    ) -> GCResult:
        """Above ``high_percent`` disk use, delete least recently used images not in ``in_use`` (image
        names as pods spell them) until ``low_percent``; then unreferenced blobs and snapshots."""
        used, capacity = (usage or (lambda: disk_usage(self.store.root)))()
        records = self.store.list()
        in_use_ids = {r.image_id for r in (self.lookup(name) for name in in_use) if r is not None}
        by_id: dict[str, list[ImageRecord]] = {}
        for record in records:
            by_id.setdefault(record.image_id, []).append(record)
        candidates = [
            GCCandidate(
                image_id,
                max(r.size for r in group),
                max(r.last_used for r in group),
                min(r.first_seen for r in group),
            )
            for image_id, group in by_id.items()
        ]
        chosen = choose_images_to_free(
            candidates, in_use_ids, used, capacity, high_percent, low_percent, min_age=min_age
        )
        removed = []
        for candidate in chosen:
            for record in by_id[candidate.key]:
                self.store.remove(record.name)
                removed.append(record.name)
        if chosen:
            self.store.remove_unreferenced_blobs()
            self.snapshots.remove_unused(self.snapshots.chain_ids_in_use(self.store.list()))
        return GCResult(removed, sum(c.size for c in chosen))
