"""cert-manager's Certificate metrics on a running manager's real ``/metrics`` endpoint:
an issued Certificate's expiry is its ``status.notAfter``, and it leaves with the object."""

from __future__ import annotations

from collections.abc import AsyncIterator

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
