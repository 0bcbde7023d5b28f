"""The watch cache: one etcd watch over the whole registry feeds every client watch.

Thousands of ``kubectl get -w`` or informer watches cost one etcd watch stream. A single stream
(rather than one per resource) gives one position, ``revision``, that every resourceVersion a
client holds can be compared with: a watch from revision N waits until the stream has passed N,
replays the buffered events after N, or answers 410 Gone when N is older than the buffer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubeprov.aio import cancel_and_wait
from kubeprov.apiserver.storage.codec import Codec
from kubeprov.apiserver.storage.keys import REGISTRY, parse_key
from kubeprov.etcd import EtcdClient, EtcdError, WatchCompacted, WatchEvent, prefix_range_end

Obj = dict[str, Any]
log = logging.getLogger("kubeprov.apiserver.watchcache")

ADDED, MODIFIED, DELETED, BOOKMARK = "ADDED", "MODIFIED", "DELETED", "BOOKMARK"
LOAD_CHUNK = 1000


class TooOld(Exception):
    """The requested revision is older than the buffered events; the client must re-list."""

    def __init__(self, requested: int, oldest: int) -> None:
        super().__init__(f"too old resource version: {requested} ({oldest})")
        self.requested = requested
        self.oldest = oldest


@dataclass(eq=False)
class CacheEvent:
    type: str
    key: str
    obj: Obj
    prev: Obj | None
    revision: int
    # encodings shared by every watcher that sends this event unchanged
    encoded: dict[Any, bytes] = field(default_factory=dict)


class Watcher:
    """One client watch: a bounded queue of (type, object) filtered by the client's selectors."""

    def __init__(self, matches: Callable[[Obj], bool], capacity: int) -> None:
        self.matches = matches
        self.queue: asyncio.Queue[CacheEvent | tuple[str, Obj] | None] = asyncio.Queue(maxsize=capacity)
        self.closed_reason = ""
        self._owner: ResourceCache | None = None

    def offer(self, event: CacheEvent) -> None:
        """Translate a store event into what this client sees, as Kubernetes does for selectors:
        an object that stops matching is DELETED for it, one that starts matching is ADDED."""
        now = event.type != DELETED and self.matches(event.obj)
        before = event.prev is not None and self.matches(event.prev)
        if event.type == DELETED:
            item: CacheEvent | tuple[str, Obj] | None = event if before else None
        elif now and before:
            item = event if event.type == MODIFIED else (MODIFIED, event.obj)
        elif now:
            item = event if event.type == ADDED else (ADDED, event.obj)
        elif before:
            item = (DELETED, event.obj)
        else:
            item = None
        if item is None:
            return
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.close("the watch fell too far behind")

    def close(self, reason: str = "") -> None:
        if self._owner is not None:
            self._owner.watchers.discard(self)
            self._owner = None
        self.closed_reason = self.closed_reason or reason
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(None)


class ResourceCache:
    """Current objects and recent events of one resource (all versions share it)."""

    def __init__(self, since: int, capacity: int) -> None:
        self.objects: dict[str, Obj] = {}
        self.events: deque[CacheEvent] = deque()
        self.capacity = capacity
        # the buffer holds every event with a revision greater than this
        self.since = since
        self.watchers: set[Watcher] = set()

    def snapshot(self, prefix: str = "") -> list[Obj]:
        if not prefix:
            return [self.objects[k] for k in sorted(self.objects)]
        return [self.objects[k] for k in sorted(self.objects) if k.startswith(prefix)]

    def events_after(self, revision: int) -> list[CacheEvent]:
        if revision < self.since:
            raise TooOld(revision, self.since + 1)
        return [e for e in self.events if e.revision > revision]

    def record(self, event: CacheEvent) -> None:
        if event.type == DELETED:
            self.objects.pop(event.key, None)
        else:
            self.objects[event.key] = event.obj
        self.events.append(event)
        while len(self.events) > self.capacity:
            self.since = self.events.popleft().revision
        for watcher in list(self.watchers):
            watcher.offer(event)


