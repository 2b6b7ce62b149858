"""Benchmark of the work queue and controller (printed figures, not a timed test).

1. Keys per second through WorkQueue + Controller with a no-op reconcile, for a few worker
   counts, with distinct keys and with heavy duplication (merged adds).
2. 10,000 delayed keys: CPU used while they wait (one timer task, not 10,000), and how late
   they fire on the real clock for short delays.

Run: ``.venv/bin/python bench/workqueue.py``. It must not be imported by tests.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time

import structlog

from certmgr.runtime.clock import SystemClock
from certmgr.runtime.controller import Controller
from certmgr.runtime.workqueue import WorkQueue


async def throughput(adds: int, *, workers: int, distinct: int) -> tuple[float, int]:
    """(adds per second until all are reconciled, reconciles) for a no-op reconcile."""
    queue = WorkQueue[int](f"bench-{workers}-{distinct}", clock=SystemClock())
    finished = asyncio.Event()
    adding = True
    reconciles = 0

    async def reconcile(key: int) -> None:
        nonlocal reconciles
        reconciles += 1
        if not adding and not len(queue) and queue.processing == 1:
            finished.set()  # the last key: nothing queued, only this one in hand

    controller = Controller[int](
        "bench", reconcile, queue=queue, workers=workers, log=structlog.get_logger("bench")
    )
    runner = asyncio.create_task(controller.run())
    started = time.perf_counter()
    for i in range(adds):
        queue.add(i % distinct)
        if i % 1000 == 999:
            await asyncio.sleep(0)  # let workers run, as adds arrive from watches in practice
    adding = False
    queue.add(-1)  # a last key, so the finish check runs after the last add
    await finished.wait()
    elapsed = time.perf_counter() - started
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    return adds / elapsed, reconciles


async def idle_cpu(keys: int, *, seconds: float) -> float:
    """CPU seconds per wall second while ``keys`` delayed adds wait an hour."""
    queue = WorkQueue[int]("bench-idle", clock=SystemClock())
    for i in range(keys):
        queue.add_after(i, 3600 + i)
    await asyncio.sleep(0.1)
    cpu = time.process_time()
    await asyncio.sleep(seconds)
    used = time.process_time() - cpu
    queue.shutdown()
    return used / seconds


async def lateness(keys: int, *, spread: float) -> list[float]:
    """Seconds between each key's deadline and a waiting worker receiving it."""
    clock = SystemClock()
    queue = WorkQueue[int]("bench-lateness", clock=clock)
    deadlines: dict[int, float] = {}
    for i in range(keys):
        delay = 0.5 + random.random() * spread
        deadlines[i] = clock.monotonic() + delay
        queue.add_after(i, delay)
    late: list[float] = []
    while len(late) < keys:
        key = await queue.get()
        late.append(clock.monotonic() - deadlines[key])
        queue.done(key)
    queue.shutdown()
    return late


async def main() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))  # errors only
    print("work queue + controller with a no-op reconcile, 100,000 adds")
    for workers in (1, 4, 16):
        rate, _ = await throughput(100_000, workers=workers, distinct=100_000)
        merged_rate, reconciles = await throughput(100_000, workers=workers, distinct=100)
        print(
            f"  workers={workers:>2}  distinct keys: {rate:>8,.0f} keys/s reconciled   "
            f"100 hot keys: {merged_rate:>8,.0f} adds/s absorbed ({reconciles:,} reconciles)"
        )
    cpu = await idle_cpu(10_000, seconds=3)
    print(f"10,000 pending delayed keys: idle CPU {cpu * 100:.2f} % of one core")
    late = sorted(await lateness(10_000, spread=1.0))
    q = statistics.quantiles(late, n=100)
    print(
        "10,000 delayed keys over 1 s, lateness when handed to a worker: "
        f"p50 {q[49] * 1000:.2f} ms, p99 {q[98] * 1000:.2f} ms, max {late[-1] * 1000:.2f} ms, "
        f"min {late[0] * 1000:.2f} ms"
    )


if __name__ == "__main__":
    asyncio.run(main())
