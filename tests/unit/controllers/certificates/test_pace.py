"""The pace of time-driven issuances: a burst at once, then ``qps``; a waiting key gets a slot."""

from __future__ import annotations

import pytest

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


def test_waiting_keys_get_their_own_slots_instead_of_all_retrying_per_token() -> None:
    # 1,000 overdue certificates after downtime: each is told when to come back. If they
    # all came back whenever a token appeared, 1,000 keys would reconcile ~10 times a
    # second each while they wait; with a slot each, each comes back once.
    clock = FakeClock()
    pace = Pace(qps=10.0, burst=50, clock=clock)
    start = clock.monotonic()
    due: list[tuple[float, str]] = [(start, f"k{i}") for i in range(1000)]
    started: dict[str, float] = {}
    calls = 0
    while due:
        due.sort()
        at, key = due.pop(0)
        clock.advance(max(at - clock.monotonic(), 0.0))
        calls += 1
        wait = pace.take_for(key)
        if wait == 0.0:
            started[key] = clock.monotonic()
        else:
            due.append((clock.monotonic() + wait, key))
    assert len(started) == 1000
    assert calls == 1000 + 950  # the burst at once; every other key twice
    assert max(started.values()) - start == pytest.approx(95.0)  # then 10 a second


def test_a_key_asking_again_keeps_its_slot() -> None:
    clock = FakeClock()
    pace = Pace(qps=2.0, burst=1, clock=clock)
    assert pace.take_for("a") == 0.0
    assert pace.take_for("b") == 0.5
    assert pace.take_for("c") == 1.0
    assert pace.take_for("b") == 0.5  # early again (another event): same slot
    clock.advance(0.5)
    assert pace.take_for("b") == 0.0
    assert pace.take_for("d") == 1.0  # after c
    pace.forget("c")
    clock.advance(0.5)
    assert pace.take_for("c") == 1.0  # c's slot is forgotten; it books a new one
