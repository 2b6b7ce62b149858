"""A CPU-time stack sampler for a ``certmgr run`` that a benchmark starts.

Loaded through ``PYTHONPATH`` only by ``bench/issuance.py --cpu-profile`` (a bench tool,
not a dependency), and only active when ``CERTMGR_CPU_PROFILE`` names the output file.
Owns the sampling: ``SIGUSR1`` starts it, a second ``SIGUSR1`` stops it and writes one
line per distinct stack, ``frame;frame;...;leaf count`` (the collapsed format of flame
graph tools and of py-spy's raw output). Samples come from ``ITIMER_PROF``, which runs on
the process's CPU time: a thread waiting for a core is never sampled (py-spy samples wall
time and counts a runnable thread as busy, which under load inflates whatever follows a
wake-up). The kernel fires it at most once a tick (4 ms at HZ=250); CPU of other threads
is charged to the main thread's current frame. It must not change anything else.
"""

from __future__ import annotations

import os
import signal
import sys
from collections import Counter
from types import FrameType

_OUTPUT = os.environ.get("CERTMGR_CPU_PROFILE")
_INTERVAL = 0.001


def _collapsed(frame: FrameType | None) -> str:
    names: list[str] = []
    while frame is not None:
        code = frame.f_code
        names.append(f"{code.co_qualname} ({code.co_filename}:{frame.f_lineno})")
        frame = frame.f_back
    return ";".join(reversed(names))


def _install(output: str) -> None:
    stacks: Counter[str] = Counter()
    sampling = False

    def sample(_: int, frame: FrameType | None) -> None:
        stacks[_collapsed(frame)] += 1

    def toggle(_: int, __: FrameType | None) -> None:
        nonlocal sampling
        sampling = not sampling
        if sampling:
            signal.signal(signal.SIGPROF, sample)
            signal.setitimer(signal.ITIMER_PROF, _INTERVAL, _INTERVAL)
            return
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        with open(output, "w", encoding="utf-8") as out:
            out.writelines(f"{stack} {count}\n" for stack, count in stacks.items())

    signal.signal(signal.SIGUSR1, toggle)


if _OUTPUT and sys.platform == "linux":
    _install(_OUTPUT)
