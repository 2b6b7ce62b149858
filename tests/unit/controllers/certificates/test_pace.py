"""The pace of time-driven issuances: a burst at once, then ``qps``, no reservations."""

from __future__ import annotations

from certmgr.controllers.certificates.trigger import Pace
from certmgr.testing.clock import FakeClock


def test_burst_then_steady_pace() -> None:
    clock = FakeClock()
    pace = Pace(qps=2.0, burst=3, clock=clock)
    assert [pace.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert pace.take() == 0.5
    assert pace.take() == 0.5  # asking again does not push the wait further out
    clock.advance(0.5)
    assert pace.take() == 0.0
    assert pace.take() == 0.5


def test_tokens_refill_up_to_the_burst_only() -> None:
    clock = FakeClock()
    pace = Pace(qps=10.0, burst=2, clock=clock)
    clock.advance(3600)
    assert [pace.take() for _ in range(3)] == [0.0, 0.0, 0.1]
