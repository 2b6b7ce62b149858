"""The event-loop lag probe: how long the loop was held by something that did not yield.

Owns ``LoopLagProbe``: it times every turn of the running loop, from the moment its
selector returns to the moment the loop asks it to wait again. A long turn means some
callback held the loop (CPU work, a sync call), starving the Lease renewal, the probes,
the watches and the shared solver, or that the process waited for a core on a busy
machine: the CPU the process used over the same turn bounds our share
(``..._on_cpu_max_seconds``). The longest turn is a gauge
(``certmgr_event_loop_lag_max_seconds``), each turn of 1 ms or more a histogram sample,
and a watchdog thread logs the loop thread's stack once a turn passes ``warn_after``, so
the culprit shows in the log without a profiler. With ``trace_over`` (``certmgr run
--log-slow-loop-turns``) it also names the callbacks of every turn that long
(``certmgr.runtime.turntrace``); without it, that costs nothing. An idle loop is not
woken: the probe has no timer. It must not do any work of its own on the loop beyond
timing.
"""

from __future__ import annotations

import asyncio
import selectors
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

import structlog

from certmgr.runtime.metrics import LOOP_LAG, LOOP_LAG_MAX, LOOP_LAG_ON_CPU_MAX
from certmgr.runtime.turntrace import TurnTrace

log = structlog.get_logger("certmgr.looplag")
_STACK_FRAMES = 12
# Turns shorter than this are not histogram samples.
SAMPLED_TURN_SECONDS = 0.001
# The process's CPU clock is a system call (~2 us here): read at most this often, at the
# start of a turn; a turn's CPU is then counted from at most this long before it began.
CPU_READ_SECONDS = 0.005

Select = Callable[[float | None], list[tuple[selectors.SelectorKey, int]]]


class LoopLagProbe:
    """Measures event-loop stalls; ``worst`` is the longest seen."""

    def __init__(self, *, warn_after: float = 1.0, trace_over: float | None = None) -> None:
        self.warn_after = warn_after
        # Tracing turns of ``trace_over`` or more: the watchdog shows their stacks too.
        self.held_after = warn_after if trace_over is None else min(warn_after, trace_over)
        self.trace = None if trace_over is None else TurnTrace(threshold=trace_over)
        self.worst = 0.0
        self.worst_on_cpu = 0.0
        self.turns = 0
        # When the current turn began (monotonic); None while the loop waits in its
        # selector. The process's CPU seconds, read at ``_cpu_read_at``.
        self._busy_since: float | None = None
        self._cpu = 0.0
        self._cpu_read_at = 0.0

    def observe(self, lag: float, *, cpu: float | None = None) -> None:
        """One turn that held the loop ``lag`` seconds; ``cpu``: the process's CPU seconds
        over it, all threads, so an upper bound of our share."""
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
        """Time the running loop's turns until cancelled."""
        # A selector event loop (asyncio's default on Unix) calls its selector's select()
        # once per turn: the one place where a turn ends and the next begins. The loop
        # keeps the selector in ``_selector``, stable since Python 3.4; any other loop
        # goes unmeasured rather than woken by a timer.
        selector: Any = getattr(asyncio.get_running_loop(), "_selector", None)
        if selector is None or not callable(getattr(selector, "select", None)):
            log.warning("event_loop_lag_unmeasured", reason="not a selector event loop")
            await asyncio.Event().wait()
            return
        if "select" in vars(selector):
            log.warning("event_loop_lag_unmeasured", reason="another probe times this loop")
            await asyncio.Event().wait()
            return
        stop = threading.Event()
        watchdog = threading.Thread(
            target=self._watch, args=(threading.get_ident(), stop), daemon=True
        )
        loop = asyncio.get_running_loop()
        trace = self.trace
        if trace is not None and not trace.install(loop):
            log.warning("event_loop_turns_untraced", reason="no ready queue to record")
            trace = None
        self._read_cpu(time.monotonic())
        self._busy_since = self._cpu_read_at
        selector.select = (
            self._timed(selector.select) if trace is None else self._traced(selector.select, trace)
        )
        watchdog.start()
        try:
            await asyncio.Event().wait()
        finally:
            del selector.select  # the class's own again
            if trace is not None:
                trace.uninstall(loop)
            self._busy_since = None
            stop.set()

    def _timed(self, select: Select) -> Select:
        def timed_select(timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
            began = self._busy_since
            if began is not None:
                self._busy_since = None
                self.turns += 1
                lag = time.monotonic() - began
                if lag >= SAMPLED_TURN_SECONDS:
                    self.observe(lag, cpu=time.process_time() - self._cpu)
            try:
                return select(timeout)
            finally:
                now = time.monotonic()
                if now - self._cpu_read_at >= CPU_READ_SECONDS:
                    self._read_cpu(now)
                self._busy_since = now

        return timed_select

    def _traced(self, select: Select, trace: TurnTrace) -> Select:
        """``_timed``, and each turn's callbacks handed to ``trace``."""

        def traced_select(timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
            began = self._busy_since
            if began is not None:
                self._busy_since = None
                self.turns += 1
                lag = time.monotonic() - began
                cpu = time.process_time() - self._cpu
                if lag >= SAMPLED_TURN_SECONDS:
                    self.observe(lag, cpu=cpu)
                trace.turn_ended(began=began, seconds=lag, cpu=cpu)
            try:
                return select(timeout)
            finally:
                now = time.monotonic()
                self._read_cpu(now)
                self._busy_since = now

        return traced_select

    def _read_cpu(self, now: float) -> None:
        self._cpu = time.process_time()
        self._cpu_read_at = now

    def _watch(self, loop_thread: int, stop: threading.Event) -> None:
        """While one turn holds the loop past ``held_after``, log once where it is held."""
        reported: float | None = None
        while not stop.wait(self.held_after / 4):
            began = self._busy_since
            if began is None or began == reported or time.monotonic() - began < self.held_after:
                continue
            reported = began
            frame = sys._current_frames().get(loop_thread)
            if frame is None:
                continue
            stack = traceback.format_stack(frame)[-_STACK_FRAMES:]
            log.warning(
                "event_loop_held",
                seconds=round(time.monotonic() - began, 3),
                stack="".join(stack),
            )
