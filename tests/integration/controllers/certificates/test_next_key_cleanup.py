"""The next-private-key Secret of an issuance is deleted once, not once per reconcile
that still sees it in a cache the delete has not reached yet."""

from __future__ import annotations

import asyncio

from certmgr.testing.apiserver import Simulator

from .conftest import World


async def test_each_next_key_secret_is_deleted_once(world: World, sim: Simulator) -> None:
    names = [f"web{i}" for i in range(6)]
    sim.requests.reset()
    await asyncio.gather(*(world.create_certificate(name) for name in names))
    for name in names:
        await world.wait_ready(name)
    await world.quiesce()
    assert sim.requests.count(verb="delete", resource="secrets") == len(names)
