"""A fake ``Clock`` for tests: time moves only when the test says so.

Owns ``FakeClock`` and ``settle``. Sleepers are futures in a heap ordered by deadline (ties
by the order they went to sleep), woken by ``advance``/``run_for``/``advance_to`` in
deadline order. Before time moves, ``settle`` runs the event loop until it is *quiet*: no
callback is ready and no sleeper went to sleep or woke during the last pass, so every task
is blocked on the clock or on a future only the test can resolve. Quiet is a property of
the loop, not of how long or how many passes it took, so a loaded machine changes nothing.

It must not touch real time: the only ``asyncio.sleep`` here is ``sleep(0)``, which yields
to the event loop without waiting, and no bound here is measured in seconds. Work that
waits on real I/O is outside what ``settle`` can see: tests wait for that on a condition.
"""

from __future__ import annotations

import asyncio
import collections
import heapq
import itertools
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

DEFAULT_START = datetime(2026, 1, 1, tzinfo=UTC)

# Loop passes before ``settle`` gives up on a loop that never goes quiet. A chain of tasks
# waking one another needs one pass per hop; only a task that yields forever (a busy
# ``sleep(0)`` loop) gets near this. Each pass costs microseconds.
MAX_SETTLE_PASSES = 10_000


class LoopNeverSettled(AssertionError):
    """The event loop still had work after ``MAX_SETTLE_PASSES`` passes.

    Some task yields forever, so there is no moment at which moving fake time would be
    deterministic; silently moving it anyway is what makes fake-clock tests flaky.
    """


class FakeClock:
    """A ``certmgr.runtime.clock.Clock`` whose time is advanced by the test."""

    def __init__(self, start: datetime = DEFAULT_START, *, monotonic_start: float = 1000.0):
        if start.tzinfo is None:
            raise ValueError("FakeClock start must be timezone-aware")
        self._wall_start = start.astimezone(UTC)
        self._mono_start = monotonic_start
        self._mono = monotonic_start
        self._seq = itertools.count()
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []

    # -- the Clock protocol ---------------------------------------------------------

    def now(self) -> datetime:
        return self._wall_start + timedelta(seconds=self._mono - self._mono_start)

    def monotonic(self) -> float:
        return self._mono

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        heapq.heappush(self._sleepers, (self._mono + seconds, next(self._seq), future))
        _loop_state(loop).clock_activity += 1
        await future

    # -- driving time ---------------------------------------------------------------

    @property
    def sleepers(self) -> int:
        """How many coroutines are sleeping on this clock right now."""
        return sum(1 for _, _, future in self._sleepers if not future.done())

    def next_deadline(self) -> float | None:
        """The monotonic time the earliest sleeper wakes, or None if nobody sleeps."""
        self._drop_cancelled()
        return self._sleepers[0][0] if self._sleepers else None

    def advance(self, seconds: float) -> None:
        """Jump ``seconds`` ahead at once and wake every sleeper whose deadline passed.

        Woken coroutines run when the caller next yields; a sleeper that goes back to sleep
        after waking is not woken again by this call (use ``run_for`` for that).
        """
        if seconds < 0:
            raise ValueError("time does not go backwards")
        self._mono += seconds
        self._wake_due()

    async def run_for(self, seconds: float) -> None:
        """Advance ``seconds`` in steps, one per sleeper deadline, settling the loop first.

        Each sleeper wakes at its own deadline, in order, and whatever it starts (another
        sleep, a queue add, a request that takes many loop passes) finishes or blocks before
        time moves on: a loop that sleeps 2 s runs five times in ``run_for(10)``.
        """
        if seconds < 0:
            raise ValueError("time does not go backwards")
        target = self._mono + seconds
        await settle()
        while (deadline := self.next_deadline()) is not None and deadline <= target:
            self._mono = max(self._mono, deadline)
            self._wake_due()
            await settle()
        self._mono = target
        await settle()

    async def advance_to(self, when: datetime) -> None:
        """``run_for`` until the wall clock reads ``when`` (no-op if already past)."""
        await self.run_for(max(0.0, (when - self.now()).total_seconds()))

    async def wait_for_sleepers(self, count: int = 1) -> None:
        """Run the loop until at least ``count`` coroutines sleep on this clock.

        Raises ``AssertionError`` if the loop goes quiet with fewer: nothing left to run
        could ever add one.
        """
        if self.sleepers >= count:
            return
        await _settle_until(lambda: self.sleepers >= count)
        if self.sleepers < count:
            raise AssertionError(
                f"the event loop went quiet with {self.sleepers} sleepers on the fake clock,"
                f" expected {count}"
            )

    def _wake_due(self) -> None:
        while self._sleepers and self._sleepers[0][0] <= self._mono:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)
                _loop_state(future.get_loop()).clock_activity += 1

    def _drop_cancelled(self) -> None:
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)


async def settle() -> None:
    """Run the event loop until it is quiet (see the module docstring).

    Raises ``LoopNeverSettled`` after ``MAX_SETTLE_PASSES`` passes instead of returning
    with work still running.
    """
    await _settle_until(lambda: False)


@dataclass(slots=True)
class _LoopState:
    # Bumped when a sleeper goes to sleep or is woken on this loop, so a pass in which
    # that happened is never taken for a quiet one.
    clock_activity: int = 0
    # Set while a task settles this loop. Two settling tasks would each see the other's
    # ``sleep(0)`` in the ready queue and never see it empty, so they take turns.
    settling: asyncio.Future[None] | None = None
    ready: collections.deque[object] = field(default_factory=collections.deque)


_STATES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = (
    weakref.WeakKeyDictionary()
)


def _loop_state(loop: asyncio.AbstractEventLoop) -> _LoopState:
    state = _STATES.get(loop)
    if state is None:
        # ``_ready`` is the queue of callbacks CPython's loop runs on its next pass; there
        # is no public way to ask whether a loop has runnable work.
        ready = getattr(loop, "_ready", None)
        if not isinstance(ready, collections.deque):
            raise TypeError(f"FakeClock needs CPython's asyncio event loop, not {type(loop)}")
        state = _STATES[loop] = _LoopState(ready=ready)
    return state


async def _settle_until(done: Callable[[], bool]) -> None:
    """Run loop passes until ``done()`` or the loop is quiet, whichever comes first."""
    loop = asyncio.get_running_loop()
    state = _loop_state(loop)
    while state.settling is not None:
        # ``wait`` rather than ``await``: being cancelled must not cancel the other's turn.
        await asyncio.wait({state.settling})
    turn = state.settling = loop.create_future()
    try:
        for _ in range(MAX_SETTLE_PASSES):
            if done():
                return
            activity = state.clock_activity
            # Our step goes to the back of the ready queue: when it runs, every callback
            # that was runnable has run, and anything still queued was added since.
            await asyncio.sleep(0)
            if not state.ready and state.clock_activity == activity:
                return
        raise LoopNeverSettled(
            f"the event loop still had work after {MAX_SETTLE_PASSES} passes: a task"
            " yields forever, so fake time cannot move deterministically"
        )
    finally:
        state.settling = None
        turn.set_result(None)
