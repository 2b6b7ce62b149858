"""FakeClock and race_clock: time moves only when the test moves it, in deadline order,
and only once the event loop is quiet, however many passes that takes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from certmgr.runtime.clock import SystemClock, race_clock
from certmgr.testing.clock import MAX_SETTLE_PASSES, FakeClock, LoopNeverSettled, settle

# More loop passes than the old fixed bound of 1000 that settle silently gave up after.
LONG_CHAIN = 3_000


async def hop(passes: int) -> None:
    """Take ``passes`` event-loop passes without touching the clock, like a request
    travelling through a client's layers: work that is in flight, not waiting."""
    for _ in range(passes):
        await asyncio.sleep(0)


async def test_sleepers_wake_in_deadline_order_only_when_time_passes() -> None:
    clock = FakeClock()
    woke: list[str] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(name)

    tasks = [asyncio.create_task(sleeper(n, s)) for n, s in [("c", 3), ("a", 1), ("b", 2)]]
    await clock.wait_for_sleepers(3)
    await clock.run_for(0.5)
    assert woke == []
    await clock.run_for(2.0)
    assert woke == ["a", "b"]
    await clock.run_for(10)
    assert woke == ["a", "b", "c"]
    await asyncio.gather(*tasks)


async def test_run_for_lets_a_periodic_loop_run_once_per_period() -> None:
    clock = FakeClock()
    ticks: list[float] = []

    async def every_two_seconds() -> None:
        while True:
            await clock.sleep(2)
            ticks.append(clock.monotonic())

    task = asyncio.create_task(every_two_seconds())
    await clock.wait_for_sleepers()
    start = clock.monotonic()
    await clock.run_for(10)
    assert [t - start for t in ticks] == [2, 4, 6, 8, 10]
    task.cancel()


async def test_now_and_monotonic_move_together() -> None:
    start = datetime(2030, 5, 1, tzinfo=UTC)
    clock = FakeClock(start)
    before = clock.monotonic()
    clock.advance(90)
    assert clock.now() == start + timedelta(seconds=90)
    assert clock.monotonic() - before == 90
    await clock.advance_to(start + timedelta(hours=1))
    assert clock.now() == start + timedelta(hours=1)


def test_naive_start_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        FakeClock(datetime(2030, 1, 1))


async def test_cancelled_sleeper_is_not_counted() -> None:
    clock = FakeClock()
    task = asyncio.create_task(clock.sleep(5))
    await clock.wait_for_sleepers(1)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert clock.sleepers == 0
    assert clock.next_deadline() is None


@pytest.mark.parametrize(
    ("work_seconds", "limit", "expect_timeout"),
    [pytest.param(1, 5, False, id="finishes-in-time"), pytest.param(9, 5, True, id="times-out")],
)
async def test_race_clock_bounds_by_clock_time(
    work_seconds: float, limit: float, expect_timeout: bool
) -> None:
    clock = FakeClock()
    cancelled = asyncio.Event()

    async def work() -> str:
        try:
            await clock.sleep(work_seconds)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "done"

    raced = asyncio.create_task(race_clock(clock, work(), seconds=limit))
    await clock.wait_for_sleepers(2)
    await clock.run_for(10)
    if expect_timeout:
        with pytest.raises(TimeoutError):
            await raced
        assert cancelled.is_set()
    else:
        assert await raced == "done"


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        pytest.param("result", "done", id="resolved"),
        pytest.param("error", ValueError, id="failed"),
        pytest.param(None, TimeoutError, id="never-resolved"),
    ],
)
async def test_race_clock_on_the_system_clock_and_a_future(
    outcome: str | None, expected: object
) -> None:
    # The cache's waits: a future on real time (asyncio's own timeout, no tasks).
    future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    if outcome == "result":
        asyncio.get_running_loop().call_soon(future.set_result, "done")
    elif outcome == "error":
        asyncio.get_running_loop().call_soon(future.set_exception, ValueError("bad"))
    raced = race_clock(SystemClock(), future, seconds=0.01 if outcome is None else 30)
    if isinstance(expected, type):
        with pytest.raises(expected) as raised:
            await raced
        if expected is TimeoutError:
            assert str(raised.value) == "timed out after 0.01 s"
            assert future.cancelled()
    else:
        assert await raced == expected


