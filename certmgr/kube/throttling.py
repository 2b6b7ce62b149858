"""The client-side rate limiter: a token bucket shared by every request of one client.

Owns ``TokenBucket`` (``qps`` tokens per second, at most ``burst`` saved up). It must not
know about HTTP. Which limit applies is ``flowcontrol``'s decision: none when the server
has API Priority and Fairness (its 429s are the backstop), else 50 QPS, burst 100, more
generous than client-go's 5/10 because one certmgr process is the only client of its
kind and its informers do most reads.

Each caller reserves a token at once (the balance may go negative) and sleeps for its
share of the debt, as Go's ``rate.Limiter`` does: callers are served in arrival order
without a lock, and a cancelled waiter gives its token back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class TokenBucket:
    def __init__(
        self,
        qps: float,
        burst: int,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if burst < 1 and qps > 0:
            raise ValueError("burst must be at least 1")
        self._qps = qps
        self._burst = float(burst)
        self._monotonic = monotonic
        self._sleep = sleep
        self._tokens = float(burst)
        self._last = monotonic()

    @property
    def unlimited(self) -> bool:
        return self._qps <= 0

    async def acquire(self) -> float:
        """Take one token, sleeping until it is due; returns the seconds waited."""
        if self.unlimited:
            return 0.0
        now = self._monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._qps)
        self._last = now
        self._tokens -= 1.0
        if self._tokens >= 0:
            return 0.0
        wait = -self._tokens / self._qps
        try:
            await self._sleep(wait)
        except asyncio.CancelledError:
            self._tokens += 1.0
            raise
        return wait
