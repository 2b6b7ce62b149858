"""LoopLagProbe: a callback that holds the loop shows as lag, with a warning past the
threshold; an idle loop is not woken by the probe."""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import AsyncIterator

import pytest
from structlog.testing import capture_logs

from certmgr.runtime.looplag import LoopLagProbe
from certmgr.runtime.metrics import REGISTRY
from certmgr.runtime.turntrace import TurnTrace


@pytest.mark.parametrize(
    ("lags", "worst", "warnings"),
    [
        pytest.param([0.001, 0.002], 0.002, 0, id="quiet"),
        pytest.param([0.3, 0.1, 2.0, 0.5], 2.0, 1, id="one-stall-over-threshold"),
        pytest.param([-0.001], 0.0, 0, id="early-wakeup-is-no-lag"),
    ],
)
def test_observe_keeps_the_worst_and_warns_past_the_threshold(
    lags: list[float], worst: float, warnings: int
) -> None:
    probe = LoopLagProbe(warn_after=1.0)
    with capture_logs() as logs:
        for lag in lags:
            probe.observe(lag)
    assert probe.worst == worst
    assert [e["event"] for e in logs].count("event_loop_stalled") == warnings


@pytest.mark.parametrize(
    ("lag", "cpu", "on_cpu"),
    [
        pytest.param(0.2, 0.25, 0.2, id="busy-the-whole-stall"),
        pytest.param(0.2, 0.03, 0.03, id="mostly-waiting-for-a-core"),
        pytest.param(0.2, None, 0.2, id="cpu-unknown-counts-whole"),
    ],
)
def test_the_on_cpu_share_of_a_stall_is_bounded_by_the_cpu_used(
    lag: float, cpu: float | None, on_cpu: float
) -> None:
    probe = LoopLagProbe(warn_after=60)
    probe.observe(lag, cpu=cpu)
    assert probe.worst == lag
    assert probe.worst_on_cpu == on_cpu


async def test_a_blocking_callback_is_measured() -> None:
    probe = LoopLagProbe(warn_after=60)
    task = asyncio.create_task(probe.run())
    await asyncio.sleep(0.01)  # the probe is armed
    time.sleep(0.2)  # hold the loop, as CPU work that never yields would  # noqa: ASYNC251
    await asyncio.sleep(0.01)
    task.cancel()
    assert probe.worst >= 0.15
    assert REGISTRY.get_sample_value("certmgr_event_loop_lag_max_seconds") >= 0.15


async def test_the_watchdog_logs_where_the_loop_is_held() -> None:
    probe = LoopLagProbe(warn_after=0.05)
    with capture_logs() as logs:
        task = asyncio.create_task(probe.run())
        await asyncio.sleep(0.01)
        _hold_the_loop(0.3)
        await asyncio.sleep(0.01)
        task.cancel()
    held = [e for e in logs if e["event"] == "event_loop_held"]
    assert any("_hold_the_loop" in e["stack"] for e in held)


def _hold_the_loop(seconds: float) -> None:
    time.sleep(seconds)


async def test_an_idle_loop_is_not_woken() -> None:
    probe = LoopLagProbe(warn_after=60)
    task = asyncio.create_task(probe.run())
    await asyncio.sleep(0.01)  # the probe is timing
    before = probe.turns
    await asyncio.sleep(0.3)  # one wait in the selector, one turn after it
    after = probe.turns
    task.cancel()
    # A probe waking every 20 ms would take ~15 turns here; under load fewer, never more.
    assert after - before <= 3


async def test_the_selector_is_restored_when_the_probe_stops() -> None:
    selector = asyncio.get_running_loop()._selector  # type: ignore[attr-defined]
    task = asyncio.create_task(LoopLagProbe(warn_after=60).run())
    await asyncio.sleep(0.01)
    assert "select" in vars(selector)
    task.cancel()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert "select" not in vars(selector)


