"""The scheduling queue: pending pods waiting for a scheduling cycle, as kube-scheduler's PriorityQueue.

Three places a pending pod can be:

- the **active queue**, ordered by pod priority (highest first), then by when the pod was queued;
- the **backoff queue**: pods that failed recently wait there ``1 s * 2^(attempts-1)`` (at most 10 s)
  before they go back to the active queue;
- the **unschedulable set**: pods that did not fit. They stay there until the cluster changes in a way
  that may let them fit (a node added or changed, a pod deleted: :meth:`move_all_to_active`), and go
  then to the backoff queue if their backoff has not expired yet, else straight to the active queue. Pods
  left there longer than ``max_unschedulable_seconds`` (5 minutes) are flushed back as well.

A cluster change that happens while a pod is being scheduled (between :meth:`pop` and
:meth:`add_unschedulable`) sends that pod to the backoff queue instead of the unschedulable set, so the
event is not lost. Items are pod keys (``namespace/name``); the caller reads the pod itself from its cache.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

INITIAL_BACKOFF = 1.0
MAX_BACKOFF = 10.0
MAX_UNSCHEDULABLE_SECONDS = 300.0
FLUSH_INTERVAL = 1.0


@dataclass
class QueuedPodInfo:
    """What the queue knows about one pending pod."""

    key: str
    priority: int
    timestamp: float  # when it was last queued (orders equal priorities)
    initial_attempt: float  # when it was first queued (end-to-end latency starts here)
    attempts: int = 0
    unschedulable_since: float = 0.0
    backoff_until: float = 0.0
    cycle: int = 0  # the scheduling cycle that popped it last
    rejected_by: frozenset[str] = field(default_factory=frozenset)  # plugins that failed it last time


class SchedulingQueue:
    """Active queue, backoff queue and unschedulable set; see the module docstring."""

    def __init__(
        self,
        *,
        initial_backoff: float = INITIAL_BACKOFF,
        max_backoff: float = MAX_BACKOFF,
        max_unschedulable_seconds: float = MAX_UNSCHEDULABLE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.max_unschedulable_seconds = max_unschedulable_seconds
        self.clock = clock
        self._infos: dict[str, QueuedPodInfo] = {}  # every pod the queue knows, in flight included
        self._active: list[tuple[int, float, int, str]] = []  # (-priority, timestamp, seq, key), may be stale
        self._active_keys: set[str] = set()
        self._backoff: dict[str, float] = {}  # key -> ready time
        self._unschedulable: set[str] = set()
        self._in_flight: set[str] = set()
        # in-flight pods that changed, or saw the cluster change, while being scheduled: the plugins the
        # changes may help (None: any plugin)
        self._moved_in_flight: dict[str, frozenset[str] | None] = {}
        self._seq = itertools.count()
        self._cycle = 0
        self._wakeup = asyncio.Event()
        self._closed = False

    # -- sizes -------------------------------------------------------------------------------

    @property
    def scheduling_cycle(self) -> int:
        return self._cycle

    def pending(self) -> dict[str, int]:
        """How many pods wait in each place (``active``, ``backoff``, ``unschedulable``)."""
        return {"active": len(self._active_keys), "backoff": len(self._backoff),
                "unschedulable": len(self._unschedulable)}

    def __len__(self) -> int:
        return len(self._active_keys) + len(self._backoff) + len(self._unschedulable)

    def __contains__(self, key: object) -> bool:
        return key in self._infos

    def info(self, key: str) -> QueuedPodInfo | None:
        return self._infos.get(key)

    # -- adding and removing -----------------------------------------------------------------

    def add(self, key: str, priority: int = 0) -> None:
        """A pending pod was added or changed.

        A new pod goes to the active queue. A pod waiting as unschedulable or in backoff is moved as on a
        cluster change (its update may make it fit); one already queued keeps its place; one in flight is
        marked so that a failure sends it to the backoff queue rather than the unschedulable set.
        """
        if self._closed:
            return
        info = self._infos.get(key)
        now = self.clock()
        if info is None:
            self._infos[key] = QueuedPodInfo(key, priority, now, now)
            self._push_active(key)
            return
        if info.priority != priority and key in self._active_keys:
            info.priority = priority
            self._push_active(key)  # re-sort; the old heap entry goes stale
        info.priority = priority
        if key in self._in_flight:
            self._moved_in_flight[key] = None
        elif key in self._unschedulable:
            self._unschedulable.discard(key)
            self._requeue(info, now)

    def delete(self, key: str) -> None:
        """The pod is gone, bound, or no longer ours: forget it everywhere."""
        self._infos.pop(key, None)
        self._active_keys.discard(key)
        self._backoff.pop(key, None)
        self._unschedulable.discard(key)
        self._moved_in_flight.pop(key, None)
        # an in-flight key stays in _in_flight until done(); its info is gone so it is not requeued

    def move_all_to_active(self, plugins: frozenset[str] | set[str] | None = None) -> None:
        """The cluster changed: unschedulable pods are retried (after their backoff, if any remains).

        With ``plugins``, only pods that some of these plugins rejected are moved (a change that can
        only help those plugins, like a pod bound somewhere helping pod affinity).
        """
        now = self.clock()
        for key in list(self._unschedulable):
            info = self._infos[key]
            if plugins is not None and info.rejected_by and not (info.rejected_by & plugins):
                continue
            self._unschedulable.discard(key)
            self._requeue(info, now)
        for key in self._in_flight:  # the in-flight pods' rejectors are not known yet: remember the change
            if plugins is None:
                self._moved_in_flight[key] = None
            elif key not in self._moved_in_flight:
                self._moved_in_flight[key] = frozenset(plugins)
            elif self._moved_in_flight[key] is not None:
                self._moved_in_flight[key] = self._moved_in_flight[key] | plugins
        self._wakeup.set()

    def _requeue(self, info: QueuedPodInfo, now: float) -> None:
        if info.backoff_until > now:
            self._backoff[info.key] = info.backoff_until
            self._wakeup.set()
        else:
            self._push_active(info.key)

    def _push_active(self, key: str) -> None:
        info = self._infos[key]
        info.timestamp = self.clock()
        self._active_keys.add(key)
        heapq.heappush(self._active, (-info.priority, info.timestamp, next(self._seq), key))
        self._wakeup.set()

    # -- the scheduling loop's side ----------------------------------------------------------

    async def pop(self) -> QueuedPodInfo | None:
        """The next pod to schedule, waiting for one; ``None`` once closed."""
        while True:
            if self._closed:
                return None
            self._flush(self.clock())
            while self._active:
                _, ts, _, key = heapq.heappop(self._active)
                info = self._infos.get(key)
                if info is None or key not in self._active_keys or info.timestamp != ts:
                    continue  # stale entry
                self._active_keys.discard(key)
                self._in_flight.add(key)
                self._moved_in_flight.pop(key, None)
                self._cycle += 1
                info.cycle = self._cycle
                info.attempts += 1
                return info
            self._wakeup.clear()
            timeout = self._next_deadline()
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout)
            except TimeoutError:
                pass

    def _next_deadline(self) -> float | None:
        now = self.clock()
        deadlines = list(self._backoff.values())
        if self._unschedulable:
            deadlines.append(now + FLUSH_INTERVAL)
        if not deadlines:
            return None
        return max(0.0, min(deadlines) - now) + 0.001

    def _flush(self, now: float) -> None:
        """Backoff pods whose time has come, and pods unschedulable for too long, go to the active queue."""
        for key, ready in list(self._backoff.items()):
            if ready <= now:
                del self._backoff[key]
                self._push_active(key)
        for key in list(self._unschedulable):
            info = self._infos[key]
            if now - info.unschedulable_since >= self.max_unschedulable_seconds:
                self._unschedulable.discard(key)
                self._requeue(info, now)

    def backoff_duration(self, attempts: int) -> float:
        """1 s, 2 s, 4 s, 8 s, then 10 s."""
        if attempts <= 0:
            return 0.0
        return min(self.initial_backoff * 2 ** (attempts - 1), self.max_backoff)

    def add_unschedulable(self, info: QueuedPodInfo, rejected_by: frozenset[str] = frozenset()) -> None:
        """The pod did not fit: park it until the cluster changes (or in backoff if it already did).

        ``rejected_by`` names the plugins that failed it (empty: any change retries it).
        """
        info.rejected_by = frozenset(rejected_by)
        self._in_flight.discard(info.key)
        if self._closed or self._infos.get(info.key) is not info:
            return
        now = self.clock()
        info.backoff_until = now + self.backoff_duration(info.attempts)
        missed = self._moved_in_flight.pop(info.key, frozenset())
        moved = missed is None or bool(missed & info.rejected_by) or (bool(missed) and not info.rejected_by)
        if moved:
            self._backoff[info.key] = info.backoff_until
            self._wakeup.set()
        else:
            info.unschedulable_since = now
            self._unschedulable.add(info.key)

    def add_backoff(self, info: QueuedPodInfo) -> None:
        """Scheduling or binding failed for another reason (an API error): retry after the backoff."""
        self._in_flight.discard(info.key)
        self._moved_in_flight.pop(info.key, None)
        if self._closed or self._infos.get(info.key) is not info:
            return
        info.backoff_until = self.clock() + self.backoff_duration(info.attempts)
        self._backoff[info.key] = info.backoff_until
        self._wakeup.set()

    def done(self, info: QueuedPodInfo) -> None:
        """The pod was bound (or dropped): the queue forgets it."""
        self._in_flight.discard(info.key)
        self._moved_in_flight.pop(info.key, None)
        if self._infos.get(info.key) is info:
            del self._infos[info.key]

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        self._closed = True
        self._wakeup.set()
