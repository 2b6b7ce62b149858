"""String sharing benchmark: the longest single call while 2,000,000 distinct strings are
shared, by ``sys.intern`` (one process-wide dict, re-inserted whole each time it grows)
and by ``certmgr.strings`` (small shards split one at a time).

Prints figures (it is not a timed test): per method the worst calls by the thread's CPU
time (a call preempted by another process is long on the wall clock only), with their
wall time and the string count at which they happened; the CPU time a call of an untimed
pass over as many other strings; and the load average. Every string is held, as the
caches hold theirs. The cyclic GC is off while timing, so its pauses are not counted
against either table.

    .venv/bin/python bench/strings.py [--strings 2000000]
"""

from __future__ import annotations

import argparse
import gc
import heapq
import os
import sys
import time
from collections.abc import Callable

from certmgr.strings import StringPool


def names(count: int, tag: str) -> list[str]:
    return [f"{tag}-cert-{n:07d}.example-namespace-{n % 10}.svc" for n in range(count)]


def worst_calls(
    share: Callable[[str], str], strings: list[str], *, keep: int = 5
) -> list[tuple[float, float, int]]:
    """The ``keep`` longest calls as (CPU seconds, wall seconds, index)."""
    wall, cpu = time.perf_counter, time.thread_time
    worst: list[tuple[float, float, int]] = []
    held: list[str | None] = [None] * len(strings)  # sized up front: no growth timed
    gc.disable()
    try:
        for index, text in enumerate(strings):
            w, c = wall(), cpu()
            held[index] = share(text)
            spent_cpu, spent_wall = cpu() - c, wall() - w
            if len(worst) < keep:
                heapq.heappush(worst, (spent_cpu, spent_wall, index))
            elif spent_cpu > worst[0][0]:
                heapq.heapreplace(worst, (spent_cpu, spent_wall, index))
    finally:
        gc.enable()
    return sorted(worst, reverse=True)


def cpu_per_call(share: Callable[[str], str], strings: list[str]) -> float:
    """CPU seconds a call, over ``strings`` all held (no timer around each call)."""
    gc.disable()
    try:
        started = time.thread_time()
        held = [share(text) for text in strings]
        spent = time.thread_time() - started
    finally:
        gc.enable()
    del held
    return spent / len(strings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strings", type=int, default=2_000_000)
    args = parser.parse_args()
    pool = StringPool()
    untimed = StringPool()
    for label, share, untimed_share, tag in (
        ("sys.intern", sys.intern, sys.intern, "i"),
        ("StringPool", pool.share, untimed.share, "p"),
    ):
        strings = names(args.strings, tag)
        worst = worst_calls(share, strings)
        del strings
        load = os.getloadavg()[0]
        calls = ", ".join(
            f"{c * 1e3:.1f} ms CPU ({w * 1e3:.1f} wall) at {i:,}" for c, w, i in worst
        )
        print(f"{label}: {args.strings:,} strings (load {load:.1f})")
        print(f"  worst calls: {calls}")
        strings = names(args.strings, tag + "-untimed")
        mean = cpu_per_call(untimed_share, strings)
        del strings
        print(f"  untimed pass: {mean * 1e9:.0f} ns CPU a call (load {os.getloadavg()[0]:.1f})")
    sizes = pool.shard_sizes()
    print(f"StringPool: {len(sizes):,} shards, largest {max(sizes)} strings")


if __name__ == "__main__":
    main()
