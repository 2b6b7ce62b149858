"""ACME connections per issuer: one connected client per (issuer uid, server, key, trust).

Owns :class:`Accounts`, the only state the ACME controllers keep between reconciles: a
cache of connected :class:`~certmgr.acme.protocol.AcmeClient` objects so an Order does
not fetch the directory again, keyed by the issuer's uid, server, account key hash and
CA trust settings (any change of those opens a new connection). The issuer controller
connects and registers; the order and challenge controllers only ask for the client of
a Ready issuer (:meth:`Accounts.client_for`). When the CA has forgotten the account
(``accountDoesNotExist``, e.g. Pebble restarted) a client re-registers the same key once
and retries the step, then tells listeners (the issuer controller) so status follows.

It must not write to the API or decide conditions; key material never reaches a log or
an exception message.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import structlog

from certmgr.acme.errors import AcmeAccountDoesNotExist
from certmgr.acme.protocol import AcmeClient, AcmeConnector
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
from certmgr.api.conditions import READY, get_condition
from certmgr.api.issuers import ACMEIssuer, IssuerSpec
from certmgr.kube.errors import NotFound
from certmgr.kube.protocol import KubeAPI
from certmgr.kube.resources import SECRETS

log = structlog.get_logger(__name__)
T = TypeVar("T")
Listener = Callable[[str], None]


class IssuerNotReady(Exception):
    """The issuer has no registered account yet (or its key changed since): wait for it."""


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What a connection depends on; a different one means a new connection."""

    uid: str
    server: str
    key_hash: str
    ca_bundle_hash: str
    skip_tls_verify: bool


def key_hash(key_pem: bytes) -> str:
    """``status.acme.lastPrivateKeyHash``: base64 SHA-256 of the key PEM (whitespace-trimmed)."""
    return base64.b64encode(hashlib.sha256(key_pem.strip()).digest()).decode()


def issuer_queue_key(issuer: dict[str, Any]) -> str:
    meta = issuer.get("metadata") or {}
    namespace = meta.get("namespace")
    return f"{namespace}/{meta.get('name', '')}" if namespace else str(meta.get("name", ""))


async def read_secret_entry(client: KubeAPI, namespace: str, name: str, entry: str) -> bytes | None:
    """One data entry of a Secret (decoded), or None when the Secret or the entry is absent."""
    try:
        secret = await client.get(SECRETS, name, namespace=namespace)
    except NotFound:
        return None
    value = (secret.get("data") or {}).get(entry)
    return base64.b64decode(value) if value else None


@dataclass(frozen=True, slots=True)
class _ReadyIssuer:
    """A Ready ACME issuer, as far as ``client_for`` reads it."""

    uid: str
    spec: ACMEIssuer
    account_uri: str
    key_hash: str | None


def _decode_ready_issuer(issuer: dict[str, Any], *, uid: str) -> _ReadyIssuer | None:
    spec = IssuerSpec.from_dict(issuer.get("spec")).acme
    status = issuer.get("status") or {}
    ready = get_condition(status.get("conditions"), READY)
    acme_status = status.get("acme") or {}
    uri, wanted_hash = acme_status.get("uri"), acme_status.get("lastPrivateKeyHash")
    if spec is None or ready is None or not ready.is_true or not uri:
        return None
    return _ReadyIssuer(uid=uid, spec=spec, account_uri=str(uri), key_hash=wanted_hash)


