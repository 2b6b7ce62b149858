"""The ACME door against a real CA (the harness's Pebble, no random validation sleeps).

Issuance goes through ``certmgr.acme`` only, with a throwaway aiohttp responder on the
harness's HTTP-01 port; polling here is the test's own (bounded deadline, short growing
intervals), as the controllers' will be.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import ipaddress
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from certmgr.acme import (
    CHALLENGE_HTTP01,
    STATUS_INVALID,
    STATUS_PENDING,
    STATUS_PROCESSING,
    STATUS_READY,
    STATUS_VALID,
    AcmeAccountDoesNotExist,
    AcmeBadNonce,
    AcmeClient,
    AcmeError,
    AcmeSession,
    AcmeUnreachable,
    Authorization,
    ExternalAccountBinding,
    Identifier,
    Order,
    connect,
    generate_account_key,
    top_issuer_common_name,
)
from certmgr.testing.pebble import PebbleConfig, PebbleServer, free_port, generate_eab_key
from certmgr.testing.pebble_fixtures import PebbleFactory

pytestmark = pytest.mark.e2e

T = TypeVar("T")
_DEADLINE_SECONDS = 20.0

# mypy checks that the session satisfies the seam controllers are written against.
_SEAM_CHECK: type[AcmeClient] = AcmeSession


class Responder:
    """Serves key authorizations by token; ``wrong`` answers garbage instead."""

    def __init__(self) -> None:
        self.answers: dict[str, str] = {}
        self.wrong = False

    async def handle(self, request: web.Request) -> web.Response:
        answer = self.answers.get(request.match_info["token"])
        if answer is None:
            return web.Response(status=404)
        return web.Response(text="not-the-key-authorization" if self.wrong else answer)


async def _serve(port: int) -> tuple[Responder, web.AppRunner]:
    responder = Responder()
    app = web.Application()
    app.router.add_get("/.well-known/acme-challenge/{token}", responder.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return responder, runner


@pytest.fixture
async def responder(pebble: PebbleServer) -> AsyncIterator[Responder]:
    responder, runner = await _serve(pebble.http01_port)
    yield responder
    await runner.cleanup()


async def _session(server: PebbleServer, **kwargs: object) -> AcmeSession:
    return await connect(
        server.directory_url,
        account_key_pem=generate_account_key(),
        ca_bundle=server.ca_bundle,
        user_agent="certmgr-e2e",
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture
async def session(pebble: PebbleServer) -> AsyncIterator[AcmeSession]:
    session = await _session(pebble)
    await session.register(email="door@example.com")
    yield session
    await session.close()


async def _wait_for(fetch: Callable[[], Awaitable[T]], done: Callable[[T], bool]) -> T:
    deadline = time.monotonic() + _DEADLINE_SECONDS
    delay = 0.002
    while True:
        value = await fetch()
        if done(value) or time.monotonic() > deadline:
            return value
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, 0.2)


def _csr(identifiers: list[Identifier], *, key_type: str = "ecdsa") -> bytes:
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey = (
        ec.generate_private_key(ec.SECP256R1())
        if key_type == "ecdsa"
        else rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    names: list[x509.GeneralName] = [
        x509.DNSName(i.value) if i.type == "dns" else x509.IPAddress(ipaddress.ip_address(i.value))
        for i in identifiers
    ]
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, identifiers[0].value)]))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)


async def _validate(session: AcmeClient, responder: Responder, order: Order) -> Order:
    """Answer every pending authorization at once, then wait for the order to move on."""
    authorizations = await asyncio.gather(*map(session.get_authorization, order.authorizations))
    # Pebble reuses valid authorizations; answering those again would return 400.
    pending = [a for a in authorizations if a.status == STATUS_PENDING]
    challenges = [a.challenge(CHALLENGE_HTTP01) for a in pending]
    for challenge in challenges:
        assert challenge is not None
        responder.answers[challenge.token] = session.key_authorization(challenge.token)
    await asyncio.gather(*(session.accept_challenge(c.url) for c in challenges if c))
    await asyncio.gather(
        *(
            _wait_for(functools.partial(session.get_authorization, a.url), _not_pending)
            for a in pending
        )
    )
    return await _wait_for(functools.partial(session.get_order, order.url), _not_pending)


def _not_pending(resource: Order | Authorization) -> bool:
    return resource.status != STATUS_PENDING


async def _issue(
    session: AcmeClient,
    responder: Responder,
    identifiers: list[Identifier],
    *,
    key_type: str = "ecdsa",
    preferred_chain: str | None = None,
) -> str:
    order = await session.new_order(identifiers)
    order = await _validate(session, responder, order)
    assert order.status == STATUS_READY, order
    order = await session.finalize(
        order.url, order.finalize_url, _csr(identifiers, key_type=key_type)
    )
    order = await _wait_for(
        lambda: session.get_order(order.url), lambda o: o.status != STATUS_PROCESSING
    )
    assert order.status == STATUS_VALID and order.certificate_url, order
    return await session.download_certificate(
        order.certificate_url, preferred_chain=preferred_chain
    )


def _sans(chain_pem: str) -> set[str]:
    leaf = x509.load_pem_x509_certificates(chain_pem.encode())[0]
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(n.value) for n in names}


@pytest.mark.parametrize(
    ("identifiers", "key_type"),
    [
        pytest.param([Identifier.dns("ecdsa.door.example")], "ecdsa", id="ecdsa"),
        pytest.param([Identifier.dns("rsa.door.example")], "rsa", id="rsa"),
        pytest.param(
            [Identifier.dns(f"san{i}.door.example") for i in range(5)], "ecdsa", id="five-sans"
        ),
        pytest.param([Identifier.ip("127.0.0.1")], "ecdsa", id="ip-address"),
    ],
)
async def test_full_issuance_through_the_door(
    session: AcmeSession, responder: Responder, identifiers: list[Identifier], key_type: str
) -> None:
    chain = await _issue(session, responder, identifiers, key_type=key_type)
    assert _sans(chain) == {i.value for i in identifiers}
    assert len(x509.load_pem_x509_certificates(chain.encode())) == 2


async def test_concurrent_orders_share_one_session(
    session: AcmeSession, responder: Responder
) -> None:
    batches = [[Identifier.dns(f"c{n}-{i}.door.example") for i in range(3)] for n in range(6)]
    chains = await asyncio.gather(*(_issue(session, responder, b) for b in batches))
    assert [_sans(c) for c in chains] == [{i.value for i in b} for b in batches]


async def test_failed_validation_is_reported_on_challenge_and_order(
    session: AcmeSession, responder: Responder
) -> None:
    responder.wrong = True
    # A fresh name: a reused valid authorization would skip validation altogether.
    order = await session.new_order([Identifier.dns(f"wrong-{time.time_ns()}.door.example")])
    order = await _validate(session, responder, order)
    assert order.status == STATUS_INVALID
    authorization = await session.get_authorization(order.authorizations[0])
    challenge = authorization.challenge(CHALLENGE_HTTP01)
    assert challenge is not None and challenge.status == STATUS_INVALID
    assert challenge.error is not None and challenge.error.code == "unauthorized"


async def test_register_is_idempotent_and_updates_contact(pebble: PebbleServer) -> None:
    key = generate_account_key()
    first = await connect(pebble.directory_url, account_key_pem=key, ca_bundle=pebble.ca_bundle)
    second = await connect(pebble.directory_url, account_key_pem=key, ca_bundle=pebble.ca_bundle)
    try:
        created = await first.register(email="one@example.com")
        found = await second.register(only_return_existing=True)
        updated = await second.update_contact("two@example.com")
    finally:
        await first.close()
        await second.close()
    assert created.uri == found.uri == updated.uri
    assert created.status == STATUS_VALID
    assert updated.contact == ("mailto:two@example.com",)


async def test_eab_required_registers_with_binding_and_fails_without(
    pebble_factory: PebbleFactory,
) -> None:
    hmac_key = generate_eab_key()
    server = pebble_factory(PebbleConfig(eab_keys={"kid-1": hmac_key}, require_eab=True))
    outcomes: dict[str, str] = {}
    for case, eab in [
        ("with-eab", ExternalAccountBinding("kid-1", hmac_key)),
        ("without-eab", None),
        ("wrong-hmac", ExternalAccountBinding("kid-1", generate_eab_key())),
        ("unknown-kid", ExternalAccountBinding("kid-9", hmac_key)),
    ]:
        session = await _session(server)
        try:
            assert session.directory_meta().external_account_required
            outcomes[case] = (await session.register(email="eab@example.com", eab=eab)).status
        except AcmeError as error:
            outcomes[case] = error.code
        finally:
            await session.close()
    assert outcomes == {
        "with-eab": STATUS_VALID,
        "without-eab": "externalAccountRequired",
        "wrong-hmac": "unauthorized",
        "unknown-kid": "unauthorized",
    }


async def test_bad_nonces_are_retried_inside_the_door(pebble_factory: PebbleFactory) -> None:
    server = pebble_factory(PebbleConfig(nonce_reject_percent=50))
    responder, runner = await _serve(server.http01_port)
    # 12 attempts of 2 nonces each at 50 %: one request in ~10^7 would still fail.
    session = await _session(server, bad_nonce_attempts=12)
    try:
        await session.register()
        chain = await _issue(session, responder, [Identifier.dns("nonce.door.example")])
    finally:
        await session.close()
        await runner.cleanup()
    assert _sans(chain) == {"nonce.door.example"}


async def test_bad_nonce_every_time_gives_a_stable_error(pebble_factory: PebbleFactory) -> None:
    server = pebble_factory(PebbleConfig(nonce_reject_percent=100))
    session = await _session(server, bad_nonce_attempts=2)
    try:
        messages = set()
        for _ in range(2):
            with pytest.raises(AcmeBadNonce) as caught:
                await session.register()
            messages.add(str(caught.value))
    finally:
        await session.close()
    assert messages == {
        "400 urn:ietf:params:acme:error:badNonce: the ACME server rejected 4 fresh nonces in a row"
    }


async def test_preferred_chain_selects_by_top_issuer(pebble_factory: PebbleFactory) -> None:
    server = pebble_factory(PebbleConfig(alternate_roots=1))
    root_names = [
        x509.load_pem_x509_certificate(pem.encode()).subject.rfc4514_string().removeprefix("CN=")
        for pem in server.root_pems()
    ]
    responder, runner = await _serve(server.http01_port)
    session = await _session(server)
    try:
        await session.register()
        order = await session.new_order([Identifier.dns("chain.door.example")])
        order = await _validate(session, responder, order)
        identifiers = [Identifier.dns("chain.door.example")]
        order = await session.finalize(order.url, order.finalize_url, _csr(identifiers))
        order = await _wait_for(
            lambda: session.get_order(order.url), lambda o: o.status != STATUS_PROCESSING
        )
        assert order.certificate_url is not None
        chosen = {
            preferred: top_issuer_common_name(
                await session.download_certificate(order.certificate_url, preferred_chain=preferred)
            )
            for preferred in [*root_names, "No Such Root", None]
        }
    finally:
        await session.close()
        await runner.cleanup()
    default_root = chosen[None]
    assert default_root in root_names
    assert chosen == {root_names[0]: root_names[0], root_names[1]: root_names[1]} | {
        "No Such Root": default_root,
        None: default_root,
    }


async def test_blocklisted_name_gives_a_stable_error(pebble_factory: PebbleFactory) -> None:
    server = pebble_factory(PebbleConfig(domain_blocklist=("blocked.example",)))
    session = await _session(server)
    try:
        await session.register()
        errors = []
        for _ in range(2):
            with pytest.raises(AcmeError) as caught:
                await session.new_order([Identifier.dns("www.blocked.example")])
            errors.append(caught.value)
    finally:
        await session.close()
    assert [type(e) for e in errors] == [AcmeError, AcmeError]
    assert errors[0].problem_type == "urn:ietf:params:acme:error:rejectedIdentifier"
    assert errors[0].status == 400
    assert str(errors[0]) == str(errors[1])
    assert "www.blocked.example" in str(errors[0])


async def test_restarted_ca_forgets_the_account_and_reregistering_recovers(
    pebble_factory: PebbleFactory,
) -> None:
    server = pebble_factory(PebbleConfig())
    key = generate_account_key()
    session = await connect(server.directory_url, account_key_pem=key, ca_bundle=server.ca_bundle)
    try:
        await session.register()
        server.restart_pebble()
        with pytest.raises(AcmeAccountDoesNotExist):
            await session.new_order([Identifier.dns("restart.door.example")])
        with pytest.raises(AcmeAccountDoesNotExist):
            await session.register(only_return_existing=True)
        account = await session.register()
        order = await session.new_order([Identifier.dns("restart.door.example")])
    finally:
        await session.close()
    assert account.status == STATUS_VALID
    assert order.status == STATUS_PENDING


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        pytest.param("closed-port", "cannot connect to https://127.0.0.1:{port}", id="closed-port"),
        pytest.param("untrusted", "TLS handshake with https://127.0.0.1:{port} failed", id="tls"),
    ],
)
async def test_unreachable_ca_gives_a_stable_error(
    pebble: PebbleServer, case: str, expected: str
) -> None:
    if case == "closed-port":
        port = free_port()
        url, bundle = f"https://127.0.0.1:{port}/dir", pebble.ca_bundle
    else:
        url, bundle = pebble.directory_url, None
        port = int(url.split(":")[2].split("/")[0])
    with pytest.raises(AcmeUnreachable) as caught:
        await connect(url, account_key_pem=generate_account_key(), ca_bundle=bundle)
    assert expected.format(port=port) in str(caught.value)


@pytest.mark.parametrize(
    ("not_after_hours", "expected_hours"),
    [
        pytest.param(None, 2, id="ca-validity-period"),
        pytest.param(5, 5, id="order-not-after"),
    ],
)
async def test_certificate_lifetime_follows_ca_config_or_order(
    pebble_factory: PebbleFactory, not_after_hours: int | None, expected_hours: int
) -> None:
    server = pebble_factory(PebbleConfig(certificate_validity_period=2 * 3600))
    responder, runner = await _serve(server.http01_port)
    session = await _session(server)
    identifiers = [Identifier.dns("lifetime.door.example")]
    now = datetime.datetime.now(datetime.UTC)
    not_after = now + datetime.timedelta(hours=not_after_hours) if not_after_hours else None
    try:
        await session.register()
        order = await session.new_order(identifiers, not_after=not_after)
        order = await _validate(session, responder, order)
        order = await session.finalize(order.url, order.finalize_url, _csr(identifiers))
        order = await _wait_for(
            functools.partial(session.get_order, order.url),
            lambda o: o.status != STATUS_PROCESSING,
        )
        assert order.certificate_url is not None
        chain = await session.download_certificate(order.certificate_url)
    finally:
        await session.close()
        await runner.cleanup()
    leaf = x509.load_pem_x509_certificates(chain.encode())[0]
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert abs(lifetime - datetime.timedelta(hours=expected_hours)) < datetime.timedelta(minutes=2)


async def test_a_stored_account_url_resumes_without_registering(pebble: PebbleServer) -> None:
    key = generate_account_key()
    first = await connect(pebble.directory_url, account_key_pem=key, ca_bundle=pebble.ca_bundle)
    try:
        account = await first.register()
        order = await first.new_order([Identifier.dns("resume.door.example")])
    finally:
        await first.close()
    # What a restarted controller does: URLs from status, a new session, no register().
    resumed = await connect(
        pebble.directory_url,
        account_key_pem=key,
        account_uri=account.uri,
        ca_bundle=pebble.ca_bundle,
    )
    try:
        again = await resumed.get_order(order.url)
        authorization = await resumed.get_authorization(again.authorizations[0])
    finally:
        await resumed.close()
    assert again.url == order.url and again.identifiers == order.identifiers
    assert authorization.identifier == Identifier.dns("resume.door.example")


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
async def test_skip_tls_verify_reaches_a_ca_with_an_unknown_certificate(
    pebble: PebbleServer,
) -> None:
    session = await connect(
        pebble.directory_url, account_key_pem=generate_account_key(), skip_tls_verify=True
    )
    try:
        account = await session.register()
    finally:
        await session.close()
    assert account.status == STATUS_VALID


async def test_observer_hears_every_exchange_of_an_issuance(
    pebble_factory: PebbleFactory,
) -> None:
    server = pebble_factory(PebbleConfig(nonce_reject_percent=0, authz_reuse_percent=0))
    responder, runner = await _serve(server.http01_port)
    exchanges: list[tuple[str, str, int | None]] = []
    actions: list[tuple[str, str]] = []

    def observe(*, method: str, url: str, action: str, status: int | None, seconds: float) -> None:
        assert seconds >= 0
        exchanges.append((method, url.split("/")[3], status))
        actions.append((url.split("/")[3], action))

    # One worker thread: each thread keeps its own nonce pool, so one HEAD in total.
    session = await _session(server, observer=observe, max_concurrency=1)
    try:
        await session.register()
        await _issue(session, responder, [Identifier.dns("observed.door.example")])
    finally:
        await session.close()
        await runner.cleanup()
    assert exchanges[:3] == [
        ("GET", "dir", 200),
        ("HEAD", "nonce-plz", 200),
        ("POST", "sign-me-up", 201),
    ]
    # Without rejections every reply carries the next nonce: one HEAD per issuance.
    assert [e for e in exchanges if e[0] == "HEAD"] == [("HEAD", "nonce-plz", 200)]
    assert [e for e in exchanges if e[1] == "order-plz"] == [("POST", "order-plz", 201)]
    assert all(status is not None and status < 300 for _, _, status in exchanges)
    # Each exchange is labelled with its protocol step; the nonce fetch with the step that
    # needed it (here the account registration, the first signed request).
    assert actions[:3] == [
        ("dir", "get_directory"),
        ("nonce-plz", "register_account"),
        ("sign-me-up", "register_account"),
    ]
    assert [a for path, a in actions if path == "order-plz"] == ["authorize_order"]
    assert "unnamed_action" not in {action for _, action in actions}
    assert {"get_authorization", "accept_challenge", "finalize_order", "get_cert"} <= {
        action for _, action in actions
    }


@pytest.mark.parametrize(
    ("path", "message"),
    [
        pytest.param(
            "/no-such-directory",
            "404 about:blank: HTTP 404 without a problem document",
            id="not-found",
        ),
        pytest.param(
            "/roots/0",
            "200 urn:certmgr:acme:malformedResponse: unexpected directory (not JSON) "
            "from the ACME server",
            id="not-json",
        ),
    ],
)
async def test_a_url_that_is_not_a_directory_is_an_acme_error(
    pebble: PebbleServer, path: str, message: str
) -> None:
    base = pebble.management_url if path.startswith("/roots") else pebble.directory_url[:-4]
    with pytest.raises(AcmeError) as caught:
        await connect(
            base + path, account_key_pem=generate_account_key(), ca_bundle=pebble.ca_bundle
        )
    assert str(caught.value) == message
    assert not isinstance(caught.value, AcmeUnreachable)


async def test_the_account_orders_list_finds_the_orders_placed(pebble: PebbleServer) -> None:
    # What a restarted controller relies on to reuse an order it placed but never
    # recorded: Pebble offers the RFC 8555 7.1.2.1 list (Let's Encrypt does not).
    session = await _session(pebble)
    try:
        await session.register(email="orders@example.com")
        placed = [
            await session.new_order([Identifier.dns(f"{n}.orders.example.com")]) for n in "ab"
        ]
        listed = await session.account_orders()
        assert {o.url for o in placed} <= set(listed)
        found = await session.get_order(placed[0].url)
        assert found.identifiers == (Identifier.dns("a.orders.example.com"),)
    finally:
        await session.close()


async def test_the_account_orders_list_is_read_to_its_last_page(pebble: PebbleServer) -> None:
    # Pebble lists 3 orders a page: 40 orders are 14 pages, and the orders a crashed
    # replica left unrecorded are the newest, on the last pages.
    session = await _session(pebble)
    try:
        await session.register(email="pages@example.com")
        placed = [
            await session.new_order([Identifier.dns(f"n{n}.pages.example.com")]) for n in range(40)
        ]
        listed = await session.account_orders()
        assert [o.url for o in placed if o.url not in listed] == []
    finally:
        await session.close()
