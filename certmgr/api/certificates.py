"""The Certificate resource (``cert-manager.io/v1``): spec and status as typed data.

Owns the Certificate's fields and the defaults cert-manager documents for them
(RSA-2048, PKCS1, rotation Always, usages digital signature + key encipherment,
90 days, one revision kept), exposed as ``effective_*`` properties so every caller
agrees; the fields themselves keep what the user wrote, so JSON round-trips
unchanged. It must not decide anything about issuance (that is ``policies/``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar

from certmgr.api.codec import JsonObject
from certmgr.api.conditions import Condition, find_condition
from certmgr.api.meta import IssuerRef, SecretKeySelector

DEFAULT_DURATION = timedelta(days=90)
MINIMUM_DURATION = timedelta(hours=1)
MINIMUM_RENEW_BEFORE = timedelta(minutes=5)
DEFAULT_USAGES = ("digital signature", "key encipherment")
DEFAULT_REVISION_HISTORY_LIMIT = 1


class KeyAlgorithm(StrEnum):
    RSA = "RSA"
    ECDSA = "ECDSA"
    ED25519 = "Ed25519"


class KeyEncoding(StrEnum):
    PKCS1 = "PKCS1"
    PKCS8 = "PKCS8"


class RotationPolicy(StrEnum):
    NEVER = "Never"
    ALWAYS = "Always"


class OutputFormat(StrEnum):
    DER = "DER"
    COMBINED_PEM = "CombinedPEM"


class RenewalPolicy(StrEnum):
    RENEW_BEFORE = "RenewBefore"
    DISABLED = "Disabled"


_DEFAULT_KEY_SIZE = {KeyAlgorithm.RSA: 2048, KeyAlgorithm.ECDSA: 256, KeyAlgorithm.ED25519: 0}


@dataclass(frozen=True, slots=True)
class PrivateKeySpec(JsonObject):
    """``privateKey`` as written; the ``effective_*`` properties apply cert-manager's defaults."""

    shared: ClassVar[bool] = True

    algorithm: KeyAlgorithm | None = None
    encoding: KeyEncoding | None = None
    size: int = 0
    rotation_policy: RotationPolicy | None = None

    @property
    def effective_algorithm(self) -> KeyAlgorithm:
        return self.algorithm or KeyAlgorithm.RSA

    @property
    def effective_encoding(self) -> KeyEncoding:
        return self.encoding or KeyEncoding.PKCS1

    @property
    def effective_rotation_policy(self) -> RotationPolicy:
        """Always since cert-manager 1.18 (it was Never before)."""
        return self.rotation_policy or RotationPolicy.ALWAYS

    @property
    def effective_size(self) -> int:
        """Key size with the per-algorithm default; 0 for Ed25519, which has no size."""
        if self.effective_algorithm is KeyAlgorithm.ED25519:
            return 0
        return self.size or _DEFAULT_KEY_SIZE[self.effective_algorithm]


@dataclass(frozen=True, slots=True)
class X509Subject(JsonObject):
    organizations: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    organizational_units: tuple[str, ...] = ()
    localities: tuple[str, ...] = ()
    provinces: tuple[str, ...] = ()
    street_addresses: tuple[str, ...] = ()
    postal_codes: tuple[str, ...] = ()
    serial_number: str = ""


@dataclass(frozen=True, slots=True)
class OtherName(JsonObject):
    json_names: ClassVar[Mapping[str, str]] = {"utf8_value": "utf8Value"}

    oid: str = ""
    utf8_value: str = ""


@dataclass(frozen=True, slots=True)
class SecretTemplate(JsonObject):
    annotations: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AdditionalOutputFormat(JsonObject):
    type: OutputFormat


@dataclass(frozen=True, slots=True)
class PKCS12Keystore(JsonObject):
    create: bool = False
    password_secret_ref: SecretKeySelector | None = None
    password: str | None = None
    profile: str = ""


@dataclass(frozen=True, slots=True)
class JKSKeystore(JsonObject):
    create: bool = False
    password_secret_ref: SecretKeySelector | None = None
    password: str | None = None
    alias: str = ""


