"""The router over real HTTP: path precedence, class filtering and headers, end to end."""

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

BACKENDS = ("exact", "prefix", "deeper", "root", "foreign")


@pytest.fixture
async def backends() -> AsyncIterator[dict[str, int]]:
    """One in-process server per backend name, each answering with its own name."""
    runners: list[web.AppRunner] = []
    ports: dict[str, int] = {}
    try:
        for name in BACKENDS:

            async def answer(request: web.Request, name: str = name) -> web.Response:
                forwarded = request.headers.get("X-Forwarded-For", "")
                size = len(await request.read())
                return web.Response(text=f"{name} {request.path_qs} {forwarded} {size}")

            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", answer)
            runner = web.AppRunner(app)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            runners.append(runner)
            ports[name] = int(runner.addresses[0][1])
        yield ports
    finally:
        for runner in runners:
            await runner.cleanup()


@pytest.fixture
async def routed(
    dataplane: DataPlane, kube: KubeClient, namespace: str, backends: dict[str, int]
) -> str:
    for name, port in backends.items():
        service = external_service(name, address="127.0.0.1", port=port, namespace=namespace)
        await kube.create(SERVICES, service)
    paths = [
        ("/api", "Exact", "exact", backends["exact"]),
        ("/api", "Prefix", "prefix", backends["prefix"]),
        ("/api/v1", "Prefix", "deeper", backends["deeper"]),
        ("/", "Prefix", "root", backends["root"]),
    ]
    # The foreign Ingress goes first: once the router serves "app" (what each test waits
    # for), it has seen "other-class" too, so its 404 is a decision, not a delay.
    foreign = [("/", "Prefix", "foreign", backends["foreign"])]
    await kube.create(
        INGRESSES,
        ingress(
            "other-class",
            host="foreign.example.com",
            paths=foreign,
            ingress_class="traefik",
            namespace=namespace,
        ),
    )
    await kube.create(
        INGRESSES, ingress("app", host="app.example.com", paths=paths, namespace=namespace)
    )
    return dataplane.router.http_url


async def _get(http: aiohttp.ClientSession, url: str, host: str) -> tuple[int, str]:
    async with http.get(url, headers={"Host": host}) as response:
        return response.status, await response.text()


@pytest.mark.parametrize(
    ("host", "path", "status", "backend"),
    [
        pytest.param("app.example.com", "/api", 200, "exact", id="exact-first"),
        pytest.param("app.example.com", "/api/", 200, "prefix", id="prefix-when-not-exact"),
        pytest.param("app.example.com", "/api/v1/x?q=1", 200, "deeper", id="longest-prefix"),
        pytest.param("app.example.com", "/apis", 200, "root", id="element-wise"),
        pytest.param("foreign.example.com", "/", 404, None, id="other-class-not-served"),
        pytest.param("unknown.example.com", "/", 404, None, id="unknown-host"),
    ],
)
async def test_precedence_over_http(
    routed: str,
    http: aiohttp.ClientSession,
    host: str,
    path: str,
    status: int,
    backend: str | None,
) -> None:
    # Wait until the router has seen the Ingress, then ask the question of the row.
    await eventually(lambda: _get(http, routed + "/", "app.example.com"), lambda r: r[0] == 200)
    found_status, body = await _get(http, routed + path, host)
    assert found_status == status
    if backend is not None:
        assert body.split(" ") == [backend, path, "127.0.0.1", "0"]
    else:
        assert body == "default backend - 404"


async def test_missing_service_is_a_503(
    dataplane: DataPlane, kube: KubeClient, namespace: str, http: aiohttp.ClientSession
) -> None:
    paths = [("/", "Prefix", "nope", 80)]
    await kube.create(
        INGRESSES, ingress("orphan", host="orphan.example", paths=paths, namespace=namespace)
    )
    found = await eventually(
        lambda: _get(http, dataplane.router.http_url + "/", "orphan.example"),
        lambda r: r[0] != 404,
    )
    assert found[0] == 503


async def test_post_bodies_stream_through(routed: str, http: aiohttp.ClientSession) -> None:
    await eventually(lambda: _get(http, routed + "/", "app.example.com"), lambda r: r[0] == 200)
    async with http.post(
        routed + "/upload", data=b"x" * 300_000, headers={"Host": "app.example.com"}
    ) as response:
        assert response.status == 200
        assert await response.text() == "root /upload 127.0.0.1 300000"
