"""The one request function: retries, Retry-After, POST safety, auth reload, metrics."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web
from prometheus_client import REGISTRY

from certmgr.kube import errors as e
from certmgr.kube.transport import Transport, parse_retry_after


def status(code: int, reason: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "code": code, "reason": reason, "message": reason}


OK = {"kind": "Secret", "metadata": {"name": "s"}}


@pytest.mark.parametrize(
    ("method", "idempotent", "failures", "retried"),
    [
        ("GET", True, [(500, {})], True),
        ("GET", True, [(502, {}), (504, {})], True),
        ("PUT", True, [(500, {})], True),
        ("POST", False, [(429, {"Retry_After": "1"})], True),
        ("POST", False, [(503, {})], True),
        ("POST", False, [(500, {"Retry_After": "2"})], True),
        ("POST", False, [(500, {})], False),
        ("POST", False, [(504, {})], False),
        ("GET", True, [(404, {})], False),
        ("PUT", True, [(409, {})], False),
    ],
    ids=[
        "get-500", "get-502-504", "put-500", "post-429", "post-503", "post-500-retry-after",
        "post-500-ambiguous", "post-504-ambiguous", "get-404-final", "put-409-final",
    ],
)  # fmt: skip
async def test_retry_policy(
    scripted: Any,
    fake_sleep: Any,
    make_transport: Callable[..., Transport],
    method: str,
    idempotent: bool,
    failures: list[tuple[int, dict[str, str]]],
    retried: bool,
) -> None:
    for code, headers in failures:
        scripted.reply(code, status(code, "x"), **headers)
    scripted.reply(200, OK)
    transport = make_transport(scripted.url, sleep=fake_sleep)
    try:
        if retried:
            result = await transport.request(
                method, "/api/v1/x", verb="v", resource="x", body={}, idempotent=idempotent
            )
            assert result == OK
            assert len(scripted.seen) == len(failures) + 1
        else:
            with pytest.raises(e.APIError) as raised:
                await transport.request(
                    method, "/api/v1/x", verb="v", resource="x", body={}, idempotent=idempotent
                )
            assert raised.value.code == failures[0][0]
            assert len(scripted.seen) == 1
    finally:
        await transport.close()


@pytest.mark.parametrize(
    ("headers", "calls"),
    [({}, 1), ({"Retry_After": "1"}, 2)],
    ids=["503-raised-at-once", "503-with-retry-after-still-retried"],
)
async def test_a_503_can_be_left_to_the_caller(
    scripted: Any,
    fake_sleep: Any,
    make_transport: Callable[..., Transport],
    headers: dict[str, str],
    calls: int,
) -> None:
    scripted.reply(503, "service unavailable\n", **headers)
    scripted.reply(200, OK)
    transport = make_transport(scripted.url, sleep=fake_sleep)
    try:
        request = transport.request(
            "POST", "/apis/g/v1alpha1/s", verb="create", resource="s", body={},
            idempotent=False, retry_unavailable=False,
        )  # fmt: skip
        if calls == 1:
            with pytest.raises(e.ServerError) as raised:
                await request
            assert raised.value.code == 503
            assert raised.value.message == "service unavailable"
        else:
            assert await request == OK
        assert len(scripted.seen) == calls
    finally:
        await transport.close()


@pytest.mark.parametrize(
    ("draw", "expected"),
    [(0.0, [3.0, 7.0]), (1.0, [3.1, 7.2]), (0.5, [3.05, 7.1])],
    ids=["no-jitter-drawn", "full-jitter", "half-jitter"],
)
async def test_retry_after_is_waited_plus_jitter(
    scripted: Any,
    fake_sleep: Any,
    make_transport: Callable[..., Transport],
    draw: float,
    expected: list[float],
) -> None:
    # At least what the server asked; the backoff's jitter (base 0.1, doubling) on top
    # spreads a rejected burst so it does not come back in lockstep.
    scripted.reply(429, status(429, "TooManyRequests"), Retry_After="3")
    scripted.reply(503, status(503, "ServiceUnavailable"), Retry_After="7")
    scripted.reply(200, OK)
    transport = make_transport(scripted.url, sleep=fake_sleep, draw=lambda: draw)
    try:
        await transport.request("GET", "/api/v1/x", verb="get", resource="x")
    finally:
        await transport.close()
    assert fake_sleep.delays == pytest.approx(expected)


async def test_retry_after_beyond_limit_is_left_to_the_caller(
    scripted: Any, fake_sleep: Any, make_transport: Callable[..., Transport]
) -> None:
    scripted.reply(429, status(429, "TooManyRequests"), Retry_After="600")
    transport = make_transport(scripted.url, sleep=fake_sleep)
    try:
        with pytest.raises(e.TooManyRequests) as raised:
            await transport.request("GET", "/api/v1/x", verb="get", resource="x")
    finally:
        await transport.close()
    assert raised.value.retry_after == 600.0
    assert fake_sleep.delays == []


async def test_backoff_is_capped_exponential_with_jitter(
    scripted: Any, fake_sleep: Any, make_transport: Callable[..., Transport]
) -> None:
    for _ in range(6):
        scripted.reply(500, status(500, "InternalError"))
    transport = make_transport(scripted.url, sleep=fake_sleep, draw=lambda: 0.5)
    try:
        with pytest.raises(e.ServerError):
            await transport.request("GET", "/api/v1/x", verb="get", resource="x")
    finally:
        await transport.close()
    # base 0.1, cap 1.0, draw 0.5: half of 0.1, 0.2, 0.4, 0.8, 1.0 (capped); then give up.
    assert fake_sleep.delays == pytest.approx([0.05, 0.1, 0.2, 0.4, 0.5])
    assert len(scripted.seen) == 6


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_unreachable_after_retries_chains_the_cause(
    fake_sleep: Any, make_transport: Callable[..., Transport]
) -> None:
    transport = make_transport(
        f"http://127.0.0.1:{_closed_port()}", sleep=fake_sleep, max_retries=2
    )
    try:
        with pytest.raises(e.Unreachable) as raised:
            # A refused connection did nothing, so even a create is retried.
            await transport.request(
                "POST", "/api/v1/x", verb="create", resource="x", body={}, idempotent=False
            )
    finally:
        await transport.close()
    assert raised.value.__cause__ is not None
    assert len(fake_sleep.delays) == 2


class FakeCredentials:
    def __init__(self) -> None:
        self.token = "old"
        self.generation = 0
        self.reloads = 0

    async def authorization(self) -> str:
        return f"Bearer {self.token}"

    async def reload_after_unauthorized(self, seen_generation: int) -> None:
        self.reloads += 1
        self.generation += 1
        self.token = "new"


@pytest.mark.parametrize(
    ("replies", "expect_error", "reloads"),
    [
        ([401, 200], False, 1),
        ([401, 401], True, 1),
    ],
    ids=["reload-fixes-it", "still-unauthorized"],
)
async def test_unauthorized_reloads_credentials_once(
    scripted: Any,
    fake_sleep: Any,
    make_transport: Callable[..., Transport],
    replies: list[int],
    expect_error: bool,
    reloads: int,
) -> None:
    for code in replies:
        scripted.reply(code, OK if code == 200 else status(code, "Unauthorized"))
    credentials = FakeCredentials()
    transport = make_transport(scripted.url, sleep=fake_sleep, credentials=credentials)
    try:
        if expect_error:
            with pytest.raises(e.Unauthorized):
                await transport.request("GET", "/api/v1/x", verb="get", resource="x")
        else:
            assert await transport.request("GET", "/api/v1/x", verb="get", resource="x") == OK
    finally:
        await transport.close()
    assert credentials.reloads == reloads
    assert [s.headers["Authorization"] for s in scripted.seen] == ["Bearer old", "Bearer new"]


async def test_requests_are_counted_by_verb_resource_and_code(
    scripted: Any, fake_sleep: Any, make_transport: Callable[..., Transport]
) -> None:
    def count(code: str) -> float:
        labels = {"verb": "get", "resource": "widgets", "code": code}
        return REGISTRY.get_sample_value("certmgr_kube_requests_total", labels) or 0.0

    before = count("500"), count("200")
    scripted.reply(500, status(500, "InternalError"))
    scripted.reply(200, OK)
    transport = make_transport(scripted.url, sleep=fake_sleep)
    try:
        await transport.request("GET", "/api/v1/widgets", verb="get", resource="widgets")
    finally:
        await transport.close()
    assert (count("500") - before[0], count("200") - before[1]) == (1.0, 1.0)


async def test_sends_json_body_and_headers(
    scripted: Any, fake_sleep: Any, make_transport: Callable[..., Transport]
) -> None:
    scripted.reply(201, OK)
    transport = make_transport(scripted.url, sleep=fake_sleep)
    try:
        await transport.request(
            "PATCH",
            "/api/v1/x",
            verb="patch",
            resource="x",
            body={"a": 1},
            content_type="application/merge-patch+json",
        )
    finally:
        await transport.close()
    seen = scripted.seen[0]
    assert seen.body == {"a": 1}
    assert seen.headers["Content-Type"] == "application/merge-patch+json"
    assert seen.headers["User-Agent"] == "certmgr/0.1"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("5", 5.0),
        (" 0 ", 0.0),
        ("Wed, 21 Oct 2015 07:28:10 GMT", 10.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),
        ("soon", None),
    ],
    ids=["absent", "seconds", "zero", "http-date", "date-in-past", "garbage"],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    now = 1445412480.0  # Wed, 21 Oct 2015 07:28:00 GMT
    assert parse_retry_after(header, now=now) == expected


@pytest.mark.parametrize(
    ("drops", "succeeds"),
    [(1, True), (2, False)],
    ids=["replayed-once", "not-twice"],
)
async def test_create_on_a_dropped_connection_is_sent_once_more(
    scripted: Any,
    fake_sleep: Any,
    make_transport: Callable[..., Transport],
    drops: int,
    succeeds: bool,
) -> None:
    remaining = [drops]

    def handler(seen: Any, request: web.Request) -> web.StreamResponse:
        if remaining[0] > 0:
            remaining[0] -= 1
            assert request.transport is not None
            request.transport.close()  # gone before any byte of a response
        return web.json_response(OK, status=201)

    scripted.handler = handler
    transport = make_transport(scripted.url, sleep=fake_sleep)
    try:
        call = transport.request(
            "POST", "/api/v1/x", verb="create", resource="x", body={}, idempotent=False
        )
        if succeeds:
            assert await call == OK
        else:
            with pytest.raises(e.Unreachable):
                await call
    finally:
        await transport.close()
    assert len(scripted.seen) == 2
