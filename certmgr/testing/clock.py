"""A fake ``Clock`` for tests: time moves only when the test says so.

Owns ``FakeClock``: sleepers are futures in a heap ordered by deadline (ties by the order
they went to sleep), woken by ``advance``/``run_for``/``advance_to`` in deadline order, so a
test is deterministic and takes no real time. It must not touch real time: the only
``asyncio.sleep`` here is ``sleep(0)``, which yields to the event loop without waiting.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from datetime import UTC, datetime, timedelta

DEFAULT_START = datetime(2026, 1, 1, tzinfo=UTC)

# Enough rounds for a chain of tasks waking one another; each round costs microseconds.
_MAX_SETTLE_ROUNDS = 1000


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
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._mono + seconds, next(self._seq), future))
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
        """Advance ``seconds`` in steps, one per sleeper deadline, letting the loop settle.

        Each sleeper wakes at its own deadline, in order, and whatever it schedules (another
        sleep, a queue add) happens before time moves on: a loop that sleeps 2 s runs five
        times in ``run_for(10)``.
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
        """Let the loop run until at least ``count`` coroutines sleep on this clock."""
        for _ in range(_MAX_SETTLE_ROUNDS):
            if self.sleepers >= count:
                return
            await asyncio.sleep(0)
        raise AssertionError(f"expected {count} sleepers on the fake clock, have {self.sleepers}")

    def _wake_due(self) -> None:
        while self._sleepers and self._sleepers[0][0] <= self._mono:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)

    def _drop_cancelled(self) -> None:
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)


async def settle() -> None:
    """Yield to the event loop until no callback is ready to run (or a bound is reached).

    Work that waits on real I/O is not covered: tests wait for that on a condition.
    """
    loop = asyncio.get_running_loop()
    for _ in range(_MAX_SETTLE_ROUNDS):
        await asyncio.sleep(0)
        # ``_ready`` is the loop's queue of runnable callbacks (CPython's BaseEventLoop);
        # without it we fall back to the fixed number of rounds.
        if not getattr(loop, "_ready", True):
            return
