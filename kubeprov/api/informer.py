"""Shared informers: list + watch one resource into an indexed local store and tell handlers.

An :class:`Informer` lists the resource once (handlers get an add per object), then watches from
the list's resourceVersion with bookmarks. A stream the server ends (timeout, restart) is
re-opened from the last resourceVersion seen, so nothing is missed; a 410 Expired means the
server no longer has the events since then, so the informer lists again and emits the
differences against its store (adds, updates, deletes). Errors back off exponentially.

Handlers are synchronous and should only enqueue work. Objects in the store are shared with
every handler and must not be modified; the informer itself never changes a stored dict (an
update replaces it).

:class:`SharedInformerFactory` hands out one informer per resource and selector set, so the
controllers of one process share a single watch and a single cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubeprov.api.cache import ADDED, DELETED, MODIFIED, IndexFunc, Store, key_of, namespace_index, object_key
from kubeprov.api.client import ApiClient, ApiConnectionError
from kubeprov.api.status import StatusError

Obj = dict[str, Any]
log = logging.getLogger("kubeprov.api.informer")

__all__ = ["Informer", "SharedInformerFactory", "namespace_index"]

BACKOFF_INITIAL = 0.2
BACKOFF_MAX = 30.0
# watches are re-opened after a randomised 5-10 minutes, as client-go does, to spread load
WATCH_TIMEOUT_RANGE = (300, 600)


@dataclass
class _Handler:
    on_add: Callable[[Obj], None] | None
    on_update: Callable[[Obj, Obj], None] | None
    on_delete: Callable[[Obj], None] | None


class _Backoff:
    def __init__(self, initial: float = BACKOFF_INITIAL, maximum: float = BACKOFF_MAX) -> None:
        self.initial, self.maximum = initial, maximum
        self.current = initial

    def next(self) -> float:
        delay = self.current * random.uniform(0.8, 1.2)
        self.current = min(self.current * 2, self.maximum)
        return delay

    def reset(self) -> None:
        self.current = self.initial


class Informer:
    """List + watch one resource (optionally one namespace / selectors); keeps an indexed local store,
    calls handlers. See the module docstring."""

    def __init__(
        self,
        client: ApiClient,
        api_version: str,
        resource: str,
        *,
        namespace: str = "",
        label_selector: str = "",
        field_selector: str = "",
        resync_period: float = 0.0,
        indexers: dict[str, IndexFunc] | None = None,
        watch_timeout_seconds: int | None = None,
    ) -> None:
        self.client = client
        self.api_version = api_version
        self.resource = resource
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.resync_period = resync_period
        # None: a random 5-10 minutes per watch
        self.watch_timeout_seconds = watch_timeout_seconds
        self.store = Store(indexers)
        self._handlers: list[_Handler] = []
        self._synced = asyncio.Event()
        self._listed = False
        self._resource_version = ""
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    def __repr__(self) -> str:
        where = f" in {self.namespace}" if self.namespace else ""
        return f"<Informer {self.api_version} {self.resource}{where}>"

    # ---- handlers and store ----------------------------------------------------------------

    def add_handler(
        self,
        on_add: Callable[[Obj], None] | None = None,
        on_update: Callable[[Obj, Obj], None] | None = None,
        on_delete: Callable[[Obj], None] | None = None,
    ) -> None:
        """Register callbacks; once the store has been filled, ``on_add`` is called at once for
        every object already in it."""
        handler = _Handler(on_add, on_update, on_delete)
        self._handlers.append(handler)
        if self._listed and on_add is not None:
            for obj in self.store.list():
                self._call(on_add, obj)

    def add_indexers(self, indexers: dict[str, IndexFunc]) -> None:
        self.store.add_indexers(indexers)

    def get(self, namespace: str, name: str) -> Obj | None:
        return self.store.get(object_key(namespace, name))

    def list(self, namespace: str | None = None) -> list[Obj]:
        return self.store.list(namespace)

    def by_index(self, index: str, value: str) -> list[Obj]:
        return self.store.by_index(index, value)

    @property
    def has_synced(self) -> bool:
        return self._synced.is_set()

    @property
    def resource_version(self) -> str:
        """The last resourceVersion seen (list, event or bookmark)."""
        return self._resource_version

    def _call(self, func: Callable[..., None], *args: Obj) -> None:
        try:
            func(*args)
        except Exception:
            log.exception("%r: a handler failed", self)

    def _dispatch(self, kind: str, old: Obj | None, new: Obj | None) -> None:
        for handler in list(self._handlers):
            if kind == ADDED and handler.on_add is not None and new is not None:
                self._call(handler.on_add, new)
            elif kind == MODIFIED and handler.on_update is not None and old is not None and new is not None:
                self._call(handler.on_update, old, new)
            elif kind == DELETED and handler.on_delete is not None and old is not None:
                self._call(handler.on_delete, old)

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the background list/watch (and resync) tasks; returns at once.

        After :meth:`stop`, starting again keeps the store and resumes watching from the last
        resourceVersion (a 410 then brings a relist with the differences)."""
        if self._tasks:
            return
        self._stopping = False
        self._tasks.append(asyncio.create_task(self._run(), name=f"informer {self.resource}"))
        if self.resync_period > 0:
            self._tasks.append(asyncio.create_task(self._resync_loop(), name=f"resync {self.resource}"))

    async def wait_synced(self, timeout: float | None = None) -> bool:
        """Wait until the initial list is in the store and handled; False on timeout."""
        try:
            async with asyncio.timeout(timeout):
                await self._synced.wait()
        except TimeoutError:
            return False
        return True

    async def stop(self) -> None:
        self._stopping = True
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # ---- list and watch --------------------------------------------------------------------

    async def _run(self) -> None:
        backoff = _Backoff()
        # an informer started again after stop() resumes watching from where it was
        need_list = not self._listed
        while not self._stopping:
            try:
                if need_list:
                    await self._relist()
                    need_list = False
                    backoff.reset()
                began = asyncio.get_running_loop().time()
                delivered = await self._watch_once()
                if delivered or asyncio.get_running_loop().time() - began >= 1.0:
                    backoff.reset()
                    continue
                # a stream that ends at once without events: do not spin
            except StatusError as exc:
                if exc.code == 410:
                    log.info("%r: resourceVersion %s expired; listing again", self, self._resource_version)
                    need_list = True
                    backoff.reset()
                    continue
                log.warning("%r: %s (%s)", self, exc.message, exc.code)
            except (ApiConnectionError, OSError) as exc:
                log.warning("%r: %s", self, exc)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%r: unexpected failure", self)
            await asyncio.sleep(backoff.next())

    async def _relist(self) -> None:
        items, rv = await self.client.list_all(self.api_version, self.resource, self.namespace,
                                               label_selector=self.label_selector,
                                               field_selector=self.field_selector)
        self.apply_list(items, rv)

    def apply_list(self, items: list[Obj], resource_version: str) -> None:
        """Make the store hold exactly ``items`` and emit the differences to the handlers."""
        for kind, old, new in self.store.replace(items):
            self._dispatch(kind, old, new)
        self._resource_version = resource_version
        self._listed = True
        self._synced.set()

    def apply_event(self, kind: str, obj: Obj) -> None:
        """Apply one watch event to the store and tell the handlers."""
        rv = (obj.get("metadata") or {}).get("resourceVersion") or ""
        if kind in (ADDED, MODIFIED):
            old = self.store.upsert(obj)
            if old is None:
                self._dispatch(ADDED, None, obj)
            else:
                self._dispatch(MODIFIED, old, obj)
        elif kind == DELETED:
            old = self.store.delete(key_of(obj))
            if old is not None:
                self._dispatch(DELETED, obj, None)
        elif kind != "BOOKMARK":
            log.warning("%r: unknown watch event type %r", self, kind)
            return
        if rv:
            self._resource_version = rv

    async def _watch_once(self) -> bool:
        """Watch until the stream ends; True if it delivered any event."""
        timeout = self.watch_timeout_seconds
        if timeout is None:
            timeout = random.randint(*WATCH_TIMEOUT_RANGE)
        got_any = False
        stream = self.client.watch(self.api_version, self.resource, self.namespace,
                                   resource_version=self._resource_version, label_selector=self.label_selector,
                                   field_selector=self.field_selector, allow_bookmarks=True,
                                   timeout_seconds=timeout)
        async with contextlib.aclosing(stream) as events:
            async for kind, obj in events:
                got_any = True
                self.apply_event(kind, obj)
        return got_any

    async def _resync_loop(self) -> None:
        while True:
            await asyncio.sleep(self.resync_period)
            if not self._listed:
                continue
            for obj in self.store.list():
                self._dispatch(MODIFIED, obj, obj)


