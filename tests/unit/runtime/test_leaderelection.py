"""Leader election on a fake clock against an in-memory Lease store: exactly one leader,
takeover after expiry, immediate takeover after release, stepping down before expiry.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from prometheus_client import REGISTRY

from certmgr.kube.errors import AlreadyExists, Conflict, NotFound, ServerError
from certmgr.kube.resources import LEASES, Resource
from certmgr.runtime.leaderelection import LeaderElectionConfig, LeaderElector
from certmgr.testing.clock import FakeClock, settle


def status(reason: str, code: int) -> dict[str, Any]:
    return {"kind": "Status", "reason": reason, "code": code}


@dataclass
class LeaseStore:
    """The API server's view of Leases: resourceVersion checks like the real one."""

    objects: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    version: int = 0
    writes: int = 0

    def holder(self, namespace: str = "ns", name: str = "lock") -> str | None:
        lease = self.objects.get((namespace, name))
        return None if lease is None else lease["spec"].get("holderIdentity")


@dataclass
class LeaseClient:
    """One candidate's connection to the store, which the test can break or hang."""

    store: LeaseStore
    down: bool = False
    hang: bool = False
    # Loop passes each call takes before it answers, as a real client's layers do: the
    # request is in flight, not waiting, and fake time must not move meanwhile.
    passes: int = 0

    async def _check(self) -> None:
        for _ in range(self.passes):
            await asyncio.sleep(0)
        if self.hang:
            await asyncio.Event().wait()
        if self.down:
            raise ServerError(status("InternalError", 500))

    async def get(
        self, resource: Resource, name: str, *, namespace: str | None = None
    ) -> dict[str, Any]:
        assert resource == LEASES
        await self._check()
        lease = self.store.objects.get((namespace or "", name))
        if lease is None:
            raise NotFound(status("NotFound", 404))
        return copy.deepcopy(lease)

    async def create(
        self, resource: Resource, obj: dict[str, Any], *, namespace: str | None = None
    ) -> dict[str, Any]:
        await self._check()
        key = (namespace or "", obj["metadata"]["name"])
        if key in self.store.objects:
            raise AlreadyExists(status("AlreadyExists", 409))
        return self._write(key, obj)

    async def update(self, resource: Resource, obj: dict[str, Any]) -> dict[str, Any]:
        await self._check()
        key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
        current = self.store.objects.get(key)
        if current is None:
            raise NotFound(status("NotFound", 404))
        if obj["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
            raise Conflict(status("Conflict", 409))
        return self._write(key, obj)

    def _write(self, key: tuple[str, str], obj: dict[str, Any]) -> dict[str, Any]:
        self.store.version += 1
        self.store.writes += 1
        stored = copy.deepcopy(obj)
        stored["metadata"]["resourceVersion"] = str(self.store.version)
        self.store.objects[key] = stored
        return copy.deepcopy(stored)


@dataclass
class Candidate:
    elector: LeaderElector
    client: LeaseClient
    task: asyncio.Task[None]
    events: list[tuple[str, float]]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(monotonic_start=0.0)


@pytest.fixture
async def candidates(clock: FakeClock) -> AsyncIterator[list[Candidate]]:
    started: list[Candidate] = []
    yield started
    for candidate in started:
        candidate.task.cancel()
    await settle()
    # A second cancel aborts a release stuck on a hung fake API (fake time does not move).
    for candidate in started:
        candidate.task.cancel()
    await asyncio.gather(*(c.task for c in started), return_exceptions=True)


async def campaign(
    clock: FakeClock,
    store: LeaseStore,
    identity: str,
    started: list[Candidate],
    *,
    down: bool = False,
    passes: int = 0,
    **config: Any,
) -> Candidate:
    client = LeaseClient(store, down=down, passes=passes)
    events: list[tuple[str, float]] = []
    elector = LeaderElector(
        client,
        LeaderElectionConfig(namespace="ns", name="lock", identity=identity, **config),
        clock=clock,
        on_started_leading=lambda: events.append(("started", clock.monotonic())),
        on_stopped_leading=lambda: events.append(("stopped", clock.monotonic())),
    )
    candidate = Candidate(elector, client, asyncio.create_task(elector.run()), events)
    started.append(candidate)
    await settle()
    return candidate


def leaders(candidates: list[Candidate]) -> list[str]:
    return [c.elector.config.identity for c in candidates if c.elector.leading]


# How many loop passes the fake API takes per call: more than the 1000 after which the
# fake clock used to stop waiting and move time under a request still in flight.
API_SPEEDS = [
    pytest.param(0, id="api-answers-at-once"),
    pytest.param(1_100, id="api-answers-after-many-loop-passes"),
]


@pytest.mark.parametrize("passes", API_SPEEDS)
async def test_two_candidates_exactly_one_leads(
    clock: FakeClock, candidates: list[Candidate], passes: int
) -> None:
    store = LeaseStore()
    a = await campaign(clock, store, "a", candidates, passes=passes)
    b = await campaign(clock, store, "b", candidates, passes=passes)
    for _ in range(30):  # a minute in 2 s steps: the invariant holds at every step
        await clock.run_for(2)
        assert leaders(candidates) == ["a"]
    assert store.holder() == "a"
    assert b.events == [] and a.events == [("started", 0.0)]
    assert store.objects[("ns", "lock")]["spec"]["leaseTransitions"] == 0


async def test_is_leader_metric_follows_leadership(
    clock: FakeClock, candidates: list[Candidate]
) -> None:
    def gauge() -> float | None:
        return REGISTRY.get_sample_value("certmgr_leader_is_leader", {"lease": "ns/lock"})

    a = await campaign(clock, LeaseStore(), "a", candidates)
    assert gauge() == 1
    a.client.down = True
    await clock.run_for(12)
    assert gauge() == 0


async def test_simultaneous_first_attempts_conflict_and_one_wins(
    clock: FakeClock, candidates: list[Candidate]
) -> None:
    store = LeaseStore()
    store.objects[("ns", "lock")] = {
        "metadata": {"name": "lock", "namespace": "ns", "resourceVersion": "0"},
        "spec": {"holderIdentity": "", "leaseDurationSeconds": 1},
    }
    # Both read the free lease before either writes: the second write is a Conflict.
    first = [
        asyncio.create_task(c)
        for c in (
            campaign(clock, store, "a", candidates),
            campaign(clock, store, "b", candidates),
        )
    ]
    await asyncio.gather(*first)
    await clock.run_for(10)
    assert len(leaders(candidates)) == 1
    assert store.holder() in {"a", "b"}


async def test_leader_that_cannot_renew_steps_down_before_the_other_takes_over(
    clock: FakeClock, candidates: list[Candidate]
) -> None:
    store = LeaseStore()
    a = await campaign(clock, store, "a", candidates)
    b = await campaign(clock, store, "b", candidates)
    await clock.run_for(20)
    last_renewal = clock.monotonic()  # a renews on even seconds; 20 was the last success
    a.client.down = True
    await clock.run_for(30)
    assert leaders(candidates) == ["b"]
    (stopped_a,) = [t for e, t in a.events if e == "stopped"]
    (started_b,) = [t for e, t in b.events if e == "started"]
    assert stopped_a <= last_renewal + 10, "a stops within the renew deadline"
    assert started_b >= last_renewal + 15, "b waits for the lease to expire"
    assert stopped_a < started_b
    assert a.task.done(), "run returns once leadership is lost"
    assert store.objects[("ns", "lock")]["spec"]["leaseTransitions"] == 1


@pytest.mark.parametrize("passes", API_SPEEDS)
async def test_a_hung_renewal_is_bounded_by_the_renew_deadline(
    clock: FakeClock, candidates: list[Candidate], passes: int
) -> None:
    store = LeaseStore()
    a = await campaign(clock, store, "a", candidates, passes=passes)
    await clock.run_for(4)
    a.client.hang = True
    await clock.run_for(11)
    assert not a.elector.leading
    assert a.events[-1] == ("stopped", 14.0)


async def test_release_lets_a_standby_take_over_at_its_next_try(
    clock: FakeClock, candidates: list[Candidate]
) -> None:
    store = LeaseStore()
    a = await campaign(clock, store, "a", candidates)
    b = await campaign(clock, store, "b", candidates)
    await clock.run_for(7)
    released_at = clock.monotonic()
    a.task.cancel()
    await settle()
    assert a.events[-1] == ("stopped", released_at), "controllers stop before the release"
    assert store.holder() == ""
    assert store.objects[("ns", "lock")]["spec"]["leaseDurationSeconds"] == 1
    await clock.run_for(2)
    assert leaders(candidates) == ["b"]
    (started_b,) = [t for e, t in b.events if e == "started"]
    assert started_b - released_at <= 2, "takeover within one retry period"


async def test_unreachable_api_at_start_keeps_campaigning(
    clock: FakeClock, candidates: list[Candidate]
) -> None:
    a = await campaign(clock, LeaseStore(), "a", candidates, down=True)
    await clock.run_for(30)
    assert not a.elector.leading and a.elector.healthy
    a.client.down = False
    await clock.run_for(2)
    assert a.elector.leading


async def test_expired_lease_of_a_dead_holder_is_taken_and_transitions_counted(
    clock: FakeClock, candidates: list[Candidate]
) -> None:
    store = LeaseStore()
    store.objects[("ns", "lock")] = {
        "metadata": {"name": "lock", "namespace": "ns", "resourceVersion": "7"},
        "spec": {"holderIdentity": "dead", "leaseDurationSeconds": 15, "leaseTransitions": 3},
    }
    b = await campaign(clock, store, "b", candidates)
    await clock.run_for(14)
    assert not b.elector.leading, "the lease is valid for 15 s from when b first saw it"
    await clock.run_for(2)
    assert b.elector.leading
    assert store.objects[("ns", "lock")]["spec"]["leaseTransitions"] == 4


@pytest.mark.parametrize(
    "config",
    [
        pytest.param({"renew_deadline": 15.0}, id="renew-deadline-not-below-duration"),
        pytest.param({"retry_period": 10.0}, id="retry-not-below-renew-deadline"),
        pytest.param({"lease_duration": 15.5}, id="fractional-lease-duration"),
        pytest.param({"identity": ""}, id="empty-identity"),
    ],
)
def test_config_is_validated(config: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        LeaderElectionConfig(namespace="ns", name="lock", **config)


def test_default_identity_is_unique_per_process() -> None:
    first = LeaderElectionConfig(namespace="ns", name="lock").identity
    second = LeaderElectionConfig(namespace="ns", name="lock").identity
    assert first != second and first.rsplit("_", 1)[0] == second.rsplit("_", 1)[0]


class Work:
    """Stands in for the controllers: runs until cancelled, then drains for ``drain`` s."""

    def __init__(self, clock: FakeClock, store: LeaseStore, *, drain: float = 0.0):
        self.clock = clock
        self.store = store
        self.drain = drain
        self.log: list[tuple[str, float, str | None]] = []

    def note(self, what: str) -> None:
        self.log.append((what, self.clock.monotonic(), self.store.holder()))

    async def __call__(self) -> None:
        self.note("started")
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.note("draining")
            try:
                await self.clock.sleep(self.drain)
            except asyncio.CancelledError:
                self.note("cut-short")
                raise
            self.note("drained")
            raise


async def start_with_work(
    clock: FakeClock, store: LeaseStore, identity: str, work: Work, *, down: bool = False
) -> tuple[LeaderElector, LeaseClient, asyncio.Task[None]]:
    client = LeaseClient(store, down=down)
    elector = LeaderElector(
        client, LeaderElectionConfig(namespace="ns", name="lock", identity=identity), clock=clock
    )
    task = asyncio.create_task(elector.run(work))
    await settle()
    return elector, client, task


async def test_work_runs_only_while_leading(clock: FakeClock) -> None:
    store = LeaseStore()
    work_a, work_b = Work(clock, store), Work(clock, store)
    _, _, task_a = await start_with_work(clock, store, "a", work_a)
    _, _, task_b = await start_with_work(clock, store, "b", work_b)
    await clock.run_for(30)
    assert [w for w, _, _ in work_a.log] == ["started"]
    assert work_b.log == []
    for task in (task_a, task_b):
        task.cancel()
    await asyncio.gather(task_a, task_b, return_exceptions=True)


async def test_shutdown_drains_work_under_the_lease_then_releases(clock: FakeClock) -> None:
    store = LeaseStore()
    work = Work(clock, store, drain=6)  # longer than the 2 s retry period: renewals go on
    _, _, task = await start_with_work(clock, store, "a", work)
    await clock.run_for(3)
    renewed_before = store.writes
    task.cancel()
    await clock.run_for(10)
    assert task.done()
    assert [(w, t, h) for w, t, h in work.log] == [
        ("started", 0, "a"),
        ("draining", 3, "a"),
        ("drained", 9, "a"),  # still the holder while draining
    ]
    assert store.writes - renewed_before >= 3, "renewed while draining, then released"
    assert store.holder() == ""


async def test_lost_lease_cuts_the_work_short(clock: FakeClock) -> None:
    store = LeaseStore()
    work = Work(clock, store, drain=100)
    elector, client, task = await start_with_work(clock, store, "a", work)
    await clock.run_for(4)
    client.down = True
    await clock.run_for(20)
    assert task.done() and not elector.leading
    assert [w for w, _, _ in work.log] == ["started", "draining", "cut-short"]
    assert [t for w, t, _ in work.log if w == "cut-short"] == [14], "at the renew deadline"


async def test_failing_work_ends_leadership_and_reraises(clock: FakeClock) -> None:
    store = LeaseStore()

    async def crash() -> None:
        raise RuntimeError("controller crashed")

    client = LeaseClient(store)
    elector = LeaderElector(
        client, LeaderElectionConfig(namespace="ns", name="lock", identity="a"), clock=clock
    )
    with pytest.raises(RuntimeError, match="controller crashed"):
        await asyncio.wait_for(elector.run(crash), 5)
    assert not elector.leading
    assert store.holder() == "", "released for a standby"


async def test_holds_lease_ends_at_the_renew_deadline_before_the_renewal_loop_runs(
    clock: FakeClock,
) -> None:
    """A process frozen (SIGSTOP) past its renew deadline resumes with ``is_leader`` still
    set; ``holds_lease`` already says no, so no write to the CA leaves before it steps down."""
    store = LeaseStore()
    elector, _, task = await start_with_work(clock, store, "a", Work(clock, store))
    assert elector.holds_lease()
    await clock.run_for(9)
    assert elector.holds_lease(), "renewed every 2 s: held"
    clock.advance(30)  # frozen: time moved, no task has run since
    assert elector.leading and not elector.holds_lease()
    await settle()
    assert not elector.leading and not elector.holds_lease()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
