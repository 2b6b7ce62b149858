"""Garbage-collector policy for a process whose heap is mostly long-lived cache objects.

Owns ``freeze_long_lived``: collect the young generations (cheap), then move every object
that survived into the collector's permanent generation (``gc.freeze``), so later full
collections scan only what was created since. Without it, filling the caches with 10,000
Certificates and 50,000 Secrets set off full collections of the whole heap, each holding
the event loop for 1-2 s (0.7 s per 370,000 tracked objects), more as the heap grows.
Frozen objects are still freed by reference counting when the caches drop them (decoded
JSON holds no cycles); only cyclic garbage that exists at a freeze is never reclaimed,
which the young collection just before keeps small. It must not disable the collector.
"""

from __future__ import annotations

import gc

from certmgr.runtime.clock import Clock

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
