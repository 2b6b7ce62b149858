"""Waiting until a Manager's controllers have nothing left to do, for tests.

Owns :func:`until_idle`. It must not start, stop or drive the manager, nor choose how
polls are spaced: the caller's ``wait`` polls (:func:`eventually`, or a wait that moves
fake time on each poll).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from certmgr.runtime.manager import Manager
from certmgr.testing.dataplane.waiting import eventually

Wait = Callable[[Callable[[], Awaitable[int]], Callable[[int], bool]], Awaitable[object]]


async def until_idle(manager: Manager, *, wait: Wait = eventually, calm_polls: int = 5) -> None:
    """Until no controller of ``manager`` has queued or running work ``calm_polls`` polls
    in a row (events from a reconcile's own writes come back through watches)."""
    calm = 0

    async def probe() -> int:
        nonlocal calm
        busy = any(len(c.queue) or c.busy for c in manager.controllers)
        calm = 0 if busy else calm + 1
        return calm

    await wait(probe, lambda n: n >= calm_polls)
