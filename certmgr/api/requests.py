"""The CertificateRequest resource (``cert-manager.io/v1``): a one-shot CSR for an issuer.

Owns the typed spec (the PEM CSR as bytes, issuer, requested duration, usages, isCA,
requester identity) and status (PEM chain, CA, conditions, failure time). It must not
parse the CSR (that is ``pki/``) or decide approval.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import ClassVar

from certmgr.api.codec import JsonObject
from certmgr.api.conditions import APPROVED, DENIED, READY, Condition, find_condition
from certmgr.api.meta import IssuerRef


@dataclass(frozen=True, slots=True)
class CertificateRequestSpec(JsonObject):
    json_names: ClassVar[Mapping[str, str]] = {"is_ca": "isCA"}

    request: bytes
    issuer_ref: IssuerRef
    duration: timedelta | None = None
    usages: tuple[str, ...] = ()
    is_ca: bool = False
    username: str = ""
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CertificateRequestStatus(JsonObject):
    conditions: tuple[Condition, ...] = ()
    certificate: bytes = b""
    ca: bytes = b""
    failure_time: datetime | None = None

    def condition(self, type_: str) -> Condition | None:
        return find_condition(self.conditions, type_)

    @property
    def is_approved(self) -> bool:
        approved = self.condition(APPROVED)
        return approved is not None and approved.is_true

    @property
    def is_denied(self) -> bool:
        denied = self.condition(DENIED)
        return denied is not None and denied.is_true

    @property
    def is_ready(self) -> bool:
        ready = self.condition(READY)
        return ready is not None and ready.is_true
