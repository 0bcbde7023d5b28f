"""An event recorder writing ``core/v1`` Events, with client-go's EventRecorder and EventCorrelator behaviour.

``EventRecorder.event`` never blocks and never raises: it builds the Event and puts it on a
bounded queue (events are dropped with a log line when the queue is full). A background task
correlates and writes them one at a time:

- **Aggregation**: when one object gets 10 or more events of the same type and reason with
  distinct messages, each less than 10 minutes after the previous one, further ones are
  folded into a single event whose message is ``(combined from similar events): <message>``.
- **Deduplication**: an event identical to one written less than 10 minutes before (same
  involved object, type, reason, message and source) is not created again; the existing Event
  is patched with the incremented ``count``, the new ``lastTimestamp`` and the message. If that
  Event is gone (404), it is created again.
- **Spam filter**: each source + involved object has a token bucket (burst 25, one token per
  5 minutes); events beyond it are dropped.

Writes that the API server rejects (a ``StatusError``) are logged and dropped; transport
failures are retried (12 tries, 10 s apart) unless the recorder is stopping.
Events are named ``<object name>.<nanosecond timestamp in hex>`` and placed in the object's
namespace (``default`` for cluster-scoped objects).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kubeprov.api.status import StatusError

__all__ = ["EVENT_TYPES", "EventRecorder"]

log = logging.getLogger(__name__)

EVENT_TYPES = ("Normal", "Warning")

MAX_QUEUED_EVENTS = 1000
MAX_LRU_CACHE_ENTRIES = 4096
MAX_TRIES_PER_EVENT = 12
RETRY_INTERVAL = 10.0
# The correlation window: dedup and aggregation only join events closer together than this.
MAX_INTERVAL_SECONDS = 600
AGGREGATE_MAX_EVENTS = 10
AGGREGATE_PREFIX = "(combined from similar events): "
SPAM_BURST = 25
SPAM_QPS = 1.0 / 300.0

_NS = 1_000_000_000


def format_time(nanos: int) -> str:
    """``metav1.Time`` wire form: RFC 3339 in UTC, whole seconds."""
    return datetime.fromtimestamp(nanos // _NS, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Observation:
    count: int
    first_timestamp: str
    name: str
    resource_version: str
    last_seen: int  # nanoseconds


@dataclass
class _AggregateRecord:
    messages: set[str] = field(default_factory=set)
    last_seen: int = 0


@dataclass
class _Bucket:
    tokens: float
    last: int


class _LRU(OrderedDict):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def get_fresh(self, key: Any) -> Any:
        value = self.get(key)
        if value is not None:
            self.move_to_end(key)
        return value

    def put(self, key: Any, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)


def _source_object_key(event: dict[str, Any]) -> tuple[str, ...]:
    source = event.get("source") or {}
    ref = event["involvedObject"]
    return (
        source.get("component", ""),
        source.get("host", ""),
        ref.get("kind", ""),
        ref.get("namespace", ""),
        ref.get("name", ""),
        ref.get("uid", ""),
        ref.get("apiVersion", ""),
    )


def _aggregate_key(event: dict[str, Any]) -> tuple[str, ...]:
    return (
        *_source_object_key(event),
        event.get("type", ""),
        event.get("reason", ""),
        event.get("reportingComponent", ""),
        event.get("reportingInstance", ""),
    )


def _event_key(event: dict[str, Any]) -> tuple[str, ...]:
    return (*_aggregate_key(event), event["involvedObject"].get("fieldPath", ""), event.get("message", ""))


class _Correlator:
    """Aggregation, deduplication and spam filtering of events before they are written."""

    def __init__(self, window_seconds: float) -> None:
        self.window = int(window_seconds * _NS)
        self._aggregates: _LRU = _LRU(MAX_LRU_CACHE_ENTRIES)
        self._observations: _LRU = _LRU(MAX_LRU_CACHE_ENTRIES)
        self._buckets: _LRU = _LRU(MAX_LRU_CACHE_ENTRIES)

    def correlate(
        self, event: dict[str, Any], now: int
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None, tuple[str, ...]]:
        """``(event to write or None to skip it, patch when it updates an existing Event, cache key)``."""
        event, key = self._aggregate(event, now)
        event, patch = self._observe(event, key, now)
        if self._spam(event, now):
            return None, None, key
        return event, patch, key

    def _aggregate(self, event: dict[str, Any], now: int) -> tuple[dict[str, Any], tuple[str, ...]]:
        akey = _aggregate_key(event)
        record = self._aggregates.get_fresh(akey)
        if record is None or now - record.last_seen > self.window:
            record = _AggregateRecord()
        record.messages.add(event.get("message", ""))
        record.last_seen = now
        self._aggregates.put(akey, record)
        if len(record.messages) < AGGREGATE_MAX_EVENTS:
            return event, _event_key(event)
        record.messages.pop()  # keep the set from growing past the threshold
        timestamp = format_time(now)
        combined = {
            **event,
            "metadata": {
                "name": f"{event['involvedObject'].get('name', '')}.{now:x}",
                "namespace": event["metadata"]["namespace"],
            },
            "message": AGGREGATE_PREFIX + event.get("message", ""),
            "count": 1,
            "firstTimestamp": timestamp,
            "lastTimestamp": timestamp,
        }
        return combined, akey

    def _observe(
        self, event: dict[str, Any], key: tuple[str, ...], now: int
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        last = self._observations.get_fresh(key)
        patch = None
        if last is not None and last.count > 0 and now - last.last_seen <= self.window:
            event = {
                **event,
                "metadata": {**event["metadata"], "name": last.name, "resourceVersion": last.resource_version},
                "firstTimestamp": last.first_timestamp,
                "count": last.count + 1,
            }
            patch = {"count": event["count"], "lastTimestamp": event["lastTimestamp"], "message": event["message"]}
        self._observations.put(
            key,
            _Observation(
                count=event["count"],
                first_timestamp=event["firstTimestamp"],
                name=event["metadata"]["name"],
                resource_version=event["metadata"].get("resourceVersion", ""),
                last_seen=now,
            ),
        )
        return event, patch

    def update_state(self, written: dict[str, Any], key: tuple[str, ...], now: int) -> None:
        """Remember what the server stored (name, resourceVersion, count) for the next duplicate."""
        meta = written.get("metadata") or {}
        self._observations.put(
            key,
            _Observation(
                count=int(written.get("count") or 1),
                first_timestamp=str(written.get("firstTimestamp") or ""),
                name=str(meta.get("name", "")),
                resource_version=str(meta.get("resourceVersion", "")),
                last_seen=now,
            ),
        )

    def _spam(self, event: dict[str, Any], now: int) -> bool:
        key = _source_object_key(event)
        bucket = self._buckets.get_fresh(key)
        if bucket is None:
            bucket = _Bucket(tokens=float(SPAM_BURST), last=now)
        bucket.tokens = min(float(SPAM_BURST), bucket.tokens + (now - bucket.last) / _NS * SPAM_QPS)
        bucket.last = now
        self._buckets.put(key, bucket)
        if bucket.tokens < 1.0:
            return True
        bucket.tokens -= 1.0
        return False


class EventRecorder:
    """Records Events about objects on behalf of ``component`` running on ``host``."""

    def __init__(
        self,
        client: Any,
        component: str,
        host: str = "",
        *,
        max_queued: int = MAX_QUEUED_EVENTS,
        retry_interval: float = RETRY_INTERVAL,
        max_tries: int = MAX_TRIES_PER_EVENT,
        window_seconds: float = MAX_INTERVAL_SECONDS,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.client = client
        self.component = component
        self.host = host
        self.retry_interval = retry_interval
        self.max_tries = max_tries
        self.clock = clock
        self._queue: asyncio.Queue[tuple[dict[str, Any], int]] = asyncio.Queue(max_queued)
        self._correlator = _Correlator(window_seconds)
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._stopped = False
        self._last_nanos = 0
        self.dropped = 0

    # -- producing ---------------------------------------------------------------------------

    def event(self, obj: dict[str, Any], type: str, reason: str, message: str) -> None:
        """Queue an event about ``obj``; never blocks or raises (problems are logged)."""
        try:
            self._enqueue(obj, type, reason, message)
        except Exception:
            log.exception("could not record event %s/%s", type, reason)

    def _enqueue(self, obj: dict[str, Any], type_: str, reason: str, message: str) -> None:
        if self._stopped:
            log.debug("event recorder stopped; dropping event %s: %s", reason, message)
            return
        if type_ not in EVENT_TYPES:
            log.error("unsupported event type: %r", type_)
            return
        ref = self._reference(obj)
        if ref is None:
            return
        nanos = self.clock()
        if nanos <= self._last_nanos:  # keep names unique within this recorder
            nanos = self._last_nanos + 1
        self._last_nanos = nanos
        timestamp = format_time(nanos)
        source = {"component": self.component}
        if self.host:
            source["host"] = self.host
        event: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{ref['name']}.{nanos:x}", "namespace": ref.get("namespace") or "default"},
            "involvedObject": ref,
            "reason": reason,
            "message": message,
            "source": source,
            "firstTimestamp": timestamp,
            "lastTimestamp": timestamp,
            "count": 1,
            "type": type_,
            "eventTime": None,
            "reportingComponent": self.component,
        }
        if self.host:
            event["reportingInstance"] = self.host
        try:
            self._queue.put_nowait((event, nanos))
        except asyncio.QueueFull:
            self.dropped += 1
            log.warning("event queue full; dropping event %s %s: %s", ref["name"], reason, message)

    @staticmethod
    def _reference(obj: dict[str, Any]) -> dict[str, str] | None:
        meta = obj.get("metadata") or {}
        kind = obj.get("kind") or ""
        name = meta.get("name") or ""
        if not kind or not name:
            log.error("could not construct reference to object without kind and name: %r", obj)
            return None
        ref = {
            "kind": kind,
            "namespace": meta.get("namespace") or "",
            "name": name,
            "uid": meta.get("uid") or "",
            "apiVersion": obj.get("apiVersion") or "",
            "resourceVersion": meta.get("resourceVersion") or "",
        }
        return {k: str(v) for k, v in ref.items() if v}

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the background writer."""
        if self._task is None:
            self._stopped = False
            self._stopping.clear()
            self._task = asyncio.create_task(self._run(), name=f"events:{self.component}")

    async def stop(self, timeout: float = 5.0) -> None:
        """Write what is queued (giving up after ``timeout`` seconds), then stop; later events are dropped."""
        self._stopped = True
        if self._task is None:
            await self.start()
            self._stopped = True
        self._stopping.set()
        try:
            await asyncio.wait_for(self._queue.join(), timeout)
        except TimeoutError:
            log.warning("event recorder stopped with %d events unwritten", self._queue.qsize())
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    # -- writing -----------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            event, nanos = await self._queue.get()
            try:
                await self._record(event, nanos)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("unexpected failure writing event")
            finally:
                self._queue.task_done()

    async def _record(self, event: dict[str, Any], nanos: int) -> None:
        correlated, patch, key = self._correlator.correlate(event, nanos)
        if correlated is None:
            log.debug("event skipped by the spam filter")
            return
        event = correlated
        for tries in range(1, self.max_tries + 1):
            if await self._write(event, patch, key, nanos):
                return
            if tries >= self.max_tries or self._stopping.is_set():
                break
            delay = self.retry_interval * (random.random() if tries == 1 else 1.0)
            try:
                await asyncio.wait_for(self._stopping.wait(), delay)
            except TimeoutError:
                pass
        log.error("unable to write event %s/%s (giving up)", event["metadata"]["namespace"], event["metadata"]["name"])

    async def _write(
        self, event: dict[str, Any], patch: dict[str, Any] | None, key: tuple[str, ...], nanos: int
    ) -> bool:
        """True when done with the event (written, or rejected for good); False to retry."""
        namespace = event["metadata"]["namespace"]
        try:
            written = None
            if patch is not None:
                try:
                    written = await self.client.patch(
                        "v1", "events", event["metadata"]["name"], patch, namespace, patch_type="merge"
                    )
                except StatusError as exc:
                    if exc.code != 404:
                        raise
            if written is None:
                body = {**event, "metadata": {k: v for k, v in event["metadata"].items() if k != "resourceVersion"}}
                written = await self.client.create("v1", "events", body, namespace)
        except StatusError as exc:
            if exc.code == 409 and exc.reason == "AlreadyExists":
                log.debug("event %s already exists: %s", event["metadata"]["name"], exc)
            else:
                log.error("server rejected event %s/%s: %s (will not retry)", namespace, event["metadata"]["name"], exc)
            return True
        except Exception as exc:
            log.error("unable to write event %s/%s: %s (may retry)", namespace, event["metadata"]["name"], exc)
            return False
        if isinstance(written, dict):
            self._correlator.update_state(written, key, nanos)
        return True
