"""Controller expectations (client-go's ControllerExpectations): creates/deletes a controller has
issued but its informer has not reported yet. A controller only acts on a key whose expectations
are satisfied (or expired), so it never counts its own in-flight writes twice."""

from __future__ import annotations

import time
from collections.abc import Callable

EXPECTATIONS_TIMEOUT = 300.0


class _Expectation:
    def __init__(self, add: int, delete: int, now: float) -> None:
        self.add = add
        self.delete = delete
        self.timestamp = now


class Expectations:
    def __init__(self, clock: Callable[[], float] = time.monotonic, timeout: float = EXPECTATIONS_TIMEOUT) -> None:
        self.clock = clock
        self.timeout = timeout
        self._items: dict[str, _Expectation] = {}
        self._deleting: dict[str, set[str]] = {}  # controller key -> keys of pods it is deleting

    def satisfied(self, key: str) -> bool:
        exp = self._items.get(key)
        if exp is None:
            return True  # nothing recorded (new controller or restarted manager)
        if exp.add <= 0 and exp.delete <= 0:
            return True
        return self.clock() - exp.timestamp > self.timeout

    def expect(self, key: str, add: int = 0, delete: int = 0) -> None:
        self._items[key] = _Expectation(add, delete, self.clock())

    def lower(self, key: str, add: int = 0, delete: int = 0) -> None:
        exp = self._items.get(key)
        if exp is not None:
            exp.add -= add
            exp.delete -= delete

    def creation_observed(self, key: str) -> None:
        self.lower(key, add=1)

    def deletion_observed(self, key: str) -> None:
        self.lower(key, delete=1)

    def expect_deletions(self, key: str, pod_keys: list[str]) -> None:
        """Expect these objects to go (each counted once however often its deletion is seen)."""
        self._deleting[key] = set(pod_keys)
        self.expect(key, delete=len(pod_keys))

    def deletion_observed_of(self, key: str, pod_key: str) -> None:
        pending = self._deleting.get(key)
        if pending is not None and pod_key in pending:
            pending.discard(pod_key)
            self.deletion_observed(key)

    def forget(self, key: str) -> None:
        self._items.pop(key, None)
        self._deleting.pop(key, None)
