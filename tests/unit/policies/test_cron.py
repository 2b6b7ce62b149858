"""Cron schedules as robfig/cron v3's standard parser reads them (cert-manager's windows)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from certmgr.policies.cron import CronError, parse_cron, zone_of

# A Sunday.
START = datetime(2026, 3, 1, 12, 0, 30, tzinfo=UTC)


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


@pytest.mark.parametrize(
    ("spec", "zone", "first", "second"),
    [
        pytest.param(
            "0 2 * * 1-5", "", "2026-03-02T02:00:00Z", "2026-03-03T02:00:00Z", id="weekdays"
        ),
        pytest.param("@daily", "UTC", "2026-03-02T00:00:00Z", "2026-03-03T00:00:00Z", id="daily"),
        pytest.param(
            "@weekly",
            "Europe/Paris",
            "2026-03-07T23:00:00Z",
            "2026-03-14T23:00:00Z",
            id="weekly-tz",
        ),
        pytest.param("*/15 * * * *", "", "2026-03-01T12:15:00Z", "2026-03-01T12:30:00Z", id="step"),
        pytest.param(
            "5/20 * * * *", "", "2026-03-01T12:05:00Z", "2026-03-01T12:25:00Z", id="n-step"
        ),
        pytest.param(
            "0 0 29 2 *", "", "2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z", id="leap-day"
        ),
        # Day of month and day of week both restricted: either matches (robfig, Vixie cron).
        pytest.param(
            "0 9 1,15 * MON",
            "America/Denver",
            "2026-03-01T16:00:00Z",
            "2026-03-02T16:00:00Z",
            id="dom-or-dow",
        ),
        pytest.param(
            "0 10 * jan,JUL *", "", "2026-07-01T10:00:00Z", "2026-07-02T10:00:00Z", id="names"
        ),
        pytest.param("@every 90m", "", "2026-03-01T13:30:30Z", "2026-03-01T15:00:30Z", id="every"),
        # 02:30 does not exist in Paris on 2026-03-29 (spring forward): that day is skipped.
        pytest.param(
            "30 2 28-31 3 *",
            "Europe/Paris",
            "2026-03-28T01:30:00Z",
            "2026-03-30T00:30:00Z",
            id="dst-gap",
        ),
    ],
)
def test_next(spec: str, zone: str, first: str, second: str) -> None:
    schedule = parse_cron(spec, zone_of(zone))
    one = schedule.next(START)
    assert (_iso(one), _iso(schedule.next(one) if one else None)) == (first, second)


@pytest.mark.parametrize(
    "spec",
    [
        "0 2 * *",
        "60 * * * *",
        "* 24 * * *",
        "* * 0 * *",
        "* * * 13 *",
        "* * * * 7",
        "5-1 * * * *",
        "*/0 * * * *",
        "x * * * *",
        "@fortnightly",
        "@every soon",
        "1-2-3 * * * *",
    ],
)
def test_what_robfig_refuses(spec: str) -> None:
    with pytest.raises(CronError):
        parse_cron(spec)


def test_unknown_time_zone() -> None:
    with pytest.raises(CronError, match="unknown time zone"):
        zone_of("Mars/Olympus_Mons")
