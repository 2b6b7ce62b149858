"""The ACME seam controllers depend on: an async client with one method per step.

Owns the :class:`AcmeClient` and :class:`AcmeConnector` protocols, so controllers can be
tested against a fake CA and :class:`~certmgr.acme.session.AcmeSession` stays
replaceable. Everything crossing it is a URL, bytes, or a frozen dataclass from
:mod:`certmgr.acme.resources`. It must not import the ``acme`` library.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Protocol

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


class AcmeClient(Protocol):
    """One account at one CA. Each coroutine is one exchange with the CA; none polls."""

    account_uri: str | None

    async def close(self) -> None: ...

    def directory_meta(self) -> DirectoryMeta: ...

    def renewal_info_url(self) -> str | None: ...

    async def renewal_info(self, cert_id: str) -> RenewalInfo: ...

    def key_authorization(self, token: str) -> str: ...

    def dns01_txt_value(self, token: str) -> str: ...

    async def register(
        self,
        *,
        email: str | None = None,
        eab: ExternalAccountBinding | None = None,
        only_return_existing: bool = False,
    ) -> Account: ...

    async def update_contact(self, email: str | None) -> Account: ...

    async def new_order(
        self,
        identifiers: Sequence[Identifier],
        *,
        profile: str | None = None,
        not_before: datetime.datetime | None = None,
        not_after: datetime.datetime | None = None,
        replaces: str | None = None,
    ) -> Order: ...

    async def account_orders(self) -> tuple[str, ...]: ...

    async def get_order(self, url: str) -> Order: ...

    async def get_authorization(self, url: str) -> Authorization: ...

    async def get_challenge(self, url: str) -> Challenge: ...

    async def accept_challenge(self, url: str) -> Challenge: ...

    async def finalize(self, order_url: str, finalize_url: str, csr_pem: bytes) -> Order: ...

    async def download_certificate(
        self, url: str, *, preferred_chain: str | None = None
    ) -> str: ...


class AcmeConnector(Protocol):
    """How the composition root hands controllers a way to reach a CA (``connect``)."""

    async def __call__(
        self,
        directory_url: str,
        *,
        account_key_pem: bytes,
        account_uri: str | None = None,
        ca_bundle: str | None = None,
        skip_tls_verify: bool = False,
        user_agent: str = ...,
    ) -> AcmeClient: ...
