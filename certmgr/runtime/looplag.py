"""The event-loop lag probe: how long the loop was held by something that did not yield.

Owns ``LoopLagProbe``: a task that asks to wake every ``interval`` seconds and records how
late each wake-up was. A late wake-up means some callback held the loop (CPU work, a sync
call), starving the Lease renewal, the probes, the watches and the shared solver, or
that the process waited for a core on a busy machine: the CPU the process used over the
same window bounds our share (``..._on_cpu_max_seconds``). The worst lag is a gauge
(``certmgr_event_loop_lag_max_seconds``), every lag a histogram sample, and a watchdog
thread logs the loop thread's stack once a stall passes ``warn_after``, so the culprit
shows in the log without a profiler.
It must not do any work of its own on the loop beyond timing.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
import traceback

import structlog

from certmgr.runtime.metrics import LOOP_LAG, LOOP_LAG_MAX, LOOP_LAG_ON_CPU_MAX

log = structlog.get_logger("certmgr.looplag")
_STACK_FRAMES = 12


class LoopLagProbe:
    """Measures event-loop stalls; ``worst`` is the longest seen."""

    def __init__(self, *, interval: float = 0.02, warn_after: float = 1.0) -> None:
        self.interval = interval
        self.warn_after = warn_after
        self.worst = 0.0
        self.worst_on_cpu = 0.0
        self._last_tick = time.monotonic()

    def observe(self, lag: float, *, cpu: float | None = None) -> None:
        """One wake-up ``lag`` seconds late; ``cpu``: the process's CPU seconds over the
        whole window (sleep and lag), all threads, so an upper bound of our share."""
        lag = max(0.0, lag)
        LOOP_LAG.observe(lag)
        if lag > self.worst:
            self.worst = lag
            LOOP_LAG_MAX.set(lag)
        on_cpu = lag if cpu is None else min(lag, max(0.0, cpu))
        if on_cpu > self.worst_on_cpu:
            self.worst_on_cpu = on_cpu
            LOOP_LAG_ON_CPU_MAX.set(on_cpu)
        if lag >= self.warn_after:
            log.warning("event_loop_stalled", seconds=round(lag, 3))

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        stop = threading.Event()
        watchdog = threading.Thread(
            target=self._watch, args=(threading.get_ident(), stop), daemon=True
        )
        watchdog.start()
        # A bare timer callback, not a task sleeping: 50 wake-ups a second through the
        # task machinery cost ~0.8 % of a core on their own.
        handle: asyncio.TimerHandle | None = None

        def tick(due: float, cpu: float) -> None:
            nonlocal handle
            now = loop.time()
            self.observe(now - due, cpu=time.process_time() - cpu)
            self._last_tick = time.monotonic()
            handle = loop.call_at(
                now + self.interval, tick, now + self.interval, time.process_time()
            )

        try:
            self._last_tick = time.monotonic()
            start = loop.time() + self.interval
            handle = loop.call_at(start, tick, start, time.process_time())
            await asyncio.Event().wait()
        finally:
            if handle is not None:
                handle.cancel()
            stop.set()

    def _watch(self, loop_thread: int, stop: threading.Event) -> None:
        """While the loop is held past ``warn_after``, log once where it is held."""
        reported = 0.0
        while not stop.wait(self.warn_after / 4):
            tick = self._last_tick
            if time.monotonic() - tick < self.warn_after or tick == reported:
                continue
            reported = tick
            frame = sys._current_frames().get(loop_thread)
            if frame is None:
                continue
            stack = traceback.format_stack(frame)[-_STACK_FRAMES:]
            log.warning(
                "event_loop_held",
                seconds=round(time.monotonic() - tick, 3),
                stack="".join(stack),
            )
