"""cert-manager's Certificate metrics on a running manager's real ``/metrics`` endpoint:
an issued Certificate's expiry is its ``status.notAfter``, its renewal time when it will
be renewed (renewBefore, renewBeforePercentage or a third of its life before expiry), and
it leaves with the object."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from certmgr.api.codec import parse_rfc3339
from certmgr.controllers import metrics
from certmgr.kube import resources as r
from certmgr.runtime.health import HealthServer
from certmgr.testing.dataplane.waiting import eventually

from .conftest import World

EXPIRY = "certmanager_certificate_expiration_timestamp_seconds"


@pytest.fixture
async def metrics_url(world: World) -> AsyncIterator[str]:
    """The manager's collector on its own registry, served by a HealthServer as
    ``certmgr run`` serves it (the default registry is the process's, shared by tests)."""
    assert world.manager is not None
    registry = CollectorRegistry()
    metrics.register(world.manager, clock=world.clock, registry=registry)
    health = HealthServer(registry=registry)
    await health.start("127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{health.port}/metrics"
    finally:
        await health.stop()


async def scrape(url: str, name: str, *, namespace: str) -> dict[str, float]:
    """The ``name`` series by Certificate name, parsed from the exposition text."""
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.status == 200
        text = await response.text()
    return {
        sample.labels["name"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and sample.labels.get("namespace") == namespace
    }


async def test_an_issued_certificate_shows_its_not_after_and_leaves_when_deleted(
    world: World, metrics_url: str
) -> None:
    await world.create_certificate("metered")
    certificate = await world.wait_ready("metered")
    not_after = parse_rfc3339(certificate["status"]["notAfter"]).timestamp()

    async def probe() -> dict[str, float]:
        return await scrape(metrics_url, EXPIRY, namespace=world.namespace)

    # The collector reads the informer cache, which catches up with the API shortly.
    series = await eventually(probe, lambda s: s.get("metered") == not_after)
    assert not_after > world.clock.now().timestamp()
    assert set(series) == {"metered"}

    await world.kube.delete(r.CERTIFICATES, "metered", namespace=world.namespace)
    await eventually(probe, lambda s: "metered" not in s)


RENEWAL = "certmanager_certificate_renewal_timestamp_seconds"
HOUR = 3600.0


@pytest.mark.parametrize(
    ("spec", "renew_before"),
    [
        # cert-manager's default: renew with a third of the certificate's life left.
        pytest.param({"duration": "2160h"}, lambda life: life / 3, id="default-a-third"),
        pytest.param(
            {"duration": "2160h", "renewBefore": "240h"}, lambda life: 240 * HOUR, id="renewBefore"
        ),
        pytest.param(
            {"duration": "2160h", "renewBeforePercentage": 25},
            lambda life: life / 4,
            id="renewBeforePercentage",
        ),
    ],
)
async def test_the_renewal_metric_is_when_the_certificate_will_be_renewed(
    world: World,
    metrics_url: str,
    spec: dict[str, object],
    renew_before: Callable[[float], float],
) -> None:
    await world.create_certificate("renewing", **spec)
    certificate = await world.wait_ready("renewing")
    not_before = parse_rfc3339(certificate["status"]["notBefore"]).timestamp()
    not_after = parse_rfc3339(certificate["status"]["notAfter"]).timestamp()
    # cert-manager's time, from the issued certificate's own life (the CA may backdate
    # notBefore), moved earlier by certmgr's per-certificate jitter: up to
    # min(1 % of the life, 10 minutes), so a batch issued together does not renew together.
    life = not_after - not_before
    latest = math.floor(not_after - renew_before(life))
    earliest = latest - min(math.floor(life / 100), 600)

    async def probe() -> dict[str, float]:
        return await scrape(metrics_url, RENEWAL, namespace=world.namespace)

    # The informer may still hold the Certificate as it was before its renewalTime was
    # written (the series is 0 then, as cert-manager's), so wait for the status's value.
    renewal_time = parse_rfc3339(certificate["status"]["renewalTime"]).timestamp()
    series = await eventually(probe, lambda s: s.get("renewing") == renewal_time)
    assert earliest <= series["renewing"] <= latest
    assert world.clock.now().timestamp() < series["renewing"] < not_after
