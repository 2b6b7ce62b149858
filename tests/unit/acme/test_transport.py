"""Transport: nonces, badNonce retries, the mapping of failures to flat errors, Retry-After.

A scripted CA (an aiohttp test server) plays back replies and records what it got, so
every failure mode is reproducible without a CA; the real signing, nonce pool and mapping
code run.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from acme import jws
from aiohttp import web
from aiohttp.test_utils import TestServer
from josepy.b64 import b64decode, b64encode

from certmgr.acme import (
    AcmeAccountDoesNotExist,
    AcmeAccountKey,
    AcmeBadNonce,
    AcmeError,
    AcmeRateLimited,
    AcmeUnreachable,
    Problem,
    generate_account_key,
)
from certmgr.acme.errors import AcmeWriteWithheld
from certmgr.acme.transport import AcmeTransport, Reply, retry_after_seconds

PREFIX = "urn:ietf:params:acme:error:"
Step = tuple[int, object, Mapping[str, str]]  # status, JSON body (None: HTML), headers
DROP: Step = (0, None, {})  # the connection closes without a reply
KEY = AcmeAccountKey.from_pem(generate_account_key())
OK: Step = (
    201,
    {"status": "pending"},
    {"Location": "https://ca.example/order/1", "Link": '<https://ca.example/dir>;rel="index"'},
)


def _problem(code: str, detail: str = "detail", status: int = 400, **headers: str) -> Step:
    return (status, {"type": PREFIX + code, "detail": detail}, headers)


class ScriptedCA:
    """Answers HEAD with a nonce and each POST with the next step of ``script``, adding a
    fresh nonce unless the step says ``Replay-Nonce: ""``; records every request."""

    def __init__(self, script: list[Step]) -> None:
        self.script = script
        self.methods: list[str] = []
        self.nonces_used: list[str] = []  # the protected header's nonce of each POST
        self.nonces_given: list[str] = []
        self.signed: list[bytes] = []
        self.url = ""

    def _nonce(self) -> str:
        nonce = b64encode(f"nonce-{len(self.nonces_given)}".encode()).decode()
        self.nonces_given.append(nonce)
        return nonce

    async def handle(self, request: web.Request) -> web.Response:
        self.methods.append(request.method)
        if request.method == "HEAD":
            return web.Response(status=200, headers={"Replay-Nonce": self._nonce()})
        raw = await request.read()
        self.signed.append(raw)
        signed = json.loads(raw)
        self.nonces_used.append(json.loads(b64decode(signed["protected"]))["nonce"])
        status, body, headers = self.script.pop(0)
        if status == 0:
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        replies = {"Replay-Nonce": self._nonce(), **headers}
        if not replies["Replay-Nonce"]:
            del replies["Replay-Nonce"]
        if body is None:
            return web.Response(status=status, text="<html>oops</html>", headers=replies)
        content_type = "application/problem+json" if status >= 400 else "application/json"
        return web.json_response(body, status=status, headers=replies, content_type=content_type)


@asynccontextmanager
async def _ca(
    script: list[Step], **options: Any
) -> AsyncIterator[tuple[ScriptedCA, AcmeTransport]]:
    ca = ScriptedCA(script)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", ca.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    ca.url = str(server.make_url("")).rstrip("/")
    transport = AcmeTransport(
        KEY, verify=True, user_agent="test", **{"bad_nonce_attempts": 3, **options}
    )
    transport.new_nonce_url = ca.url + "/nonce"
    try:
        yield ca, transport
    finally:
        await transport.close()
        await server.close()


async def _post(
    transport: AcmeTransport, ca: ScriptedCA, body: dict[str, Any] | None = None
) -> object:
    try:
        return await transport.post(ca.url + "/order/1", body, account_uri="acct")
    except Exception as exc:
        return exc


@pytest.mark.parametrize(
    ("account_uri", "body", "header_fields"),
    [
        pytest.param("https://ca/acct/1", {"a": 1}, {"alg", "kid", "nonce", "url"}, id="by-kid"),
        pytest.param("https://ca/acct/1", None, {"alg", "kid", "nonce", "url"}, id="post-as-get"),
        pytest.param(None, {"a": 1}, {"alg", "jwk", "nonce", "url"}, id="new-account-by-jwk"),
    ],
)
async def test_requests_are_signed_with_the_account_key(
    account_uri: str | None, body: dict[str, Any] | None, header_fields: set[str]
) -> None:
    async with _ca([OK]) as (ca, transport):
        await transport.post(ca.url + "/order/1", body, account_uri=account_uri)
    signed = jws.JWS.json_loads(ca.signed[0])
    assert signed.verify(KEY.jwk.public_key())
    protected = json.loads(b64decode(json.loads(ca.signed[0])["protected"]))
    assert set(protected) == header_fields
    assert protected["url"] == ca.url + "/order/1"
    assert protected["nonce"] == ca.nonces_given[0]
    assert protected.get("kid") == account_uri
    assert signed.payload == (b"" if body is None else json.dumps(body).encode())


async def test_bad_nonces_are_retried_until_success() -> None:
    async with _ca([_problem("badNonce"), _problem("badNonce"), OK]) as (ca, transport):
        reply = await _post(transport, ca, {})
    assert ca.methods == ["HEAD", "POST", "POST", "POST"]
    assert isinstance(reply, Reply)
    assert reply.location == "https://ca.example/order/1"
    assert reply.links == (("index", "https://ca.example/dir"),)


async def test_bad_nonces_beyond_the_budget_give_a_stable_error() -> None:
    script = [
        _problem("badNonce", detail=f"JWS has an invalid anti-replay nonce: n{i}") for i in range(6)
    ]
    async with _ca(script) as (ca, transport):
        reply = await _post(transport, ca)
    assert ca.methods.count("POST") == 6  # three attempts of two nonces
    assert isinstance(reply, AcmeBadNonce)
    assert str(reply) == f"400 {PREFIX}badNonce: the ACME server rejected 6 fresh nonces in a row"


@pytest.mark.parametrize(
    ("script", "outcome"),
    [
        pytest.param([DROP, OK], Reply, id="dropped-once-sent-again"),
        pytest.param([DROP, DROP], AcmeUnreachable, id="dropped-twice-unreachable"),
    ],
)
async def test_a_connection_closed_without_a_reply_is_tried_once_more(
    script: list[Step], outcome: type
) -> None:
    async with _ca(script) as (ca, transport):
        reply = await _post(transport, ca, {})
    assert ca.methods == ["HEAD", "POST", "POST"]
    assert len(set(ca.nonces_used)) == 1  # the same bytes: a replay the CA would refuse
    assert isinstance(reply, outcome)


@pytest.mark.parametrize(
    ("script", "methods"),
    [
        pytest.param([OK, OK, OK], ["HEAD", "POST", "POST", "POST"], id="success-replies"),
        pytest.param(
            [_problem("malformed"), _problem("badNonce"), OK],
            ["HEAD", "POST", "POST", "POST"],
            id="error-replies",
        ),
        pytest.param(
            [(403, {"type": PREFIX + "unauthorized"}, {"Replay-Nonce": ""}), OK],
            ["HEAD", "POST", "HEAD", "POST"],
            id="a-reply-without-a-nonce",
        ),
    ],
)
async def test_each_reply_nonce_signs_the_next_request(
    script: list[Step], methods: list[str]
) -> None:
    async with _ca(script) as (ca, transport):
        for _ in range(len(script) - script.count(_problem("badNonce"))):
            await _post(transport, ca)
    assert ca.methods == methods
    assert len(set(ca.nonces_used)) == len(ca.nonces_used)  # never one nonce twice
    assert set(ca.nonces_used) <= set(ca.nonces_given)


@pytest.mark.parametrize(
    ("step", "error_type", "message"),
    [
        pytest.param(
            _problem("rateLimited", "too many certificates", 429, **{"Retry-After": "120"}),
            AcmeRateLimited,
            f"429 {PREFIX}rateLimited: too many certificates",
            id="rate-limited",
        ),
        pytest.param(
            _problem("accountDoesNotExist", "unknown account"),
            AcmeAccountDoesNotExist,
            f"400 {PREFIX}accountDoesNotExist: unknown account",
            id="account-gone",
        ),
        pytest.param(
            _problem("rejectedIdentifier", "forbidden by policy"),
            AcmeError,
            f"400 {PREFIX}rejectedIdentifier: forbidden by policy",
            id="rejected-identifier",
        ),
        pytest.param(
            (503, None, {}),
            AcmeError,
            "503 about:blank: HTTP 503 without a problem document",
            id="html-503",
        ),
        pytest.param(
            (200, {"status": "valid"}, {"Replay-Nonce": ""}),
            AcmeError,
            "200 urn:certmgr:acme:malformedResponse: unexpected reply without Replay-Nonce "
            "from the ACME server",
            id="success-without-a-nonce",
        ),
    ],
)
async def test_problems_map_to_flat_errors(
    step: Step, error_type: type[AcmeError], message: str
) -> None:
    async with _ca([step]) as (ca, transport):
        reply = await _post(transport, ca)
    assert ca.methods.count("POST") == 1
    assert type(reply) is error_type
    assert str(reply) == message
    if isinstance(reply, AcmeRateLimited):
        assert reply.retry_after == 120.0


def _connection_key() -> Any:
    return SimpleNamespace(host="ca.example", port=443, ssl=True)


@pytest.mark.parametrize(
    ("exception", "message"),
    [
        pytest.param(
            lambda: aiohttp.ClientConnectorCertificateError(
                _connection_key(), ValueError("[SSL: CERTIFICATE_VERIFY_FAILED] at 0x7f00")
            ),
            "TLS handshake with https://ca.example failed (certificate not trusted?)",
            id="tls",
        ),
        pytest.param(
            lambda: aiohttp.ServerTimeoutError("Timeout on reading data from 0x7f00"),
            "timed out talking to https://ca.example",
            id="read-timeout",
        ),
        pytest.param(TimeoutError, "timed out talking to https://ca.example", id="total-timeout"),
        pytest.param(
            lambda: aiohttp.ClientConnectorError(
                _connection_key(), OSError(111, "Connect call failed <object at 0x7f00>")
            ),
            "cannot connect to https://ca.example",
            id="refused",
        ),
        pytest.param(
            lambda: aiohttp.TooManyRedirects(SimpleNamespace(real_url="x"), ()),  # type: ignore[arg-type]
            "request to https://ca.example failed (TooManyRedirects)",
            id="other",
        ),
    ],
)
async def test_network_failures_are_unreachable_with_stable_messages(
    monkeypatch: pytest.MonkeyPatch, exception: Callable[[], Exception], message: str
) -> None:
    class FailingSession:
        def request(self, *args: Any, **kwargs: Any) -> Any:
            raise exception()

        async def close(self) -> None:
            pass

    transport = AcmeTransport(
        AcmeAccountKey.from_pem(generate_account_key()), verify=True, user_agent="test"
    )
    transport.new_nonce_url = "https://ca.example/nonce"
    monkeypatch.setattr(transport, "_http", FailingSession)
    try:
        reply: object = await transport.post("https://ca.example/order/1", {}, account_uri="a")
    except Exception as exc:
        reply = exc
    finally:
        await transport.close()
    assert isinstance(reply, AcmeUnreachable)
    assert str(reply) == f"urn:certmgr:acme:unreachable: {message}"
    assert "0x" not in str(reply)


_NOW = datetime.datetime(2026, 11, 22, 12, 0, 0, tzinfo=datetime.UTC)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param({}, None, id="absent"),
        pytest.param({"Retry-After": "30"}, 30.0, id="seconds"),
        pytest.param({"retry-after": "0"}, 0.0, id="zero-lowercase"),
        pytest.param({"Retry-After": "Sun, 22 Nov 2026 12:01:00 GMT"}, 60.0, id="date-vs-now"),
        pytest.param(
            {
                "Retry-After": "Sun, 22 Nov 2026 12:01:00 GMT",
                "Date": "Sun, 22 Nov 2026 12:00:50 GMT",
            },
            10.0,
            id="date-vs-server-date",
        ),
        pytest.param({"Retry-After": "Sun, 22 Nov 2026 11:00:00 GMT"}, 0.0, id="date-in-past"),
        pytest.param({"Retry-After": "soon"}, None, id="garbage"),
        pytest.param({"Retry-After": "-5"}, None, id="negative"),
    ],
)
def test_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after_seconds(headers, now=_NOW) == expected


def test_error_message_without_status() -> None:
    error = AcmeError(Problem("urn:certmgr:acme:unreachable", "cannot connect", None))
    assert str(error) == "urn:certmgr:acme:unreachable: cannot connect"
    assert (error.status, error.code) == (None, "")


@pytest.mark.parametrize(
    ("body", "answers", "sent", "withheld", "asked"),
    [
        pytest.param(
            {},
            [True, True, True],
            ["HEAD", "POST"],
            False,
            [1, 1, 1],
            id="write-while-holding-the-lease",
        ),
        pytest.param(
            {}, [False], ["HEAD"], True, [1], id="write-after-the-lease-is-lost-is-withheld"
        ),
        # Frozen after the first check (signing, waiting for a connection) and thawed
        # after the Lease moved on: the ready connection asks again and sends nothing.
        pytest.param(
            {}, [True, False], ["HEAD"], True, [1, 1], id="lease-lost-before-the-connection-writes"
        ),
        # Frozen once the connection was ready, before aiohttp's body task wrote (a turn
        # of the loop later): the body asks once more and nothing reaches the CA.
        pytest.param(
            {},
            [True, True, False],
            ["HEAD"],
            True,
            [1, 1, 1],
            id="lease-lost-before-the-body-is-written",
        ),
        pytest.param(None, [], ["HEAD", "POST"], False, [], id="post-as-get-is-always-sent"),
    ],
)
async def test_writes_ask_may_write_just_before_sending(
    body: dict[str, Any] | None,
    answers: list[bool],
    sent: list[str],
    withheld: bool,
    asked: list[int],
) -> None:
    seen_when_asked: list[int] = []
    ca_seen: list[str] = []

    def may_write() -> bool:
        seen_when_asked.append(len(ca_seen))  # after the nonce fetch, before the POST
        return answers[len(seen_when_asked) - 1]

    async with _ca([OK], may_write=may_write) as (ca, transport):
        ca.methods = ca_seen
        reply = await _post(transport, ca, body)
    assert ca_seen == sent, reply
    assert isinstance(reply, AcmeWriteWithheld) == withheld
    assert seen_when_asked == asked
