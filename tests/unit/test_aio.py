"""cancel_and_wait: stopping a background task must not swallow the stopper's own cancellation."""

from __future__ import annotations

import asyncio

import pytest

from kubeprov.aio import cancel_and_wait


async def test_the_task_is_cancelled_and_finished_when_it_returns() -> None:
    task = asyncio.create_task(asyncio.sleep(60))
    await cancel_and_wait(task)
    assert task.cancelled()


async def test_none_is_nothing_to_stop() -> None:
    await cancel_and_wait(None)


async def test_an_error_the_task_ended_with_is_raised() -> None:
    async def broken() -> None:
        raise ValueError("boom")

    task = asyncio.create_task(broken())
    await asyncio.wait({task})
    with pytest.raises(ValueError, match="boom"):
        await cancel_and_wait(task)


async def test_cancelling_the_caller_while_it_waits_still_cancels_the_caller() -> None:
    release = asyncio.Event()

    async def slow_to_stop() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            await release.wait()  # a clean-up that takes a while
            raise

    task = asyncio.create_task(slow_to_stop())
    await asyncio.sleep(0)
    stopper = asyncio.create_task(cancel_and_wait(task))
    await asyncio.sleep(0.01)
    stopper.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stopper
    release.set()
    await asyncio.wait({task})
    assert task.cancelled()
