"""WorkQueue: merging, one worker per key, delays on the fake clock, backoff, shutdown."""

from __future__ import annotations

import asyncio
import sys
from collections import deque

import pytest
from prometheus_client import REGISTRY

from certmgr.runtime.workqueue import (
    RELEASE_BATCH,
    ExponentialBackoff,
    MaxOf,
    ShutDown,
    TokenBucket,
    WorkQueue,
)
from certmgr.testing.clock import FakeClock, settle


def make_queue(name: str, **kwargs: object) -> tuple[WorkQueue[str], FakeClock]:
    clock = FakeClock()
    return WorkQueue[str](name, clock=clock, **kwargs), clock  # type: ignore[arg-type]


async def drain(queue: WorkQueue[str]) -> list[str]:
    got = []
    while len(queue):
        key = await queue.get()
        got.append(key)
        queue.done(key)
    return got


async def test_repeated_adds_merge_and_keep_first_add_order() -> None:
    queue, _ = make_queue("merge")
    for key in ["a", "b", "a", "a", "c", "b"]:
        queue.add(key)
    assert len(queue) == 3
    assert await drain(queue) == ["a", "b", "c"]


async def test_a_drained_queue_gives_back_what_a_burst_of_keys_grew() -> None:
    # Dicts never shrink: 100,000 keys at start left a ~4-5 MB table per queue.
    queue, _ = make_queue("burst")
    empty = sys.getsizeof({})
    for n in range(10_000):
        queue.add(f"k{n}")
    grown = sys.getsizeof(queue._ready_since)
    assert len(await drain(queue)) == 10_000
    queue.add("again")  # still merges and queues as before
    queue.add("again")
    assert await drain(queue) == ["again"]
    assert sys.getsizeof(queue._ready_since) <= empty < grown


async def test_key_added_while_processing_waits_for_done() -> None:
    queue, _ = make_queue("processing")
    queue.add("a")
    assert await queue.get() == "a"
    queue.add("a")
    queue.add("a")
    assert len(queue) == 0, "a second worker must not get a key that is being processed"
    second_worker = asyncio.create_task(queue.get())
    await settle()
    assert not second_worker.done()
    queue.done("a")
    assert await asyncio.wait_for(second_worker, 5) == "a"
    queue.done("a")
    assert len(queue) == 0, "the two re-adds merged into one"


async def test_waiting_getter_is_woken_by_add() -> None:
    queue, _ = make_queue("wake")
    getter = asyncio.create_task(queue.get())
    await settle()
    assert not getter.done()
    queue.add("x")
    assert await asyncio.wait_for(getter, 5) == "x"


async def test_cancelled_getter_does_not_swallow_a_key() -> None:
    queue, _ = make_queue("cancel")
    first = asyncio.create_task(queue.get())
    second = asyncio.create_task(queue.get())
    await settle()
    queue.add("x")
    first.cancel()  # woken (maybe) but cancelled before it ran
    await asyncio.gather(first, return_exceptions=True)
    assert await asyncio.wait_for(second, 5) == "x"


class CountingDeque(deque[asyncio.Future[None]]):
    """The queue's waiter list, counting ``remove`` calls that miss."""

    misses = 0

    def remove(self, value: asyncio.Future[None]) -> None:
        if value not in self:
            self.misses += 1
        super().remove(value)


@pytest.mark.parametrize(
    "cancel",
    [pytest.param(False, id="woken-by-add"), pytest.param(True, id="cancelled-while-waiting")],
)
async def test_get_takes_its_waiter_off_the_list_without_searching_for_a_woken_one(
    cancel: bool,
) -> None:
    # deque.remove of an absent item builds its ValueError from repr(future): that was
    # ~3 % of the controllers' CPU during renewals (one miss per woken get).
    queue, _ = make_queue(f"waiters-{cancel}")
    waiters = CountingDeque()
    queue._getters = waiters
    getter = asyncio.create_task(queue.get())
    await settle()
    if cancel:
        getter.cancel()
        await asyncio.gather(getter, return_exceptions=True)
    else:
        queue.add("x")
        assert await asyncio.wait_for(getter, 5) == "x"
    assert not waiters
    assert waiters.misses == 0


