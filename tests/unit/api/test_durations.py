"""Go duration strings parse and print as Go's time package does."""

from __future__ import annotations

from datetime import timedelta

import pytest

from certmgr.api.durations import format_go_duration, parse_go_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("2160h0m0s", timedelta(days=90), id="cert-manager-default"),
        pytest.param("2160h", timedelta(days=90), id="hours-only"),
        pytest.param("1h30m", timedelta(minutes=90), id="h-m"),
        pytest.param("90m", timedelta(minutes=90), id="minutes"),
        pytest.param("1.5h", timedelta(minutes=90), id="fraction"),
        pytest.param(".5s", timedelta(milliseconds=500), id="leading-dot"),
        pytest.param("1.s", timedelta(seconds=1), id="trailing-dot"),
        pytest.param("300ms", timedelta(milliseconds=300), id="ms"),
        pytest.param("1500us", timedelta(microseconds=1500), id="us"),
        pytest.param("1500µs", timedelta(microseconds=1500), id="micro-sign"),
        pytest.param("1h0m0.5s", timedelta(hours=1, milliseconds=500), id="fractional-seconds"),
        pytest.param("0", timedelta(0), id="bare-zero"),
        pytest.param("-5m", timedelta(minutes=-5), id="negative"),
        pytest.param("+5m", timedelta(minutes=5), id="plus"),
    ],
)
def test_parse(text: str, expected: timedelta) -> None:
    assert parse_go_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("5", id="no-unit"),
        pytest.param("90d", id="days-not-go"),
        pytest.param("1h 30m", id="space"),
        pytest.param("h", id="unit-only"),
        pytest.param("-", id="sign-only"),
    ],
)
def test_parse_rejects_what_go_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_go_duration(text)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(timedelta(days=90), "2160h0m0s", id="90-days"),
        pytest.param(timedelta(hours=1), "1h0m0s", id="1h"),
        pytest.param(timedelta(seconds=90), "1m30s", id="90s"),
        pytest.param(timedelta(seconds=5), "5s", id="5s"),
        pytest.param(timedelta(milliseconds=1500), "1.5s", id="1.5s"),
        pytest.param(timedelta(milliseconds=500), "500ms", id="500ms"),
        pytest.param(timedelta(microseconds=1500), "1.5ms", id="1.5ms"),
        pytest.param(timedelta(microseconds=5), "5µs", id="5us"),
        pytest.param(timedelta(0), "0s", id="zero"),
        pytest.param(timedelta(hours=-1), "-1h0m0s", id="negative"),
    ],
)
def test_format_matches_go(value: timedelta, expected: str) -> None:
    assert format_go_duration(value) == expected


@pytest.mark.parametrize(
    "value",
    [timedelta(days=90), timedelta(minutes=5), timedelta(hours=1, milliseconds=250)],
    ids=["90d", "5m", "1h250ms"],
)
def test_round_trip(value: timedelta) -> None:
    assert parse_go_duration(format_go_duration(value)) == value
