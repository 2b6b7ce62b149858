"""The data a policy decision is made from, gathered once by a controller.

Owns: `Input` (the spec's requirements, the issuer reference, the target Secret, the
current and next CertificateRequest, the status fields that matter, and `now`), its parts
(`IssuerRef`, `SecretView`, `RequestView`) and the result type `Violation`.
Must not: read anything itself: a controller builds these from its caches; no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Final

from certmgr.api import labels
from certmgr.frozen import quick_init
from certmgr.pki.csr import ParsedCSR, parse_csr
from certmgr.pki.requirements import CertificateRequirements
from certmgr.pki.summary import EMPTY as EMPTY_SUMMARY
from certmgr.pki.summary import LeafSummary, SecretSummary, summarise
from certmgr.policies.renewal_windows import RenewalWindow

DEFAULT_ISSUER_KIND: Final = "Issuer"
DEFAULT_ISSUER_GROUP: Final = "cert-manager.io"
TLS_CERT_KEY: Final = "tls.crt"
TLS_PRIVATE_KEY_KEY: Final = "tls.key"
TLS_SECRET_TYPE: Final = "kubernetes.io/tls"
ISSUER_NAME_ANNOTATION: Final = labels.ISSUER_NAME
ISSUER_KIND_ANNOTATION: Final = labels.ISSUER_KIND
ISSUER_GROUP_ANNOTATION: Final = labels.ISSUER_GROUP
CERTIFICATE_NAME_ANNOTATION: Final = labels.CERTIFICATE_NAME

_EMPTY: Final[Mapping[str, str]] = MappingProxyType({})


@quick_init
@dataclass(frozen=True, slots=True)
class IssuerRef:
    """An issuerRef; empty kind/group mean cert-manager's defaults (Issuer, cert-manager.io)."""

    name: str
    kind: str = ""
    group: str = ""

    def normalised(self) -> tuple[str, str, str]:
        """(name, kind, group) with the defaults filled in, for comparisons."""
        return (self.name, self.kind or DEFAULT_ISSUER_KIND, self.group or DEFAULT_ISSUER_GROUP)

    def describe(self) -> str:
        """cert-manager's spelling in messages: `Kind.group/name`."""
        name, kind, group = self.normalised()
        return f"{kind}.{group}/{name}"


@quick_init
@dataclass(frozen=True, slots=True)
class SecretView:
    """The parts of the target Secret the policies read; `data=None` is a Secret without data.

    `summary` is what the checks read of `tls.crt` and `tls.key` (parsed once, by whoever
    holds the Secret), `has_data` whether it has any data and `filled` which of `tls.crt`
    and `tls.key` decode to something; each left out is computed here from `data`, which
    a Secret cached without its PEM does not give (`data=None` then, and all three are).
    """

    data: Mapping[str, bytes] | None
    labels: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    annotations: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    type: str = TLS_SECRET_TYPE
    summary: SecretSummary | None = None
    has_data: bool | None = None
    filled: frozenset[str] | None = None

    def __post_init__(self) -> None:
        data = self.data or {}
        if self.summary is None:
            found = summarise(data.get(TLS_CERT_KEY, b""), data.get(TLS_PRIVATE_KEY_KEY, b""))
            object.__setattr__(self, "summary", found)
        if self.has_data is None:
            object.__setattr__(self, "has_data", bool(data))
        if self.filled is None:
            keys = frozenset(k for k in (TLS_CERT_KEY, TLS_PRIVATE_KEY_KEY) if data.get(k))
            object.__setattr__(self, "filled", keys)

    @property
    def issued(self) -> SecretSummary:
        """What the checks read of `tls.crt` and `tls.key` (nothing, without data)."""
        return (self.summary if self.has_data else None) or EMPTY_SUMMARY


