"""Renewal information (RFC 9773) through the ACME door, against the ARI proxy + real Pebble.

The proxy adds ``renewalInfo`` to Pebble 2.4's directory and answers with the windows set
here; everything else (accounts, orders, issuance) is Pebble's own, through the proxy.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certmgr.acme import (
    CHALLENGE_HTTP01,
    STATUS_PENDING,
    STATUS_PROCESSING,
    STATUS_VALID,
    AcmeError,
    AcmeSession,
    Identifier,
    connect,
    generate_account_key,
    replaces_refused,
)
from certmgr.pki.renewalinfo import ari_cert_id
from certmgr.testing.ari_proxy import AriProxy, RenewalAnswer, window
from certmgr.testing.pebble import PebbleServer

pytestmark = pytest.mark.e2e

NOW = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
NAME = "ari.door.example"
T = TypeVar("T")


@pytest.fixture
async def proxy(pebble: PebbleServer) -> AsyncIterator[AriProxy]:
    async with AriProxy(pebble) as running:
        yield running


@pytest.fixture
async def answers(pebble: PebbleServer) -> AsyncIterator[dict[str, str]]:
    tokens: dict[str, str] = {}

    async def handle(request: web.Request) -> web.Response:
        answer = tokens.get(request.match_info["token"])
        return web.Response(status=404) if answer is None else web.Response(text=answer)

    app = web.Application()
    app.router.add_get("/.well-known/acme-challenge/{token}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", pebble.http01_port).start()
    yield tokens
    await runner.cleanup()


async def _session(proxy: AriProxy, pebble: PebbleServer) -> AcmeSession:
    session = await connect(
        proxy.directory_url, account_key_pem=generate_account_key(), ca_bundle=pebble.ca_bundle
    )
    await session.register(email="ari@example.com")
    return session


async def _until(fetch: Callable[[], Awaitable[T]], done: Callable[[T], bool]) -> T:
    for _ in range(400):
        value = await fetch()
        if done(value):
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"still {value}")


async def _issue(
    session: AcmeSession, tokens: dict[str, str], *, replaces: str | None = None
) -> x509.Certificate:
    order = await session.new_order([Identifier.dns(NAME)], replaces=replaces)
    for url in order.authorizations:
        authorization = await session.get_authorization(url)
        if authorization.status != STATUS_PENDING:
            continue
        challenge = authorization.challenge(CHALLENGE_HTTP01)
        assert challenge is not None
        tokens[challenge.token] = session.key_authorization(challenge.token)
        await session.accept_challenge(challenge.url)
        await _until(
            functools.partial(session.get_authorization, url), lambda a: a.status != STATUS_PENDING
        )
    order = await _until(lambda: session.get_order(order.url), lambda o: o.status != STATUS_PENDING)
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAME)]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(NAME)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem = csr.public_bytes(serialization.Encoding.PEM)
    order = await session.finalize(order.url, order.finalize_url, pem)
    order = await _until(
        lambda: session.get_order(order.url), lambda o: o.status != STATUS_PROCESSING
    )
    assert order.status == STATUS_VALID and order.certificate_url
    chain = await session.download_certificate(order.certificate_url)
    return x509.load_pem_x509_certificates(chain.encode())[0]


async def test_renewal_info_window_and_replaces_through_the_proxy(
    pebble: PebbleServer, proxy: AriProxy, answers: dict[str, str]
) -> None:
    session = await _session(proxy, pebble)
    try:
        assert session.renewal_info_url() == proxy.renewal_info_url
        leaf = await _issue(session, answers)
        cert_id = ari_cert_id(leaf)
        assert cert_id is not None
        start, end = NOW + datetime.timedelta(days=1), NOW + datetime.timedelta(days=2)
        proxy.answers[cert_id] = window(
            start, end, retry_after=3600, explanation_url="https://ca.example/why"
        )
        info = await session.renewal_info(cert_id)
        assert (info.start, info.end) == (start, end)
        assert info.retry_after == 3600.0
        assert info.explanation_url == "https://ca.example/why"
        assert proxy.fetches == [cert_id]
        await _issue(session, answers, replaces=cert_id)
        assert proxy.replaces() == [None, cert_id]
    finally:
        await session.close()


@pytest.mark.parametrize(
    ("answer", "detail"),
    [
        pytest.param(RenewalAnswer(body="{not json"), "not JSON", id="not-json"),
        pytest.param(RenewalAnswer(body="{}"), "suggestedWindow", id="no-window"),
        pytest.param(
            window(NOW + datetime.timedelta(days=2), NOW + datetime.timedelta(days=1)),
            "ends before it starts",
            id="end-before-start",
        ),
        pytest.param(RenewalAnswer(status=503, body="down"), "503", id="server-error"),
    ],
)
async def test_bad_renewal_info_is_an_acme_error(
    pebble: PebbleServer, proxy: AriProxy, answer: RenewalAnswer, detail: str
) -> None:
    proxy.default = answer
    session = await connect(
        proxy.directory_url, account_key_pem=generate_account_key(), ca_bundle=pebble.ca_bundle
    )
    try:
        with pytest.raises(AcmeError, match=detail):
            await session.renewal_info("aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE")
    finally:
        await session.close()


async def test_a_ca_without_ari_has_no_renewal_info_url(
    pebble: PebbleServer, proxy: AriProxy
) -> None:
    proxy.ari = False
    session = await connect(
        proxy.directory_url, account_key_pem=generate_account_key(), ca_bundle=pebble.ca_bundle
    )
    try:
        assert session.renewal_info_url() is None
        with pytest.raises(LookupError):
            await session.renewal_info("x.y")
    finally:
        await session.close()


async def test_a_refused_replaces_is_recognised(pebble: PebbleServer, proxy: AriProxy) -> None:
    proxy.refuse_replaces = "alreadyReplaced"
    session = await _session(proxy, pebble)
    try:
        with pytest.raises(AcmeError) as refused:
            await session.new_order([Identifier.dns(NAME)], replaces="a.b")
        assert replaces_refused(refused.value)
        order = await session.new_order([Identifier.dns(NAME)])
        assert order.status == STATUS_PENDING
    finally:
        await session.close()
