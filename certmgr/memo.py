"""Memos of pure functions that keep what is in use, however much, and drop the rest.

Owns ``memo``, a decorator in place of ``functools.lru_cache(maxsize=N)`` for functions
called once per cached object (a Secret's PEM, a Certificate's spec): a fixed bound
smaller than the objects served is missed on every pass over them, and a bound larger
than them keeps entries for objects long gone. Entries live in two generations instead:
a call finds its entry in either and keeps it in the current one; at the first call
``idle_seconds`` after the last turn, the current generation becomes the previous and the
previous is dropped. An entry asked for at least once per period stays, whatever the
number of them; one nobody asks for (its object left the cache, or changed) outlives its
last use by one to two periods. ``turn_all`` turns every memo that is due (``every_memo``
lists them to turn one by one), so a process at rest (nobody calling) does not keep what
it parsed at start.

``Generations`` is the same two-generation store for a caller that computes and checks
its own entries (``CertificateView``: a decoded Certificate kept per uid while it is read).

Exceptions are not memoised. Safe across threads as dict operations are (a race can
compute a value twice, never return a wrong one). Must not import anything of certmgr's,
so every layer may use it.
"""

from __future__ import annotations

import functools
import hashlib
import time
import weakref
from collections.abc import Callable, Hashable
from typing import Any, Generic, ParamSpec, Protocol, TypeVar

P = ParamSpec("P")
R = TypeVar("R")
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# Longer than the time between the controllers' reads of one object at start (each
# reconcile reads a Secret several times, the six certificate controllers one after the
# other); short because what is memoised is large (a parsed certificate, its
# description and its key: ~8 KB a Secret) and a process at rest needs none of it.
IDLE_SECONDS = 30.0

_ALL: weakref.WeakSet[Any] = weakref.WeakSet()


class _TwoGenerations(Generic[K, V]):
    """The two generations and their turning, shared by ``Memo`` and ``Generations``."""

    def __init__(self, *, idle_seconds: float, clock: Callable[[], float]) -> None:
        self._idle_seconds = idle_seconds
        self._clock = clock
        self._current: dict[K, V] = {}
        self._previous: dict[K, V] = {}
        self._rotated = clock()
        _ALL.add(self)

    def turn_if_due(self) -> bool:
        """Turn the generations if a period passed since the last turn; whether it did."""
        before = self._rotated
        self._rotate_if_due()
        return self._rotated != before

    def _rotate_if_due(self) -> None:
        now = self._clock()
        if now - self._rotated >= self._idle_seconds:
            self._rotated = now
            self._previous, self._current = self._current, {}

    def __len__(self) -> int:
        return len(self._current) + len(self._previous)

    def clear(self) -> None:
        self._current, self._previous = {}, {}


class Memo(_TwoGenerations[Hashable, R], Generic[P, R]):
    """``function`` memoised by its arguments (or by ``key`` of them)."""

    def __init__(
        self,
        function: Callable[P, R],
        *,
        key: Callable[P, Hashable] | None = None,
        idle_seconds: float = IDLE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(idle_seconds=idle_seconds, clock=clock)
        self._function = function
        self._key = key
        functools.update_wrapper(self, function)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        if self._key is not None:
            key = self._key(*args, **kwargs)
        else:
            key = (args, tuple(kwargs.items())) if kwargs else args
        self._rotate_if_due()
        current = self._current
        try:
            return current[key]
        except KeyError:
            pass
        try:
            value = self._previous.pop(key)
        except KeyError:
            value = self._function(*args, **kwargs)
        current[key] = value
        return value

    def peek(self, *args: P.args, **kwargs: P.kwargs) -> R | None:
        """The value memoised for these arguments, or None; computes and keeps nothing
        (a caller that holds what it derives uses an entry another caller made)."""
        if not self._current and not self._previous:
            return None  # nothing to find: the key (a PEM's digest) is not computed
        if self._key is not None:
            key = self._key(*args, **kwargs)
        else:
            key = (args, tuple(kwargs.items())) if kwargs else args
        found = self._current.get(key)
        return found if found is not None else self._previous.get(key)


class Generations(_TwoGenerations[K, V]):
    """Entries in two generations, turned like a ``Memo``'s: ``get`` finds an entry in
    either and keeps it in the current one; one nobody asked for during a whole period is
    dropped at the second turn after its last use."""

    def __init__(
        self, *, idle_seconds: float = IDLE_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(idle_seconds=idle_seconds, clock=clock)

    def get(self, key: K) -> V | None:
        self._rotate_if_due()
        found = self._current.get(key)
        if found is None:
            found = self._previous.pop(key, None)
            if found is not None:
                self._current[key] = found
        return found

    def put(self, key: K, value: V) -> None:
        self._rotate_if_due()
        self._previous.pop(key, None)
        self._current[key] = value

    def pop(self, key: K) -> V | None:
        found = self._current.pop(key, None)
        earlier = self._previous.pop(key, None)
        return found if found is not None else earlier

    def __contains__(self, key: object) -> bool:
        return key in self._current or key in self._previous


class Turning(Protocol):
    """What ``every_memo`` lists: a ``Memo`` or ``Generations``."""

    def turn_if_due(self) -> bool: ...

    def __len__(self) -> int: ...

    def clear(self) -> None: ...


def every_memo() -> list[Turning]:
    """Every memo alive, e.g. to turn them one at a time (dropping a generation of
    100,000 entries takes ~9 ms)."""
    return list(_ALL)


def turn_all() -> int:
    """``turn_if_due`` on every memo; how many entries were dropped."""
    dropped = 0
    for each in every_memo():
        size = len(each)
        if each.turn_if_due():
            dropped += size - len(each)
    return dropped


def pem_digest(pem: bytes) -> bytes:
    """A memo key for PEM input: its SHA-256, so the memo does not keep a second copy of
    bytes the Secret cache already holds."""
    return hashlib.sha256(pem).digest()


def memo(
    *,
    key: Callable[..., Hashable] | None = None,
    idle_seconds: float = IDLE_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> Callable[[Callable[P, R]], Memo[P, R]]:
    """Decorate a pure function with a ``Memo``."""

    def decorate(function: Callable[P, R]) -> Memo[P, R]:
        return Memo(function, key=key, idle_seconds=idle_seconds, clock=clock)

    return decorate
