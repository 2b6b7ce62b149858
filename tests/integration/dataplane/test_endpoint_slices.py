"""Shared mode with EndpointSlices: a Service without a selector reaches every live
replica's solver through the EndpointSlices each replica publishes, routed as kube-proxy
and ingress-nginx do; a killed replica costs no request and its endpoint goes once its
heartbeat expires; a frozen one is named late, then removed, within seconds; a draining
replica keeps answering while it is the last one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from aiohttp import web

from certmgr.controllers.acme import Replica, ReplicaEndpoints, publish_shared_endpoints
from certmgr.controllers.acme.solver_endpoints import (
    HEARTBEAT_SECONDS,
    LEASE_SECONDS,
    REPLICA_LABEL,
)
from certmgr.controllers.acme.solver_objects import SHARED_SERVICE, shared_service
from certmgr.kube.client import KubeClient
from certmgr.kube.resources import ENDPOINTSLICES, INGRESSES, LEASES, SERVICES
from certmgr.runtime.manager import Manager
from certmgr.testing.clock import FakeClock
from certmgr.testing.dataplane import DataPlane
from certmgr.testing.dataplane.manifests import ingress
from certmgr.testing.dataplane.waiting import eventually
from solvers import StaticTokenSource, challenge_path, serve

DOMAIN, TOKEN, KEY = "a.example.com", "tok-a", "tok-a.thumb"


@dataclass
class Running:
    endpoints: ReplicaEndpoints
    solver: web.AppRunner
    informers: asyncio.Task[None]

    async def stop(self) -> None:
        await self.solver.cleanup()
        self.informers.cancel()


async def _replica(kube: KubeClient, clock: FakeClock, name: str, namespace: str) -> Running:
    solver = await serve(StaticTokenSource.of([(DOMAIN, TOKEN, KEY)]), host="127.0.0.1", port=0)
    manager = Manager(kube, clock=clock)
    replica = Replica(name=name, ip="127.0.0.1", port=int(solver.addresses[0][1]))
    endpoints = publish_shared_endpoints(manager, replica=replica, lease_namespace=namespace)
    informers = asyncio.create_task(manager.run_informers())
    await manager.wait_synced()
    return Running(endpoints, solver, informers)


@pytest.fixture
async def replicas(
    kube: KubeClient, namespace: str
) -> AsyncIterator[tuple[FakeClock, list[Running]]]:
    clock = FakeClock()
    running = [await _replica(kube, clock, f"certmgr-{n}", namespace) for n in range(2)]
    try:
        yield clock, running
    finally:
        for one in running:
            await one.stop()


async def _get(http: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with http.get(url, headers={"Host": DOMAIN}) as response:
        return response.status, await response.text()


async def _slices(kube: KubeClient, namespace: str) -> set[str]:
    listed = await kube.list(ENDPOINTSLICES, namespace=namespace)
    return {str(s["metadata"]["labels"][REPLICA_LABEL]) for s in listed.items}


async def test_every_live_replica_is_an_endpoint_and_a_dead_one_goes(
    dataplane: DataPlane,
    kube: KubeClient,
    namespace: str,
    http: aiohttp.ClientSession,
    replicas: tuple[FakeClock, list[Running]],
) -> None:
    clock, (first, second) = replicas
    await kube.create(
        SERVICES, shared_service(namespace, host="", port=8089, service_type="EndpointSlice")
    )
    route = (challenge_path(TOKEN), "ImplementationSpecific", SHARED_SERVICE, 8089)
    await kube.create(INGRESSES, ingress("solver", host=DOMAIN, paths=[route], namespace=namespace))
    for one in (first, second):
        await eventually(lambda: _services_seen(one), bool)  # noqa: B023
        await one.endpoints.sync()
    assert await _slices(kube, namespace) == {"certmgr-0", "certmgr-1"}
    url = dataplane.router.http_url + challenge_path(TOKEN)
    assert await eventually(lambda: _get(http, url), lambda r: r[0] == 200) == (200, KEY)

    # SIGKILL: the first replica's solver is gone, its slice still says ready. Every
    # request still succeeds (the next endpoint is tried), and once its heartbeat has
    # expired the other replica removes its endpoint.
    await first.stop()
    for _ in range(4):
        assert await _get(http, url) == (200, KEY)
    clock.advance(60)
    await second.endpoints.sync()
    assert await _slices(kube, namespace) == {"certmgr-1"}
    assert await _get(http, url) == (200, KEY)

    # SIGTERM of the last replica: not ready, but serving while terminating, so the
    # challenges it still answers are reached; withdrawn, nothing is.
    await second.endpoints.drain()
    listed = await kube.list(ENDPOINTSLICES, namespace=namespace)
    (endpoint,) = listed.items[0]["endpoints"]
    assert endpoint["conditions"] == {"ready": False, "serving": True, "terminating": True}
    assert await eventually(lambda: _get(http, url), lambda r: r == (200, KEY)) == (200, KEY)
    await second.endpoints.withdraw()
    assert await _slices(kube, namespace) == set()
    leases = await kube.list(LEASES, namespace=namespace, label_selector=REPLICA_LABEL)
    assert [lease["metadata"]["name"] for lease in leases.items] == ["certmgr-solver-certmgr-0"]
    status, _ = await eventually(lambda: _get(http, url), lambda r: r[0] != 200)
    assert status == 503


async def _services_seen(one: Running) -> bool:
    return any(True for _ in one.endpoints._services)


async def test_a_frozen_replica_is_not_trusted_within_seconds_and_its_endpoint_goes(
    dataplane: DataPlane,
    kube: KubeClient,
    namespace: str,
    http: aiohttp.ClientSession,
    replicas: tuple[FakeClock, list[Running]],
) -> None:
    """SIGSTOP: the frozen replica's kernel still accepts connections nobody answers, and
    no readiness probe takes it out (the Service has no selector). Its heartbeat stops:
    late after half the Lease (no CA validation should go through it), its endpoint
    removed after the whole Lease (3 missed renewals), in seconds, not a minute."""
    clock, (first, second) = replicas
    await kube.create(
        SERVICES, shared_service(namespace, host="", port=8089, service_type="EndpointSlice")
    )
    for one in (first, second):
        await eventually(lambda: _services_seen(one), bool)  # noqa: B023
        await one.endpoints.sync()
    await eventually(lambda: _slices_seen(second), lambda n: n == 2)
    assert await second.endpoints.unanswered(namespace) == []

    # The first is frozen from now on: it renews nothing.
    clock.advance(HEARTBEAT_SECONDS)
    await second.endpoints.sync()
    assert await second.endpoints.unanswered(namespace) == []
    assert await _slices(kube, namespace) == {"certmgr-0", "certmgr-1"}

    clock.advance(LEASE_SECONDS / 2 - HEARTBEAT_SECONDS + 0.5)
    await second.endpoints.sync()
    assert await second.endpoints.unanswered(namespace) == ["certmgr-0"]
    assert await second.endpoints.unanswered("elsewhere") == []
    assert await _slices(kube, namespace) == {"certmgr-0", "certmgr-1"}

    clock.advance(LEASE_SECONDS / 2)
    await second.endpoints.sync()
    assert await _slices(kube, namespace) == {"certmgr-1"}
    await eventually(lambda: _slices_seen(second), lambda n: n == 1)
    assert await second.endpoints.unanswered(namespace) == []


async def _slices_seen(one: Running) -> int:
    return sum(1 for _ in one.endpoints._slices)
