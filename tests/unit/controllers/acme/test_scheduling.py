"""Challenge scheduling: one Challenge per (name, type) in flight, and a global cap."""

from __future__ import annotations

from typing import Any

import pytest

from certmgr.controllers.acme.challenges import SLOT_INDEX, ChallengeReconciler, slot_of
from certmgr.controllers.context import Context, Settings
from certmgr.runtime.cache import Cache
from certmgr.testing.clock import FakeClock


def challenge(
    name: str,
    dns: str,
    *,
    processing: bool = False,
    state: str | None = None,
    created: str = "2026-11-22T20:00:00Z",
) -> Any:
    status: dict[str, Any] = {"processing": processing}
    if state:
        status["state"] = state
    return {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "resourceVersion": "1",
            "creationTimestamp": created,
        },
        "spec": {"dnsName": dns, "type": "HTTP-01"},
        "status": status,
    }


def reconciler(cache: Cache, *, cap: int = 10) -> ChallengeReconciler:
    ctx = Context(
        client=None,  # type: ignore[arg-type]
        manager=None,  # type: ignore[arg-type]
        clock=FakeClock(),
        events=None,  # type: ignore[arg-type]
        acme=None,  # type: ignore[arg-type]
        settings=Settings(max_concurrent_challenges=cap),
    )
    return ChallengeReconciler(
        ctx,
        accounts=None,
        challenges=cache,
        issuers=Cache(),
        cluster_issuers=Cache(),  # type: ignore[arg-type]
    )


def cache_of(*objs: Any) -> Cache:
    cache = Cache(indexes={SLOT_INDEX: slot_of})
    for obj in objs:
        cache.apply("ADDED", obj)
    return cache


@pytest.mark.parametrize(
    ("others", "cap", "scheduled"),
    [
        pytest.param([], 10, True, id="alone"),
        pytest.param(
            [challenge("b", "a.example.com", processing=True)], 10, False, id="same-name-busy"
        ),
        pytest.param(
            [challenge("b", "A.example.com", processing=True)], 10, False, id="case-insensitive"
        ),
        pytest.param(
            [challenge("b", "a.example.com", processing=True, state="valid")],
            10,
            True,
            id="other-final",
        ),
        pytest.param([challenge("b", "b.example.com", processing=True)], 10, True, id="other-name"),
        pytest.param(
            [challenge("b", "b.example.com", processing=True)], 1, False, id="cap-reached"
        ),
    ],
)
def test_schedule(others: list[Any], cap: int, scheduled: bool) -> None:
    mine = challenge("a", "a.example.com")
    r = reconciler(cache_of(mine, *others), cap=cap)
    assert r._schedule("ns/a", mine) is scheduled


def test_two_waiting_challenges_for_one_name_get_the_slot_one_at_a_time() -> None:
    first, second = challenge("a", "x.example.com"), challenge("b", "x.example.com")
    r = reconciler(cache_of(first, second))
    assert r._schedule("ns/a", first)
    # The first has not written processing=True yet: the in-memory slot still holds.
    assert not r._schedule("ns/b", second)
    r._challenges.apply("MODIFIED", {**first, "status": {"state": "valid"}})  # final
    r._forget("ns/a")
    assert r._schedule("ns/b", second)


@pytest.mark.parametrize(
    ("older", "scheduled"),
    [
        pytest.param(challenge("a", "x.example.com"), False, id="older-waiting-goes-first"),
        pytest.param(
            challenge("a", "x.example.com", state="valid"), True, id="older-final-is-no-rival"
        ),
        pytest.param(challenge("a", "y.example.com"), True, id="older-other-name"),
    ],
)
def test_after_a_restart_the_oldest_challenge_of_a_name_takes_the_slot(
    older: Any, scheduled: bool
) -> None:
    # A new process holds no slots, and a Challenge that went straight from presented to
    # accepted wrote no status: its processing is invisible. It took the slot because it
    # was the oldest waiting one, so it still is: a younger one must not be presented
    # while the CA may be validating it.
    younger = challenge("b", "x.example.com", created="2026-11-22T20:00:05Z")
    r = reconciler(cache_of(older, younger))
    assert r._schedule("ns/b", younger) is scheduled
    if not scheduled:
        assert r._schedule("ns/a", older)  # the older one takes it, and holds it
        assert not r._schedule("ns/b", younger)


