"""The data plane's proxy_next_upstream: which upstream failures send a request on to the
next endpoint (connection refused or broken before any answer) and which never do (a
non-idempotent request once sent, an answer coming slowly, an answer already begun)."""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from unittest import mock

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from certmgr.testing.dataplane.endpoints import Endpoint
from certmgr.testing.dataplane.proxying import forward_to_first, may_try_next, new_session

TRIES = 3


@dataclass
class Upstreams:
    """Named endpoints on loopback: ``live-*`` answer with their name, ``closed-*``
    refuse connections (bound, never listening), ``reset-*`` read the request and close
    the connection without a word, ``slow`` answers once ``release`` is set,
    ``midbody`` sends its header and part of the body, then closes."""

    endpoints: dict[str, Endpoint] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    received: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)


async def _serve(
    handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> tuple[asyncio.Server, int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, int(server.sockets[0].getsockname()[1])


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            await reader.readexactly(int(line.split(b":")[1]))
    return head


@pytest.fixture
async def upstreams() -> AsyncIterator[Upstreams]:
    up = Upstreams()
    servers: list[asyncio.Server] = []
    closed: list[socket.socket] = []

    def live(name: str) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while True:
                try:
                    await _read_request(reader)
                except asyncio.IncompleteReadError:
                    break
                up.hits[name] += 1
                body = name.encode()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
                await writer.drain()
            writer.close()

        return handle

    def reset(name: str) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            up.hits[name] += 1
            writer.close()

        return handle

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        up.hits["slow"] += 1
        up.received.set()
        await up.release.wait()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow")
        await writer.drain()
        writer.close()

    async def midbody(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        up.hits["midbody"] += 1
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhalf")
        await writer.drain()
        writer.close()

    handlers = {
        "live-1": live("live-1"),
        "live-2": live("live-2"),
        "reset-1": reset("reset-1"),
        "slow": slow,
        "midbody": midbody,
    }
    for name, handler in handlers.items():
        server, port = await _serve(handler)
        servers.append(server)
        up.endpoints[name] = Endpoint("127.0.0.1", port)
    for name in ("closed-1", "closed-2", "closed-3"):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
        closed.append(sock)
        up.endpoints[name] = Endpoint("127.0.0.1", int(sock.getsockname()[1]))
    try:
        yield up
    finally:
        up.release.set()
        for server in servers:
            server.close()
        for sock in closed:
            sock.close()


@dataclass
class Front:
    url: str
    order: list[str] = field(default_factory=list)


@pytest.fixture
async def front(upstreams: Upstreams) -> AsyncIterator[Front]:
    """A proxy in front of ``upstreams`` trying ``front.order`` (names) in turn."""
    session = new_session()
    shown = Front(url="")

    async def handle(request: web.Request) -> web.StreamResponse:
        chosen = [upstreams.endpoints[name] for name in shown.order]
        return await forward_to_first(request, chosen, session=session, tries=TRIES)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    shown.url = f"http://127.0.0.1:{runner.addresses[0][1]}/x"
    try:
        yield shown
    finally:
        await runner.cleanup()
        await session.close()


@pytest.mark.parametrize(
    ("order", "method", "body", "status", "answer", "hits"),
    [
        pytest.param(
            ["closed-1", "live-1"],
            "GET",
            None,
            200,
            "live-1",
            {"live-1": 1},
            id="refused-then-live",
        ),
        pytest.param(
            ["closed-1", "live-1"],
            "POST",
            b"payload",
            200,
            "live-1",
            {"live-1": 1},
            id="refused-post-with-body-not-sent-so-next",
        ),
        pytest.param(
            ["closed-1", "closed-2"], "GET", None, 502, "502 Bad Gateway", {}, id="all-refused-502"
        ),
        pytest.param(
            ["reset-1", "live-1"],
            "GET",
            None,
            200,
            "live-1",
            {"reset-1": 1, "live-1": 1},
            id="closed-before-answer-get-next",
        ),
        pytest.param(
            ["reset-1", "live-1"],
            "POST",
            b"payload",
            502,
            "502 Bad Gateway",
            {"reset-1": 1},
            id="post-sent-never-retried",
        ),
        pytest.param(
            ["reset-1", "live-1"],
            "GET",
            b"payload",
            502,
            "502 Bad Gateway",
            {"reset-1": 1},
            id="body-sent-never-retried",
        ),
        pytest.param(
            ["closed-1", "closed-2", "closed-3", "live-1"],
            "GET",
            None,
            502,
            "502 Bad Gateway",
            {},
            id="three-tries-then-502",
        ),
        pytest.param(
            ["closed-1", "closed-1", "closed-2", "live-1"],
            "GET",
            None,
            200,
            "live-1",
            {"live-1": 1},
            id="an-endpoint-listed-twice-is-tried-once",
        ),
        pytest.param(
            ["closed-1", "closed-2", "live-2", "live-1"],
            "GET",
            None,
            200,
            "live-2",
            {"live-2": 1},
            id="third-try-answers",
        ),
        pytest.param(
            ["live-1", "closed-1"], "GET", None, 200, "live-1", {"live-1": 1}, id="first-answers"
        ),
    ],
)
async def test_which_endpoint_answers(
    upstreams: Upstreams,
    front: Front,
    order: list[str],
    method: str,
    body: bytes | None,
    status: int,
    answer: str,
    hits: dict[str, int],
) -> None:
    front.order = order
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, front.url, data=body) as response,
    ):
        text = await response.text()
    assert response.status == status
    assert answer in text
    assert dict(upstreams.hits) == hits


async def test_every_request_reaches_the_live_endpoint(upstreams: Upstreams, front: Front) -> None:
    front.order = ["closed-1", "live-1"]
    async with aiohttp.ClientSession() as http:
        for _ in range(5):
            async with http.get(front.url) as response:
                assert (response.status, await response.text()) == (200, "live-1")
    assert upstreams.hits == Counter({"live-1": 5})


async def test_a_slow_answer_is_waited_for_not_retried(upstreams: Upstreams, front: Front) -> None:
    front.order = ["slow", "live-1"]
    async with aiohttp.ClientSession() as http:
        pending = asyncio.create_task(_text(http.get(front.url)))
        await upstreams.received.wait()
        upstreams.release.set()
        assert await pending == (200, "slow")
    assert upstreams.hits == Counter({"slow": 1})


async def test_an_answer_begun_is_cut_not_retried(upstreams: Upstreams, front: Front) -> None:
    front.order = ["midbody", "live-1"]
    async with aiohttp.ClientSession() as http, http.get(front.url) as response:
        assert response.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()
    assert upstreams.hits == Counter({"midbody": 1})


async def _text(call: aiohttp.client._RequestContextManager) -> tuple[int, str]:
    async with call as response:
        return response.status, await response.text()


def _connection_key() -> aiohttp.client_reqrep.ConnectionKey:
    return aiohttp.client_reqrep.ConnectionKey("127.0.0.1", 1, False, True, None, None, None)


@pytest.mark.parametrize(
    ("exc", "method", "body", "expected"),
    [
        pytest.param(
            aiohttp.ClientConnectorError(_connection_key(), ConnectionRefusedError(111, "refused")),
            "POST",
            True,
            True,
            id="refused-nothing-sent",
        ),
        pytest.param(
            aiohttp.ConnectionTimeoutError("connect"),
            "POST",
            True,
            True,
            id="connect-timeout-nothing-sent",
        ),
        pytest.param(
            aiohttp.ServerDisconnectedError(), "GET", False, True, id="closed-before-answer-get"
        ),
        pytest.param(
            aiohttp.ClientOSError(104, "reset"), "HEAD", False, True, id="reset-before-answer-head"
        ),
        pytest.param(aiohttp.ServerDisconnectedError(), "POST", False, False, id="closed-post"),
        pytest.param(aiohttp.ServerDisconnectedError(), "PATCH", False, False, id="closed-patch"),
        pytest.param(
            aiohttp.ServerDisconnectedError(), "PUT", True, False, id="closed-body-consumed"
        ),
        pytest.param(
            aiohttp.SocketTimeoutError("read"), "GET", False, False, id="read-timeout-slow-answer"
        ),
        pytest.param(TimeoutError(), "GET", False, False, id="timeout"),
    ],
)
def test_may_try_next(exc: BaseException, method: str, body: bool, expected: bool) -> None:
    payload = {"payload": mock.Mock()} if body else {}  # any stream but the empty one
    request = make_mocked_request(method, "/x", **payload)
    assert request.body_exists is body
    assert may_try_next(request, exc) is expected
