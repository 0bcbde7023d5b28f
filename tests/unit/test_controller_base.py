"""The controller base's periodic passes: they run while the workers run, and stop with them."""

from __future__ import annotations

import asyncio

from kubeprov.controllers.base import Controller


class Ticking(Controller):
    name = "ticking"


async def test_a_periodic_pass_runs_at_start_and_then_every_period_until_stop() -> None:
    controller = Ticking(None, None)  # type: ignore[arg-type]  # no informers: client and factory unused
    calls: list[float] = []
    controller.every(0.05, lambda: calls.append(asyncio.get_running_loop().time()), at_start=True)
    await controller.start()
    async with asyncio.timeout(5):
        while len(calls) < 3:
            await asyncio.sleep(0.01)
    await controller.stop()
    seen = len(calls)
    await asyncio.sleep(0.12)
    assert len(calls) == seen


async def test_a_failing_pass_does_not_end_the_next_ones() -> None:
    controller = Ticking(None, None)  # type: ignore[arg-type]
    calls: list[int] = []

    def flaky() -> None:
        calls.append(1)
        raise RuntimeError("boom")
    controller.every(0.03, flaky, at_start=True)
    await controller.start()
    async with asyncio.timeout(5):  # the second call comes although the first one raised
        while len(calls) < 2:
            await asyncio.sleep(0.01)
    await controller.stop()
