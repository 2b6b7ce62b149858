"""spec.renewal.windows: cert-manager's TestRenewalWithWindowsForRenewBefore, on fixed dates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from certmgr.policies.renewal_windows import (
    RenewalWindow,
    window_problem,
    windowed_renewal_time,
)

H = timedelta(hours=1)
D = timedelta(days=1)
FUTURE = datetime(2026, 6, 10, tzinfo=UTC)  # a Wednesday, midnight UTC
NOT_BEFORE = FUTURE - 15 * D
SATURDAY = datetime(2026, 6, 13, tzinfo=UTC)
PHOENIX = ZoneInfo("America/Phoenix")
DENVER = ZoneInfo("America/Denver")
DENVER_MST = datetime(2026, 11, 1, tzinfo=UTC)  # DST ends in Denver that night


def daily(cron: str, hours: float = 2, zone: str = "UTC") -> RenewalWindow:
    return RenewalWindow(cron=cron, duration=timedelta(hours=hours), timezone=zone)


CASES = [
    pytest.param(
        FUTURE + 48 * H,
        FUTURE + 10.5 * H,
        (daily("0 10 * * *"),),
        FUTURE + 10.5 * H,
        False,
        id="within-window",
    ),
    pytest.param(
        FUTURE + 48 * H,
        FUTURE + 13 * H,
        (daily("0 10 * * *"),),
        FUTURE + 34 * H,
        False,
        id="after-window-moves-to-the-next",
    ),
    pytest.param(
        FUTURE + 24 * H,
        FUTURE + 9 * H,
        (daily("0 15 * * *"),),
        FUTURE + 15 * H,
        False,
        id="before-window-waits-for-it",
    ),
    pytest.param(
        SATURDAY + 24 * H,
        SATURDAY + 6 * H,
        (daily("0 23 * * 1-5"), daily("0 10 * * 6,0", hours=4)),
        SATURDAY + 10 * H,
        False,
        id="weekday-and-weekend-windows",
    ),
    pytest.param(
        FUTURE + 48 * H,
        datetime(2026, 6, 10, 10, 30, tzinfo=PHOENIX),
        (daily("0 10 * * *", zone="America/Phoenix"),),
        datetime(2026, 6, 10, 10, 30, tzinfo=PHOENIX),
        False,
        id="time-zone",
    ),
    pytest.param(
        DENVER_MST + 48 * H,
        datetime(2026, 10, 31, 15, 30, tzinfo=DENVER),
        (daily("0 10 * * *", zone="America/Denver"),),
        datetime(2026, 10, 31, tzinfo=DENVER).astimezone(UTC) + 35 * H,  # absolute, as Go adds
        False,
        id="across-the-end-of-dst",
    ),
    pytest.param(
        FUTURE + 24 * H,
        FUTURE + 13.5 * H,
        (daily("0 10 * * *"),),
        FUTURE + 13.5 * H,
        True,
        id="no-window-in-reach",
    ),
]


@pytest.mark.parametrize(("not_after", "desired", "windows", "expected", "error"), CASES)
def test_windowed_renewal_time(
    not_after: datetime,
    desired: datetime,
    windows: tuple[RenewalWindow, ...],
    expected: datetime,
    error: bool,
) -> None:
    not_before = NOT_BEFORE if not_after < DENVER_MST else DENVER_MST - 30 * D
    found = windowed_renewal_time(
        not_before=not_before, not_after=not_after, desired=desired, windows=windows
    )
    assert found.time == expected
    if error:
        assert found.error.startswith("cannot find a time with the given windows between ")
    else:
        assert found.error == ""


def test_no_windows_keep_the_desired_time() -> None:
    found = windowed_renewal_time(
        not_before=NOT_BEFORE, not_after=FUTURE, desired=FUTURE - D, windows=()
    )
    assert (found.time, found.error) == (FUTURE - D, "")


@pytest.mark.parametrize(
    ("windows", "problem"),
    [
        pytest.param((daily("@daily"),), None, id="fine"),
        pytest.param((daily("0 25 * * *"),), "spec.renewal.windows[0]: end of range", id="cron"),
        pytest.param(
            (daily("@daily"), daily("@daily", zone="Nowhere/Land")),
            "spec.renewal.windows[1]: unknown time zone",
            id="timezone",
        ),
        pytest.param((daily("@daily", hours=0),), "windowDuration must be positive", id="zero"),
    ],
)
def test_window_problem(windows: tuple[RenewalWindow, ...], problem: str | None) -> None:
    found = window_problem(windows)
    assert (found is None) if problem is None else (found is not None and problem in found)
