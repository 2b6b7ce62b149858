"""The HTTP-01 self-check against a real solver on loopback: what it accepts, and its
stable messages for what it does not."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from certmgr.controllers.acme.selfcheck import CheckResult, SelfCheck
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