async def test_race_clock_cancelled_cancels_its_future() -> None:
    future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    raced = asyncio.create_task(race_clock(SystemClock(), future, seconds=30))
    await asyncio.sleep(0)
    raced.cancel()
    with pytest.raises(asyncio.CancelledError):
        await raced
    assert future.cancelled()


async def test_system_clock_is_aware_utc() -> None:
    clock = SystemClock()
    assert clock.now().tzinfo is UTC
    await clock.sleep(-1)  # negative sleeps return at once


async def test_settle_waits_for_a_chain_of_any_length() -> None:
    finished = asyncio.Event()

    async def chain() -> None:
        await hop(LONG_CHAIN)
        finished.set()

    task = asyncio.create_task(chain())
    await settle()
    assert finished.is_set()
    await task


@pytest.mark.parametrize(
    "passes",
    [
        pytest.param(0, id="answered-at-once"),
        pytest.param(LONG_CHAIN, id="answered-after-many-loop-passes"),
        pytest.param(MAX_SETTLE_PASSES - 100, id="answered-just-under-the-pass-limit"),
    ],
)
async def test_time_does_not_move_while_a_request_is_in_flight(passes: int) -> None:
    # The leader-election shape: wake at t=2, send a request bounded by 8 s of clock time.
    # A request that answers without waiting must never time out, however many passes it
    # takes; fake time moving on before it answered was the flaky timeout.
    clock = FakeClock(monotonic_start=0.0)

    async def request() -> str:
        await hop(passes)
        return "answered"

    async def renew() -> tuple[str, float]:
        await clock.sleep(2)
        return await race_clock(clock, request(), seconds=8), clock.monotonic()

    task = asyncio.create_task(renew())
    await clock.run_for(10)
    assert task.done() and task.result() == ("answered", 2.0)


async def test_concurrent_settles_take_turns_and_all_wait_for_quiet() -> None:
    finished = asyncio.Event()

    async def chain() -> None:
        await hop(LONG_CHAIN)
        finished.set()

    async def settle_then_look() -> bool:
        await settle()
        return finished.is_set()

    # Two settling tasks used to keep the ready queue non-empty for each other.
    work = asyncio.create_task(chain())
    assert list(await asyncio.gather(settle_then_look(), settle_then_look())) == [True, True]
    await work


async def test_settle_refuses_to_move_on_while_a_task_busy_loops() -> None:
    spinning = asyncio.create_task(hop(2 * MAX_SETTLE_PASSES))
    with pytest.raises(LoopNeverSettled, match="yields forever"):
        await settle()
    spinning.cancel()
    await asyncio.gather(spinning, return_exceptions=True)
    await settle()  # the loop can be settled again afterwards


async def test_a_cancelled_settle_hands_over_its_turn() -> None:
    first = asyncio.create_task(settle())
    second = asyncio.create_task(settle())
    await asyncio.sleep(0)  # first holds the turn, second waits for it
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
    await settle()
    assert second.done() and second.exception() is None


async def test_wait_for_sleepers_waits_out_a_long_chain_before_the_sleep() -> None:
    clock = FakeClock()

    async def late_sleeper() -> None:
        await hop(LONG_CHAIN)
        await clock.sleep(1)

    task = asyncio.create_task(late_sleeper())
    await clock.wait_for_sleepers(1)
    assert clock.sleepers == 1
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_wait_for_sleepers_fails_once_the_loop_is_quiet_without_them() -> None:
    clock = FakeClock()
    never = asyncio.Event()
    waiting = asyncio.create_task(never.wait())
    with pytest.raises(AssertionError, match="went quiet with 0 sleepers"):
        await clock.wait_for_sleepers(1)
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