async def test_a_second_probe_leaves_the_loop_to_the_first() -> None:
    selector = asyncio.get_running_loop()._selector  # type: ignore[attr-defined]
    first, second = LoopLagProbe(warn_after=60), LoopLagProbe(warn_after=60)
    with capture_logs() as logs:
        tasks = [asyncio.create_task(first.run()), asyncio.create_task(second.run())]
        await asyncio.sleep(0.01)
    assert [e["reason"] for e in logs if e["event"] == "event_loop_lag_unmeasured"] == [
        "another probe times this loop"
    ]
    tasks[1].cancel()
    await asyncio.sleep(0.01)
    counted = first.turns
    await asyncio.sleep(0.01)
    assert first.turns > counted  # the first still times the loop
    assert second.turns == 0
    tasks[0].cancel()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert "select" not in vars(selector)


async def _hold_then_yield(seconds: float) -> None:
    await asyncio.sleep(0)
    _hold_the_loop(seconds)
    await asyncio.sleep(0)


async def test_a_traced_slow_turn_names_the_task_that_held_it() -> None:
    probe = LoopLagProbe(warn_after=60, trace_over=0.1)
    with capture_logs() as logs:
        task = asyncio.create_task(probe.run())
        await asyncio.sleep(0.01)  # the probe is timing
        await asyncio.create_task(_hold_then_yield(0.3), name="holder")
        await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.sleep(0)
    # On a loaded machine another turn may pass 0.1 s too (preempted): find the holder's.
    slow = [
        e
        for e in logs
        if e["event"] == "event_loop_turn_slow" and "(holder)" in "".join(e["longest"][:1])
    ]
    assert len(slow) == 1
    longest = slow[0]["longest"][0]
    assert "task _hold_then_yield (holder)" in longest
    assert "resumed _hold_then_yield@runtime/test_looplag.py" in longest
    assert slow[0]["kinds"][0].endswith("task _hold_then_yield")
    assert slow[0]["seconds"] >= 0.3
    # Tracing does not lower the stall warning; the watchdog shows the stack of a traced
    # turn too.
    assert not [e for e in logs if e["event"] == "event_loop_stalled"]
    assert any("_hold_the_loop" in e["stack"] for e in logs if e["event"] == "event_loop_held")


async def _pages() -> AsyncIterator[int]:
    await asyncio.sleep(0)
    yield 1


class _Lister:
    name = "things"

    async def run(self) -> None:
        async for _ in _pages():
            _hold_the_loop(0.3)
        await asyncio.sleep(0)


async def test_a_traced_slow_turn_looks_into_async_for() -> None:
    probe = LoopLagProbe(warn_after=60, trace_over=0.1)
    with capture_logs() as logs:
        task = asyncio.create_task(probe.run())
        await asyncio.sleep(0.01)
        await asyncio.create_task(_Lister().run(), name="lister")
        await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.sleep(0)
    # On a loaded machine another turn may pass 0.1 s too (preempted): find the lister's.
    longest = [
        e["longest"][0]
        for e in logs
        if e["event"] == "event_loop_turn_slow" and "(lister" in "".join(e["longest"][:1])
    ]
    assert len(longest) == 1
    assert "task _Lister.run (lister things) resumed _pages@runtime/test_looplag.py" in longest[0]


async def test_the_ready_queue_is_restored_when_a_traced_probe_stops() -> None:
    loop = asyncio.get_running_loop()
    task = asyncio.create_task(LoopLagProbe(warn_after=60, trace_over=1.0).run())
    await asyncio.sleep(0.01)
    assert type(loop._ready) is not collections.deque  # type: ignore[attr-defined]
    task.cancel()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert type(loop._ready) is collections.deque  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("seconds", "logged"),
    [
        pytest.param(0.049, 0, id="under-the-threshold"),
        pytest.param(0.05, 1, id="at-the-threshold"),
    ],
)
def test_only_turns_past_the_threshold_are_logged(seconds: float, logged: int) -> None:
    trace = TurnTrace(threshold=0.05)
    with capture_logs() as logs:
        trace.turn_ended(began=100.0, seconds=seconds, cpu=None)
    assert [e["event"] for e in logs].count("event_loop_turn_slow") == logged
    assert trace.slow_turns == logged
