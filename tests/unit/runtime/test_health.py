"""Health endpoints: readiness from the given checks, liveness, Prometheus metrics."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from certmgr.runtime import metrics
from certmgr.runtime.health import METRICS_PATHS, PROBE_PATHS, HealthServer

Client = TestClient[web.Request, web.Application]
MakeClient = Callable[[HealthServer], Awaitable[Client]]


@pytest.fixture
async def client_for() -> AsyncIterator[MakeClient]:
    clients: list[Client] = []

    async def make(server: HealthServer) -> Client:
        client: Client = TestClient(TestServer(server.app()))
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


def broken() -> bool:
    raise RuntimeError("check crashed")


@pytest.mark.parametrize(
    ("synced", "leading_or_standby", "status", "body_has"),
    [
        pytest.param(True, True, 200, "ok", id="ready"),
        pytest.param(False, True, 503, "[-]caches-synced failed", id="caches-not-synced"),
        pytest.param(True, False, 503, "[-]leader-election failed", id="election-lost"),
    ],
)
async def test_readyz_follows_its_checks(
    client_for: MakeClient,
    synced: bool,
    leading_or_standby: bool,
    status: int,
    body_has: str,
) -> None:
    server = HealthServer(
        readiness={"caches-synced": lambda: synced, "leader-election": lambda: leading_or_standby}
    )
    client = await client_for(server)
    response = await client.get("/readyz")
    assert response.status == status
    assert body_has in await response.text()


async def test_readyz_changes_as_the_state_changes(
    client_for: MakeClient,
) -> None:
    state = {"synced": False}
    client = await client_for(HealthServer(readiness={"caches-synced": lambda: state["synced"]}))
    assert (await client.get("/readyz")).status == 503
    state["synced"] = True
    assert (await client.get("/readyz")).status == 200


async def test_a_crashing_check_fails_instead_of_erroring(
    client_for: MakeClient,
) -> None:
    client = await client_for(HealthServer(readiness={"broken": broken}))
    response = await client.get("/readyz")
    assert response.status == 503
    assert "[-]broken failed" in await response.text()


async def test_livez_and_verbose_listing(client_for: MakeClient) -> None:
    client = await client_for(HealthServer(liveness={"loop": lambda: True}))
    assert (await client.get("/livez")).status == 200
    verbose = await client.get("/livez?verbose")
    assert verbose.status == 200
    assert "[+]loop ok" in await verbose.text()


async def test_metrics_are_prometheus_text(client_for: MakeClient) -> None:
    registry = CollectorRegistry()
    Counter("certmgr_test_things_total", "Things.", registry=registry).inc(3)
    client = await client_for(HealthServer(registry=registry))
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    assert "certmgr_test_things_total 3.0" in await response.text()


async def test_metrics_narrowed_by_name_as_prometheus_client(client_for: MakeClient) -> None:
    registry = CollectorRegistry()
    Counter("certmgr_test_things_total", "Things.", registry=registry).inc(3)
    Counter("certmgr_test_others_total", "Others.", registry=registry).inc(5)
    client = await client_for(HealthServer(registry=registry))
    text = await (await client.get("/metrics?name[]=certmgr_test_things_total")).text()
    assert "certmgr_test_things_total 3.0" in text
    assert "certmgr_test_others" not in text
    both = await client.get(
        "/metrics",
        params=[("name[]", "certmgr_test_things_total"), ("name[]", "certmgr_test_others_total")],
    )
    assert "certmgr_test_others_total 5.0" in await both.text()


class _ManyPieces:
    """A self-writing family, as cert-manager's per-Certificate ones, in many pieces."""

    def collect(self) -> list[Any]:
        return [self]

    def text_chunks(self) -> Iterator[str]:
        yield "# HELP certmgr_test_rows Rows.\n# TYPE certmgr_test_rows gauge\n"
        for row in range(50):
            yield f'certmgr_test_rows{{row="{row}"}} 1.0\n'


async def test_metrics_are_sent_piece_by_piece(client_for: MakeClient) -> None:
    registry = CollectorRegistry()
    Counter("certmgr_test_things_total", "Things.", registry=registry).inc(3)
    registry.register(_ManyPieces())  # type: ignore[arg-type]
    client = await client_for(HealthServer(registry=registry))
    response = await client.get("/metrics")
    assert response.headers.get("Transfer-Encoding") == "chunked"
    assert "Content-Length" not in response.headers
    assert await response.read() == metrics.Snapshot(registry).render()


class _ThreadRecordingCollector:
    """Reports which threads collected it, and which rendered its sample's text."""

    def __init__(self) -> None:
        self.collected_in: list[str] = []

    def collect(self) -> list[Metric]:
        self.collected_in.append(threading.current_thread().name)
        family = GaugeMetricFamily("certmgr_test_rows", "Rows.")
        family.add_metric([], 7)
        return [family]


async def test_metrics_collect_on_the_loop_and_render_elsewhere(
    client_for: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Collectors read informer caches (loop-only); the text is made in a worker thread,
    # so a scrape of 10,000 Certificates does not stall the loop for a second.
    registry = CollectorRegistry()
    collector = _ThreadRecordingCollector()
    registry.register(collector)  # type: ignore[arg-type]
    rendered_in: list[str] = []
    real_render = metrics.Snapshot.render_chunks

    def recording_render(self: metrics.Snapshot) -> Iterator[bytes]:
        for piece in real_render(self):
            rendered_in.append(threading.current_thread().name)
            yield piece

    monkeypatch.setattr(metrics.Snapshot, "render_chunks", recording_render)
    client = await client_for(HealthServer(registry=registry))
    text = await (await client.get("/metrics")).text()
    assert "certmgr_test_rows 7.0" in text
    loop_thread = threading.current_thread().name
    assert collector.collected_in[-1] == loop_thread
    assert rendered_in and loop_thread not in rendered_in


async def test_default_registry_has_the_runtime_metrics(
    client_for: MakeClient,
) -> None:
    import certmgr.runtime.metrics  # noqa: F401  (registers the runtime's metrics)

    client = await client_for(HealthServer())
    text = await (await client.get("/metrics")).text()
    assert "# TYPE certmgr_workqueue_depth gauge" in text
    assert "# TYPE certmgr_leader_is_leader gauge" in text


async def test_start_on_a_free_port_and_stop() -> None:
    server = HealthServer(readiness={"x": lambda: True})
    port = await server.start("127.0.0.1", 0)
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/readyz") as response,
        ):
            assert response.status == 200
    finally:
        await server.stop()
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectionError):
            await session.get(f"http://127.0.0.1:{port}/readyz")


async def test_probes_and_metrics_on_their_own_ports_as_cert_manager() -> None:
    server = HealthServer(readiness={"x": lambda: True})
    probes = await server.start("127.0.0.1", 0, paths=PROBE_PATHS)
    scrape = await server.start("127.0.0.1", 0, paths=METRICS_PATHS)
    expected = {
        (probes, "/livez"): 200,
        (probes, "/readyz"): 200,
        (probes, "/healthz"): 200,
        (probes, "/metrics"): 404,
        (scrape, "/metrics"): 200,
        (scrape, "/readyz"): 404,
    }
    try:
        async with aiohttp.ClientSession() as session:
            for (port, path), status in expected.items():
                async with session.get(f"http://127.0.0.1:{port}{path}") as response:
                    assert response.status == status, (port, path)
    finally:
        await server.stop()
    async with aiohttp.ClientSession() as session:
        for port in (probes, scrape):
            with pytest.raises(aiohttp.ClientConnectionError):
                await session.get(f"http://127.0.0.1:{port}/livez")
