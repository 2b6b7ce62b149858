"""Fixtures for the Kubernetes door's unit tests: a scripted HTTP server and fake sleep.

The scripted server answers each request with the next response of a script (or a
handler), and records what it received, so tests assert on retries, headers and bodies
without a full API simulator. The start-up probe of ``KubeClient.connect`` ("auto" rate
limit) is answered apart, from ``probe_replies`` (by default 200 without APF headers), and
recorded in ``probes``, so it never consumes the script.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from certmgr.kube.client import KubeClient
from certmgr.kube.throttling import TokenBucket
from certmgr.kube.transport import RetryPolicy, Transport

PROBE_PATHS = frozenset({"/livez/ping", "/version"})


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class ScriptedServer:
    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.script: list[Reply] = []
        self.handler: Callable[[Seen, web.Request], Any] | None = None
        self.url = ""
        self.probes: list[Seen] = []
        self.probe_replies: dict[str, Reply] = {}

    def reply(self, status: int = 200, body: Any = None, **headers: str) -> None:
        """Queue one response; header names use underscores (``Retry_After="2"``)."""
        self.script.append(
            Reply(status, body, {k.replace("_", "-"): v for k, v in headers.items()})
        )

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        seen = Seen(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers=dict(request.headers),
            body=json.loads(raw) if raw else None,
        )
        if request.path in PROBE_PATHS:
            self.probes.append(seen)
            probe = self.probe_replies.get(request.path, Reply(200, "ok"))
            return web.Response(status=probe.status, text=str(probe.body), headers=probe.headers)
        self.seen.append(seen)
        if self.handler is not None:
            result = self.handler(seen, request)
            if hasattr(result, "__await__"):
                result = await result
            if isinstance(result, web.StreamResponse):
                return result
            reply = result
        else:
            assert self.script, f"unexpected request {seen.method} {seen.path}"
            reply = self.script.pop(0)
        text = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
        return web.Response(
            status=reply.status,
            text="" if reply.body is None else text,
            headers=reply.headers,
            content_type="application/json",
        )


class FakeSleep:
    """Records requested delays and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
async def scripted() -> AsyncIterator[ScriptedServer]:
    server = ScriptedServer()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server._handle)
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    server.url = str(test_server.make_url("")).rstrip("/")
    try:
        yield server
    finally:
        await test_server.close()


@pytest.fixture
def fake_sleep() -> FakeSleep:
    return FakeSleep()


def _make_transport(
    url: str,
    *,
    sleep: FakeSleep,
    max_retries: int = 5,
    limiter: TokenBucket | None = None,
    credentials: Any = None,
    draw: Callable[[], float] = lambda: 1.0,
) -> Transport:
    return Transport(
        url,
        session=aiohttp.ClientSession(),
        credentials=credentials,
        limiter=limiter,
        retry=RetryPolicy(max_retries=max_retries, base=0.1, cap=1.0),
        timeout=5.0,
        sleep=sleep,
        draw=draw,
    )


@pytest.fixture
def make_transport() -> Callable[..., Transport]:
    return _make_transport


@pytest.fixture
async def client(scripted: ScriptedServer, fake_sleep: FakeSleep) -> AsyncIterator[KubeClient]:
    async with KubeClient(_make_transport(scripted.url, sleep=fake_sleep)) as kube:
        yield kube
