"""The next-private-key Secret of an issuance is stored once and deleted once: not once
per reconcile that still sees it in a cache the delete has not reached yet, nor again
after a status write that recorded it was refused."""

from __future__ import annotations

import asyncio

from certmgr.api.codec import rfc3339
from certmgr.kube import resources as r
from certmgr.testing.apiserver import Simulator
from certmgr.testing.dataplane.waiting import eventually

from .conftest import World, is_ready


async def ready_with_retries(world: World, names: list[str], *, revision: int = 1) -> None:
    """Wait for Ready while moving the fake clock, which paces the per-key backoff of
    the reconciles that met a refused write (nothing else is due for hours)."""

    async def all_ready() -> bool:
        await world.clock.run_for(1)
        return all([is_ready(await world.certificate(n), revision=revision) for n in names])

    await eventually(all_ready, bool, deadline=30.0)


async def test_each_next_key_secret_is_deleted_once(world: World, sim: Simulator) -> None:
    names = [f"web{i}" for i in range(6)]
    sim.requests.reset()
    await asyncio.gather(*(world.create_certificate(name) for name in names))
    for name in names:
        await world.wait_ready(name)
    await world.quiesce()
    assert sim.requests.count(verb="delete", resource="secrets") == len(names)


async def test_a_refused_status_write_makes_no_second_next_key(
    world: World, sim: Simulator
) -> None:
    # Every other Certificate status write is refused with 409: each retry of the step
    # that lost one must find the next key it already stored (a second key Secret was
    # made, then both deleted, when its name came from generateName).
    names = [f"web{i}" for i in range(4)]
    sim.requests.reset()
    sim.faults.resources = frozenset({"certificates/status"})
    sim.faults.reseed(5)
    sim.faults.conflict_rate = 0.5
    await asyncio.gather(*(world.create_certificate(name) for name in names))
    await ready_with_retries(world, names)
    sim.faults.reset()
    await world.quiesce()
    assert sim.requests.count(verb="create", resource="secrets") == 2 * len(names)
    assert sim.requests.count(verb="delete", resource="secrets") == len(names)
    assert world.events.reasons("Normal").count("Generated") == len(names)


async def test_a_manual_renew_under_refused_writes_stores_one_next_key(
    world: World, sim: Simulator
) -> None:
    # A user tool's Issuing=True names no key Secret: the key manager names it and
    # records the name itself, and a refused write of that must not cost a second key.
    await world.create_certificate("web")
    certificate = await world.wait_ready("web")
    await world.quiesce()
    sim.requests.reset()
    certificate["status"]["conditions"].append(
        {
            "type": "Issuing",
            "status": "True",
            "reason": "ManuallyTriggered",
            "message": "Certificate re-issuance manually triggered",
            "lastTransitionTime": rfc3339(world.clock.now()),
        }
    )
    await world.kube.update_status(r.CERTIFICATES, certificate)
    sim.faults.resources = frozenset({"certificates/status"})
    sim.faults.reseed(1)
    sim.faults.conflict_rate = 0.5
    await ready_with_retries(world, ["web"], revision=2)
    sim.faults.reset()
    await world.quiesce()
    assert sim.requests.count(verb="create", resource="secrets") == 1  # the next key
    assert sim.requests.count(verb="delete", resource="secrets") == 1
    assert sim.requests.count(verb="create", resource="certificaterequests") == 1
