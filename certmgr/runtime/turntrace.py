"""Which callbacks a long turn of the event loop ran, and how long each held it.

Owns ``TurnTrace``, the opt-in debug mode of the loop-lag probe
(``certmgr run --log-slow-loop-turns DURATION``): it records every callback the loop
takes from its ready queue, with the time it was taken, and logs a turn that held the
loop at least ``threshold`` as ``event_loop_turn_slow``: its longest callbacks (a task's
coroutine, where it resumed and where it stopped; a plain callback's qualified name),
the callbacks grouped by kind, and the collections of the garbage collector inside it.
When the mode is off nothing of it is installed. It must not change what the loop runs
or in which order.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import os
import time
from collections.abc import Callable
from types import CodeType, FrameType
from typing import Any, Final, NamedTuple

import structlog

log = structlog.get_logger("certmgr.looplag")

# How many of a slow turn's longest callbacks, and of its kinds, one log line names.
LONGEST_SHOWN: Final = 6
KINDS_SHOWN: Final = 6
# asyncio's own frames (sleep(0)'s bare yield, a Queue's get) say nothing about who waits.
_ASYNCIO_DIR: Final = os.path.dirname(asyncio.__file__) + os.sep


class Ran(NamedTuple):
    """One callback taken from the ready queue at ``taken`` (``time.monotonic``);
    for a task's step, its innermost frame and line when it was taken. A tuple: one is
    made per callback the loop runs."""

    taken: float
    handle: asyncio.Handle
    frame: FrameType | None
    line: int


_Record = tuple[float, asyncio.Handle, FrameType | None, int]  # Ran's fields


class _RecordingReady(collections.deque[asyncio.Handle]):
    """The loop's ready queue, noting each callback the loop takes from it."""

    def __init__(self, ran: list[_Record], items: collections.deque[asyncio.Handle]) -> None:
        super().__init__(items)
        self.ran = ran

    def popleft(self) -> asyncio.Handle:
        handle = super().popleft()
        frame = _innermost_frame(handle)
        self.ran.append((time.monotonic(), handle, frame, 0 if frame is None else frame.f_lineno))
        return handle


