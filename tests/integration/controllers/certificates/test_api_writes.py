"""API writes per issuance: the Certificate side's share of issue 5's budget (<= 15
writes per issuance, solver objects and Events included; the ACME side needs the rest)."""

from __future__ import annotations

from certmgr.testing.apiserver import Simulator

from .conftest import World

# 9 writes do the work: Certificate status Issuing=True, Ready=False, next key name,
# issued, Ready=True; next-key Secret create and delete; request create; Secret create;
# plus approval and the test issuer's status write (11). The simulator also counts
# writes it refused with 409: independent controllers racing for the first writes of a
# new Certificate typically lose 1-2 of those, retried on a fresher cache.
BUDGET = 15


async def test_one_issuance_costs_at_most_the_budget(world: World, sim: Simulator) -> None:
    sim.requests.reset()
    await world.create_certificate("web")
    await world.wait_ready("web")
    await world.quiesce()
    snapshot = {
        k: v for k, v in sim.requests.snapshot().items() if k[0] not in ("get", "list", "watch")
    }
    writes = sim.requests.writes() - 1  # the test's own create
    assert writes <= BUDGET, snapshot