@pytest.mark.parametrize(
    ("adds", "expect_ready_at"),
    [
        pytest.param([("a", 10.0)], {"a": 10.0}, id="single-delay"),
        pytest.param([("a", 10.0), ("a", 5.0)], {"a": 5.0}, id="earlier-delay-wins"),
        pytest.param([("a", 5.0), ("a", 10.0)], {"a": 5.0}, id="later-delay-does-not-extend"),
        pytest.param([("b", 100.0), ("a", 1.0)], {"a": 1.0, "b": 100.0}, id="earlier-key-first"),
        pytest.param([("a", 0.0)], {"a": 0.0}, id="zero-delay-is-immediate"),
    ],
)
async def test_delayed_adds_fire_at_their_deadline_on_the_clock(
    adds: list[tuple[str, float]], expect_ready_at: dict[str, float]
) -> None:
    queue, clock = make_queue("delays")
    start = clock.monotonic()
    for key, delay in adds:
        queue.add_after(key, delay)
    ready_at: dict[str, float] = {}
    for _ in range(201):  # half-second steps up to 100 s
        for key in await drain(queue):
            assert key not in ready_at, f"{key} fired twice"
            ready_at[key] = clock.monotonic() - start
        await clock.run_for(0.5)
    assert ready_at == expect_ready_at
    queue.shutdown()


async def test_delayed_add_merges_with_a_ready_key() -> None:
    queue, clock = make_queue("delay-merge")
    queue.add("a")
    queue.add_after("a", 1)
    await clock.run_for(1)
    assert len(queue) == 1
    queue.shutdown()


@pytest.mark.parametrize(
    "earlier_delay_first",
    [
        pytest.param(False, id="single-delay"),
        pytest.param(True, id="after-an-earlier-delay-re-arms"),
    ],
)
async def test_a_due_delay_is_added_within_two_loop_passes(earlier_delay_first: bool) -> None:
    # A busy loop runs every ready callback in each pass: a timer that needed six passes
    # to wake (sleep, wait, cancel, gather) fired renewals up to 0.5 s late (bench/renewal.py).
    queue, clock = make_queue(f"passes-{earlier_delay_first}")
    queue.add_after("late", 20.0)
    await settle()
    if earlier_delay_first:
        queue.add_after("a", 10.0)
        await settle()
    clock.advance(10.0 if earlier_delay_first else 20.0)
    passes = 0
    while not len(queue) and passes < 10:
        await asyncio.sleep(0)
        passes += 1
    assert len(queue) == 1
    assert passes <= 2
    queue.shutdown()


async def test_ten_thousand_delays_use_one_timer_task_and_fire_in_order() -> None:
    queue, clock = make_queue("many-delays")
    tasks_before = len(asyncio.all_tasks())
    for i in range(10_000):
        queue.add_after(f"k{i:05}", 3600 + (9_999 - i))  # reverse order of insertion
    await settle()
    # The timer task and the two it races (its sleep and its wake-up), whatever the count.
    assert len(asyncio.all_tasks()) - tasks_before <= 3
    assert queue.delayed == 10_000
    await clock.run_for(3600 + 4_999)
    assert len(queue) == 5_000
    got = await drain(queue)
    assert got == [f"k{i:05}" for i in range(9_999, 4_999, -1)]
    queue.shutdown()


@pytest.mark.parametrize(
    ("base", "cap", "expected"),
    [
        pytest.param(1.0, 8.0, [1, 2, 4, 8, 8, 8], id="doubles-then-caps"),
        pytest.param(0.005, 1000.0, [0.005, 0.01, 0.02, 0.04], id="client-go-default"),
        pytest.param(5.0, 5.0, [5, 5, 5], id="constant"),
    ],
)
def test_exponential_backoff(base: float, cap: float, expected: list[float]) -> None:
    limiter = ExponentialBackoff[str](base=base, cap=cap)
    assert [limiter.when("k") for _ in expected] == pytest.approx(expected)
    assert limiter.num_requeues("k") == len(expected)
    assert limiter.when("other") == pytest.approx(base), "failures are counted per key"
    limiter.forget("k")
    assert limiter.num_requeues("k") == 0
    assert limiter.when("k") == pytest.approx(base)


def test_backoff_survives_many_failures_without_overflow() -> None:
    limiter = ExponentialBackoff[str](base=1, cap=300)
    assert [limiter.when("k") for _ in range(2000)][-1] == 300