class SharedInformerFactory:
    """One informer per (api_version, resource, namespace, selectors), shared by controllers."""

    def __init__(self, client: ApiClient, resync_period: float = 0.0) -> None:
        self.client = client
        self.resync_period = resync_period
        self._informers: dict[tuple[str, str, str, str, str], Informer] = {}
        self._started = False

    def informer(self, api_version: str, resource: str, *, namespace: str = "", label_selector: str = "",
                 field_selector: str = "", indexers: dict[str, IndexFunc] | None = None) -> Informer:
        """The shared informer for these arguments (created on first use); ``indexers`` are added to it."""
        key = (api_version, resource, namespace, label_selector, field_selector)
        informer = self._informers.get(key)
        if informer is None:
            informer = self._informers[key] = Informer(
                self.client, api_version, resource, namespace=namespace, label_selector=label_selector,
                field_selector=field_selector, resync_period=self.resync_period, indexers=indexers)
        elif indexers:
            informer.add_indexers(indexers)
        return informer

    @property
    def informers(self) -> list[Informer]:
        return list(self._informers.values())

    async def start(self) -> None:
        """Start every informer created so far (call again to start ones created later)."""
        self._started = True
        for informer in list(self._informers.values()):
            await informer.start()

    async def wait_synced(self, timeout: float | None = None) -> bool:
        """Wait until every informer has synced; False on timeout."""
        try:
            async with asyncio.timeout(timeout):
                for informer in list(self._informers.values()):
                    await informer.wait_synced()
        except TimeoutError:
            return False
        return True

    async def stop(self) -> None:
        for informer in list(self._informers.values()):
            await informer.stop()
        self._started = False
