"""Fault injection knobs: seeded, deterministic, changeable while the server runs.

Owns the decision "does this request fail, and how" (latency, 500/503, 429 with
Retry-After, 409 on updates, 410 for a list's continue token) and the watch-cut limits.
Decisions come from one ``random.Random`` seeded by the test, so a failing run replays
exactly. It must not touch stored state; the server applies the decisions.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

from certmgr.testing.apiserver import errors

_UPDATE_VERBS = frozenset({"update", "patch"})


@dataclass
class Faults:
    """Mutable on purpose: tests turn knobs between steps. All rates are 0..1."""

    seed: int = 0
    latency: float = 0.0
    error_rate: float = 0.0
    throttle_rate: float = 0.0
    retry_after: int = 1
    conflict_rate: float = 0.0
    watch_cut_after_events: int | None = None
    watch_cut_after_seconds: float | None = None
    # The next N lists that carry a continue token answer 410 Expired, as a real server
    # does once the first page's snapshot was compacted away.
    expire_continue_tokens: int = 0
    # Filters (None means all): who, which verbs, which resources ("secrets",
    # "certificates/status") suffer the faults above, watch cuts included.
    users: frozenset[str] | None = None
    verbs: frozenset[str] | None = None
    resources: frozenset[str] | None = None
    _random: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def reseed(self, seed: int) -> None:
        with self._lock:
            self.seed = seed
            self._random = random.Random(seed)

    def reset(self) -> None:
        """Back to a healthy server (the seed is kept)."""
        self.latency = 0.0
        self.error_rate = self.throttle_rate = self.conflict_rate = 0.0
        self.watch_cut_after_events = None
        self.watch_cut_after_seconds = None
        self.expire_continue_tokens = 0
        self.users = self.verbs = self.resources = None

    def applies_to(self, user: str, *, verb: str = "", resource: str = "") -> bool:
        return (
            (self.users is None or user in self.users)
            and (self.verbs is None or verb in self.verbs)
            and (self.resources is None or resource in self.resources)
        )

    def continue_expired(self) -> bool:
        """Whether this list's continue token is expired (uses up one of
        ``expire_continue_tokens``)."""
        with self._lock:
            if self.expire_continue_tokens <= 0:
                return False
            self.expire_continue_tokens -= 1
            return True

    def failure_for(
        self, verb: str, user: str, *, resource: str = "", group: str = "", name: str = ""
    ) -> errors.StatusError | None:
        """The injected error for one request the filters selected, or None."""
        if not (self.error_rate or self.throttle_rate or self.conflict_rate):
            return None
        with self._lock:
            roll = self._random.random()
            code_roll = self._random.random()
        if roll < self.error_rate:
            return errors.server_error(503 if code_roll < 0.5 else 500)
        roll -= self.error_rate
        if roll < self.throttle_rate:
            return errors.too_many_requests(self.retry_after)
        roll -= self.throttle_rate
        if verb in _UPDATE_VERBS and roll < self.conflict_rate:
            return errors.conflict(resource, group, name, f"{errors.MODIFIED} (injected)")
        return None
