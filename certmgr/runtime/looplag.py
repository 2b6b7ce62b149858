"""The event-loop lag probe: how long the loop was held by something that did not yield.

Owns ``LoopLagProbe``: a task that asks to wake every ``interval`` seconds and records how
late each wake-up was. A late wake-up means some callback held the loop (CPU work, a sync
call), starving the Lease renewal, the probes, the watches and the shared solver. The
worst lag is a gauge (``certmgr_event_loop_lag_max_seconds``) and each lag over
``warn_after`` is a warning log line, so a stall shows without a profiler.
It must not do any work of its own beyond timing, and reads time only from the loop's
monotonic clock (a stall is wall time by nature; a fake clock cannot produce one).
"""

from __future__ import annotations

import asyncio

import structlog

from certmgr.runtime.metrics import LOOP_LAG, LOOP_LAG_MAX

log = structlog.get_logger("certmgr.looplag")


class LoopLagProbe:
    """Measures event-loop stalls; ``worst`` is the longest seen."""

    def __init__(self, *, interval: float = 0.02, warn_after: float = 1.0) -> None:
        self.interval = interval
        self.warn_after = warn_after
        self.worst = 0.0

    def observe(self, lag: float) -> None:
        lag = max(0.0, lag)
        LOOP_LAG.observe(lag)
        if lag > self.worst:
            self.worst = lag
            LOOP_LAG_MAX.set(lag)
        if lag >= self.warn_after:
            log.warning("event_loop_stalled", seconds=round(lag, 3))

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self.interval
            await asyncio.sleep(self.interval)
            self.observe(loop.time() - due)
