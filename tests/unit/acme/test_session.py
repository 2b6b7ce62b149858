"""Session steps against a recording transport: what is sent, and what comes back."""

from __future__ import annotations

import base64
import datetime
from collections.abc import Mapping
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certmgr.acme import AcmeAccountKey, AcmeSession, Identifier, generate_account_key
from certmgr.acme.errors import AcmeError
from certmgr.acme.transport import Reply

DIRECTORY = {
    "newNonce": "https://ca/nonce",
    "newAccount": "https://ca/account",
    "newOrder": "https://ca/order",
    "meta": {"profiles": {"classic": "the usual"}},
}
ORDER = {
    "status": "pending",
    "identifiers": [{"type": "dns", "value": "a.example"}],
    "authorizations": ["https://ca/authz/1"],
    "finalize": "https://ca/finalize/1",
}


def _reply(body: object, *, location: str | None = None, **headers: str) -> Reply:
    return Reply(200, body, "", location, (), headers)


class RecordingTransport:
    """Stands in for ``AcmeTransport``: records each signed request, plays back replies."""

    def __init__(self, replies: list[Reply]) -> None:
        self.replies = replies
        self.requests: list[tuple[str, Mapping[str, Any] | None, str | None, str | None]] = []
        self.actions: list[str] = []

    async def post(
        self,
        url: str,
        body: Mapping[str, Any] | None,
        *,
        account_uri: str | None,
        accept: str | None = None,
        action: str = "unnamed_action",
    ) -> Reply:
        self.requests.append((url, body, account_uri, accept))
        self.actions.append(action)
        return self.replies.pop(0)


def _session(
    replies: list[Reply], *, account_uri: str | None = "https://ca/acct/1"
) -> tuple[AcmeSession, RecordingTransport]:
    transport = RecordingTransport(replies)
    session = AcmeSession(
        transport,  # type: ignore[arg-type]
        key=AcmeAccountKey.from_pem(generate_account_key()),
        directory=DIRECTORY,
        account_uri=account_uri,
    )
    return session, transport


@pytest.mark.parametrize(
    ("kwargs", "expected_extra"),
    [
        pytest.param({}, {}, id="plain"),
        pytest.param({"profile": "classic"}, {"profile": "classic"}, id="profile"),
        pytest.param(
            {
                "not_after": datetime.datetime(
                    2027, 1, 2, 3, 4, 5, tzinfo=datetime.timezone(datetime.timedelta(hours=2))
                )
            },
            {"notAfter": "2027-01-02T01:04:05Z"},
            id="not-after-in-utc",
        ),
    ],
)
async def test_new_order_request_body(
    kwargs: dict[str, Any], expected_extra: dict[str, str]
) -> None:
    session, transport = _session([_reply(ORDER, location="https://ca/order/1")])
    order = await session.new_order(
        [Identifier.dns("a.example"), Identifier.ip("10.0.0.1")], **kwargs
    )
    url, body, account_uri, _ = transport.requests[0]
    assert (url, account_uri) == ("https://ca/order", "https://ca/acct/1")
    assert (
        body
        == {
            "identifiers": [
                {"type": "dns", "value": "a.example"},
                {"type": "ip", "value": "10.0.0.1"},
            ]
        }
        | expected_extra
    )
    assert order.url == "https://ca/order/1"


async def test_naive_validity_bound_is_refused() -> None:
    session, _ = _session([])
    with pytest.raises(ValueError, match="timezone-aware"):
        await session.new_order([Identifier.dns("a")], not_after=datetime.datetime(2027, 1, 1))


async def test_new_order_without_location_is_malformed() -> None:
    session, _ = _session([_reply(ORDER)])
    with pytest.raises(AcmeError, match="newOrder reply without Location"):
        await session.new_order([Identifier.dns("a.example")])


async def test_retry_after_reaches_the_polled_order() -> None:
    session, _ = _session([_reply(ORDER | {"status": "processing"}, **{"Retry-After": "3"})])
    order = await session.get_order("https://ca/order/1")
    assert (order.status, order.retry_after) == ("processing", 3.0)


async def test_register_signs_with_the_key_and_remembers_the_account() -> None:
    session, transport = _session(
        [
            _reply(
                {"status": "valid", "contact": ["mailto:a@example.com"]},
                location="https://ca/acct/9",
            )
        ],
        account_uri=None,
    )
    account = await session.register(email="a@example.com")
    url, body, account_uri, _ = transport.requests[0]
    assert (url, account_uri) == ("https://ca/account", None)
    assert body == {"termsOfServiceAgreed": True, "contact": ["mailto:a@example.com"]}
    assert account.uri == session.account_uri == "https://ca/acct/9"


CHALLENGE = {"type": "http-01", "url": "https://ca/chall/1", "status": "pending", "token": "t"}
AUTHZ = {
    "status": "pending",
    "identifier": {"type": "dns", "value": "a.example"},
    "challenges": [CHALLENGE],
}


@pytest.mark.parametrize(
    ("step", "reply", "action"),
    [
        pytest.param(
            lambda s: s.register(),
            _reply({"status": "valid"}, location="https://ca/acct/1"),
            "register_account",
            id="register",
        ),
        pytest.param(
            lambda s: s.update_contact(None),
            _reply({"status": "valid"}),
            "update_account",
            id="update-contact",
        ),
        pytest.param(
            lambda s: s.new_order([Identifier.dns("a.example")]),
            _reply(ORDER, location="https://ca/order/1"),
            "authorize_order",
            id="new-order",
        ),
        pytest.param(
            lambda s: s.get_order("https://ca/order/1"), _reply(ORDER), "get_order", id="order"
        ),
        pytest.param(
            lambda s: s.get_authorization("https://ca/authz/1"),
            _reply(AUTHZ),
            "get_authorization",
            id="authorization",
        ),
        pytest.param(
            lambda s: s.get_challenge("https://ca/chall/1"),
            _reply(CHALLENGE),
            "get_challenge",
            id="challenge",
        ),
        pytest.param(
            lambda s: s.accept_challenge("https://ca/chall/1"),
            _reply(CHALLENGE),
            "accept_challenge",
            id="accept",
        ),
    ],
)
async def test_each_step_names_its_action_for_the_metrics(
    step: Any, reply: Reply, action: str
) -> None:
    session, transport = _session([reply])
    await step(session)
    assert transport.actions == [action]


async def test_steps_before_registration_are_a_programming_error() -> None:
    session, transport = _session([], account_uri=None)
    with pytest.raises(RuntimeError, match="register"):
        await session.get_order("https://ca/order/1")
    assert transport.requests == []


async def test_finalize_sends_the_csr_as_base64url_der() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "a.example")]))
        .sign(key, hashes.SHA256())
    )
    session, transport = _session([_reply(ORDER | {"status": "processing"})])
    order = await session.finalize(
        "https://ca/order/1", "https://ca/finalize/1", csr.public_bytes(serialization.Encoding.PEM)
    )
    _, body, _, _ = transport.requests[0]
    assert body is not None
    der = csr.public_bytes(serialization.Encoding.DER)
    assert base64.urlsafe_b64decode(body["csr"] + "=" * (-len(body["csr"]) % 4)) == der
    assert (order.url, order.status) == ("https://ca/order/1", "processing")
    assert transport.actions == ["finalize_order"]


def test_directory_meta_and_key_authorization_need_no_request() -> None:
    session, transport = _session([])
    assert dict(session.directory_meta().profiles) == {"classic": "the usual"}
    assert session.key_authorization("tok").startswith("tok.")
    assert transport.requests == []
