"""Garbage anyone can send a solver (an oversized request line or Host header, a request
that is not HTTP) is answered 400 and logged at info in one line, never as an error with
a traceback: operators page on error logs (issue 14 item 8)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from structlog.testing import capture_logs

from solvers import StaticTokenSource
from solvers.server import serve

GARBAGE = [
    pytest.param(b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", id="long-url"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: " + b"h" * 20_000 + b"\r\n\r\n", id="long-host"),
    pytest.param(b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 200 + b"\r\n", id="many-headers"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n\x16\x03\x01garbage\r\n\r\n", id="tls-after"),
]


@pytest.fixture
async def address() -> AsyncIterator[tuple[str, int]]:
    source = StaticTokenSource.of([("example.com", "tok", "tok.thumb")])
    runner: web.AppRunner = await serve(source, host="127.0.0.1", port=0)
    try:
        host, port = runner.addresses[0][:2]
        yield host, port
    finally:
        await runner.cleanup()


async def send(address: tuple[str, int], raw: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(*address)
    try:
        writer.write(raw)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 10.0)
    except ConnectionError:
        return b""
    finally:
        writer.close()


@pytest.mark.parametrize("raw", GARBAGE)
async def test_garbage_is_one_info_line_without_traceback(
    address: tuple[str, int], raw: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with capture_logs() as captured:
        answer = await send(address, raw)
        await asyncio.sleep(0)  # let the server finish the connection it is closing
    assert answer == b"" or answer.split(b"\r\n", 1)[0].split(b" ")[1] in (b"200", b"400", b"404")
    noisy = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert noisy == []
    assert all(e["log_level"] in ("debug", "info") for e in captured)
    assert all("exc_info" not in e for e in captured)
    assert [e["log_level"] for e in captured if e["event"] == "solver_bad_request"] == ["info"]
