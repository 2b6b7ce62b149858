"""The ACME objects controllers see: plain frozen dataclasses, addressed by URL.

Owns the domain types of the door (Account, Order, Authorization, Challenge, Problem,
Identifier, ExternalAccountBinding, DirectoryMeta, RenewalInfo) and the status constants.
Controllers keep only URLs and these values across reconciles and restarts, never library
objects, so nothing here refers to the ``acme`` library and nothing here does I/O.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

STATUS_PENDING = "pending"
STATUS_READY = "ready"
STATUS_PROCESSING = "processing"
STATUS_VALID = "valid"
STATUS_INVALID = "invalid"
STATUS_DEACTIVATED = "deactivated"
STATUS_EXPIRED = "expired"
STATUS_REVOKED = "revoked"

# Statuses after which an order, authorization or challenge never changes again.
FINAL_STATUSES = frozenset(
    {STATUS_VALID, STATUS_INVALID, STATUS_DEACTIVATED, STATUS_EXPIRED, STATUS_REVOKED}
)

CHALLENGE_HTTP01 = "http-01"
CHALLENGE_DNS01 = "dns-01"
CHALLENGE_TLSALPN01 = "tls-alpn-01"

_ERROR_PREFIX = "urn:ietf:params:acme:error:"


@dataclass(frozen=True, slots=True)
class Problem:
    """An RFC 7807 problem document as the CA sent it (RFC 8555 section 6.7)."""

    type: str
    detail: str
    status: int | None = None
    identifier: Identifier | None = None
    subproblems: tuple[Problem, ...] = ()

    @property
    def code(self) -> str:
        """``rejectedIdentifier`` for ``urn:ietf:params:acme:error:rejectedIdentifier``."""
        return self.type.removeprefix(_ERROR_PREFIX) if self.type.startswith(_ERROR_PREFIX) else ""


@dataclass(frozen=True, slots=True)
class Identifier:
    """What a certificate names: ``dns`` (a host name, maybe ``*.``) or ``ip``."""

    type: Literal["dns", "ip"] | str
    value: str

    @classmethod
    def dns(cls, name: str) -> Identifier:
        return cls("dns", name)

    @classmethod
    def ip(cls, address: str) -> Identifier:
        # RFC 8738: the textual form, normalised so "::01" and "::1" are one identifier.
        return cls("ip", str(ipaddress.ip_address(address)))


@dataclass(frozen=True, slots=True)
class ExternalAccountBinding:
    """EAB credentials from the CA: the key id and its base64url-encoded HMAC key."""

    key_id: str
    hmac_key: str = field(repr=False)
    algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"


@dataclass(frozen=True, slots=True)
class Account:
    uri: str
    status: str
    contact: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DirectoryMeta:
    terms_of_service: str | None = None
    website: str | None = None
    caa_identities: tuple[str, ...] = ()
    external_account_required: bool = False
    # Profile name -> human description (draft-aaron-acme-profiles); empty if unsupported.
    profiles: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Order:
    url: str
    status: str
    identifiers: tuple[Identifier, ...]
    authorizations: tuple[str, ...]
    finalize_url: str
    certificate_url: str | None = None
    error: Problem | None = None
    expires: datetime.datetime | None = None
    profile: str | None = None
    # Seconds the CA asked us to wait before polling again (Retry-After), if it said.
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class Challenge:
    type: str
    url: str
    token: str
    status: str
    error: Problem | None = None
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class Authorization:
    url: str
    identifier: Identifier
    status: str
    challenges: tuple[Challenge, ...]
    wildcard: bool = False
    expires: datetime.datetime | None = None
    retry_after: float | None = None

    def challenge(self, challenge_type: str) -> Challenge | None:
        """The first offered challenge of ``challenge_type`` (``http-01``), if any."""
        return next((c for c in self.challenges if c.type == challenge_type), None)


@dataclass(frozen=True, slots=True)
class RenewalInfo:
    """The CA's suggested renewal window for one certificate (RFC 9773 section 4.2).

    ``retry_after`` is the CA's ``Retry-After`` in seconds (None: it did not say);
    bounding it is the caller's decision. ``start <= end`` is checked when parsing.
    """

    start: datetime.datetime
    end: datetime.datetime
    explanation_url: str | None = None
    retry_after: float | None = None
