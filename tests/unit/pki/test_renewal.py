"""Renewal time, jitter and backoff arithmetic (cert-manager's RenewalTime and trigger backoff)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from certmgr.pki.renewal import (
    issuance_backoff,
    jittered_renewal_time,
    next_attempt_time,
    renewal_jitter_bound,
    renewal_jitter_bound_seconds,
    renewal_time,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
H = timedelta(hours=1)
D = timedelta(days=1)


@pytest.mark.parametrize(
    ("lifetime", "renew_before", "percentage", "expected_offset_from_start"),
    [
        pytest.param(90 * D, None, None, 60 * D, id="default-two-thirds"),
        pytest.param(90 * D, 30 * D, None, 60 * D, id="renew-before"),
        pytest.param(90 * D, 89 * D, None, 1 * D, id="renew-before-just-under-lifetime"),
        pytest.param(90 * D, 90 * D, None, 60 * D, id="renew-before-equal-lifetime-defaults"),
        pytest.param(90 * D, 100 * D, None, 60 * D, id="renew-before-longer-defaults"),
        pytest.param(90 * D, timedelta(0), None, 60 * D, id="renew-before-zero-defaults"),
        pytest.param(90 * D, None, 25, 67.5 * D, id="percentage-25"),
        pytest.param(90 * D, None, 0, 60 * D, id="percentage-0-defaults"),
        pytest.param(90 * D, None, 100, 60 * D, id="percentage-100-defaults"),
        pytest.param(90 * D, 100 * D, 50, 45 * D, id="invalid-renew-before-falls-to-percentage"),
        pytest.param(90 * D, 10 * D, 50, 80 * D, id="renew-before-wins-over-percentage"),
        pytest.param(H, None, None, 40 * timedelta(minutes=1), id="one-hour"),
        # 100 s / 3 = 33.33 s before expiry -> 66.67 s after start, truncated to 66 s.
        pytest.param(timedelta(seconds=100), None, None, timedelta(seconds=66), id="truncated"),
        # 7 s * 33 % = 2.31 s before expiry -> 4.69 s after start -> 4 s.
        pytest.param(timedelta(seconds=7), None, 33, timedelta(seconds=4), id="pct-truncated"),
    ],
)
def test_renewal_time(lifetime, renew_before, percentage, expected_offset_from_start) -> None:
    got = renewal_time(
        not_before=T0,
        not_after=T0 + lifetime,
        renew_before=renew_before,
        renew_before_percentage=percentage,
    )
    assert got == T0 + expected_offset_from_start
    assert got.microsecond == 0


def test_renewal_time_truncates_sub_second_validity() -> None:
    got = renewal_time(
        not_before=T0,
        not_after=T0 + 3 * H + timedelta(microseconds=999_999),
        renew_before=H,
        renew_before_percentage=None,
    )
    assert got == T0 + 2 * H


@pytest.mark.parametrize(
    ("lifetime", "bound"),
    [
        pytest.param(90 * D, timedelta(minutes=10), id="long-lived-capped-at-10-min"),
        pytest.param(H, timedelta(seconds=36), id="short-lived-1-percent"),
        pytest.param(timedelta(seconds=150), timedelta(seconds=1), id="whole-seconds"),
        pytest.param(timedelta(seconds=-5), timedelta(0), id="negative-lifetime"),
    ],
)
def test_renewal_jitter_bound(lifetime, bound) -> None:
    assert renewal_jitter_bound(not_before=T0, not_after=T0 + lifetime) == bound


def _timedelta_bound(lifetime: timedelta) -> int:
    """The bound as timedelta arithmetic states it (what the integer version must equal)."""
    cut = min(max(lifetime, timedelta(0)) / 100, timedelta(minutes=10))
    return cut // timedelta(seconds=1)


@pytest.mark.parametrize(
    "lifetime",
    [
        pytest.param(timedelta(microseconds=us), id=f"{us}us")
        for us in (
            0,
            1,
            49,
            50,
            150,
            99_999_950,  # a hundredth of 999_999.5 us: rounds half to even, up to 1 s
            99_999_949,
            199_999_850,  # 1_999_998.5 us: rounds to even, stays under 2 s
            100_000_000,
            59_999_999_950,
            60_000_000_000,
            7_776_000_000_000 + 123_456,
            -1,
        )
    ]
    + [
        pytest.param(timedelta(microseconds=(us * 7919) % 70_000_000_000), id=f"spread-{us}")
        for us in range(0, 2_000_000, 99_991)
    ],
)
def test_renewal_jitter_bound_seconds_is_the_timedelta_arithmetic(lifetime) -> None:
    got = renewal_jitter_bound_seconds(not_before=T0, not_after=T0 + lifetime)
    assert got == _timedelta_bound(lifetime)


@pytest.mark.parametrize(
    ("base", "jitter", "not_before", "expected"),
    [
        pytest.param(T0 + 60 * D, 0, None, T0 + 60 * D, id="no-jitter"),
        pytest.param(T0 + 60 * D, 300, None, T0 + 60 * D - timedelta(minutes=5), id="earlier"),
        pytest.param(T0 + timedelta(seconds=10), 60, T0, T0, id="never-before-not-before"),
        pytest.param(T0 - D, 60, T0, T0 - D, id="base-already-before-not-before"),
    ],
)
def test_jittered_renewal_time(base, jitter, not_before, expected) -> None:
    assert jittered_renewal_time(base, jitter_seconds=jitter, not_before=not_before) == expected


def test_negative_jitter_is_rejected() -> None:
    with pytest.raises(ValueError):
        jittered_renewal_time(T0, jitter_seconds=-1)


@pytest.mark.parametrize(
    ("attempts", "expected"),
    [
        pytest.param(0, H, id="unknown-attempts-base"),
        pytest.param(1, H, id="first-failure-1h"),
        pytest.param(2, 2 * H, id="2h"),
        pytest.param(3, 4 * H, id="4h"),
        pytest.param(6, 32 * H, id="32h"),
        pytest.param(7, 32 * H, id="capped"),
        pytest.param(10_000, 32 * H, id="huge-no-overflow"),
    ],
)
def test_issuance_backoff_defaults(attempts, expected) -> None:
    assert issuance_backoff(attempts) == expected


@pytest.mark.parametrize(
    ("attempts", "base", "cap", "expected"),
    [
        pytest.param(3, timedelta(seconds=1), timedelta(seconds=3), timedelta(seconds=3), id="cap"),
        pytest.param(
            3, timedelta(seconds=1), timedelta(seconds=10), timedelta(seconds=4), id="fast-tests"
        ),
        pytest.param(1, 2 * H, H, H, id="cap-below-base"),
    ],
)
def test_issuance_backoff_configurable(attempts, base, cap, expected) -> None:
    assert issuance_backoff(attempts, base=base, cap=cap) == expected


def test_next_attempt_time() -> None:
    assert next_attempt_time(T0, 3) == T0 + 4 * H
    assert next_attempt_time(T0, 2, base=timedelta(seconds=5)) == T0 + timedelta(seconds=10)
