"""The work queue dedups, re-queues items added while processed, delays and rate-limits like client-go's."""

from __future__ import annotations

import asyncio

import pytest

from kubeprov.api.workqueue import (
    BucketLimiter,
    ItemExponentialLimiter,
    MaxOfLimiter,
    WorkQueue,
    default_controller_rate_limiter,
)

# the bound is the test body's: a session fixture torn down after the last test (`dev down`) is not counted
pytestmark = pytest.mark.timeout(5, func_only=True)


async def test_waiting_item_is_queued_once():
    q = WorkQueue("t")
    q.add("a")
    q.add("b")
    q.add("a")
    assert len(q) == 2
    assert await q.get() == "a"
    assert await q.get() == "b"
    assert len(q) == 0


async def test_item_added_while_processing_comes_back_after_done():
    q = WorkQueue("t")
    q.add("a")
    item = await q.get()
    q.add("a")
    assert len(q) == 0  # not handed to a second worker while in process
    q.done(item)
    assert len(q) == 1
    assert await q.get() == "a"


async def test_done_without_re_add_does_not_requeue():
    q = WorkQueue("t")
    q.add("a")
    q.done(await q.get())
    assert len(q) == 0


async def test_get_waits_for_an_add():
    q = WorkQueue("t")
    getter = asyncio.create_task(q.get())
    await asyncio.sleep(0.01)
    assert not getter.done()
    q.add("x")
    assert await asyncio.wait_for(getter, 1) == "x"


async def test_add_after_delays_and_orders_by_ready_time():
    q = WorkQueue("t")
    q.add_after("late", 0.08)
    q.add_after("early", 0.03)
    assert len(q) == 0
    await asyncio.sleep(0.05)
    assert len(q) == 1
    assert await q.get() == "early"
    assert await asyncio.wait_for(q.get(), 1) == "late"


async def test_add_after_keeps_the_earlier_ready_time():
    q = WorkQueue("t")
    q.add_after("a", 0.03)
    q.add_after("a", 5)  # later: ignored
    await asyncio.sleep(0.06)
    assert len(q) == 1
    q.add_after("b", 5)
    q.add_after("b", 0.01)  # earlier: wins
    await asyncio.sleep(0.04)
    assert len(q) == 2


async def test_add_after_non_positive_delay_adds_now():
    q = WorkQueue("t")
    q.add_after("a", 0)
    assert len(q) == 1


def test_exponential_limiter_doubles_per_failure_and_forget_resets():
    rl = ItemExponentialLimiter(0.005, 1000)
    assert [rl.when("a") for _ in range(4)] == [0.005, 0.01, 0.02, 0.04]
    assert rl.when("b") == 0.005  # per item
    assert rl.retries("a") == 4
    rl.forget("a")
    assert rl.retries("a") == 0
    assert rl.when("a") == 0.005


def test_exponential_limiter_caps_at_max():
    rl = ItemExponentialLimiter(0.005, 1000)
    delays = [rl.when("a") for _ in range(2000)]
    assert delays[-1] == 1000
    assert max(delays) == 1000


def test_bucket_limiter_allows_burst_then_spreads_at_qps():
    now = [0.0]
    rl = BucketLimiter(qps=10, burst=3, clock=lambda: now[0])
    assert [rl.when(i) for i in range(3)] == [0, 0, 0]
    assert rl.when(3) == pytest.approx(0.1)
    assert rl.when(4) == pytest.approx(0.2)
    now[0] = 10.0  # refilled to the burst
    assert rl.when(5) == 0


def test_max_of_limiter_takes_the_longest_delay():
    now = [0.0]
    rl = MaxOfLimiter(ItemExponentialLimiter(0.005, 1000), BucketLimiter(qps=10, burst=1, clock=lambda: now[0]))
    assert rl.when("a") == 0.005
    assert rl.when("b") == pytest.approx(0.1)  # bucket empty
    assert rl.retries("a") == 1
    rl.forget("a")
    assert rl.retries("a") == 0


def test_default_controller_rate_limiter_starts_at_5ms():
    assert default_controller_rate_limiter().when("a") == 0.005


async def test_add_rate_limited_grows_requeues_and_forget_resets():
    q = WorkQueue("t", ItemExponentialLimiter(0.01, 1))
    q.add_rate_limited("a")
    q.add_rate_limited("a")
    assert q.num_requeues("a") == 2
    assert len(q) == 0
    assert await asyncio.wait_for(q.get(), 1) == "a"
    q.forget("a")
    assert q.num_requeues("a") == 0


async def test_shut_down_wakes_all_getters_with_none():
    q = WorkQueue("t")
    getters = [asyncio.create_task(q.get()) for _ in range(3)]
    await asyncio.sleep(0.01)
    q.shut_down()
    assert await asyncio.wait_for(asyncio.gather(*getters), 1) == [None, None, None]


async def test_shut_down_drains_queued_items_and_ignores_new_adds():
    q = WorkQueue("t")
    q.add("a")
    q.add_after("later", 0.01)
    q.shut_down()
    q.add("b")
    assert await q.get() == "a"
    assert await q.get() is None
    await asyncio.sleep(0.03)
    assert len(q) == 0


async def test_cancelled_getter_passes_its_wakeup_on():
    q = WorkQueue("t")
    first = asyncio.create_task(q.get())
    second = asyncio.create_task(q.get())
    await asyncio.sleep(0.01)
    q.add("a")
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
    assert await asyncio.wait_for(second, 1) == "a"
