"""Waiting on an eventually consistent condition with a bounded deadline, never a fixed sleep.

Owns :func:`eventually`, used by tests of anything that watches the API (the data plane,
controllers). It must not know what it waits for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")
DEADLINE_SECONDS = 15.0


async def eventually(
    probe: Callable[[], Awaitable[T]],
    accept: Callable[[T], bool],
    *,
    deadline: float = DEADLINE_SECONDS,
) -> T:
    """Call ``probe`` until ``accept`` holds for its result; fail with the last result.

    Polls with short growing intervals: the data plane is eventually consistent (it
    watches the API), so tests wait on the condition, never for a fixed time.
    """
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    delay = 0.01
    while True:
        result = await probe()
        if accept(result):
            return result
        if loop.time() > end:
            raise AssertionError(f"condition not met within {deadline}s; last: {result!r}")
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.2)
