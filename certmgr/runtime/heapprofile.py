"""Where the Python heap goes, on demand: a tracemalloc summary logged on SIGUSR2.

Owns ``install``: when the process runs under tracemalloc (``PYTHONTRACEMALLOC=25``, off
by default because it slows everything down), SIGUSR2 logs ``heap_profile`` with the
traced total and the top allocation sites, grouped by source line and by traceback
frames inside certmgr, so a benchmark can ask a running controller where its memory is.
Memory held by C libraries (OpenSSL keys, parsed certificates) is not traced. It must
do nothing, and cost nothing, when tracemalloc is off.
"""

from __future__ import annotations

import asyncio
import signal
import tracemalloc

import structlog

log = structlog.get_logger("certmgr.heapprofile")
TOP = 40


def install(loop: asyncio.AbstractEventLoop) -> bool:
    """Log a profile on SIGUSR2 if tracemalloc is tracing; whether it was installed."""
    if not tracemalloc.is_tracing():
        return False
    loop.add_signal_handler(signal.SIGUSR2, log_profile)
    return True


def log_profile() -> None:
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__)]
    )
    total = sum(stat.size for stat in snapshot.statistics("filename"))
    by_line = [
        f"{stat.size / 2**20:8.2f} MiB {stat.count:9d} {stat.traceback[0]}"
        for stat in snapshot.statistics("lineno")[:TOP]
    ]
    # Each allocation charged to the innermost certmgr line that led to it (json.loads
    # called by the informer counts for the informer).
    ours: dict[str, list[int]] = {}
    for trace in snapshot.traces:
        frame = next(
            (f for f in reversed(trace.traceback) if "/certmgr/" in f.filename),
            None,
        )
        site = f"{frame.filename.rsplit('/certmgr/', 1)[1]}:{frame.lineno}" if frame else "-"
        entry = ours.setdefault(site, [0, 0])
        entry[0] += trace.size
        entry[1] += 1
    by_our_line = [
        f"{size / 2**20:8.2f} MiB {count:9d} {site}"
        for site, (size, count) in sorted(ours.items(), key=lambda kv: -kv[1][0])[:TOP]
    ]
    log.warning(
        "heap_profile",
        traced_mib=round(total / 2**20, 1),
        top="\n".join(by_line),
        allocated_in_certmgr="\n".join(by_our_line),
    )
