"""The collector policy: collected, survivors frozen, again on a period or as the old
generation grows, and after young collections that come close together."""

from __future__ import annotations

import asyncio
import gc

import pytest
import structlog

from certmgr.memo import Memo
from certmgr.runtime import gcpolicy
from certmgr.testing.clock import FakeClock, settle


class Cycle:
    def __init__(self) -> None:
        self.me = self


def test_freeze_collects_young_garbage_before_freezing() -> None:
    gc.unfreeze()
    try:
        kept = [{"n": i} for i in range(100)]
        Cycle()  # garbage with a cycle: reclaimed by the young collection, not frozen
        gcpolicy.freeze_long_lived()
        assert gc.get_freeze_count() >= 100
        assert not any(isinstance(o, Cycle) for o in gc.get_objects())
        assert not any(o is kept[0] for o in gc.get_objects())
    finally:
        gc.unfreeze()


def test_freeze_without_collecting_freezes_what_is_alive() -> None:
    gc.unfreeze()
    try:
        kept = [{"n": i} for i in range(100)]
        gcpolicy.freeze_without_collecting()
        assert gc.get_freeze_count() >= 100
        assert not any(o is kept[0] for o in gc.get_objects())
    finally:
        gc.unfreeze()


async def test_refreeze_runs_on_its_period() -> None:
    clock = FakeClock()
    gc.unfreeze()
    task = asyncio.create_task(gcpolicy.refreeze_forever(clock, every=60))
    try:
        await settle()
        assert gc.get_freeze_count() == 0
        await clock.run_for(61)
        assert gc.get_freeze_count() > 0
    finally:
        task.cancel()
        gc.unfreeze()


@pytest.mark.parametrize(
    ("grown", "wait", "frozen"),
    [(10, 3, False), (10, 61, True), (5_000, 3, True)],
    ids=["few-old-objects-before-the-period", "period-over", "many-old-objects"],
)
async def test_refreeze_comes_early_when_the_old_generation_grows(
    grown: int, wait: float, frozen: bool
) -> None:
    clock = FakeClock()
    gc.unfreeze()
    gc.collect()
    gc.freeze()  # an empty old generation to start from
    task = asyncio.create_task(gcpolicy.refreeze_forever(clock, every=60, limit=1_000))
    try:
        await settle()
        before = gc.get_freeze_count()
        kept = [[i] for i in range(grown)]
        gc.collect(1)  # survivors move to the old generation
        await clock.run_for(wait)
        assert (gc.get_freeze_count() > before) is frozen
        assert kept
    finally:
        task.cancel()
        gc.unfreeze()


def test_freeze_with_full_reclaims_old_cyclic_garbage() -> None:
    gc.unfreeze()
    try:
        cycle = Cycle()
        gc.collect(1)  # now in the old generation
        del cycle
        gcpolicy.freeze_long_lived(full=True)
        assert not any(isinstance(o, Cycle) for o in gc.get_objects())
        assert not any(isinstance(o, Cycle) for o in _frozen())
    finally:
        gc.unfreeze()


def _frozen() -> list[object]:
    gc.unfreeze()  # the permanent generation's objects become old ones again
    return gc.get_objects(generation=2)


@pytest.mark.parametrize(
    ("generation", "apart", "frozen"),
    [(0, 0.2, True), (0, 5.0, False), (1, 0.2, False)],
    ids=["young-collections-close-together", "young-collections-apart", "middle-collections"],
)
def test_survivors_of_young_collections_close_together_are_frozen(
    generation: int, apart: float, frozen: bool
) -> None:
    now = [1000.0]
    freezer = gcpolicy.SurvivorFreezer(within=1.0, monotonic=lambda: now[0])
    enabled = gc.isenabled()
    gc.disable()  # only the collections below
    gc.unfreeze()
    freezer.install()
    try:
        gc.collect(generation)
        kept = [[i] for i in range(100)]
        Cycle()  # garbage the collection reclaims: never frozen
        now[0] += apart
        gc.collect(generation)
        assert (freezer.freezes == 1) is frozen
        assert (gc.get_freeze_count() >= 100) is frozen
        assert not any(isinstance(o, Cycle) for o in _frozen())
        assert kept
    finally:
        freezer.uninstall()
        gc.unfreeze()
        if enabled:
            gc.enable()


def test_tune_sets_every_generations_threshold() -> None:
    before = gc.get_threshold()
    try:
        gcpolicy.tune()
        assert gc.get_threshold() == (
            gcpolicy.YOUNG_THRESHOLD,
            gcpolicy.MIDDLE_THRESHOLD,
            gcpolicy.OLD_THRESHOLD,
        )
        assert before[2] < gcpolicy.OLD_THRESHOLD  # CPython's own full collections rarer
    finally:
        gc.set_threshold(*before)


def test_the_pause_timer_keeps_the_longest_pause_per_generation() -> None:
    timer = gcpolicy.PauseTimer(warn_after=10.0)
    timer.record(0, 0.002, cpu=0.001)
    timer.record(0, 0.001, cpu=0.001)
    timer.record(2, 0.03, cpu=0.01)
    timer.record(2, 0.02, cpu=0.015)  # waited less for a core, worked more
    assert timer.worst == {0: 0.002, 2: 0.03}
    assert timer.worst_cpu == {0: 0.001, 2: 0.015}


def test_a_long_pause_is_logged_with_what_it_collected() -> None:
    timer = gcpolicy.PauseTimer(warn_after=0.05)
    with structlog.testing.capture_logs() as logs:
        timer.record(0, 0.01, cpu=0.01, collected=5)
        timer.record(0, 0.09, cpu=0.08, collected=120_000)
    assert logs == [
        {
            "event": "gc_pause_long",
            "log_level": "warning",
            "generation": 0,
            "seconds": 0.09,
            "cpu_seconds": 0.08,
            "collected": 120_000,
        }
    ]


def test_the_pause_timer_sees_collections_while_installed() -> None:
    timer = gcpolicy.PauseTimer(warn_after=10.0)
    timer.install()
    try:
        gc.collect(1)
    finally:
        timer.uninstall()
    assert 1 in timer.worst
    gc.collect(2)
    assert 2 not in timer.worst


async def test_memos_at_rest_are_emptied() -> None:
    clock = FakeClock()
    squares = Memo(lambda n: n * n, idle_seconds=30.0, clock=clock.monotonic)
    for n in range(100):
        squares(n)
    task = asyncio.create_task(gcpolicy.release_memos_forever(clock, every=15.0))
    try:
        await clock.run_for(31)  # one turn: everything is in the previous generation
        assert len(squares) == 100
        await clock.run_for(30)  # the second turn drops what nobody asked for
        assert len(squares) == 0
    finally:
        task.cancel()
