"""Renewal-information fetches: paced slots (never a burst) and bounded re-check delays."""

from __future__ import annotations

from datetime import timedelta

import pytest

from certmgr.controllers.acme.renewalinfo import FetchPacer
from certmgr.pki.renewalinfo import next_check_delay


def test_ten_thousand_due_fetches_are_spread_at_the_pace() -> None:
    pacer = FetchPacer(interval=0.1)
    waits = [pacer.wait(f"ns/c{i}", 0.0) for i in range(10_000)]
    assert waits[0] == 0.0
    assert sorted(waits) == waits
    assert waits[-1] == pytest.approx(999.9)
    # Coming back at its slot, each key fetches once; asking again early waits the rest.
    assert pacer.wait("ns/c5", 0.2) == pytest.approx(0.3)
    assert pacer.wait("ns/c5", 0.5) == 0.0


def test_a_quiet_pacer_lets_a_fetch_through_at_once() -> None:
    pacer = FetchPacer(interval=0.1)
    assert pacer.wait("a", 0.0) == 0.0
    assert pacer.wait("b", 60.0) == 0.0


@pytest.mark.parametrize(
    ("retry_after", "failed", "expected"),
    [
        pytest.param(None, False, timedelta(hours=6), id="no-header"),
        pytest.param(None, True, timedelta(hours=1), id="error-no-header"),
        pytest.param(0.0, False, timedelta(minutes=1), id="zero-is-a-minute"),
        pytest.param(3600.0, False, timedelta(hours=1), id="honoured"),
        pytest.param(30 * 86400.0, False, timedelta(days=1), id="a-month-is-a-day"),
        pytest.param(5.0, True, timedelta(minutes=1), id="error-with-header"),
    ],
)
def test_next_check_delay(retry_after: float | None, failed: bool, expected: timedelta) -> None:
    assert next_check_delay(retry_after, failed=failed) == expected
