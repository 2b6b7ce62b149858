"""How long to wait before looking at an external condition again, and which ACME errors
are worth a retry.

Owns :class:`PollIntervals` (per key: ``base``, doubling to ``cap``, each wait shortened
by up to ``jitter`` of itself so that keys started together drift apart; forgotten
when the wait is over) and :func:`is_transient`. Every wait on something outside the
cluster uses it: the HTTP self-check, the CA's challenge and order state. Pebble 2.4
sends no Retry-After and validates within milliseconds with ``PEBBLE_VA_NOSLEEP``, so a
short first interval matters; a real CA takes seconds, which the doubling reaches
quickly; a condition that never comes is asked about a few times a minute. It must
not sleep.
"""

from __future__ import annotations

import random

from certmgr.acme.errors import (
    AcmeAccountDoesNotExist,
    AcmeBadNonce,
    AcmeError,
    AcmeRateLimited,
    AcmeUnreachable,
)

DEFAULT_JITTER = 0.2


class PollIntervals:
    def __init__(
        self,
        *,
        base: float,
        cap: float,
        jitter: float = DEFAULT_JITTER,
        rng: random.Random | None = None,
    ) -> None:
        if not 0.0 <= jitter < 1.0:
            raise ValueError("jitter must be in [0, 1)")
        self._base = base
        self._cap = cap
        self._jitter = jitter
        self._rng = rng or random.Random()  # spreads retries; nothing secret
        self._attempts: dict[str, int] = {}

    def next(self, key: str) -> float:
        """The wait before the next look at ``key``: ``min(cap, base * 2^n)`` after ``n``
        earlier waits, less up to ``jitter`` of it."""
        attempts = self._attempts.get(key, 0)
        self._attempts[key] = attempts + 1
        plain = min(self._cap, self._base * 2.0 ** min(attempts, 32))
        return float(plain * (1.0 - self._jitter * self._rng.random()))

    def attempts(self, key: str) -> int:
        """How many intervals ``key`` has been handed since it was last forgotten."""
        return self._attempts.get(key, 0)

    def forget(self, key: str) -> None:
        self._attempts.pop(key, None)


def is_transient(error: AcmeError) -> bool:
    """True when retrying the same step later may succeed (network, nonce, 5xx, 429)."""
    if isinstance(
        error, AcmeUnreachable | AcmeBadNonce | AcmeRateLimited | AcmeAccountDoesNotExist
    ):
        return True
    return error.status is None or error.status >= 500