def test_token_bucket_allows_burst_then_spaces_at_qps() -> None:
    clock = FakeClock()
    bucket = TokenBucket[str](qps=2, burst=3, clock=clock)
    assert [bucket.when("k") for _ in range(5)] == [0, 0, 0, 0.5, 1.0]
    clock.advance(10)
    assert bucket.when("k") == 0, "tokens refill with time (up to burst)"


def test_max_of_takes_the_longest_wait() -> None:
    clock = FakeClock()
    limiter = MaxOf[str](
        ExponentialBackoff(base=1, cap=100), TokenBucket(qps=1, burst=1, clock=clock)
    )
    assert [limiter.when("k") for _ in range(3)] == [1, 2, 4]
    assert limiter.num_requeues("k") == 3


async def test_rate_limited_adds_back_off_on_the_clock_until_forgotten() -> None:
    queue, clock = make_queue("backoff", rate_limiter=ExponentialBackoff(base=1, cap=4))
    start = clock.monotonic()
    fired_at = []
    for _ in range(4):
        queue.add_rate_limited("k")
        while not len(queue):
            await clock.run_for(0.25)
        fired_at.append(clock.monotonic() - start)
        start = clock.monotonic()
        assert await queue.get() == "k"
        queue.done("k")
    assert fired_at == [1, 2, 4, 4]
    assert queue.num_requeues("k") == 4
    queue.forget("k")
    assert queue.num_requeues("k") == 0
    queue.shutdown()


@pytest.mark.parametrize(
    "drain_first", [pytest.param(True, id="drain"), pytest.param(False, id="drop")]
)
async def test_shutdown(drain_first: bool) -> None:
    queue, _ = make_queue("shutdown")
    queue.add("a")
    queue.add("b")
    queue.add_after("later", 10)
    queue.shutdown(drain=drain_first)
    queue.add("c")  # ignored after shutdown
    got = []
    with pytest.raises(ShutDown):
        while True:
            got.append(await queue.get())
    assert got == (["a", "b"] if drain_first else [])
    assert queue.delayed == 0


async def test_a_shut_down_queue_lets_go_of_its_tables_a_slice_per_turn() -> None:
    # 100,000 delayed keys freed in the turn of the shutdown held the loop ~140 ms.
    queue, _ = make_queue("shutdown-release")
    many = RELEASE_BATCH * 3
    for index in range(many):
        queue.add_after(f"ns/c{index}", 10 + index)
        queue.add(f"ns/r{index}")
    old_delayed, old_ready = queue._delayed, queue._ready_since
    queue.shutdown()
    assert queue.delayed == 0 and len(queue) == 0  # at once, as before
    assert len(old_delayed) == many  # not freed in this turn
    await asyncio.sleep(0)
    assert len(old_delayed) == many - RELEASE_BATCH  # one slice a turn
    await settle()
    assert not old_delayed and not old_ready


async def test_shutdown_wakes_waiting_getters() -> None:
    queue, _ = make_queue("shutdown-wake")
    getters = [asyncio.create_task(queue.get()) for _ in range(3)]
    await settle()
    queue.shutdown()
    results = await asyncio.wait_for(asyncio.gather(*getters, return_exceptions=True), 5)
    assert all(isinstance(r, ShutDown) for r in results)


def sample(metric: str, name: str) -> float:
    return REGISTRY.get_sample_value(metric, {"name": name}) or 0.0


async def test_metrics_count_adds_depth_latency_and_retries() -> None:
    queue, clock = make_queue("metrics-q", rate_limiter=ExponentialBackoff(base=1, cap=1))
    queue.add("a")
    queue.add("a")
    queue.add("b")
    assert sample("certmgr_workqueue_adds_total", "metrics-q") == 3
    assert sample("certmgr_workqueue_depth", "metrics-q") == 2
    clock.advance(2.5)
    key = await queue.get()
    assert sample("certmgr_workqueue_queue_duration_seconds_sum", "metrics-q") == 2.5
    clock.advance(1.5)
    queue.done(key)
    assert sample("certmgr_workqueue_work_duration_seconds_sum", "metrics-q") == 1.5
    queue.add_rate_limited("c")
    assert sample("certmgr_workqueue_retries_total", "metrics-q") == 1
    assert sample("certmgr_workqueue_delayed", "metrics-q") == 1
    queue.shutdown()
