"""The keyed work queue every controller pulls from (client-go's ``workqueue``, on asyncio).

Owns ``WorkQueue[K]`` and its rate limiters. The queue's promises:
- repeated adds of a key that has not been handed out yet merge into one (the dirty set);
- a key is never handed to two workers at once: a key added while it is being processed
  waits until ``done`` and is then queued again (the processing set);
- ``add_after`` delays are measured on the injected ``Clock`` and kept in one heap served
  by one timer task, so 10,000 pending renewals cost one sleeping task, not 10,000; the
  earlier of two pending delays for one key wins;
- ``add_rate_limited`` delays by the rate limiter (per-key exponential backoff by default),
  ``forget`` resets a key's failures.

It must not know what a key means, call Kubernetes or log: it is pure bookkeeping plus the
metrics in ``certmgr.runtime.metrics``.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import weakref
from collections import deque
from collections.abc import Callable, Hashable
from typing import Any, Generic, Protocol, TypeVar

from certmgr.runtime import metrics
from certmgr.runtime.clock import Clock

K = TypeVar("K", bound=Hashable)
K_contra = TypeVar("K_contra", bound=Hashable, contravariant=True)

# client-go's per-item base; cert-manager's cap (client-go's 1000 s is too slow a retry for a
# certificate someone is waiting on).
DEFAULT_BACKOFF_BASE = 0.005
DEFAULT_BACKOFF_CAP = 300.0


class ShutDown(Exception):
    """Raised by ``WorkQueue.get`` once the queue is shut down (and drained, if asked)."""


class RateLimiter(Protocol[K_contra]):
    """Decides how long a failed key waits before its retry."""

    def when(self, key: K_contra) -> float:
        """Seconds to wait before the next retry of ``key``; counts one more failure."""
        ...

    def forget(self, key: K_contra) -> None:
        """Reset ``key``'s failure count (it succeeded, or was given up on)."""
        ...

    def num_requeues(self, key: K_contra) -> int:
        """Failures counted for ``key`` since it was last forgotten."""
        ...


class ExponentialBackoff(Generic[K]):
    """Per-key ``base * 2 ** failures`` seconds, at most ``cap``."""

    def __init__(self, *, base: float = DEFAULT_BACKOFF_BASE, cap: float = DEFAULT_BACKOFF_CAP):
        if base <= 0 or cap < base:
            raise ValueError("need 0 < base <= cap")
        self._base = base
        self._cap = cap
        self._failures: dict[K, int] = {}

    def when(self, key: K) -> float:
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        # Past 2**64 the float would overflow long after the cap is reached anyway.
        return min(self._cap, self._base * 2.0 ** min(failures, 64))

    def forget(self, key: K) -> None:
        self._failures.pop(key, None)

    def num_requeues(self, key: K) -> int:
        return self._failures.get(key, 0)


class TokenBucket(Generic[K]):
    """An overall limit on retries: ``qps`` sustained, ``burst`` at once (all keys together).

    Like Go's ``rate.Limiter.Reserve``: every call takes a token, possibly one that only
    exists in the future, and returns how long until then.
    """

    def __init__(self, *, qps: float, burst: int, clock: Clock):
        if qps <= 0 or burst < 1:
            raise ValueError("need qps > 0 and burst >= 1")
        self._qps = qps
        self._burst = float(burst)
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock.monotonic()

    def when(self, key: K) -> float:
        now = self._clock.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._qps)
        self._last = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self._qps

    def forget(self, key: K) -> None:
        pass

    def num_requeues(self, key: K) -> int:
        return 0


class MaxOf(Generic[K]):
    """The longest wait any of its limiters asks for (client-go's ``MaxOfRateLimiter``)."""

    def __init__(self, *limiters: RateLimiter[K]):
        if not limiters:
            raise ValueError("need at least one limiter")
        self._limiters = limiters

    def when(self, key: K) -> float:
        return max(limiter.when(key) for limiter in self._limiters)

    def forget(self, key: K) -> None:
        for limiter in self._limiters:
            limiter.forget(key)

    def num_requeues(self, key: K) -> int:
        return max(limiter.num_requeues(key) for limiter in self._limiters)


# Entries freed per turn of the loop when a queue that shut down lets go of its tables.
RELEASE_BATCH = 2000
_RELEASING: set[asyncio.Task[None]] = set()


