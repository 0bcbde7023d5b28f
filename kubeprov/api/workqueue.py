"""A rate-limited work queue for asyncio controllers, with client-go's workqueue semantics.

- An item waiting in the queue is queued once however often it is added (``add`` dedups).
- An item being processed (handed out by ``get`` and not yet ``done``) is never handed to a
  second worker; adding it meanwhile marks it dirty and it is queued again on ``done``.
- ``add_after`` holds an item back for a delay; adding the same item with an earlier ready
  time moves it earlier, a later one is ignored.
- ``add_rate_limited`` delays by what the rate limiter says; ``forget`` resets the limiter's
  memory of the item once it was processed successfully.
- ``shut_down`` makes further adds no-ops; ``get`` still hands out queued items and returns
  ``None`` once the queue is empty.

The queue lives on the running event loop: ``get`` and ``add_after`` must be called from it.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
from collections import deque
from collections.abc import Callable, Hashable
from typing import Protocol

__all__ = [
    "BucketLimiter",
    "ItemExponentialLimiter",
    "MaxOfLimiter",
    "RateLimiter",
    "WorkQueue",
    "default_controller_rate_limiter",
]


class RateLimiter(Protocol):
    """Decides how long an item waits before it is retried."""

    def when(self, item: Hashable) -> float:
        """The delay in seconds before ``item`` may be processed again (records one failure)."""
        ...

    def forget(self, item: Hashable) -> None:
        """Stop tracking ``item`` (it succeeded)."""
        ...

    def retries(self, item: Hashable) -> int:
        """How many times ``item`` has been rate-limited since it was last forgotten."""
        ...


class ItemExponentialLimiter:
    """Per-item exponential backoff: ``base * 2**failures``, capped at ``max_delay``."""

    def __init__(self, base_delay: float = 0.005, max_delay: float = 1000.0) -> None:
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._failures: dict[Hashable, int] = {}

    def when(self, item: Hashable) -> float:
        exp = self._failures.get(item, 0)
        self._failures[item] = exp + 1
        if exp >= 1024:  # 2**exp would overflow a float long before this
            return self.max_delay
        return min(self.base_delay * math.pow(2, exp), self.max_delay)

    def forget(self, item: Hashable) -> None:
        self._failures.pop(item, None)

    def retries(self, item: Hashable) -> int:
        return self._failures.get(item, 0)


class BucketLimiter:
    """An overall token bucket (``qps`` tokens a second, at most ``burst`` saved up).

    Each ``when`` reserves one token; the delay is how long until that token is available,
    so a burst of failures beyond ``burst`` is spread out at ``qps``.
    """

    def __init__(self, qps: float = 10.0, burst: int = 100, clock: Callable[[], float] = time.monotonic) -> None:
        if qps <= 0 or burst <= 0:
            raise ValueError("qps and burst must be positive")
        self.qps = qps
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()

    def when(self, item: Hashable) -> float:
        now = self._clock()
        elapsed = max(0.0, now - self._last)
        self._last = now
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.qps) - 1.0
        if self._tokens >= 0:
            return 0.0
        return -self._tokens / self.qps

    def forget(self, item: Hashable) -> None:
        return None

    def retries(self, item: Hashable) -> int:
        return 0


class MaxOfLimiter:
    """The longest delay of several limiters; ``forget`` forgets in all of them."""

    def __init__(self, *limiters: RateLimiter) -> None:
        if not limiters:
            raise ValueError("MaxOfLimiter needs at least one limiter")
        self.limiters = limiters

    def when(self, item: Hashable) -> float:
        # Every limiter must see the failure, so no short-circuiting.
        return max([limiter.when(item) for limiter in self.limiters])

    def forget(self, item: Hashable) -> None:
        for limiter in self.limiters:
            limiter.forget(item)

    def retries(self, item: Hashable) -> int:
        return max(limiter.retries(item) for limiter in self.limiters)


def default_controller_rate_limiter() -> MaxOfLimiter:
    """Per-item exponential backoff (5 ms .. 1000 s) combined with an overall 10 qps / 100 burst bucket."""
    return MaxOfLimiter(ItemExponentialLimiter(0.005, 1000.0), BucketLimiter(10.0, 100))


class WorkQueue:
    """A deduplicating FIFO of keys with delayed and rate-limited adds."""

    def __init__(self, name: str, rate_limiter: RateLimiter | None = None) -> None:
        self.name = name
        self.rate_limiter: RateLimiter = rate_limiter if rate_limiter is not None else default_controller_rate_limiter()
        self._queue: deque[Hashable] = deque()
        self._dirty: set[Hashable] = set()
        self._processing: set[Hashable] = set()
        self._getters: deque[asyncio.Future[None]] = deque()
        self._shutting_down = False
        # Delayed items: the earliest ready time per item, and a heap that may hold stale entries.
        self._waiting: dict[Hashable, float] = {}
        self._heap: list[tuple[float, int, Hashable]] = []
        self._seq = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf

    # -- basic queue -------------------------------------------------------------------------

    def add(self, item: Hashable) -> None:
        """Queue ``item`` unless it is already waiting; if it is being processed, queue it after ``done``."""
        if self._shutting_down or item in self._dirty:
            return
        self._dirty.add(item)
        if item in self._processing:
            return
        self._queue.append(item)
        self._wake_one()

    async def get(self) -> Hashable | None:
        """The next item to process, waiting for one; ``None`` once shut down and empty."""
        while not self._queue:
            if self._shutting_down:
                return None
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._getters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                try:
                    self._getters.remove(waiter)
                except ValueError:
                    pass
                # If we had been woken for an item, pass the wake-up on to another getter.
                if waiter.done() and not waiter.cancelled() and self._queue:
                    self._wake_one()
                raise
        item = self._queue.popleft()
        self._dirty.discard(item)
        self._processing.add(item)
        return item

    def done(self, item: Hashable) -> None:
        """Mark ``item`` processed; if it was added meanwhile, it is queued again."""
        self._processing.discard(item)
        if item in self._dirty:
            self._queue.append(item)
            self._wake_one()

    def shut_down(self) -> None:
        """Refuse new items and wake every waiting ``get`` (they return ``None`` once the queue is empty)."""
        self._shutting_down = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
            self._timer_at = math.inf
        self._waiting.clear()
        self._heap.clear()
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def __len__(self) -> int:
        """Items waiting to be handed out (not counting delayed or in-process items)."""
        return len(self._queue)

    def _wake_one(self) -> None:
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    # -- delaying ----------------------------------------------------------------------------

    def add_after(self, item: Hashable, delay: float) -> None:
        """Add ``item`` after ``delay`` seconds (at once when ``delay <= 0``)."""
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(item)
            return
        loop = asyncio.get_running_loop()
        ready = loop.time() + delay
        current = self._waiting.get(item)
        if current is not None and current <= ready:
            return
        self._waiting[item] = ready
        heapq.heappush(self._heap, (ready, next(self._seq), item))
        self._arm(loop)

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        while self._heap and self._waiting.get(self._heap[0][2]) != self._heap[0][0]:
            heapq.heappop(self._heap)  # stale: superseded by an earlier ready time or already added
        if not self._heap:
            return
        at = self._heap[0][0]
        if self._timer is not None and self._timer_at <= at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = at
        self._timer = loop.call_at(at, self._fire, loop)

    def _fire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        self._timer_at = math.inf
        now = loop.time() + 0.001  # the loop may run a timer up to its clock resolution early
        while self._heap and self._heap[0][0] <= now:
            ready, _, item = heapq.heappop(self._heap)
            if self._waiting.get(item) == ready:
                del self._waiting[item]
                self.add(item)
        self._arm(loop)

    # -- rate limiting -----------------------------------------------------------------------

    def add_rate_limited(self, item: Hashable) -> None:
        """Add ``item`` once the rate limiter allows it (counts as one more failure)."""
        if self._shutting_down:
            return
        self.add_after(item, self.rate_limiter.when(item))

    def forget(self, item: Hashable) -> None:
        """Reset the rate limiter's backoff for ``item``."""
        self.rate_limiter.forget(item)

    def num_requeues(self, item: Hashable) -> int:
        """How many times ``item`` was rate-limited since it was last forgotten."""
        return self.rate_limiter.retries(item)
