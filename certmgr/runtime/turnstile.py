"""How many reconciles start in one turn of the event loop.

Owns ``Turnstile`` and ``for_loop``: a worker passes the turnstile before each reconcile,
and at most ``per_turn`` pass in one turn of the loop; the others wait, in order, for the
next turns. Without it, one turn runs a slice of every ready worker (six certificate
controllers of 16 workers each: ~100 slices of 0.5-1 ms at start) before any timer is
looked at again, so the Lease renewal and the probes waited 50-100 ms at every turn.
It must not sleep on a clock (a fake one would freeze it): turns are ``call_soon``.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque

# Reconciles started per turn: a few milliseconds of work between two looks at timers.
PER_TURN = 8

_BY_LOOP: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Turnstile] = (
    weakref.WeakKeyDictionary()
)


class Turnstile:
    def __init__(self, loop: asyncio.AbstractEventLoop, *, per_turn: int = PER_TURN) -> None:
        self._loop = loop
        self._per_turn = per_turn
        self._passed = 0  # passes in the current turn
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._turn_pending = False

    def try_pass(self) -> bool:
        """Pass at once if this turn has room and nobody waits (no coroutine to await:
        the common case of a worker's every reconcile); False: ``enter`` waits."""
        if self._passed < self._per_turn and not self._waiting:
            self._passed += 1
            self._next_turn()
            return True
        return False

    async def enter(self) -> None:
        if self.try_pass():
            return
        future = self._loop.create_future()
        self._waiting.append(future)
        self._next_turn()
        await future

    def _next_turn(self) -> None:
        # ``call_soon`` from inside a turn runs in the next one.
        if not self._turn_pending:
            self._turn_pending = True
            self._loop.call_soon(self._turn)

    def _turn(self) -> None:
        self._turn_pending = False
        self._passed = 0
        while self._waiting and self._passed < self._per_turn:
            future = self._waiting.popleft()
            if not future.done():  # a cancelled waiter gives its place up
                future.set_result(None)
                self._passed += 1
        if self._waiting or self._passed:
            self._next_turn()


def for_loop(loop: asyncio.AbstractEventLoop | None = None) -> Turnstile:
    """The running loop's turnstile, shared by every controller on it."""
    loop = loop or asyncio.get_running_loop()
    found = _BY_LOOP.get(loop)
    if found is None:
        found = _BY_LOOP[loop] = Turnstile(loop)
    return found
