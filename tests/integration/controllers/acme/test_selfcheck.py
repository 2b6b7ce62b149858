"""The HTTP-01 self-check against a real solver on loopback: what it accepts, and its
stable messages for what it does not."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from certmgr.controllers.acme.selfcheck import CheckResult, SelfCheck
from certmgr.testing.clock import FakeClock
from certmgr.testing.pebble import free_port
from solvers import StaticTokenSource, serve


@pytest.fixture
async def solver_port() -> AsyncIterator[int]:
    source = StaticTokenSource.of([("127.0.0.1", "tok", "tok.thumb")])
    runner = await serve(source, host="127.0.0.1", port=0)
    try:
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(
    ("token", "key", "expected"),
    [
        pytest.param("tok", "tok.thumb", CheckResult(True), id="served"),
        pytest.param(
            "other", "x", CheckResult(False, "wrong status code '404', expected '200'"), id="404"
        ),
        pytest.param(
            "tok",
            "tok.other",
            CheckResult(
                False,
                "did not get expected response when querying endpoint, "
                'expected "tok.other" but got: tok.thumb',
            ),
            id="wrong-key",
        ),
    ],
)
async def test_self_check_against_a_solver(
    solver_port: int, token: str, key: str, expected: CheckResult
) -> None:
    check = SelfCheck(port=solver_port)
    try:
        assert await check.check("127.0.0.1", token, key) == expected
    finally:
        await check.close()


async def test_connection_refused_is_a_stable_message() -> None:
    port = free_port()
    check = SelfCheck(port=port)
    try:
        result = await check.check("127.0.0.1", "tok", "k")
    finally:
        await check.close()
    assert result == CheckResult(
        False,
        f"failed to perform self check GET request "
        f"'http://127.0.0.1:{port}/.well-known/acme-challenge/tok': connection refused",
    )


class Ingress:
    """An ingress stand-in on loopback: serves one key per (host, token), counts the
    requests and the connections they came on."""

    def __init__(self) -> None:
        self.keys: dict[tuple[str, str], str] = {}
        self.requests = 0
        self.peers: set[object] = set()

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        self.peers.add(request.transport.get_extra_info("peername") if request.transport else None)
        key = self.keys.get((request.host.partition(":")[0], request.match_info["token"]))
        return web.Response(text=key) if key else web.Response(status=404)


@pytest.fixture
async def ingress() -> AsyncIterator[tuple[Ingress, int]]:
    served = Ingress()
    app = web.Application()
    app.router.add_get("/.well-known/acme-challenge/{token}", served.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host="127.0.0.1", port=0)
    await site.start()
    try:
        yield served, int(runner.addresses[0][1])
    finally:
        await runner.cleanup()


class CountingSelfCheck(SelfCheck):
    """Every name resolves to loopback; resolutions are counted."""

    resolved: list[str]

    async def _resolve(self, name: str) -> str:
        self.resolved.append(name)
        return "127.0.0.1"


def counting_check(port: int, clock: FakeClock) -> CountingSelfCheck:
    check = CountingSelfCheck(port=port, clock=clock, resolve_ttl=5.0)
    check.resolved = []
    return check


async def test_a_resolution_is_reused_until_its_ttl_or_a_miss(ingress: tuple[Ingress, int]) -> None:
    served, port = ingress
    served.keys = {("a.test", "t1"): "t1.k", ("a.test", "t2"): "t2.k"}
    clock = FakeClock()
    check = counting_check(port, clock)
    try:
        assert await check.check("a.test", "t1", "t1.k") == CheckResult(True)
        assert await check.check("a.test", "t2", "t2.k") == CheckResult(True)
        assert check.resolved == ["a.test"]
        clock.advance(5.0)
        assert await check.check("a.test", "t1", "t1.k") == CheckResult(True)
        assert check.resolved == ["a.test"] * 2
        assert not (await check.check("a.test", "gone", "x")).ok  # a miss forgets it
        assert await check.check("a.test", "t1", "t1.k") == CheckResult(True)
        assert check.resolved == ["a.test"] * 3
    finally:
        await check.close()


async def test_checks_reuse_a_connection_but_fetch_the_token_every_time(
    ingress: tuple[Ingress, int],
) -> None:
    served, port = ingress
    served.keys = {("a.test", "t"): "t.k", ("b.test", "u"): "u.k"}
    check = counting_check(port, FakeClock())
    try:
        assert await check.check("a.test", "t", "t.k") == CheckResult(True)
        assert await check.check("b.test", "u", "u.k") == CheckResult(True)
        served.keys[("a.test", "t")] = "t.changed"
        assert not (await check.check("a.test", "t", "t.k")).ok
    finally:
        await check.close()
    assert served.requests == 3
    assert len(served.peers) == 1
