"""Shared mode: an ExternalName Service sends the challenge to a solver in this process."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from certmgr.kube.client import KubeClient
from certmgr.kube.resources import INGRESSES, SERVICES
from certmgr.testing.dataplane import DataPlane
from certmgr.testing.dataplane.manifests import external_service, ingress
from certmgr.testing.dataplane.waiting import eventually
from solvers import StaticTokenSource, challenge_path, serve

CHALLENGES = [
    ("a.example.com", "tok-a", "tok-a.thumb"),
    ("b.example.com", "tok-b", "tok-b.thumb"),
]


@pytest.fixture
async def shared_solver() -> AsyncIterator[int]:
    runner = await serve(StaticTokenSource.of(CHALLENGES), host="127.0.0.1", port=0)
    try:
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()


async def _get(http: aiohttp.ClientSession, url: str, host: str) -> tuple[int, str]:
    async with http.get(url, headers={"Host": host}) as response:
        return response.status, await response.text()


@pytest.mark.parametrize("external_name", ["127.0.0.1", "localhost"])
async def test_every_challenge_reaches_the_in_process_solver(
    dataplane: DataPlane,
    kube: KubeClient,
    namespace: str,
    http: aiohttp.ClientSession,
    shared_solver: int,
    external_name: str,
) -> None:
    service = external_service(
        "shared-solver", address=external_name, port=shared_solver, namespace=namespace
    )
    await kube.create(SERVICES, service)
    for domain, token, _ in CHALLENGES:
        route = (challenge_path(token), "ImplementationSpecific", "shared-solver", shared_solver)
        await kube.create(
            INGRESSES, ingress(f"solver-{token}", host=domain, paths=[route], namespace=namespace)
        )

    for domain, token, key in CHALLENGES:
        url = dataplane.router.http_url + challenge_path(token)
        found = await eventually(lambda: _get(http, url, domain), lambda r: r[0] == 200)  # noqa: B023
        assert found == (200, key)
    # The route exists for a.example.com, but the solver knows tok-b only for b.
    wrong_host = await _get(
        http, dataplane.router.http_url + challenge_path("tok-b"), "a.example.com"
    )
    assert wrong_host[0] == 404


async def test_a_refused_connection_is_a_502(
    dataplane: DataPlane, kube: KubeClient, namespace: str, http: aiohttp.ClientSession
) -> None:
    # A port nobody listens on: bind one, then close it, so the number is known free.
    runner = web.AppRunner(web.Application())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    dead_port = int(runner.addresses[0][1])
    await runner.cleanup()
    await kube.create(
        SERVICES,
        external_service("gone", address="127.0.0.1", port=dead_port, namespace=namespace),
    )
    paths = [("/", "Prefix", "gone", dead_port)]
    await kube.create(
        INGRESSES, ingress("gone", host="gone.example", paths=paths, namespace=namespace)
    )

    status, _ = await eventually(
        lambda: _get(http, dataplane.router.http_url + "/x", "gone.example"),
        lambda r: r[0] != 404,
    )
    assert status == 502