@quick_init
@dataclass(frozen=True, slots=True)
class RequestView:
    """The spec of a CertificateRequest (the CSR plus the fields copied from the Certificate).

    The CSR is `csr_pem`, or, for a request cached already parsed (an issued one keeps no
    PEM), `parsed_csr` with an empty `csr_pem`: read it with `csr()`.
    """

    csr_pem: bytes
    issuer_ref: IssuerRef
    usages: tuple[str, ...] = ()
    is_ca: bool = False
    duration: timedelta | None = None
    parsed_csr: ParsedCSR | None = None

    def csr(self) -> ParsedCSR:
        """The CSR parsed; raises `PKIError` when `csr_pem` is not one."""
        if self.parsed_csr is not None:
            return self.parsed_csr
        return parse_csr(self.csr_pem)


@quick_init
@dataclass(frozen=True, slots=True)
class Input:
    """Everything one policy evaluation needs; `now` is an argument, never read from a clock.

    `current_request` issued the certificate now in the Secret (None when it was deleted);
    `next_request` is the latest attempt (used by the failure backoff).
    `renewal_jitter_seconds` is the certificate's renewal jitter, derived from its bytes (the
    same on every reconcile; its effect is stored in status.renewalTime).
    `manually_triggered` is a renew request (e.g. `certmgr renew`) not yet acted on.
    `secret_name` is spec.secretName; `secret_owner` is the Certificate that owns it by
    cert-manager's CertificateOwnsSecret rule when that is another one (None: this one).
    `renewal_disabled` is spec.renewal.policy Disabled: never renewed, not even expired;
    `renewal_windows` are spec.renewal.windows, which the renewal time is moved into.
    `recorded_renewal_time` is status.renewalTime as stored (e.g. by cert-manager): kept
    while it lies within the window our jitter allows, so a takeover rewrites nothing.
    `ari_window` is the ACME CA's suggested renewal window (RFC 9773) for the certificate
    in the Secret (status.acme.ari, only when its certID names that certificate).
    """

    certificate_name: str
    requirements: CertificateRequirements
    issuer_ref: IssuerRef
    secret: SecretView | None
    now: datetime
    current_request: RequestView | None = None
    next_request: RequestView | None = None
    renew_before: timedelta | None = None
    renew_before_percentage: int | None = None
    renewal_jitter_seconds: int = 0
    recorded_renewal_time: datetime | None = None
    renewal_disabled: bool = False
    renewal_windows: tuple[RenewalWindow, ...] = ()
    ari_window: tuple[datetime, datetime] | None = None
    manually_triggered: bool = False
    last_failure_time: datetime | None = None
    failed_issuance_attempts: int | None = None
    secret_name: str = ""
    secret_owner: str | None = None
    secret_data: Mapping[str, bytes] = field(init=False, repr=False, compare=False)
    secret_summary: SecretSummary = field(init=False, repr=False, compare=False)
    # ``checks.scheduled_renewal_time`` for a leaf (the Secret's), once asked: it does not
    # depend on ``now``, so a copy at another ``now`` may carry it (``gather.at``).
    renewal_kept: tuple[LeafSummary, datetime | None] | None = field(
        default=None, init=False, repr=False, compare=False
    )
    # The verdicts of the checks that do not read ``now`` (``checks.TIMELESS``), once
    # judged: shared with every copy at another ``now`` (``gather.at``), so the trigger,
    # readiness and issuing controllers judge an unchanged Certificate once between them.
    judged: dict[object, Violation | None] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        # One place that turns "no Secret" and "Secret without data" into an empty mapping
        # (and an empty summary), so the checks after the existence checks can read keys
        # without None-guards.
        data = self.secret.data if self.secret is not None and self.secret.data else {}
        object.__setattr__(self, "secret_data", data)
        summary = self.secret.issued if self.secret is not None else EMPTY_SUMMARY
        object.__setattr__(self, "secret_summary", summary)


@quick_init
@dataclass(frozen=True, slots=True)
class Violation:
    """Why a policy failed: a condition reason (see `reasons`) and a stable message."""

    reason: str
    message: str
