"""API writes per issuance: the Certificate side's share of issue 5's budget (<= 15
writes per issuance, solver objects and Events included; the ACME side needs the rest),
and the Certificate's own status: two writes per issuance, whatever started it."""

from __future__ import annotations

import pytest

from certmgr.api.codec import parse_rfc3339
from certmgr.kube import resources as r
from certmgr.testing.apiserver import Simulator

from .conftest import World

# 6 writes do the work: Certificate status twice (Issuing=True with Ready=False and the
# next key's name; issued with Ready=True); next-key Secret create and delete; request
# create; Secret create; plus approval and the test issuer's status write (8). The
# simulator also counts writes it refused with 409.
BUDGET = 10


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


def status_writes(sim: Simulator) -> int:
    """Certificate status writes, refused ones (409) included: each is a round trip."""
    return sim.requests.writes(resource="certificates/status")


async def test_an_issuance_writes_the_certificate_status_twice(
    world: World, sim: Simulator
) -> None:
    # One write starts it (Issuing=True, Ready=False DoesNotExist, the next key's name),
    # one ends it (revision, Ready=True, validity, Issuing removed); readiness and the
    # key manager find nothing left to write.
    sim.requests.reset()
    await world.create_certificate("web")
    certificate = await world.wait_ready("web")
    await world.quiesce()
    assert status_writes(sim) == 2, sim.requests.snapshot()
    assert sim.requests.count(verb="create", resource="secrets") == 2  # next key, TLS
    assert sim.requests.count(verb="delete", resource="secrets") == 1
    status = certificate["status"]
    assert {"notBefore", "notAfter", "renewalTime"} <= status.keys()
    assert "nextPrivateKeySecretName" not in status


async def test_a_reissuance_writes_the_certificate_status_twice(
    world: World, sim: Simulator
) -> None:
    await world.create_certificate("web")
    await world.wait_ready("web")
    await world.quiesce()
    sim.requests.reset()
    await world.kube.delete(r.SECRETS, "web-tls", namespace=world.namespace)  # Ready=False, reissue
    await world.wait_ready("web", revision=2)
    await world.quiesce()
    assert status_writes(sim) == 2, sim.requests.snapshot()


async def test_a_renewal_writes_the_certificate_status_twice(world: World, sim: Simulator) -> None:
    await world.create_certificate("web", duration="3h", renewBefore="1h")
    certificate = await world.wait_ready("web")
    await world.quiesce()
    renewal = parse_rfc3339(certificate["status"]["renewalTime"])
    sim.requests.reset()
    await world.clock.advance_to(renewal)
    renewed = await world.wait_ready("web", revision=2)
    await world.quiesce()
    assert status_writes(sim) == 2, sim.requests.snapshot()
    assert parse_rfc3339(renewed["status"]["renewalTime"]) > renewal


async def test_a_reconciled_up_to_date_certificate_writes_nothing(
    world: World, sim: Simulator
) -> None:
    await world.create_certificate("web")
    await world.wait_ready("web")
    await world.quiesce()
    sim.requests.reset()
    await world.kube.patch(
        r.CERTIFICATES, "web", {"metadata": {"labels": {"poke": "1"}}}, namespace=world.namespace
    )
    await world.restart()
    await world.quiesce()
    assert sim.requests.writes() == 1, sim.requests.snapshot()  # the test's patch


@pytest.mark.parametrize(
    ("issuer", "reads"),
    [
        # This process's issuer wrote the chain: the issuing controller takes it as written.
        pytest.param("selfsigned", 0, id="chain-handed-over"),
        # Written by someone else (the test's CA issuer, an update of its own): the cache
        # keeps the issued request without its chain, so it is fetched once.
        pytest.param("test-ca", 1, id="chain-fetched"),
    ],
)
async def test_the_issued_chain_is_read_from_the_api_only_when_another_wrote_it(
    world: World, sim: Simulator, issuer: str, reads: int
) -> None:
    selfsigned = {"apiVersion": "cert-manager.io/v1", "kind": "Issuer"}
    metadata = {"name": "selfsigned", "namespace": world.namespace}
    await world.kube.create(
        r.ISSUERS, {**selfsigned, "metadata": metadata, "spec": {"selfSigned": {}}}
    )
    sim.requests.reset()
    await world.create_certificate("web", issuerRef={"name": issuer, "kind": "Issuer"})
    await world.wait_ready("web")
    await world.quiesce()
    assert sim.requests.count(verb="get", resource="certificaterequests") == reads
