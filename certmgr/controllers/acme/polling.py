"""How long to wait before asking the CA again, and which ACME errors are worth a retry.

Owns :class:`PollIntervals` (per key: ``base``, doubling to ``cap``; forgotten when the
wait is over) and :func:`is_transient`. Pebble 2.4 sends no Retry-After and validates
within milliseconds with ``PEBBLE_VA_NOSLEEP``, so a short first interval matters; a
real CA takes seconds, which the doubling reaches quickly. It must not sleep.
"""

from __future__ import annotations

from certmgr.acme.errors import (
    AcmeAccountDoesNotExist,
    AcmeBadNonce,
    AcmeError,
    AcmeRateLimited,
    AcmeUnreachable,
)


class PollIntervals:
    def __init__(self, *, base: float, cap: float) -> None:
        self._base = base
        self._cap = cap
        self._attempts: dict[str, int] = {}

    def next(self, key: str) -> float:
        attempts = self._attempts.get(key, 0)
        self._attempts[key] = attempts + 1
        return float(min(self._cap, self._base * 2.0 ** min(attempts, 32)))

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
