"""The clock seam: every wait and every timestamp in certmgr goes through a ``Clock``.

Owns the ``Clock`` protocol, the production ``SystemClock`` and ``race_clock``, the
one helper that bounds an awaitable by a deadline measured on a ``Clock`` (so a fake
clock drives timeouts too). It must not keep state of its own: fake time lives in
``certmgr.testing.clock``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Protocol, TypeVar

T = TypeVar("T")


class Clock(Protocol):
    """Wall time for timestamps, monotonic time for durations, and sleeping."""

    def now(self) -> datetime:
        """The current time, timezone-aware in UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards; only differences mean anything."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return after ``seconds`` have passed on this clock (at once when <= 0)."""
        ...


class SystemClock:
    """The real clock: ``datetime.now(UTC)``, ``time.monotonic`` and ``asyncio.sleep``."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


async def race_clock(clock: Clock, awaitable: Awaitable[T], *, seconds: float) -> T:
    """Await ``awaitable`` but give up after ``seconds`` of ``clock`` time.

    ``asyncio.timeout`` would measure real time, which a fake clock cannot drive; this
    races the awaitable against ``clock.sleep`` instead (on the ``SystemClock``, a future
    is bounded by ``asyncio.timeout`` itself). On timeout the awaitable is cancelled and
    ``TimeoutError`` is raised.
    """
    if type(clock) is SystemClock and isinstance(awaitable, asyncio.Future):
        # Real time on a future (a cache waiting for a write to come back: several per
        # issuance): asyncio's own timeout does the same without a task per side.
        timeout = asyncio.timeout(seconds)
        try:
            async with timeout:
                result: T = await awaitable
        except TimeoutError:
            if timeout.expired():
                raise TimeoutError(f"timed out after {seconds} s") from None
            raise
        return result
    work = asyncio.ensure_future(awaitable)
    timer = asyncio.ensure_future(clock.sleep(seconds))
    timed_out = False
    try:
        await asyncio.wait({work, timer}, return_when=asyncio.FIRST_COMPLETED)
        timed_out = not work.done()
    finally:
        # Also runs when we are cancelled ourselves: nothing may outlive this call.
        timer.cancel()
        if not work.done():
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
    if timed_out:
        raise TimeoutError(f"timed out after {seconds} s")
    return work.result()
