"""Order and Challenge (``acme.cert-manager.io/v1``): ACME protocol state as resources.

Owns the typed spec and status of both kinds and the ACME state names, including
which states are final. It must not speak ACME (that is ``certmgr.acme``) nor decide
what to do next.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import ClassVar

from certmgr.api.codec import JsonObject
from certmgr.api.issuers import ACMEChallengeSolver
from certmgr.api.meta import IssuerRef


class State(StrEnum):
    """ACME resource states as cert-manager records them in status.state."""

    VALID = "valid"
    READY = "ready"
    PENDING = "pending"
    PROCESSING = "processing"
    INVALID = "invalid"
    EXPIRED = "expired"
    ERRORED = "errored"

    @property
    def is_final(self) -> bool:
        return self in _FINAL


_FINAL = frozenset({State.VALID, State.INVALID, State.EXPIRED, State.ERRORED})


class ChallengeType(StrEnum):
    HTTP01 = "HTTP-01"
    DNS01 = "DNS-01"


@dataclass(frozen=True, slots=True)
class OrderSpec(JsonObject):
    request: bytes  # DER-encoded CSR
    issuer_ref: IssuerRef
    common_name: str = ""
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()
    duration: timedelta | None = None
    profile: str = ""
    replaces: str = ""  # ARI CertID of the certificate replaced (sent as new-order replaces)


@dataclass(frozen=True, slots=True)
class ACMEChallenge(JsonObject):
    """A challenge the server offers; ``type`` is the raw ACME name, e.g. ``http-01``."""

    url: str
    token: str
    type: str


@dataclass(frozen=True, slots=True)
class ACMEAuthorization(JsonObject):
    url: str
    identifier: str = ""
    wildcard: bool | None = None
    initial_state: State | None = None
    challenges: tuple[ACMEChallenge, ...] = ()


@dataclass(frozen=True, slots=True)
class OrderStatus(JsonObject):
    json_names: ClassVar[Mapping[str, str]] = {"finalize_url": "finalizeURL"}

    url: str = ""
    finalize_url: str = ""
    certificate: bytes = b""
    state: State | None = None
    reason: str = ""
    authorizations: tuple[ACMEAuthorization, ...] = ()
    failure_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class ChallengeSpec(JsonObject):
    json_names: ClassVar[Mapping[str, str]] = {"authorization_url": "authorizationURL"}

    url: str
    authorization_url: str
    dns_name: str
    type: ChallengeType
    token: str
    key: str
    solver: ACMEChallengeSolver
    issuer_ref: IssuerRef
    wildcard: bool = False


@dataclass(frozen=True, slots=True)
class ChallengeStatus(JsonObject):
    processing: bool = False
    presented: bool = False
    presented_at: datetime | None = None
    reason: str = ""
    state: State | None = None
