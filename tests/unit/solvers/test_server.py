"""The solver application: what it answers, for which Host and path, and what it hides."""

from __future__ import annotations

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
