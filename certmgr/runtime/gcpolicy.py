"""Garbage-collector policy for a process whose heap is mostly long-lived cache objects.

Owns ``freeze_long_lived``: collect, then move every object that survived into the
collector's permanent generation (``gc.freeze``), so later collections scan only what
was created since (``freeze_without_collecting`` skips the collection);
``refreeze_forever`` does it on a period (collecting every generation first), and sooner
whenever the unfrozen old generation outgrows ``FREEZE_AT`` objects (a start filling the
caches), so a full collection scans about that many at most. Frozen objects are still
freed by reference counting when the caches drop them (decoded JSON holds no cycles);
only cyclic garbage alive at a freeze is never reclaimed, which the collection just
before keeps small. It must not disable the collector.

Also owns ``release_memos_forever``: the memos (``certmgr.memo``) are turned on a period
even when nobody calls them. The C heap is not trimmed afterwards: glibc's
``malloc_trim`` holds the arena lock while it walks the heap (0.16 s at 450 MB), and
every allocation on the loop waits for it, so it stalled the loop for seconds at 100k.

And ``SurvivorFreezer``: while young collections come less than ``BULK_SECONDS`` apart
(the heap growing by ``YOUNG_THRESHOLD`` objects that fast: a start or a relist making
cache entries, views and memos), what each one leaves is frozen at once, so no middle
collection scans it again. At rest young collections are minutes apart and it does nothing.

And ``PauseTimer``: the longest collection per generation as gauges (wall and CPU
seconds: ``certmgr_gc_pause_max_seconds``, ``certmgr_gc_pause_cpu_max_seconds``), and a
``gc_pause_long`` warning past ``warn_after``, so a stall the loop-lag probe sees can be
told apart from our own code holding the loop.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable
from typing import Any

import structlog

from certmgr import memo
from certmgr.runtime.clock import Clock
from certmgr.runtime.metrics import GC_PAUSE_CPU_MAX, GC_PAUSE_MAX

log = structlog.get_logger("certmgr.gcpolicy")

# How often objects that survived since the last freeze are frozen at the latest: cache
# churn, memos and scrapes would otherwise rebuild an unfrozen old generation.
REFREEZE_SECONDS = 60.0
# How often the unfrozen old generation is looked at between two periodic freezes. It
# is counted only after a collection moved objects into it (a count costs ~0.1 us an
# object, so ~2-4 ms a second while a start fills it, nothing at rest).
REFREEZE_CHECK_SECONDS = 1.0
# The unfrozen old objects that make a freeze due at once. A full collection scans every
# unfrozen object (~0.6 us each for decoded JSON): a start at 100,000 Certificates let
# them grow to millions between two periodic freezes (a 0.77 s full collection); with
# this bound a full collection scans ~20,000-40,000.
FREEZE_AT = 20_000
# Young-generation threshold: CPython's 700 allocations start a collection every few
# hundred microseconds of JSON decoding; 10,000 keeps each young collection short
# (it scans only the young objects) and makes the full ones rarer.
YOUNG_THRESHOLD = 10_000
# Young collections between two middle-generation ones (CPython: 10). The middle one
# scans the survivors of all of them: during a start nearly everything survives (cache
# entries, decoded views, gathered inputs), so 10 made it ~110,000 objects, 25-44 ms at
# 10k; 4 still let a 100k start's middle collections reach 40-43 ms. Each survivor is
# scanned by one middle collection whatever the threshold, so a lower one costs no more.
MIDDLE_THRESHOLD = 2
# Two young collections closer than this: the heap grows by YOUNG_THRESHOLD objects (net
# of those freed) that fast, and nearly all of them survive (a start: each Certificate's
# views and memos, ~12 objects). A middle collection scanned them a second time: the
# survivors of three young collections and the young generation, ~40,000 objects and
# ~350,000 references into the whole heap (38-42 ms at 100k with requests). A start's
# young collections come 0.1-0.3 s apart; at rest, minutes apart.
BULK_SECONDS = 1.0
# Middle collections between two full ones that CPython starts itself (its own: 10, and
# only once the old generation grew by a quarter). ``refreeze_forever`` keeps the old
# generation small and collects it whole on its period; CPython's own full collections
# came on top, inside whatever reconcile allocated (61 ms at a 100k start).
OLD_THRESHOLD = 100


def tune() -> None:
    """Set the young, middle and old thresholds."""
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)


def freeze_long_lived(*, full: bool = False) -> None:
    """Collect the young generations (all of them with ``full``), then freeze every
    surviving object."""
    gc.collect(2 if full else 1)
    gc.freeze()


def freeze_without_collecting() -> None:
    """Freeze every object alive, garbage included: for a caller that has just frozen
    with ``freeze_long_lived`` and since made only what it keeps (a list's later pages)."""
    gc.freeze()


def unfrozen_old_objects() -> int:
    return len(gc.get_objects(generation=2))


def _promotions() -> int:
    """Collections so far of the middle and old generations: only they move objects
    into the old generation."""
    stats = gc.get_stats()
    return int(stats[1]["collections"]) + int(stats[2]["collections"])


async def refreeze_forever(
    clock: Clock,
    *,
    every: float = REFREEZE_SECONDS,
    check: float = REFREEZE_CHECK_SECONDS,
    limit: int = FREEZE_AT,
) -> None:
    frozen_at, counted = clock.monotonic(), _promotions()
    while True:
        await clock.sleep(check)
        promotions = _promotions()
        grown = promotions != counted and unfrozen_old_objects() >= limit
        counted = promotions
        if clock.monotonic() - frozen_at >= every:
            # Full: cyclic garbage that reached the old generation is reclaimed, not
            # frozen for good.
            freeze_long_lived(full=True)
            frozen_at, counted = clock.monotonic(), _promotions()
        elif grown:
            # Young only, like a list page's: a growing heap (a start) is frozen at the
            # cost of its young objects, not of another pass over the old ones.
            freeze_long_lived()
            counted = _promotions()


async def release_memos_forever(clock: Clock, *, every: float = memo.IDLE_SECONDS / 2) -> None:
    while True:
        await clock.sleep(every)
        # One memo a turn: each may drop a generation of 100,000 entries (~9 ms).
        for each in memo.every_memo():
            each.turn_if_due()
            await asyncio.sleep(0)


class _Callback:
    """A collector callback (``_callback``) in ``gc.callbacks`` while installed."""

    def install(self) -> None:
        if self._callback not in gc.callbacks:
            gc.callbacks.append(self._callback)

    def uninstall(self) -> None:
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        raise NotImplementedError


class SurvivorFreezer(_Callback):
    """Freezes, through ``gc.callbacks`` while installed, what a young collection left
    when it came less than ``within`` seconds after the one before.

    Everything frozen there has just survived a collection (the young generation's
    cyclic garbage was reclaimed a moment before), so what stays frozen for good is only
    cycles that form later among it; ``gc.freeze`` itself is a list splice."""

    def __init__(
        self, *, within: float = BULK_SECONDS, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.within = within
        self.freezes = 0
        # Real time, like the pauses': a fake clock standing still in a test would make
        # every young collection of the test process look like a start's.
        self._monotonic = monotonic
        self._last: float | None = None

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase != "stop" or info.get("generation") != 0:
            return
        now = self._monotonic()
        if self._last is not None and now - self._last < self.within:
            gc.freeze()
            self.freezes += 1
        self._last = now


class PauseTimer(_Callback):
    """Times every collection through ``gc.callbacks`` while installed."""

    def __init__(self, *, warn_after: float = 0.05) -> None:
        self.warn_after = warn_after
        self.worst: dict[int, float] = {}
        self.worst_cpu: dict[int, float] = {}
        self._started = 0.0
        self._started_cpu = 0.0

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            self._started_cpu = time.thread_time()
            return
        self.record(
            int(info.get("generation", 0)),
            time.perf_counter() - self._started,
            cpu=time.thread_time() - self._started_cpu,
            collected=int(info.get("collected", 0)),
        )

    def record(
        self, generation: int, seconds: float, *, cpu: float = 0.0, collected: int = 0
    ) -> None:
        """One collection: ``seconds`` of wall time, ``cpu`` of them on the CPU (less
        when the machine is busy and the process waited for a core), ``collected``
        unreachable objects found (a long pause that found many was spent freeing what
        they held, not scanning)."""
        if seconds > self.worst.get(generation, 0.0):
            self.worst[generation] = seconds
            GC_PAUSE_MAX.labels(generation=str(generation)).set(seconds)
        if cpu > self.worst_cpu.get(generation, 0.0):
            self.worst_cpu[generation] = cpu
            GC_PAUSE_CPU_MAX.labels(generation=str(generation)).set(cpu)
        if seconds >= self.warn_after:
            log.warning(
                "gc_pause_long",
                generation=generation,
                seconds=round(seconds, 3),
                cpu_seconds=round(cpu, 3),
                collected=collected,
            )
