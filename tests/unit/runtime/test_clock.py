"""FakeClock and race_clock: time moves only when the test moves it, in deadline order."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from certmgr.runtime.clock import SystemClock, race_clock
from certmgr.testing.clock import FakeClock


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


async def test_system_clock_is_aware_utc() -> None:
    clock = SystemClock()
    assert clock.now().tzinfo is UTC
    await clock.sleep(-1)  # negative sleeps return at once
