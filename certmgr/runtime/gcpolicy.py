"""Garbage-collector policy for a process whose heap is mostly long-lived cache objects.

Owns ``freeze_long_lived``: collect the young generations (cheap), then move every object
that survived into the collector's permanent generation (``gc.freeze``), so later full
collections scan only what was created since. Without it, filling the caches with 10,000
Certificates and 50,000 Secrets set off full collections of the whole heap, each holding
the event loop for 1-2 s (0.7 s per 370,000 tracked objects), more as the heap grows.
Frozen objects are still freed by reference counting when the caches drop them (decoded
JSON holds no cycles); only cyclic garbage that exists at a freeze is never reclaimed,
which the young collection just before keeps small. It must not disable the collector.

Also owns ``release_memos_forever``: the memos (``certmgr.memo``) are turned on a period
even when nobody calls them. The C heap is not trimmed afterwards: glibc's
``malloc_trim`` holds the arena lock while it walks the heap (0.16 s at 450 MB), and
every allocation on the loop waits for it, so it stalled the loop for seconds at 100k.

And ``PauseTimer``: the longest collection per generation as a gauge
(``certmgr_gc_pause_max_seconds``), and a ``gc_pause_long`` warning past ``warn_after``,
so a stall the loop-lag probe sees can be told apart from our own code holding the loop.
"""

from __future__ import annotations

import gc
import time
from typing import Any

import structlog

from certmgr import memo
from certmgr.runtime.clock import Clock
from certmgr.runtime.metrics import GC_PAUSE_MAX

log = structlog.get_logger("certmgr.gcpolicy")

# How often objects that survived since the last freeze are frozen too: cache churn,
# memos and scrapes would otherwise rebuild an unfrozen old generation whose full
# collections cost ~130 ms each at 10k Certificates.
REFREEZE_SECONDS = 60.0
# Young-generation threshold: CPython's 700 allocations start a collection every few
# hundred microseconds of JSON decoding; 10,000 keeps each young collection short
# (it scans only the young objects) and makes the full ones rarer.
YOUNG_THRESHOLD = 10_000


def tune() -> None:
    """Raise the young-generation threshold, keeping the older generations' ratios."""
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)


def freeze_long_lived() -> None:
    """Collect the young generations, then freeze every surviving object."""
    gc.collect(1)
    gc.freeze()


async def refreeze_forever(clock: Clock, *, every: float = REFREEZE_SECONDS) -> None:
    while True:
        await clock.sleep(every)
        freeze_long_lived()


async def release_memos_forever(clock: Clock, *, every: float = memo.IDLE_SECONDS / 2) -> None:
    while True:
        await clock.sleep(every)
        memo.turn_all()


class PauseTimer:
    """Times every collection through ``gc.callbacks`` while installed."""

    def __init__(self, *, warn_after: float = 0.05) -> None:
        self.warn_after = warn_after
        self.worst: dict[int, float] = {}
        self._started = 0.0
        self._started_cpu = 0.0

    def install(self) -> None:
        if self._callback not in gc.callbacks:
            gc.callbacks.append(self._callback)

    def uninstall(self) -> None:
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            self._started_cpu = time.thread_time()
            return
        self.record(
            int(info.get("generation", 0)),
            time.perf_counter() - self._started,
            cpu=time.thread_time() - self._started_cpu,
        )

    def record(self, generation: int, seconds: float, *, cpu: float = 0.0) -> None:
        """One collection: ``seconds`` of wall time, ``cpu`` of them on the CPU (less
        when the machine is busy and the process waited for a core)."""
        if seconds > self.worst.get(generation, 0.0):
            self.worst[generation] = seconds
            GC_PAUSE_MAX.labels(generation=str(generation)).set(seconds)
        if seconds >= self.warn_after:
            log.warning(
                "gc_pause_long",
                generation=generation,
                seconds=round(seconds, 3),
                cpu_seconds=round(cpu, 3),
            )