class WatchCache:
    """Holds every object in memory, fed by one etcd watch on ``/registry/``."""

    def __init__(self, client: EtcdClient, codec: Codec, *, capacity: int = 10_000, watcher_capacity: int = 10_000):
        self.client = client
        self.codec = codec
        self.capacity = capacity
        self.watcher_capacity = watcher_capacity
        self.revision = 0
        self.start_revision = 0
        self._caches: dict[tuple[str, str], ResourceCache] = {}
        self._task: asyncio.Task[None] | None = None
        self._advanced = asyncio.Condition()
        self.ready = asyncio.Event()
        self.healthy = False
        self.undecodable = 0

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        await self._load()
        self._task = asyncio.create_task(self._run(), name="watch-cache")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        for cache in self._caches.values():
            for watcher in list(cache.watchers):
                watcher.close("the API server is shutting down")

    async def _load(self) -> None:
        """Read the whole registry at one revision; the watch then continues from the next one."""
        caches: dict[tuple[str, str], ResourceCache] = {}
        end = prefix_range_end(REGISTRY.encode())
        key = REGISTRY.encode()
        revision = 0
        while True:
            res = await self.client.range(key, end, limit=LOAD_CHUNK, revision=revision)
            revision = revision or res.header_revision
            for kv in res.kvs:
                text = kv.key.decode()
                where = parse_key(text)
                if where is None:
                    continue
                cache = caches.setdefault((where.group, where.resource), ResourceCache(revision, self.capacity))
                obj = self._decode(text, kv.value, kv.mod_revision)
                if obj is not None:
                    cache.objects[text] = obj
            if not res.more or not res.kvs:
                break
            key = res.kvs[-1].key + b"\x00"
        for old in self._caches.values():
            for watcher in list(old.watchers):
                watcher.close("the watch cache was reloaded")
        self._caches = caches
        self.revision = self.start_revision = revision
        self.ready.set()
        self.healthy = True

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            try:
                watch = self.client.watch(REGISTRY, prefix=True, start_revision=self.revision + 1, prev_kv=True)
                async with watch:
                    self.healthy = True
                    backoff = 0.1
                    async for response in watch:
                        for event in response.events:
                            self._apply(event)
                        if response.events:
                            await self._advance(response.events[-1].kv.mod_revision)
            except asyncio.CancelledError:
                raise
            except WatchCompacted:
                log.warning("etcd compacted past the watch cache; reloading")
                await self._reload_later()
            except (EtcdError, OSError) as exc:
                self.healthy = False
                log.warning("etcd watch broke (%s); retrying in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _reload_later(self) -> None:
        while True:
            try:
                await self._load()
                return
            except (EtcdError, OSError) as exc:
                self.healthy = False
                log.warning("watch cache reload failed (%s)", exc)
                await asyncio.sleep(1.0)

    def _apply(self, event: WatchEvent) -> None:
        text = event.kv.key.decode()
        where = parse_key(text)
        if where is None:
            return
        cache = self.resource(where.group, where.resource)
        revision = event.kv.mod_revision
        prev = cache.objects.get(text)
        if event.type == "DELETE":
            if prev is None and event.prev_kv is not None:
                prev = self._decode(text, event.prev_kv.value, event.prev_kv.mod_revision)
            if prev is None:
                return
            gone = {**prev, "metadata": {**prev.get("metadata", {}), "resourceVersion": str(revision)}}
            cache.record(CacheEvent(DELETED, text, gone, prev, revision))
            return
        obj = self._decode(text, event.kv.value, revision)
        if obj is None:
            if prev is not None:  # it can no longer be read: clients must not keep the old version
                cache.record(CacheEvent(DELETED, text, prev, prev, revision))
            return
        cache.record(CacheEvent(MODIFIED if prev is not None else ADDED, text, obj, prev, revision))

    def _decode(self, key: str, value: bytes, revision: int) -> Obj | None:
        """One unreadable object (e.g. encrypted with a key this server lacks) must not stop the cache:
        it is left out and counted, and reading it directly fails with a clear error instead."""
        try:
            return self.codec.decode(key, value, revision)
        except Exception as exc:
            self.undecodable += 1
            log.error("cannot decode %s at revision %d: %s", key, revision, exc)
            return None

    async def _advance(self, revision: int) -> None:
        if revision > self.revision:
            self.revision = revision
            async with self._advanced:
                self._advanced.notify_all()

    # ---- reads -----------------------------------------------------------------------------

    def resource(self, group: str, resource: str) -> ResourceCache:
        cache = self._caches.get((group, resource))
        if cache is None:
            # no object of it existed at load time: the buffer is complete since then
            cache = self._caches[(group, resource)] = ResourceCache(self.start_revision, self.capacity)
        return cache

    async def wait_for(self, revision: int, timeout: float) -> bool:
        """Wait until the stream has delivered ``revision``; False on timeout."""
        if self.revision >= revision:
            return True
        try:
            async with asyncio.timeout(timeout):
                async with self._advanced:
                    await self._advanced.wait_for(lambda: self.revision >= revision)
            return True
        except TimeoutError:
            return self.revision >= revision

    def watch(
        self,
        group: str,
        resource: str,
        key_prefix: str,
        matches: Callable[[Obj], bool],
        *,
        from_revision: int | None,
    ) -> tuple[Watcher, list[CacheEvent | tuple[str, Obj]]]:
        """Register a watcher and return what it must send first, atomically (no await between).

        ``from_revision`` None means "current state, then changes": every existing object that
        matches comes as a synthetic ADDED. Otherwise the buffered events after that revision.
        """
        cache = self.resource(group, resource)
        initial: list[CacheEvent | tuple[str, Obj]]
        if from_revision is None:
            initial = [(ADDED, obj) for obj in cache.snapshot(key_prefix) if matches(obj)]
        else:
            pending = [e for e in cache.events_after(from_revision) if e.key.startswith(key_prefix)]
            initial = []
            probe = Watcher(matches, len(pending) + 1)
            for event in pending:
                probe.offer(event)
            while not probe.queue.empty():
                item = probe.queue.get_nowait()
                if item is not None:
                    initial.append(item)
        watcher = _PrefixWatcher(matches, self.watcher_capacity, key_prefix)
        watcher._owner = cache
        cache.watchers.add(watcher)
        return watcher, initial


class _PrefixWatcher(Watcher):
    """A watcher limited to one namespace or one object (a key prefix)."""

    def __init__(self, matches: Callable[[Obj], bool], capacity: int, key_prefix: str) -> None:
        super().__init__(matches, capacity)
        self.key_prefix = key_prefix

    def offer(self, event: CacheEvent) -> None:
        if event.key.startswith(self.key_prefix):
            super().offer(event)
