"""The solver application: what it answers, for which Host and path, and what it hides."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from solvers import StaticTokenSource, build_app, challenge_path

TOKEN = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
KEY = TOKEN + ".9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"


@pytest.fixture
async def client() -> AsyncIterator[TestClient[object, object]]:
    source = StaticTokenSource.of(
        [("example.com", TOKEN, KEY), ("2001:db8::1", "v6tok", "v6tok.thumb")]
    )
    async with TestClient(TestServer(build_app(source))) as test_client:
        yield test_client


@pytest.mark.parametrize(
    ("method", "path", "host", "status", "body"),
    [
        pytest.param("GET", challenge_path(TOKEN), "example.com", 200, KEY, id="match"),
        pytest.param("GET", challenge_path(TOKEN), "EXAMPLE.com:80", 200, KEY, id="host-port"),
        pytest.param(
            "GET",
            challenge_path("v6tok"),
            "[2001:db8::1]:5002",
            200,
            "v6tok.thumb",
            id="ipv6-host-header",
        ),
        pytest.param("GET", challenge_path(TOKEN), "other.example", 404, None, id="wrong-host"),
        pytest.param("GET", challenge_path("nope"), "example.com", 404, None, id="wrong-token"),
        pytest.param("GET", challenge_path(""), "example.com", 404, None, id="empty-token"),
        pytest.param(
            "GET", challenge_path(TOKEN) + "/x", "example.com", 404, None, id="token-with-suffix"
        ),
        pytest.param("GET", "/" + TOKEN, "example.com", 404, None, id="wrong-prefix"),
        pytest.param("POST", challenge_path(TOKEN), "example.com", 404, None, id="post"),
        pytest.param("GET", "/", "example.com", 404, None, id="root"),
        pytest.param("GET", "/healthz", "anything", 200, "ok", id="health"),
    ],
)
async def test_responses(
    client: TestClient[object, object],
    method: str,
    path: str,
    host: str,
    status: int,
    body: str | None,
) -> None:
    response = await client.request(method, path, headers={"Host": host})
    assert response.status == status
    if body is not None:
        assert await response.text() == body
    if status == 200 and path != "/healthz":
        assert response.content_type == "text/plain"


async def test_head_answers_without_body(client: TestClient[object, object]) -> None:
    response = await client.head(challenge_path(TOKEN), headers={"Host": "example.com"})
    assert response.status == 200
    assert await response.read() == b""


class _FillingSource:
    """A source that starts empty and says when it was first asked."""

    def __init__(self) -> None:
        self.keys: dict[tuple[str, str], str] = {}
        self.asked = asyncio.Event()

    def lookup(self, host: str, token: str) -> str | None:
        self.asked.set()
        return self.keys.get((host, token))


async def test_an_unknown_token_waits_for_a_source_still_filling() -> None:
    # A replica that just started is listed behind the shared Service before its
    # Challenge cache has synced: the CA's request must get the key, not a 404.
    source = _FillingSource()
    filled = asyncio.Event()

    async def ready() -> None:
        await filled.wait()

    async with TestClient(TestServer(build_app(source, ready=ready))) as test_client:
        request = asyncio.ensure_future(
            test_client.get(challenge_path(TOKEN), headers={"Host": "example.com"})
        )
        async with asyncio.timeout(10):
            await source.asked.wait()  # looked up while the source was empty
        source.keys[("example.com", TOKEN)] = KEY
        filled.set()
        response = await request
        assert response.status == 200
        assert await response.text() == KEY
        # Once ready, an unknown token is a 404 at once.
        missing = await test_client.get(challenge_path("nope"), headers={"Host": "example.com"})
        assert missing.status == 404