class Accounts:
    """The connection cache shared by the issuer, order and challenge controllers."""

    def __init__(
        self, connector: AcmeConnector, kube: KubeAPI, *, cluster_resource_namespace: str
    ) -> None:
        self._connector = connector
        self._kube = kube
        self._cluster_namespace = cluster_resource_namespace
        self._entries: dict[str, tuple[Fingerprint, _Account]] = {}
        # uid -> (resourceVersion, what client_for read from that version of the issuer)
        self._decoded: dict[str, tuple[str, _ReadyIssuer | None]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._listeners: list[Listener] = []
        self._bundle_dir: Path | None = None
        self._closing: set[asyncio.Task[None]] = set()

    def secret_namespace(self, issuer: dict[str, Any]) -> str:
        """Where an issuer's Secrets live: its namespace, or the cluster resource one."""
        namespace = (issuer.get("metadata") or {}).get("namespace")
        return str(namespace) if namespace else self._cluster_namespace

    def on_reregistered(self, listener: Listener) -> None:
        """Call ``listener(issuer queue key)`` after a client re-registered its account."""
        self._listeners.append(listener)

    async def connect(
        self,
        issuer: dict[str, Any],
        spec: ACMEIssuer,
        *,
        key_pem: bytes,
        eab: ExternalAccountBinding | None,
        account_uri: str | None,
    ) -> AcmeClient:
        """The cached client for this issuer and key, connecting (not registering) if new."""
        uid = str((issuer.get("metadata") or {}).get("uid") or issuer_queue_key(issuer))
        fingerprint = Fingerprint(
            uid=uid,
            server=spec.server,
            key_hash=key_hash(key_pem),
            ca_bundle_hash=hashlib.sha256(spec.ca_bundle).hexdigest()[:16],
            skip_tls_verify=spec.skip_tls_verify,
        )
        async with self._locks.setdefault(uid, asyncio.Lock()):
            cached = self._entries.get(uid)
            if cached is not None and cached[0] == fingerprint:
                account = cached[1]
                account.email, account.eab = spec.email or None, eab
                if account_uri and not account.account_uri:
                    account.account_uri = account_uri
                return account
            inner = await self._connector(
                spec.server,
                account_key_pem=key_pem,
                account_uri=account_uri,
                ca_bundle=self._bundle_path(spec.ca_bundle) if spec.ca_bundle else None,
                skip_tls_verify=spec.skip_tls_verify,
            )
            account = _Account(
                inner,
                issuer_key=issuer_queue_key(issuer),
                email=spec.email or None,
                eab=eab,
                notify=self._notify,
            )
            self._entries[uid] = (fingerprint, account)
            if cached is not None:
                # In-flight steps of the old client fail and are retried with the new one.
                closing = asyncio.get_running_loop().create_task(cached[1].close())
                self._closing.add(closing)
                closing.add_done_callback(self._closing.discard)
            log.info("acme_client_connected", issuer=issuer_queue_key(issuer), server=spec.server)
            return account

    async def client_for(self, issuer: dict[str, Any]) -> AcmeClient:
        """The registered client of a Ready ACME issuer; ``IssuerNotReady`` otherwise."""
        ready = self._ready_issuer(issuer)
        if ready is None:
            raise IssuerNotReady(f"issuer {issuer_queue_key(issuer)} is not ready")
        spec, uri, wanted_hash = ready.spec, ready.account_uri, ready.key_hash
        uid = ready.uid
        cached = self._entries.get(uid)
        if (
            cached is not None
            and cached[0].server == spec.server
            and cached[0].key_hash == wanted_hash
            and cached[1].account_uri
        ):
            return cached[1]
        key_pem = await read_secret_entry(
            self._kube,
            self.secret_namespace(issuer),
            spec.private_key_secret_ref.name,
            spec.account_key_entry,
        )
        if key_pem is None or key_hash(key_pem) != wanted_hash:
            raise IssuerNotReady(f"issuer {issuer_queue_key(issuer)}: account key changed")
        return await self.connect(issuer, spec, key_pem=key_pem, eab=None, account_uri=uri)

    async def close(self) -> None:
        entries, self._entries = list(self._entries.values()), {}
        for _, account in entries:
            await account.close()
        await asyncio.gather(*self._closing, return_exceptions=True)
        if self._bundle_dir is not None:
            shutil.rmtree(self._bundle_dir, ignore_errors=True)
            self._bundle_dir = None

    def _ready_issuer(self, issuer: dict[str, Any]) -> _ReadyIssuer | None:
        """What ``client_for`` needs of an issuer, or None when it is not Ready; decoded
        once per (uid, resourceVersion): every Order and Challenge reconcile asks."""
        meta = issuer.get("metadata") or {}
        uid = str(meta.get("uid") or issuer_queue_key(issuer))
        version = meta.get("resourceVersion")
        cached = self._decoded.get(uid)
        if version and cached is not None and cached[0] == version:
            return cached[1]
        ready = _decode_ready_issuer(issuer, uid=uid)
        if version:
            self._decoded[uid] = (str(version), ready)  # one entry per issuer: the latest
        return ready

    def _notify(self, issuer_key: str) -> None:
        for listener in self._listeners:
            listener(issuer_key)

    def _bundle_path(self, bundle: bytes) -> str:
        # The door takes a file path (requests' verify=); one file per distinct bundle.
        if self._bundle_dir is None:
            self._bundle_dir = Path(tempfile.mkdtemp(prefix="certmgr-ca-bundles-"))
        path = self._bundle_dir / f"{hashlib.sha256(bundle).hexdigest()}.pem"
        if not path.exists():
            path.write_bytes(bundle)
        return str(path)


class _Account:
    """An ``AcmeClient`` that re-registers its key once when the CA forgot the account."""

    def __init__(
        self,
        inner: AcmeClient,
        *,
        issuer_key: str,
        email: str | None,
        eab: ExternalAccountBinding | None,
        notify: Listener,
    ) -> None:
        self._inner = inner
        self._issuer_key = issuer_key
        self.email = email
        self.eab = eab
        self._notify = notify
        self._lock = asyncio.Lock()

    @property
    def account_uri(self) -> str | None:
        return self._inner.account_uri

    @account_uri.setter
    def account_uri(self, value: str | None) -> None:
        self._inner.account_uri = value

    async def close(self) -> None:
        await self._inner.close()

    def directory_meta(self) -> DirectoryMeta:
        return self._inner.directory_meta()

    def renewal_info_url(self) -> str | None:
        return self._inner.renewal_info_url()

    async def renewal_info(self, cert_id: str) -> RenewalInfo:
        return await self._inner.renewal_info(cert_id)

    def key_authorization(self, token: str) -> str:
        return self._inner.key_authorization(token)

    def dns01_txt_value(self, token: str) -> str:
        return self._inner.dns01_txt_value(token)

    async def register(
        self,
        *,
        email: str | None = None,
        eab: ExternalAccountBinding | None = None,
        only_return_existing: bool = False,
    ) -> Account:
        return await self._inner.register(
            email=email, eab=eab, only_return_existing=only_return_existing
        )

    async def update_contact(self, email: str | None) -> Account:
        return await self._retrying(lambda: self._inner.update_contact(email))

    async def new_order(
        self,
        identifiers: Sequence[Identifier],
        *,
        profile: str | None = None,
        not_before: datetime.datetime | None = None,
        not_after: datetime.datetime | None = None,
        replaces: str | None = None,
    ) -> Order:
        return await self._retrying(
            lambda: self._inner.new_order(
                identifiers,
                profile=profile,
                not_before=not_before,
                not_after=not_after,
                replaces=replaces,
            )
        )

    async def account_orders(self) -> tuple[str, ...]:
        return await self._retrying(self._inner.account_orders)

    async def get_order(self, url: str) -> Order:
        return await self._retrying(lambda: self._inner.get_order(url))

    async def get_authorization(self, url: str) -> Authorization:
        return await self._retrying(lambda: self._inner.get_authorization(url))

    async def get_challenge(self, url: str) -> Challenge:
        return await self._retrying(lambda: self._inner.get_challenge(url))

    async def accept_challenge(self, url: str) -> Challenge:
        return await self._retrying(lambda: self._inner.accept_challenge(url))

    async def finalize(self, order_url: str, finalize_url: str, csr_pem: bytes) -> Order:
        return await self._retrying(lambda: self._inner.finalize(order_url, finalize_url, csr_pem))

    async def download_certificate(self, url: str, *, preferred_chain: str | None = None) -> str:
        return await self._retrying(
            lambda: self._inner.download_certificate(url, preferred_chain=preferred_chain)
        )

    async def _retrying(self, step: Callable[[], Awaitable[T]]) -> T:
        failed_uri = self._inner.account_uri
        try:
            return await step()
        except AcmeAccountDoesNotExist:
            async with self._lock:
                # Another coroutine may have re-registered while we waited for the lock.
                if self._inner.account_uri == failed_uri:
                    log.warning("acme_account_reregistering", issuer=self._issuer_key)
                    await self._inner.register(email=self.email, eab=self.eab)
                    self._notify(self._issuer_key)
            return await step()
