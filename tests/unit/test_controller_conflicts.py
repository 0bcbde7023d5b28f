"""How controllers meet conflicts: a sync with ``conflict_retry`` looks again shortly after a 409 without counting
an error; ``write_status`` drops writes to vanished objects and retries or raises on a conflict."""

from __future__ import annotations

import asyncio

import pytest

from kubeprov.api.status import StatusError
from kubeprov.controllers.base import Controller


class Conflicting(Controller):
    """Fails its first sync with a conflict, then succeeds."""

    name = "conflicting"

    def __init__(self, conflict_retry: float | None) -> None:
        super().__init__(None, None)  # type: ignore[arg-type]  # no informers: client and factory unused
        self.conflict_retry = conflict_retry
        self.attempts = 0

    async def sync(self, key: str) -> None:
        self.attempts += 1
        if self.attempts == 1:
            raise StatusError({"code": 409, "message": "the object has been modified"})


async def run_until_two_attempts(controller: Conflicting) -> None:
    await controller.start()
    controller.enqueue("ns/a")
    async with asyncio.timeout(5):
        while controller.attempts < 2:
            await asyncio.sleep(0.01)
    await controller.stop()


async def test_a_conflict_is_retried_without_counting_an_error() -> None:
    controller = Conflicting(conflict_retry=0.01)
    await run_until_two_attempts(controller)
    assert controller.metrics.errors == 0


async def test_without_conflict_retry_a_conflict_is_an_error() -> None:
    controller = Conflicting(conflict_retry=None)
    await run_until_two_attempts(controller)
    assert controller.metrics.errors == 1


class FailingClient:
    """Refuses every update with ``code``."""

    def __init__(self, code: int) -> None:
        self.code = code

    async def update(self, *args: object, **kwargs: object) -> dict:
        raise StatusError({"code": self.code, "message": "refused"})


def writer(code: int) -> Controller:
    return Controller(FailingClient(code), None)  # type: ignore[arg-type]


OBJ = {"metadata": {"name": "a", "namespace": "ns"}}


async def test_a_status_write_to_a_vanished_object_is_dropped() -> None:
    assert await writer(404).write_status(OBJ, {}, "v1", "things") is None


async def test_a_conflicting_status_write_looks_again_later_when_asked_to() -> None:
    controller = writer(409)
    assert await controller.write_status(OBJ, {}, "v1", "things", conflict_retry=0.01) is None
    async with asyncio.timeout(5):
        assert await controller.queue.get() == "ns/a"


async def test_a_conflicting_status_write_raises_otherwise() -> None:
    with pytest.raises(StatusError):
        await writer(409).write_status(OBJ, {}, "v1", "things")
