"""Renewal and retry arithmetic: when to renew a certificate, when to retry a failed issuance.

Owns: `renewal_time` (cert-manager's RenewalTime, to the second), the renewal jitter
(chosen once by a controller, stored in status, applied here) and its recommended bound,
and the failed-issuance backoff (`base * 2**(n-1)`, capped; cert-manager: 1h and 32h).
Must not: read the clock or draw random numbers: time and jitter are arguments.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

DEFAULT_BACKOFF_BASE: Final = timedelta(hours=1)
DEFAULT_BACKOFF_CAP: Final = timedelta(hours=32)
MAX_RENEWAL_JITTER: Final = timedelta(minutes=10)
_ZERO: Final = timedelta(0)
_MICROSECOND: Final = timedelta(microseconds=1)
_MAX_JITTER_MICROS: Final = MAX_RENEWAL_JITTER // _MICROSECOND


def renew_before_for(
    lifetime: timedelta,
    *,
    renew_before: timedelta | None,
    renew_before_percentage: int | None,
) -> timedelta:
    """How long before expiry to renew (cert-manager's desiredRenewalTime).

    `renew_before` wins when it is positive and shorter than the actual lifetime; else
    `renew_before_percentage` when it is in (0, 100); else one third of the lifetime. So a
    `renewBefore` at least as long as the certificate falls back to the default (renew at
    two thirds), instead of renewing in a loop.
    """
    if renew_before is not None and _ZERO < renew_before < lifetime:
        return renew_before
    # Integer arithmetic, like Go's Duration maths (which truncates toward zero).
    micros = lifetime // _MICROSECOND
    if renew_before_percentage is not None and 0 < renew_before_percentage < 100:
        return timedelta(microseconds=_truncating_div(micros * renew_before_percentage, 100))
    return timedelta(microseconds=_truncating_div(micros, 3))


def renewal_time(
    *,
    not_before: datetime,
    not_after: datetime,
    renew_before: timedelta | None,
    renew_before_percentage: int | None,
) -> datetime:
    """`not_after - renew_before_for(...)`, truncated to the whole second.

    Truncation matters: status.renewalTime is stored with second precision and the trigger
    recomputes this value, so an untruncated value would re-queue a certificate for a
    renewal that is then judged "not yet due" (cert-manager PR #4399).
    """
    before = renew_before_for(
        not_after - not_before,
        renew_before=renew_before,
        renew_before_percentage=renew_before_percentage,
    )
    return _floor_to_second(not_after - before)


def renewal_jitter_bound(*, not_before: datetime, not_after: datetime) -> timedelta:
    """The largest jitter we recommend: min(1 % of the lifetime, 10 minutes), whole seconds.

    Renewing up to this much *earlier* spreads certificates issued together (cert-manager
    issue #8402) over up to 10 minutes, while costing at most 1 % of a certificate's
    useful life; for a 90-day certificate that is 10 minutes out of 60 days of margin.
    """
    return timedelta(
        seconds=renewal_jitter_bound_seconds(not_before=not_before, not_after=not_after)
    )


def renewal_jitter_bound_seconds(*, not_before: datetime, not_after: datetime) -> int:
    """``renewal_jitter_bound`` in whole seconds, in integer arithmetic: every reconcile
    asks, and the timedelta arithmetic cost ~2.5 us a call."""
    lifetime = not_after - not_before
    if lifetime <= _ZERO:
        return 0
    micros = (lifetime.days * 86_400 + lifetime.seconds) * 1_000_000 + lifetime.microseconds
    # ``lifetime / 100``: timedelta division rounds half to even, to the microsecond.
    hundredth, rest = divmod(micros, 100)
    if rest > 50 or (rest == 50 and hundredth & 1):
        hundredth += 1
    return min(hundredth, _MAX_JITTER_MICROS) // 1_000_000


def jittered_renewal_time(
    base: datetime, *, jitter_seconds: int, not_before: datetime | None = None
) -> datetime:
    """Move a renewal time `jitter_seconds` earlier (never later, never before `not_before`).

    The caller draws `jitter_seconds` once, within `renewal_jitter_bound`, and stores it in
    status, so every reconcile and every restart computes the same renewal time.
    """
    if jitter_seconds < 0:
        raise ValueError("jitter_seconds must not be negative")
    jittered = base - timedelta(seconds=jitter_seconds)
    if not_before is not None:
        jittered = max(jittered, min(base, not_before))
    return jittered


def issuance_backoff(
    failed_attempts: int,
    *,
    base: timedelta = DEFAULT_BACKOFF_BASE,
    cap: timedelta = DEFAULT_BACKOFF_CAP,
) -> timedelta:
    """The wait after `failed_attempts` consecutive failures: base * 2**(n-1), in [base, cap].

    Zero or unknown attempts (a failure recorded before attempts were counted) wait `base`,
    as cert-manager does.
    """
    if failed_attempts <= 1:
        return min(base, cap)
    # Stop doubling once past the cap; 2**n for a huge n would overflow timedelta.
    delay = base
    for _ in range(failed_attempts - 1):
        delay *= 2
        if delay >= cap:
            return cap
    return delay


def next_attempt_time(
    last_failure_time: datetime,
    failed_attempts: int,
    *,
    base: timedelta = DEFAULT_BACKOFF_BASE,
    cap: timedelta = DEFAULT_BACKOFF_CAP,
) -> datetime:
    """When the next issuance may start after the last failure."""
    return last_failure_time + issuance_backoff(failed_attempts, base=base, cap=cap)


def _truncating_div(numerator: int, denominator: int) -> int:
    quotient = abs(numerator) // denominator
    return quotient if numerator >= 0 else -quotient


def _floor_to_second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)
