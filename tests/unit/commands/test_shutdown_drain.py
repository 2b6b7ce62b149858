"""SIGTERM: the process turns unready and its endpoint terminating at once, keeps
polling (and answering) the challenges it asked the CA to validate until they are final,
within the drain deadline, and only then stops its controllers and withdraws."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

from certmgr.app import ShutdownDrain
from certmgr.runtime.cache import Cache
from certmgr.testing.clock import FakeClock, settle


@dataclass
class FakeChallenges:
    in_flight: int
    drained: bool = False

    def drain(self) -> None:
        self.drained = True

    def accepted_in_flight(self) -> int:
        return self.in_flight


@dataclass
class FakeAcme:
    challenges: FakeChallenges


@dataclass
class FakeEndpoints:
    calls: list[str] = field(default_factory=list)

    async def drain(self) -> None:
        self.calls.append("drain")

    async def withdraw(self) -> None:
        self.calls.append("withdraw")


class FakeInformer:
    def __init__(self, cache: Cache) -> None:
        self.cache = cache


class FakeManager:
    def __init__(self, cache: Cache) -> None:
        self._informer = FakeInformer(cache)

    def informer(self, resource: Any) -> FakeInformer:
        return self._informer


def _challenge(name: str, state: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ns", "uid": name},
        "status": {"state": state} if state else {},
    }


@pytest.mark.parametrize(
    ("final_after", "deadline", "expected_wait"),
    [
        pytest.param(None, 60.0, 0.0, id="nothing-accepted-exits-at-once"),
        pytest.param(3.0, 60.0, 3.0, id="waits-until-the-accepted-challenge-is-final"),
        pytest.param(1000.0, 60.0, 60.0, id="bounded-by-the-deadline"),
    ],
)
async def test_sigterm_drains_accepted_challenges_before_stopping(
    final_after: float | None, deadline: float, expected_wait: float
) -> None:
    clock = FakeClock()
    challenges = FakeChallenges(in_flight=0 if final_after is None else 1)
    cache = Cache()
    endpoints = FakeEndpoints()
    draining = asyncio.Event()
    drain = ShutdownDrain(
        acme=FakeAcme(challenges),  # type: ignore[arg-type]
        manager=FakeManager(cache),  # type: ignore[arg-type]
        endpoints=endpoints,  # type: ignore[arg-type]
        draining=draining,
        clock=clock,
        deadline=deadline,
        serving=True,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(drain.until(stop))
    await settle()
    assert not draining.is_set() and not task.done()
    stop.set()
    await settle()
    # At once: unready, endpoint terminating, no new challenge answered to the CA.
    assert draining.is_set()
    assert endpoints.calls == ["drain"]
    assert challenges.drained
    started = clock.monotonic()
    if final_after is not None:
        await clock.run_for(min(final_after, deadline) - 0.01)
        assert not task.done()  # still answering and polling
        if final_after < deadline:
            challenges.in_flight = 0
        await clock.run_for(deadline)
    await settle()
    assert task.done()
    # The stop signal for the controllers' task group.
    assert type(task.exception()).__name__ == "_Stopped"
    assert clock.monotonic() - started >= expected_wait - 0.01
    # Then the solver: nothing pending, the endpoint goes at once.
    cache.apply("ADDED", _challenge("done", "valid"))
    await drain.solver()
    assert endpoints.calls == ["drain", "withdraw"]


async def test_the_solver_answers_pending_challenges_before_withdrawing() -> None:
    clock = FakeClock()
    cache = Cache()
    cache.apply("ADDED", _challenge("pending", ""))
    endpoints = FakeEndpoints()
    drain = ShutdownDrain(
        acme=FakeAcme(FakeChallenges(0)),  # type: ignore[arg-type]
        manager=FakeManager(cache),  # type: ignore[arg-type]
        endpoints=endpoints,  # type: ignore[arg-type]
        draining=asyncio.Event(),
        clock=clock,
        deadline=60.0,
        serving=True,
    )
    task = asyncio.create_task(drain.solver())
    await clock.run_for(5)
    assert not task.done() and endpoints.calls == []
    cache.apply("MODIFIED", _challenge("pending", "valid"))
    await clock.run_for(1)
    assert task.done() and endpoints.calls == ["withdraw"]
