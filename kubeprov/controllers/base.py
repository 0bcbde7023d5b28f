"""The controller base: informers from a shared factory, a rate-limited work queue, N workers.

A controller registers its informers and event handlers in ``__init__``; handlers turn events
into keys (``namespace/name`` or a bare name) with :meth:`Controller.enqueue`. Workers take keys
from the queue and call :meth:`Controller.sync`; an exception requeues the key with the queue's
rate limiter (per-key exponential backoff), success forgets the key's backoff.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Callable, Hashable
from typing import Any

from kubeprov.api.client import ApiClient
from kubeprov.api.informer import Informer, SharedInformerFactory
from kubeprov.api.status import StatusError
from kubeprov.api.workqueue import WorkQueue, default_controller_rate_limiter

Obj = dict[str, Any]
NamespaceFilter = Callable[[str], bool]


def split_key(key: str) -> tuple[str, str]:
    """``ns/name`` -> (ns, name); ``name`` -> ("", name)."""
    namespace, _, name = key.rpartition("/")
    return namespace, name


def meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def key_of(obj: Obj) -> str:
    m = meta(obj)
    return f"{m['namespace']}/{m['name']}" if m.get("namespace") else m.get("name", "")


class ControllerMetrics:
    """Counters exposed on ``/metrics`` by the manager."""

    def __init__(self) -> None:
        self.syncs = 0
        self.errors = 0
        self.sync_seconds = 0.0


class Controller:
    """Subclasses set ``name``, build informers in ``__init__`` and implement :meth:`sync`."""

    name = ""

    @classmethod
    def options(cls, config: Any) -> dict[str, Any] | None:
        """Extra constructor keywords taken from the manager's config (a ``ControllerManagerConfig``);
        ``None`` means the config lacks what this controller needs, so the manager leaves it off."""
        return {}

    # When set: a sync that fails with 409 Conflict (typically our informer has not seen our own last
    # write yet) is tried again after this many seconds instead of with backoff, and is not an error.
    conflict_retry: float | None = None

    def __init__(self, client: ApiClient, factory: SharedInformerFactory, *, workers: int = 1,
                 namespace_filter: NamespaceFilter | None = None, recorder: Any = None) -> None:
        self.client = client
        self.factory = factory
        self.workers = max(1, workers)
        self.namespace_filter = namespace_filter
        self.recorder = recorder
        self.queue = WorkQueue(self.name, default_controller_rate_limiter())
        self.metrics = ControllerMetrics()
        self.log = logging.getLogger(f"kubeprov.controllers.{self.name}")
        self._informers: list[Informer] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._periodic: list[tuple[float, Callable[[], None], bool]] = []
        self.synced = False

    # ---- helpers for subclasses ------------------------------------------------------------

    def informer(self, api_version: str, resource: str, **kwargs: Any) -> Informer:
        """A shared informer this controller needs (waited for before workers start)."""
        informer = self.factory.informer(api_version, resource, **kwargs)
        self._informers.append(informer)
        return informer

    def every(self, period: float, callback: Callable[[], None], *, at_start: bool = False) -> None:
        """Call ``callback`` (typically enqueueing keys) every ``period`` seconds while the workers run:
        the resyncs and housekeeping passes controllers do besides reacting to events."""
        self._periodic.append((period, callback, at_start))

    def wants(self, namespace: str) -> bool:
        """Whether objects of ``namespace`` are this controller's business."""
        return self.namespace_filter is None or self.namespace_filter(namespace)

    def enqueue(self, key: Hashable) -> None:
        self.queue.add(key)

    def event(self, obj: Obj, type_: str, reason: str, message: str) -> None:
        if self.recorder is not None:
            self.recorder.event(obj, type_, reason, message)

    async def write_status(self, obj: Obj, status: Obj, api_version: str, resource: str, *,
                           conflict_retry: float | None = None) -> Obj | None:
        """Write ``status`` to ``obj`` through its status subresource; the written object, or None when
        ``obj`` is gone (nothing left to report on) or, with ``conflict_retry``, when it changed meanwhile:
        its key is then looked at again after that many seconds, on the newer object the informer brings."""
        new = copy.deepcopy(obj)
        new["status"] = status
        try:
            return await self.client.update(api_version, resource, new, subresource="status")
        except StatusError as exc:
            if exc.code == 404:
                return None
            if exc.code == 409 and conflict_retry is not None:
                self.queue.add_after(key_of(obj), conflict_retry)
                return None
            raise

    async def sync(self, key: str) -> None:
        """Bring the world in line for ``key``; raise to have it retried with backoff."""
        raise NotImplementedError

    # ---- lifecycle -------------------------------------------------------------------------

    @property
    def informers(self) -> list[Informer]:
        return list(self._informers)

    async def start(self, sync_timeout: float | None = None) -> None:
        """Wait for this controller's informers to sync, then start the workers (returns at once after)."""
        for informer in self._informers:
            await informer.wait_synced(sync_timeout)
        self.synced = True
        self.log.info("controller %s synced; starting %d workers", self.name, self.workers)
        self._tasks = [asyncio.create_task(self._worker(), name=f"{self.name}-worker-{i}")
                       for i in range(self.workers)]
        self._tasks += [asyncio.create_task(self._tick(period, callback, at_start), name=f"{self.name}-periodic")
                        for period, callback, at_start in self._periodic]

    async def stop(self) -> None:
        self.queue.shut_down()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def _tick(self, period: float, callback: Callable[[], None], at_start: bool) -> None:
        if not at_start:
            await asyncio.sleep(period)
        while True:
            try:
                callback()
            except Exception:
                self.log.exception("controller %s: periodic pass failed", self.name)
            await asyncio.sleep(period)

    async def _worker(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            key = await self.queue.get()
            if key is None:
                return
            started = loop.time()
            try:
                await self.sync(str(key))
            except asyncio.CancelledError:
                self.queue.done(key)
                raise
            except Exception as exc:
                if self.conflict_retry is not None and isinstance(exc, StatusError) and exc.code == 409:
                    self.log.debug("controller %s: sync %s: conflict, retrying: %s", self.name, key, exc)
                    self.queue.forget(key)
                    self.queue.add_after(key, self.conflict_retry)
                else:
                    self.metrics.errors += 1
                    self.log.warning("controller %s: sync %s failed (retry %d): %s", self.name, key,
                                     self.queue.num_requeues(key), exc, exc_info=not _expected(exc))
                    self.queue.add_rate_limited(key)
            else:
                self.queue.forget(key)
            finally:
                self.metrics.syncs += 1
                self.metrics.sync_seconds += loop.time() - started
            self.queue.done(key)


def _expected(exc: Exception) -> bool:
    """API errors and broken connections are logged without a traceback."""
    return isinstance(exc, StatusError | ConnectionError)