def _release_later(*tables: deque[Any] | set[Any] | dict[Any, Any] | list[Any]) -> None:
    """Let go of ``tables`` a slice per turn of the loop: a start's 100,000 delayed keys
    freed at once held it ~140 ms at a shutdown (the Lease still to be released)."""
    if sum(map(len, tables)) <= RELEASE_BATCH:
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    task = loop.create_task(_release(tables))
    _RELEASING.add(task)
    task.add_done_callback(_RELEASING.discard)


async def _release(tables: tuple[deque[Any] | set[Any] | dict[Any, Any] | list[Any], ...]) -> None:
    for table in tables:
        take: Callable[[], object] = table.popitem if isinstance(table, dict) else table.pop
        while table:
            for _ in range(min(RELEASE_BATCH, len(table))):
                take()
            await asyncio.sleep(0)


class WorkQueue(Generic[K]):
    """A deduplicating, delay-capable, rate-limited queue of keys for N async workers."""

    def __init__(self, name: str, *, clock: Clock, rate_limiter: RateLimiter[K] | None = None):
        self.name = name
        self.clock = clock
        self._limiter: RateLimiter[K] = rate_limiter or ExponentialBackoff()
        self._queue: deque[K] = deque()
        self._processing: dict[K, float] = {}  # key -> when a worker got it
        # The keys added and not handed out yet (client-go's dirty set), each with when it
        # became ready, for the latency: one table, not a set beside a dict (at a start each
        # grows to 100,000 keys in every certificate controller's queue, and all of them
        # resize on the same key).
        self._ready_since: dict[K, float] = {}
        self._getters: deque[asyncio.Future[None]] = deque()
        # Delayed adds: the live deadline per key, and a heap that may hold stale entries
        # (superseded by an earlier deadline); an entry counts only if it matches the dict.
        self._delayed: dict[K, float] = {}
        self._heap: list[tuple[float, int, K]] = []
        self._seq = itertools.count()
        # One task sleeps straight towards the earliest deadline, so a due delay is added
        # in two loop passes (its sleep ends, it runs). An earlier deadline re-arms it: the
        # task is replaced, once per loop pass however many earlier deadlines came.
        self._timer: asyncio.Task[None] | None = None
        # The deadline the timer sleeps towards; None while it has yet to read the heap.
        self._timer_target: float | None = None
        self._rearm_scheduled = False
        self._shutting_down = False
        self._drain = False
        self._handed_out = False
        self._adds = metrics.WORKQUEUE_ADDS.labels(name=name)
        self._latency = metrics.WORKQUEUE_QUEUE_DURATION.labels(name=name)
        self._work = metrics.WORKQUEUE_WORK_DURATION.labels(name=name)
        self._retries = metrics.WORKQUEUE_RETRIES.labels(name=name)
        # The gauges read the queue when scraped instead of being set on every add, get
        # and timer pass (gauge writes take a lock: ~10 % of a no-op reconcile's CPU).
        this = weakref.ref(self)
        metrics.WORKQUEUE_DEPTH.labels(name=name).set_function(
            lambda: len(queue._queue) if (queue := this()) is not None else 0
        )
        metrics.WORKQUEUE_DELAYED.labels(name=name).set_function(
            lambda: len(queue._delayed) if (queue := this()) is not None else 0
        )

    # -- adding -------------------------------------------------------------------

    def add(self, key: K) -> None:
        """Queue ``key`` now; merged with a pending add, deferred while it is processed."""
        if self._shutting_down:
            return
        self._adds.inc()
        if key in self._ready_since:
            return
        self._ready_since[key] = self.clock.monotonic()
        if key in self._processing:
            return  # ``done`` queues it again, so no two workers ever hold it
        self._push_ready(key)

    def add_after(self, key: K, delay: float) -> None:
        """Queue ``key`` after ``delay`` seconds on the clock; an earlier pending delay wins."""
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(key)
            return
        deadline = self.clock.monotonic() + delay
        current = self._delayed.get(key)
        if current is not None and current <= deadline:
            return
        self._delayed[key] = deadline
        heapq.heappush(self._heap, (deadline, next(self._seq), key))
        if self._timer is None or (
            self._timer_target is not None and deadline < self._timer_target
        ):
            self._rearm_soon()

    def add_rate_limited(self, key: K) -> None:
        """Queue ``key`` after the rate limiter's delay (a retry after a failure)."""
        if self._shutting_down:
            return
        self._retries.inc()
        self.add_after(key, self._limiter.when(key))

    def forget(self, key: K) -> None:
        """Reset ``key``'s backoff; call after it was processed successfully."""
        self._limiter.forget(key)

    def num_requeues(self, key: K) -> int:
        """Rate-limited retries of ``key`` since it was last forgotten."""
        return self._limiter.num_requeues(key)

    # -- taking -------------------------------------------------------------------

    async def get(self) -> K:
        """The next ready key; the caller owns it until ``done(key)``. Raises ``ShutDown``."""
        while not self._queue:
            if self._shutting_down:
                raise ShutDown(self.name)
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._getters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                # Woken but cancelled before running: hand the wake-up to the next getter.
                if waiter.done() and not waiter.cancelled() and self._queue:
                    self._wake_one()
                raise
            finally:
                # A woken waiter was already taken off the list (``_wake_one``,
                # ``shutdown``); only a cancelled (or abandoned) one can still be on it.
                # Not searching for the woken one matters: ``deque.remove`` of an absent
                # item formats ``repr(waiter)`` into its ValueError, ~3 % of a busy
                # controller's CPU.
                if waiter.cancelled() or not waiter.done():
                    with contextlib.suppress(ValueError):
                        self._getters.remove(waiter)
        key = self._queue.popleft()
        self._handed_out = True
        now = self.clock.monotonic()
        self._latency.observe(max(0.0, now - self._ready_since.pop(key, now)))
        self._processing[key] = now
        if not self._queue and not self._ready_since:
            # Drained. Dicts never shrink: the table a start's 100,000 keys grew (~4-5
            # MB) would stay for good.
            self._ready_since = {}
        return key

    @property
    def handed_out(self) -> bool:
        """Whether ``get`` ever returned a key: until then every key added is still queued."""
        return self._handed_out

    def done(self, key: K) -> None:
        """Mark ``key`` processed; a re-add that arrived meanwhile is queued now."""
        started = self._processing.pop(key, None)
        if started is None:
            return
        self._work.observe(max(0.0, self.clock.monotonic() - started))
        if key in self._ready_since and (not self._shutting_down or self._drain):
            self._push_ready(key)

    # -- lifecycle ----------------------------------------------------------------

    def shutdown(self, *, drain: bool = False) -> None:
        """Stop accepting adds and drop pending delays.

        With ``drain`` the keys already queued are still handed out, then ``get`` raises
        ``ShutDown``; without it ``get`` raises at once. Keys being processed finish either
        way: the queue does not own the workers (the controller waits for them).
        """
        self._shutting_down = True
        self._drain = drain
        _release_later(self._delayed, self._heap)
        self._delayed, self._heap = {}, []
        if self._timer is not None:
            self._timer.cancel()
        if not drain:
            _release_later(self._queue, self._ready_since)
            self._queue, self._ready_since = deque(), {}
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def __len__(self) -> int:
        """Keys ready to be handed out (not delayed, not being processed)."""
        return len(self._queue)

    @property
    def delayed(self) -> int:
        """Keys waiting for a delayed add to fire."""
        return len(self._delayed)

    @property
    def processing(self) -> int:
        """Keys handed out and not yet ``done``."""
        return len(self._processing)

    # -- internals ----------------------------------------------------------------

    def _push_ready(self, key: K) -> None:
        self._queue.append(key)
        self._wake_one()

    def _wake_one(self) -> None:
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _fire_due(self) -> float | None:
        """Add every key whose delay has passed; return the next live deadline, if any."""
        now = self.clock.monotonic()
        while self._heap:
            deadline, _, key = self._heap[0]
            if self._delayed.get(key) != deadline:
                heapq.heappop(self._heap)  # stale: superseded or already fired
                continue
            if deadline > now:
                return deadline
            heapq.heappop(self._heap)
            del self._delayed[key]
            self.add(key)
        return None

    def _rearm_soon(self) -> None:
        if not self._rearm_scheduled:
            self._rearm_scheduled = True
            asyncio.get_running_loop().call_soon(self._rearm)

    def _rearm(self) -> None:
        self._rearm_scheduled = False
        if self._shutting_down:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_target = None
        self._timer = asyncio.get_running_loop().create_task(
            self._run_timer(), name=f"workqueue-timer-{self.name}"
        )

    async def _run_timer(self) -> None:
        me = asyncio.current_task()
        try:
            while not self._shutting_down:
                next_deadline = self._fire_due()
                if next_deadline is None:
                    return  # the next add_after starts a timer again
                self._timer_target = next_deadline
                # Not raced against a wake-up event: that cost four more loop passes per
                # fire. An earlier deadline cancels this task instead (``_rearm``).
                await self.clock.sleep(next_deadline - self.clock.monotonic())
        finally:
            if self._timer is me:
                self._timer = None
                self._timer_target = None