class NoScans(Cache):
    """A cache that refuses a full listing: scheduling must cost what is in flight."""

    def list(self, namespace: str | None = None, *, selector: Any = None) -> list[Any]:
        raise AssertionError("scheduling listed every Challenge")


def no_scan_cache(*objs: Any) -> Cache:
    cache = NoScans(indexes={SLOT_INDEX: slot_of})
    for obj in objs:
        cache.apply("ADDED", obj)
    return cache


@pytest.mark.parametrize(
    ("others", "held", "cap", "scheduled"),
    [
        pytest.param([], [], 2, True, id="empty"),
        pytest.param(
            [challenge(f"p{i}", f"p{i}.example.com", processing=True) for i in range(2)],
            [],
            2,
            False,
            id="restart-processing-fills-cap",
        ),
        pytest.param(
            [
                challenge("p0", "p0.example.com", processing=True),
                challenge("p1", "p1.example.com", processing=True, state="valid"),
            ],
            [],
            2,
            True,
            id="final-processing-not-counted",
        ),
        pytest.param(
            [challenge("h0", "h0.example.com"), challenge("h1", "h1.example.com")],
            ["h0", "h1"],
            2,
            False,
            id="held-slots-fill-cap",
        ),
        pytest.param(
            [challenge("h0", "h0.example.com"), challenge("h1", "h1.example.com", state="valid")],
            ["h0", "h1"],
            2,
            True,
            id="finished-holder-frees-cap",
        ),
        pytest.param(
            [challenge("h0", "h0.example.com", processing=True)],
            ["h0"],
            2,
            True,
            id="held-and-processing-counted-once",
        ),
    ],
)
def test_cap_counts_in_flight_without_listing(
    others: list[Any], held: list[str], cap: int, scheduled: bool
) -> None:
    mine = challenge("a", "a.example.com")
    r = reconciler(no_scan_cache(mine, *others), cap=cap)
    for name in held:
        other = next(o for o in others if o["metadata"]["name"] == name)
        r._slots[slot_of(other)[0]] = f"ns/{name}"
    assert r._schedule("ns/a", mine) is scheduled


def test_a_challenge_holding_its_slot_stays_admitted() -> None:
    first, second = challenge("a", "a.example.com"), challenge("b", "b.example.com")
    r = reconciler(cache_of(first, second), cap=2)
    assert r._schedule("ns/a", first)
    assert r._schedule("ns/b", second)
    assert r._schedule("ns/a", first)  # its next reconcile: still in, still one of two
    assert not r._schedule("ns/c", challenge("c", "c.example.com"))


class RecordingQueue:
    def __init__(self) -> None:
        self.added: list[str] = []

    def add(self, key: str) -> None:
        self.added.append(key)


@pytest.mark.parametrize(
    ("finished", "woken"),
    [
        pytest.param("a", ["ns/b"], id="a-holder-finishes-the-first-waiter-wakes"),
        pytest.param("c", [], id="a-waiter-gone-frees-nothing"),
    ],
)
def test_a_freed_cap_slot_wakes_a_challenge_it_turned_away(finished: str, woken: list[str]) -> None:
    first, second, third = (challenge(n, f"{n}.example.com") for n in ("a", "b", "c"))
    r = reconciler(cache_of(first, second, third), cap=1)
    queue = RecordingQueue()
    r.bind(queue)  # type: ignore[arg-type]
    assert r._schedule("ns/a", first)
    assert not r._schedule("ns/b", second)
    assert not r._schedule("ns/c", third)
    r._forget(f"ns/{finished}")
    assert queue.added == woken