class TurnTrace:
    """Records each turn's callbacks; logs those of a turn longer than ``threshold``."""

    def __init__(self, *, threshold: float) -> None:
        self.threshold = threshold
        self.slow_turns = 0
        self._ran: list[_Record] = []
        self._gc_seconds = 0.0
        self._gc_collections: list[str] = []
        self._gc_started = 0.0

    def install(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Record ``loop``'s callbacks from now on; False when it has no ready queue we
        know (not asyncio's own event loop)."""
        ready = getattr(loop, "_ready", None)
        if type(ready) is not collections.deque:
            return False
        loop._ready = _RecordingReady(self._ran, ready)  # type: ignore[attr-defined]
        gc.callbacks.append(self._on_gc)
        return True

    def uninstall(self, loop: asyncio.AbstractEventLoop) -> None:
        ready = getattr(loop, "_ready", None)
        if isinstance(ready, _RecordingReady):
            loop._ready = collections.deque(ready)  # type: ignore[attr-defined]
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    def turn_ended(self, *, began: float, seconds: float, cpu: float | None) -> None:
        """The turn that began at ``began`` (``time.monotonic``) held the loop
        ``seconds``; log it when slow, then forget it."""
        try:
            if seconds >= self.threshold:
                self.slow_turns += 1
                self._log(began, began + seconds, seconds, cpu)
        finally:
            self._ran.clear()
            self._gc_seconds = 0.0
            self._gc_collections.clear()

    def _log(self, began: float, ended: float, seconds: float, cpu: float | None) -> None:
        records = [Ran(*record) for record in self._ran]
        spans: list[tuple[float, Ran]] = []
        for index, ran in enumerate(records):
            until = records[index + 1].taken if index + 1 < len(records) else ended
            spans.append((until - ran.taken, ran))
        kinds: dict[str, list[float]] = {}
        for spent, ran in spans:
            entry = kinds.setdefault(_kind(ran.handle), [0, 0.0])
            entry[0] += 1
            entry[1] += spent
        longest = sorted(spans, key=lambda span: -span[0])[:LONGEST_SHOWN]
        log.warning(
            "event_loop_turn_slow",
            seconds=round(seconds, 4),
            cpu_seconds=None if cpu is None else round(cpu, 4),
            callbacks=len(spans),
            before_callbacks_ms=_ms((spans[0][1].taken if spans else ended) - began),
            gc_ms=_ms(self._gc_seconds),
            gc=list(self._gc_collections),
            longest=[f"{_ms(spent)} ms {_describe(ran)}" for spent, ran in longest],
            kinds=[
                f"{_ms(total)} ms x{count:.0f} {kind}"
                for kind, (count, total) in sorted(kinds.items(), key=lambda kv: -kv[1][1])[
                    :KINDS_SHOWN
                ]
            ],
        )

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_started = time.monotonic()
            return
        spent = time.monotonic() - self._gc_started
        self._gc_seconds += spent
        self._gc_collections.append(f"gen{info.get('generation', '?')} {_ms(spent)} ms")


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def _task_of(handle: asyncio.Handle) -> asyncio.Task[Any] | None:
    owner = getattr(handle._callback, "__self__", None)  # type: ignore[attr-defined]
    return owner if isinstance(owner, asyncio.Task) else None


def _innermost_frame(handle: asyncio.Handle) -> FrameType | None:
    """Where a task's step will resume: its innermost suspended coroutine or generator
    outside asyncio itself; None for any other callback or a task that has not started."""
    task = _task_of(handle)
    if task is None:
        return None
    awaited: Any = task.get_coro()
    frame: FrameType | None = None
    while awaited is not None:
        if type(awaited).__name__ == "async_generator_asend":
            # ``async for``: the step awaits the generator through an asend object,
            # which names its generator only to the garbage collector.
            awaited = next(
                (ref for ref in gc.get_referents(awaited) if hasattr(ref, "ag_frame")), None
            )
            continue
        inner = (
            getattr(awaited, "cr_frame", None)
            or getattr(awaited, "gi_frame", None)
            or getattr(awaited, "ag_frame", None)
        )
        if inner is None:
            break
        if frame is None or not inner.f_code.co_filename.startswith(_ASYNCIO_DIR):
            frame = inner
        awaited = _awaited_by(awaited)
    return frame


def _awaited_by(awaitable: Any) -> Any:
    return (
        getattr(awaitable, "cr_await", None)
        or getattr(awaitable, "gi_yieldfrom", None)
        or getattr(awaitable, "ag_await", None)
    )


def _where(code: CodeType, line: int) -> str:
    path = "/".join(code.co_filename.rsplit("/", 2)[-2:])
    return f"{code.co_qualname}@{path}:{line}"


def _kind(handle: asyncio.Handle) -> str:
    task = _task_of(handle)
    if task is not None:
        coro: Any = task.get_coro()
        code = getattr(coro, "cr_code", None) or getattr(coro, "gi_code", None)
        return f"task {code.co_qualname if code is not None else type(coro).__name__}"
    return _callable_name(handle._callback)  # type: ignore[attr-defined]


def _callable_name(callback: Callable[..., Any]) -> str:
    inner = getattr(callback, "func", callback)  # functools.partial
    module = getattr(inner, "__module__", None) or ""
    name = getattr(inner, "__qualname__", None) or type(inner).__qualname__
    return f"{module}.{name}" if module else name


def _describe(ran: Ran) -> str:
    """A task step as its coroutine, where it resumed and where it stopped (or done);
    another callback as its qualified name."""
    task = _task_of(ran.handle)
    if task is None:
        return _callable_name(ran.handle._callback)  # type: ignore[attr-defined]
    resumed = "start" if ran.frame is None else _where(ran.frame.f_code, ran.line)
    if task.done():
        stopped = "done"
    else:
        now = _innermost_frame(ran.handle)
        stopped = "?" if now is None else _where(now.f_code, now.f_lineno)
    return f"{_kind(ran.handle)} ({_task_name(task)}) resumed {resumed} stopped {stopped}"


def _task_name(task: asyncio.Task[Any]) -> str:
    """The task's name, and the ``name`` of the object whose method it runs (an
    informer's resource, a controller's), when it has one."""
    frame = getattr(task.get_coro(), "cr_frame", None)
    owner = None if frame is None else frame.f_locals.get("self")
    name = getattr(owner, "name", None)
    return task.get_name() if not isinstance(name, str) else f"{task.get_name()} {name}"
