"""Leader election against the API simulator over real HTTP (real clock, short durations).

The timing-exact cases (step down before expiry, hung renewals) are unit tests on a fake
clock; here we check that real Lease objects, resourceVersions and the server's validation
give the same behaviour: one leader, fast takeover after a release, takeover after a crash.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from certmgr.kube import resources as r
from certmgr.kube.client import KubeClient
from certmgr.runtime.clock import SystemClock
from certmgr.runtime.leaderelection import LeaderElectionConfig, LeaderElector
from certmgr.testing.cluster import KubeCluster

DEADLINE = 15.0  # generous bound for conditions on a loaded machine; tests end sooner
MakeCandidate = Callable[[str], Awaitable["Candidate"]]
SHORT = {"lease_duration": 2.0, "renew_deadline": 1.5, "retry_period": 0.2}


async def eventually(condition: Callable[[], bool], *, within: float = DEADLINE) -> float:
    """Wait until ``condition()`` holds; return when (monotonic). Fails after ``within``."""
    give_up = time.monotonic() + within
    while not condition():
        assert time.monotonic() < give_up, "condition not met in time"
        await asyncio.sleep(0.01)
    return time.monotonic()


@dataclass
class Candidate:
    identity: str
    client: KubeClient
    elector: LeaderElector
    task: asyncio.Task[None]
    started: list[float] = field(default_factory=list)
    stopped: list[float] = field(default_factory=list)


@pytest.fixture
async def namespace(kube_cluster: KubeCluster) -> str:
    return await kube_cluster.create_namespace("le")


@pytest.fixture
async def candidates(kubeconfig: Path, namespace: str) -> AsyncIterator[MakeCandidate]:
    made: list[Candidate] = []

    async def make(identity: str) -> Candidate:
        client = await KubeClient.connect(kubeconfig=str(kubeconfig), max_retries=0)
        times: dict[str, list[float]] = {"started": [], "stopped": []}
        elector = LeaderElector(
            client,
            LeaderElectionConfig(namespace=namespace, name="certmgr", identity=identity, **SHORT),
            clock=SystemClock(),
            on_started_leading=lambda: times["started"].append(time.monotonic()),
            on_stopped_leading=lambda: times["stopped"].append(time.monotonic()),
        )
        candidate = Candidate(
            identity, client, elector, asyncio.create_task(elector.run()), **times
        )
        made.append(candidate)
        return candidate

    yield make
    for candidate in made:
        candidate.task.cancel()
        await asyncio.gather(candidate.task, return_exceptions=True)
        await candidate.client.close()


async def test_one_leader_then_immediate_takeover_after_release(
    candidates: MakeCandidate, kubeconfig: Path, namespace: str
) -> None:
    a = await candidates("a")
    await eventually(a.elector.is_leader.is_set)
    b = await candidates("b")
    await eventually(lambda: b.elector.observed_holder == "a")
    # Several renewals later there is still exactly one leader, and it is the same one.
    async with await KubeClient.connect(kubeconfig=str(kubeconfig)) as admin:
        first = await admin.get(r.LEASES, "certmgr", namespace=namespace)
        renewals = 0
        give_up = time.monotonic() + DEADLINE
        while renewals < 3:
            assert time.monotonic() < give_up, "the leader stopped renewing"
            lease = await admin.get(r.LEASES, "certmgr", namespace=namespace)
            assert a.elector.leading and not b.elector.leading
            assert lease["spec"]["holderIdentity"] == "a"
            if lease["spec"]["renewTime"] != first["spec"]["renewTime"]:
                renewals += 1
                first = lease
            await asyncio.sleep(0.05)

    a.task.cancel()  # SIGTERM: stop leading, release the Lease
    released_at = time.monotonic()
    await asyncio.gather(a.task, return_exceptions=True)
    took_over_at = await eventually(b.elector.is_leader.is_set)
    assert a.stopped and a.stopped[0] <= b.started[0]
    assert took_over_at - released_at < 2.0, "a standby takes a released Lease at once"


async def test_a_crashed_leader_is_replaced_after_the_lease_expires(
    candidates: MakeCandidate,
) -> None:
    a = await candidates("a")
    await eventually(a.elector.is_leader.is_set)
    b = await candidates("b")
    await eventually(lambda: b.elector.observed_holder == "a")
    # The leader loses the API server (a crash, as far as the Lease is concerned).
    await a.client.close()
    lost_at = time.monotonic()
    await eventually(b.elector.is_leader.is_set)
    assert a.stopped, "the cut-off leader stepped down"
    assert a.stopped[0] < b.started[0], "never two leaders at once"
    # How long b waited depends on when it last saw a renewal, which a loaded machine
    # shifts; the exact timing is covered on the fake clock in the unit tests.
    assert b.started[0] > lost_at
