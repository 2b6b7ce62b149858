"""A Certificate being deleted (deletionTimestamp set, held by finalizers while the
garbage collector removes its dependents first) gets nothing issued: no Issuing
condition, no next-private-key Secret, no CertificateRequest. On a real cluster the
collector deletes what we create then, so each write is wasted and a slow deletion
would start a real ACME order."""

from __future__ import annotations

import pytest

from certmgr.api.codec import rfc3339
from certmgr.kube import resources as r

from .conftest import START, World, condition

# Keeps the Certificate in its deleting state for the whole test, as a slow foreground
# deletion (many dependents) would on a real cluster.
HOLD = "test.certmgr.io/hold"


@pytest.mark.parametrize(
    "issuing",
    [
        pytest.param(False, id="not-yet-issued"),
        pytest.param(True, id="issuing-without-a-key-yet"),
    ],
)
async def test_a_certificate_being_deleted_gets_nothing_issued(world: World, issuing: bool) -> None:
    await world.stop()
    created = await world.create_certificate("web")
    await world.kube.patch(
        r.CERTIFICATES, "web", {"metadata": {"finalizers": [HOLD]}}, namespace=world.namespace
    )
    if issuing:
        created = await world.certificate("web")
        created["status"] = {
            "conditions": [
                {
                    "type": "Issuing",
                    "status": "True",
                    "reason": "DoesNotExist",
                    "message": "Issuing certificate as Secret does not exist",
                    "lastTransitionTime": rfc3339(START),
                }
            ]
        }
        await world.kube.update_status(r.CERTIFICATES, created)
    held = await world.kube.delete(
        r.CERTIFICATES, "web", namespace=world.namespace, propagation_policy="Foreground"
    )
    assert held is not None and held["metadata"]["deletionTimestamp"]

    await world.start()
    await world.quiesce()
    world.clock.advance(3600)
    await world.quiesce()

    certificate = await world.certificate("web")
    assert certificate["metadata"]["deletionTimestamp"]
    assert bool(condition(certificate, "Issuing")) is issuing  # never started here
    assert (await world.kube.list(r.SECRETS, namespace=world.namespace)).items == []
    assert await world.requests() == []
    assert "Issuing" not in world.events.reasons()

    # Let it go: a real server would keep the test's namespace Terminating for ever.
    # Only HOLD is removed; the foregroundDeletion finalizer is the server's to drop.
    finalizers = [f for f in certificate["metadata"].get("finalizers") or () if f != HOLD]
    await world.kube.patch(
        r.CERTIFICATES, "web", {"metadata": {"finalizers": finalizers}}, namespace=world.namespace
    )