@dataclass(frozen=True, slots=True)
class CertificateKeystores(JsonObject):
    jks: JKSKeystore | None = None
    pkcs12: PKCS12Keystore | None = None


@dataclass(frozen=True, slots=True)
class CertificateRenewalWindow(JsonObject):
    """A cron schedule (robfig/cron syntax, five fields or a descriptor) in ``timezone``
    (UTC when empty) at which renewal may start, open for ``window_duration``."""

    cron: str
    window_duration: timedelta
    timezone: str = ""


@dataclass(frozen=True, slots=True)
class CertificateRenewal(JsonObject):
    policy: RenewalPolicy | None = None
    windows: tuple[CertificateRenewalWindow, ...] = ()


@dataclass(frozen=True, slots=True)
class CertificateSpec(JsonObject):
    json_names: ClassVar[Mapping[str, str]] = {"is_ca": "isCA"}

    secret_name: str
    issuer_ref: IssuerRef
    common_name: str = ""
    literal_subject: str = ""
    subject: X509Subject | None = None
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()
    uris: tuple[str, ...] = ()
    email_addresses: tuple[str, ...] = ()
    other_names: tuple[OtherName, ...] = ()
    duration: timedelta | None = None
    renew_before: timedelta | None = None
    renew_before_percentage: int | None = None
    usages: tuple[str, ...] = ()
    is_ca: bool = False
    private_key: PrivateKeySpec | None = None
    signature_algorithm: str = ""
    encode_usages_in_request: bool | None = None
    keystores: CertificateKeystores | None = None
    secret_template: SecretTemplate | None = None
    additional_output_formats: tuple[AdditionalOutputFormat, ...] = ()
    revision_history_limit: int | None = None
    # Accepted and kept for round trips; certmgr does not build name constraints yet.
    name_constraints: Mapping[str, Any] | None = None
    renewal: CertificateRenewal | None = None

    @property
    def renewal_disabled(self) -> bool:
        """``renewal.policy: Disabled``: the certificate is issued once, never renewed."""
        return self.renewal is not None and self.renewal.policy is RenewalPolicy.DISABLED

    @property
    def effective_duration(self) -> timedelta:
        return self.duration or DEFAULT_DURATION

    @property
    def effective_private_key(self) -> PrivateKeySpec:
        return self.private_key or PrivateKeySpec()

    @property
    def effective_usages(self) -> tuple[str, ...]:
        return self.usages or DEFAULT_USAGES

    @property
    def effective_encode_usages_in_request(self) -> bool:
        return True if self.encode_usages_in_request is None else self.encode_usages_in_request

    @property
    def effective_revision_history_limit(self) -> int:
        return self.revision_history_limit or DEFAULT_REVISION_HISTORY_LIMIT


@dataclass(frozen=True, slots=True)
class ARISuggestedWindow(JsonObject):
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class ARIStatus(JsonObject):
    """ACME Renewal Information (RFC 9773) for the certificate ``cert_id`` names (the
    one in the Secret when the window was fetched; cert-manager's main branch field)."""

    json_names: ClassVar[Mapping[str, str]] = {
        "explanation_url": "explanationURL",
        "cert_id": "certID",
    }

    cert_id: str = ""
    explanation_url: str = ""
    last_checked: datetime | None = None
    last_error: str = ""
    next_check: datetime | None = None
    suggested_window: ARISuggestedWindow | None = None


@dataclass(frozen=True, slots=True)
class CertificateACMEStatus(JsonObject):
    ari: ARIStatus | None = None


@dataclass(frozen=True, slots=True)
class CertificateStatus(JsonObject):
    conditions: tuple[Condition, ...] = ()
    last_failure_time: datetime | None = None
    not_before: datetime | None = None
    not_after: datetime | None = None
    renewal_time: datetime | None = None
    revision: int | None = None
    next_private_key_secret_name: str = ""
    failed_issuance_attempts: int | None = None
    acme: CertificateACMEStatus | None = None

    def condition(self, type_: str) -> Condition | None:
        return find_condition(self.conditions, type_)
