"""One ACME account at one CA: single protocol steps, addressed by URL.

Owns :func:`connect` and :class:`AcmeSession`, the implementation of the
:class:`~certmgr.acme.protocol.AcmeClient` seam. Every method is exactly one HTTP
exchange (``download_certificate`` with a ``preferred_chain`` may add one per alternate
chain, ``account_orders`` one per page of the list), so a controller can stop after any
step, store the URLs in status, restart, and carry on with a new session. It must not
wait, poll or sleep: deciding when to ask again belongs to the controllers.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, TypeVar

import structlog
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certmgr.acme.chains import choose_chain
from certmgr.acme.keys import AcmeAccountKey
from certmgr.acme.parsing import (
    malformed,
    parse_account,
    parse_authorization,
    parse_challenge,
    parse_directory_meta,
    parse_order,
    parse_renewal_info,
)
from certmgr.acme.resources import (
    Account,
    Authorization,
    Challenge,
    DirectoryMeta,
    ExternalAccountBinding,
    Identifier,
    Order,
    RenewalInfo,
)
from certmgr.acme.transport import (
    DEFAULT_BAD_NONCE_ATTEMPTS,
    DEFAULT_MAX_CONCURRENCY,
    AcmeTransport,
    ExchangeObserver,
    Reply,
    retry_after_seconds,
)

PEM_CHAIN = "application/pem-certificate-chain"
DEFAULT_USER_AGENT = "certmgr"
# Pages of an account's orders list read at most (Pebble lists 3 orders a page).
ORDER_LIST_PAGES: Final = 1000

log = structlog.get_logger(__name__)


async def connect(
    directory_url: str,
    *,
    account_key_pem: bytes,
    account_uri: str | None = None,
    ca_bundle: str | None = None,
    skip_tls_verify: bool = False,
    user_agent: str = DEFAULT_USER_AGENT,
    timeout_seconds: int = 30,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    bad_nonce_attempts: int = DEFAULT_BAD_NONCE_ATTEMPTS,
    observer: ExchangeObserver | None = None,
    may_write: Callable[[], bool] | None = None,
) -> AcmeSession:
    """Fetch the directory once and return a session for the account key.

    ``account_uri`` is the URL stored in the issuer's status; without it, call
    :meth:`AcmeSession.register` before any other step. ``ca_bundle`` is a PEM file
    path that replaces the system trust store (e.g. Pebble's listener CA).
    ``may_write``, asked just before each request that changes state at the CA, withholds
    it (:class:`~certmgr.acme.errors.AcmeWriteWithheld`) when False: the Lease check.
    """
    key = AcmeAccountKey.from_pem(account_key_pem)
    verify: bool | str = False if skip_tls_verify else (ca_bundle or True)
    transport = AcmeTransport(
        key,
        verify=verify,
        user_agent=user_agent,
        timeout_seconds=timeout_seconds,
        max_concurrency=max_concurrency,
        bad_nonce_attempts=bad_nonce_attempts,
        observer=observer,
        may_write=may_write,
    )
    try:
        reply = await transport.get_directory(directory_url)
        directory = reply.body
        if not isinstance(directory, Mapping) or not all(
            isinstance(directory.get(name), str) for name in ("newNonce", "newAccount", "newOrder")
        ):
            raise malformed("directory")
    except BaseException:
        await transport.close()
        raise
    transport.new_nonce_url = directory["newNonce"]
    return AcmeSession(transport, key=key, directory=directory, account_uri=account_uri)


class AcmeSession:
    """A connected account. Safe for many concurrent coroutines; ``close()`` when done."""

    def __init__(
        self,
        transport: AcmeTransport,
        *,
        key: AcmeAccountKey,
        directory: Mapping[str, Any],
        account_uri: str | None,
    ) -> None:
        self._transport = transport
        self._key = key
        self._directory = directory
        self.account_uri = account_uri

    async def close(self) -> None:
        await self._transport.close()

    def directory_meta(self) -> DirectoryMeta:
        return parse_directory_meta(self._directory)

    def renewal_info_url(self) -> str | None:
        """The directory's ``renewalInfo`` (RFC 9773), None when the CA offers no ARI."""
        url = self._directory.get("renewalInfo")
        return url if isinstance(url, str) and url else None

    async def renewal_info(self, cert_id: str) -> RenewalInfo:
        """GET the CA's renewal window for ``cert_id`` (unauthenticated, RFC 9773 4.2).

        Raises ``AcmeError`` (malformed for bad JSON or a window ending before it
        starts), ``AcmeUnreachable`` for timeouts; ``LookupError`` without ARI."""
        base = self.renewal_info_url()
        if base is None:
            raise LookupError("the ACME directory has no renewalInfo")
        reply = await self._transport.get(
            f"{base.rstrip('/')}/{cert_id}", action="get_renewal_info"
        )
        info = parse_renewal_info(reply.body)
        seconds = retry_after_seconds(reply.headers)
        return info if seconds is None else dataclasses.replace(info, retry_after=seconds)

    def key_authorization(self, token: str) -> str:
        return self._key.key_authorization(token)

    def dns01_txt_value(self, token: str) -> str:
        return self._key.dns01_txt_value(token)

    # -- account -----------------------------------------------------------------

    async def register(
        self,
        *,
        email: str | None = None,
        eab: ExternalAccountBinding | None = None,
        only_return_existing: bool = False,
    ) -> Account:
        """Create the account, or find the existing one for this key (same call).

        Remembers the account URL for later steps. ``only_return_existing`` never
        creates one: an unknown key raises ``AcmeAccountDoesNotExist``.
        """
        body: dict[str, Any] = {"termsOfServiceAgreed": True}
        if email:
            body["contact"] = [f"mailto:{email}"]
        if only_return_existing:
            body["onlyReturnExisting"] = True
        if eab is not None:
            # Here only: acme.messages (and the challenge types it loads) serves no other step.
            from acme import messages

            body["externalAccountBinding"] = messages.ExternalAccountBinding.from_data(
                account_public_key=self._key.jwk.public_key(),
                kid=eab.key_id,
                hmac_key=eab.hmac_key,
                directory=messages.Directory(dict(self._directory)),
                hmac_alg=eab.algorithm,
            )
        reply = await self._transport.post(
            self._directory["newAccount"], body, account_uri=None, action="register_account"
        )
        if reply.location is None:
            raise malformed("newAccount reply without Location", status=reply.status)
        self.account_uri = reply.location
        return parse_account(reply.body, uri=reply.location)

    async def update_contact(self, email: str | None) -> Account:
        """Replace the account's contact list with ``email`` (or clear it)."""
        uri = self._require_account()
        contact = [f"mailto:{email}"] if email else []
        reply = await self._transport.post(
            uri, {"contact": contact}, account_uri=uri, action="update_account"
        )
        return parse_account(reply.body, uri=uri)

    # -- orders ------------------------------------------------------------------

    async def new_order(
        self,
        identifiers: Sequence[Identifier],
        *,
        profile: str | None = None,
        not_before: datetime.datetime | None = None,
        not_after: datetime.datetime | None = None,
        replaces: str | None = None,
    ) -> Order:
        """Create an order. ``profile`` and the validity bounds are requests the CA may
        ignore (Pebble 2.4 drops a profile silently): read them back from the order.
        ``replaces`` is the ARI CertID of the certificate this order renews (RFC 9773
        section 5); a CA may refuse it (``alreadyReplaced``), see ``replaces_refused``."""
        body: dict[str, Any] = {
            "identifiers": [{"type": i.type, "value": i.value} for i in identifiers]
        }
        if profile:
            body["profile"] = profile
        if not_before is not None:
            body["notBefore"] = _rfc3339(not_before)
        if not_after is not None:
            body["notAfter"] = _rfc3339(not_after)
        if replaces:
            body["replaces"] = replaces
        reply = await self._signed(self._directory["newOrder"], body, action="authorize_order")
        if reply.location is None:
            raise malformed("newOrder reply without Location", status=reply.status)
        return _with_retry_after(parse_order(reply.body, url=reply.location), reply)

    async def account_orders(self, *, max_pages: int = ORDER_LIST_PAGES) -> tuple[str, ...]:
        """The URLs of the account's orders (RFC 8555 7.1.2.1: the CA lists at least the
        pending ones), following ``Link: rel="next"`` to the last page (at most
        ``max_pages``, a guard against a list that never ends); empty when the CA offers
        no ``orders`` list (Let's Encrypt's Boulder). The newest orders, the ones a
        crashed process may have left unrecorded, are on the last pages."""
        uri = self._require_account()
        reply = await self._signed(uri, None, action="get_account")
        body = reply.body
        url = body.get("orders") if isinstance(body, Mapping) else None
        if not isinstance(url, str) or not url:
            return ()
        urls: list[str] = []
        seen_pages = {url}
        for _ in range(max_pages):
            page = await self._signed(url, None, action="list_orders")
            listed = page.body.get("orders") if isinstance(page.body, Mapping) else None
            if not isinstance(listed, list) or not all(isinstance(u, str) for u in listed):
                raise malformed("account orders list", status=page.status)
            urls.extend(listed)
            following = [link for link in page.links_to("next") if link not in seen_pages]
            if not following:
                break
            url = following[0]
            seen_pages.add(url)
        else:
            log.warning("acme_account_orders_truncated", pages=max_pages, listed=len(urls))
        return tuple(dict.fromkeys(urls))

    async def get_order(self, url: str) -> Order:
        reply = await self._signed(url, None, action="get_order")
        return _with_retry_after(parse_order(reply.body, url=url), reply)

    async def get_authorization(self, url: str) -> Authorization:
        reply = await self._signed(url, None, action="get_authorization")
        return _with_retry_after(parse_authorization(reply.body, url=url), reply)

    async def get_challenge(self, url: str) -> Challenge:
        reply = await self._signed(url, None, action="get_challenge")
        return _with_retry_after(parse_challenge(reply.body), reply)

    async def accept_challenge(self, url: str) -> Challenge:
        """Tell the CA the challenge is ready to validate (an empty JSON object).

        Only a ``pending`` challenge can be accepted: Pebble answers 400 ``malformed``
        for one already ``processing`` or ``valid``, so read it with
        :meth:`get_challenge` first when resuming after a restart.
        """
        reply = await self._signed(url, {}, action="accept_challenge")
        return _with_retry_after(parse_challenge(reply.body), reply)

    async def finalize(self, order_url: str, finalize_url: str, csr_pem: bytes) -> Order:
        """Submit the CSR. The order usually comes back ``processing``: poll it.
        An order that is not ``ready`` yet raises ``AcmeError`` code ``orderNotReady``."""
        try:
            csr = x509.load_pem_x509_csr(csr_pem)
        except ValueError as exc:
            raise ValueError("CSR is not a PEM certificate request") from exc
        der = csr.public_bytes(serialization.Encoding.DER)
        reply = await self._signed(finalize_url, {"csr": _b64url(der)}, action="finalize_order")
        return _with_retry_after(parse_order(reply.body, url=order_url), reply)

    async def download_certificate(self, url: str, *, preferred_chain: str | None = None) -> str:
        """The PEM chain (leaf first). With ``preferred_chain``, the first of the
        default and alternate chains whose top certificate's issuer CN matches it, as
        cert-manager chooses; the default chain when none does."""
        reply = await self._signed(url, None, accept=PEM_CHAIN, action="get_cert")
        default = _pem_chain(reply)
        if not preferred_chain:
            return default
        if choose_chain(preferred_chain, [default]) is not None:
            return default
        for alternate_url in reply.links_to("alternate"):
            fetched = await self._signed(alternate_url, None, accept=PEM_CHAIN, action="get_cert")
            alternate = _pem_chain(fetched)
            if choose_chain(preferred_chain, [alternate]) is not None:
                return alternate
        return default

    # -- helpers -----------------------------------------------------------------

    async def _signed(
        self, url: str, body: Mapping[str, Any] | None, *, action: str, accept: str | None = None
    ) -> Reply:
        return await self._transport.post(
            url, body, account_uri=self._require_account(), accept=accept, action=action
        )

    def _require_account(self) -> str:
        if self.account_uri is None:
            # A programming error, not a CA answer: register() first or pass account_uri.
            raise RuntimeError("AcmeSession has no account URL: call register() first")
        return self.account_uri


def _pem_chain(reply: Reply) -> str:
    if "-----BEGIN CERTIFICATE-----" not in reply.text:
        raise malformed("certificate download (not a PEM chain)", status=reply.status)
    return reply.text


_Resource = TypeVar("_Resource", Order, Authorization, Challenge)


def _with_retry_after(resource: _Resource, reply: Reply) -> _Resource:
    seconds = retry_after_seconds(reply.headers)
    return resource if seconds is None else dataclasses.replace(resource, retry_after=seconds)


def _rfc3339(moment: datetime.datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("order validity bounds must be timezone-aware")
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
