"""Transport: badNonce retries, the mapping of failures to flat errors, Retry-After.

The library's network object is replaced by a scripted fake so every failure mode is
reproducible without a CA; the real threads and mapping code run.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
import requests
from acme import errors as acme_errors
from acme import messages
from requests.structures import CaseInsensitiveDict

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


def _response(
    status: int, body: object = None, headers: Mapping[str, str] | None = None
) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(body).encode() if body is not None else b"<html>oops</html>"
    response.headers = CaseInsensitiveDict(headers or {})
    return response


def _problem(code: str, detail: str = "detail", status: int = 400, **headers: str) -> Any:
    return _response(status, {"type": PREFIX + code, "detail": detail}, headers)


class ScriptedNetwork:
    """Plays back responses (or raises exceptions) the way ``ClientNetwork.post`` would."""

    def __init__(self, script: list[requests.Response | Exception]) -> None:
        self.script = script
        self.calls = 0
        self.last_response: requests.Response | None = None
        self.account: object = None

    def post(self, url: str, payload: object, **kwargs: Any) -> requests.Response:
        self.calls += 1
        step = self.script.pop(0)
        self.last_response = None
        if isinstance(step, Exception):
            raise step
        self.last_response = step
        if not step.ok:
            if step.headers.get("Content-Type") == "text/html":
                raise acme_errors.ClientError(step)  # what the library does for non-JSON
            raise messages.Error.from_json(step.json())
        return step


@pytest.fixture
async def transport() -> AsyncIterator[AcmeTransport]:
    transport = AcmeTransport(
        AcmeAccountKey.from_pem(generate_account_key()),
        verify=True,
        user_agent="test",
        bad_nonce_attempts=3,
    )
    yield transport
    await transport.close()


async def _post(
    transport: AcmeTransport, script: list[requests.Response | Exception], monkeypatch: Any
) -> tuple[object, ScriptedNetwork]:
    network = ScriptedNetwork(script)
    monkeypatch.setattr(transport, "_network", lambda: network)
    try:
        reply: object = await transport.post("https://ca.example/order/1", {}, account_uri="acct")
    except Exception as exc:
        reply = exc
    return reply, network


async def test_bad_nonces_are_retried_until_success(
    transport: AcmeTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok = _response(
        201,
        {"status": "pending"},
        {"Location": "https://ca.example/order/1", "Link": '<https://ca.example/dir>;rel="index"'},
    )
    reply, network = await _post(
        transport, [_problem("badNonce"), _problem("badNonce"), ok], monkeypatch
    )
    assert network.calls == 3
    assert isinstance(reply, Reply)
    assert reply.location == "https://ca.example/order/1"
    assert reply.links == (("index", "https://ca.example/dir"),)


async def test_bad_nonces_beyond_the_budget_give_a_stable_error(
    transport: AcmeTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    script: list[requests.Response | Exception] = [
        _problem("badNonce", detail=f"JWS has an invalid anti-replay nonce: n{i}") for i in range(3)
    ]
    reply, network = await _post(transport, script, monkeypatch)
    assert network.calls == 3
    assert isinstance(reply, AcmeBadNonce)
    assert str(reply) == f"400 {PREFIX}badNonce: the ACME server rejected 6 fresh nonces in a row"


@pytest.mark.parametrize(
    ("response", "error_type", "message"),
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
            _response(503, None, {"Content-Type": "text/html"}),
            AcmeError,
            "503 about:blank: HTTP 503 without a problem document",
            id="html-503",
        ),
    ],
)
async def test_problems_map_to_flat_errors(
    transport: AcmeTransport,
    monkeypatch: pytest.MonkeyPatch,
    response: requests.Response,
    error_type: type[AcmeError],
    message: str,
) -> None:
    reply, network = await _post(transport, [response], monkeypatch)
    assert network.calls == 1
    assert type(reply) is error_type
    assert str(reply) == message
    if isinstance(reply, AcmeRateLimited):
        assert reply.retry_after == 120.0


@pytest.mark.parametrize(
    ("exception", "message"),
    [
        pytest.param(
            requests.exceptions.SSLError("[SSL: CERTIFICATE_VERIFY_FAILED] at 0x7f00"),
            "TLS handshake with https://ca.example failed (certificate not trusted?)",
            id="tls",
        ),
        pytest.param(
            requests.exceptions.ConnectTimeout("pool at 0x7f00 timed out"),
            "timed out talking to https://ca.example",
            id="timeout",
        ),
        pytest.param(
            requests.exceptions.ConnectionError("Max retries exceeded <object at 0x7f00>"),
            "cannot connect to https://ca.example",
            id="refused",
        ),
        pytest.param(
            requests.exceptions.TooManyRedirects("30 redirects"),
            "request to https://ca.example failed (TooManyRedirects)",
            id="other",
        ),
    ],
)
async def test_network_failures_are_unreachable_with_stable_messages(
    transport: AcmeTransport,
    monkeypatch: pytest.MonkeyPatch,
    exception: Exception,
    message: str,
) -> None:
    reply, _ = await _post(transport, [exception], monkeypatch)
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


class RecordingSession:
    """Stands in for ``requests.Session.request``: a nonce for HEAD, 200 for the rest."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        self.sent.append(method)
        headers = {"Replay-Nonce": f"nonce{len(self.sent)}", "Content-Type": "application/json"}
        response = _response(200, {"status": "pending"}, headers)
        response.url = url
        return response


@pytest.mark.parametrize(
    ("body", "leading", "sent", "withheld"),
    [
        pytest.param({}, True, ["HEAD", "POST"], False, id="write-while-holding-the-lease"),
        pytest.param({}, False, ["HEAD"], True, id="write-after-the-lease-is-lost-is-withheld"),
        pytest.param(None, False, ["HEAD", "POST"], False, id="post-as-get-is-always-sent"),
    ],
)
async def test_writes_ask_may_write_just_before_sending(
    monkeypatch: pytest.MonkeyPatch,
    body: dict[str, Any] | None,
    leading: bool,
    sent: list[str],
    withheld: bool,
) -> None:
    session = RecordingSession()
    monkeypatch.setattr(requests.Session, "request", session.request)
    asked: list[int] = []

    def may_write() -> bool:
        asked.append(len(session.sent))  # after the nonce fetch, before the POST
        return leading

    transport = AcmeTransport(
        AcmeAccountKey.from_pem(generate_account_key()),
        verify=True,
        user_agent="test",
        may_write=may_write,
    )
    transport.new_nonce_url = "https://ca.example/nonce"
    try:
        reply: object = await transport.post(
            "https://ca.example/order/1", body, account_uri="acct", action="authorize_order"
        )
    except Exception as exc:
        reply = exc
    finally:
        await transport.close()
    assert session.sent == sent, reply
    assert isinstance(reply, AcmeWriteWithheld) == withheld
    assert asked == ([1] if body is not None else [])
