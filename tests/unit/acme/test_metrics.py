"""cert-manager's ACME client metrics: the labels of an exchange, bounded whatever the CA's
URLs look like, and the real transport reporting its exchanges (a refused connection
too) to ``observe_exchange``."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator

import pytest
from aiohttp import web
from prometheus_client import REGISTRY

from certmgr.acme import AcmeUnreachable, generate_account_key
from certmgr.acme.metrics import exchange_labels, observe_exchange
from certmgr.acme.session import connect

COUNT = "certmanager_http_acme_client_request_count"
DURATION = "certmanager_http_acme_client_request_duration_seconds"


def count(labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(COUNT, labels) or 0.0


def duration(suffix: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(DURATION + suffix, labels) or 0.0


@pytest.mark.parametrize(
    ("method", "url", "action", "status", "expected"),
    [
        pytest.param(
            "POST",
            "https://acme.example:14000/my-order/t83R12aRzlYePmUbt4",
            "get_order",
            200,
            ("https", "acme.example:14000", "get_order", "POST", "200"),
            id="per-order-url-leaves-no-trace",
        ),
        pytest.param(
            "HEAD",
            "https://ca.example/acme/new-nonce",
            "finalize_order",
            204,
            ("https", "ca.example", "finalize_order", "HEAD", "204"),
            id="nonce-fetch-carries-its-step",
        ),
        pytest.param(
            "GET",
            "http://user:secret@ca.example/dir",
            "get_directory",
            None,
            ("http", "ca.example", "get_directory", "GET", "999"),
            id="no-response-is-999-and-no-userinfo",
        ),
    ],
)
def test_exchange_labels(
    method: str, url: str, action: str, status: int | None, expected: tuple[str, ...]
) -> None:
    assert exchange_labels(method=method, url=url, action=action, status=status) == expected


def test_observe_exchange_counts_and_times_each_exchange() -> None:
    labels = {
        "scheme": "https",
        "host": "observe.example",
        "action": "authorize_order",
        "method": "POST",
        "status": "201",
    }
    for seconds in (0.25, 0.5):
        observe_exchange(
            method="POST",
            url="https://observe.example/acme/new-order",
            action="authorize_order",
            status=201,
            seconds=seconds,
        )
    assert count(labels) == 2
    assert duration("_count", labels) == 2
    assert duration("_sum", labels) == 0.75
    assert REGISTRY.get_sample_value(COUNT + "_total", labels) is None, "cert-manager's name"


@pytest.fixture
async def directory_server() -> AsyncIterator[str]:
    async def directory(request: web.Request) -> web.Response:
        base = f"http://{request.host}"
        names = ("newNonce", "newAccount", "newOrder")
        return web.json_response({name: f"{base}/{name}" for name in names})

    app = web.Application()
    app.router.add_get("/directory", directory)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}/directory"
    await runner.cleanup()


async def test_the_transport_reports_the_directory_fetch(directory_server: str) -> None:
    host = directory_server.split("/")[2]
    labels = {
        "scheme": "http",
        "host": host,
        "action": "get_directory",
        "method": "GET",
        "status": "200",
    }
    session = await connect(
        directory_server, account_key_pem=generate_account_key(), observer=observe_exchange
    )
    await session.close()
    assert count(labels) == 1
    assert duration("_count", labels) == 1


@pytest.fixture
def refusing_port() -> Iterator[int]:
    """A port bound but not listening: held, so nobody else takes it; connecting is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


async def test_a_refused_connection_is_reported_with_status_999(refusing_port: int) -> None:
    labels = {
        "scheme": "http",
        "host": f"127.0.0.1:{refusing_port}",
        "action": "get_directory",
        "method": "GET",
        "status": "999",
    }
    with pytest.raises(AcmeUnreachable):
        await connect(
            f"http://127.0.0.1:{refusing_port}/directory",
            account_key_pem=generate_account_key(),
            observer=observe_exchange,
        )
    assert count(labels) == 1
    assert duration("_count", labels) == 1
