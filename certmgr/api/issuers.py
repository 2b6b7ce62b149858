"""Issuer and ClusterIssuer (``cert-manager.io/v1``): the ACME issuer and its solvers.

Owns the typed form of ``spec.acme`` (account, server trust, external account binding,
solvers with their selectors and HTTP-01 ingress settings) and of the issuer status.
Issuer types certmgr does not implement (ca, selfSigned, vault, venafi) and DNS-01
configuration are kept as raw JSON so a manifest using them still round-trips. It must
not pick a solver (that is a policy) or talk to the ACME server.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, ClassVar

from certmgr.api.codec import JsonObject
from certmgr.api.conditions import Condition, find_condition
from certmgr.api.meta import SecretKeySelector

DEFAULT_ACCOUNT_KEY_ENTRY = "tls.key"


@dataclass(frozen=True, slots=True)
class ACMEExternalAccountBinding(JsonObject):
    json_names: ClassVar[Mapping[str, str]] = {"key_id": "keyID", "key_secret_ref": "keySecretRef"}

    key_id: str
    key_secret_ref: SecretKeySelector
    key_algorithm: str = ""  # deprecated and ignored: the MAC is always HS256


@dataclass(frozen=True, slots=True)
class CertificateDNSNameSelector(JsonObject):
    match_labels: Mapping[str, str] = field(default_factory=dict)
    dns_names: tuple[str, ...] = ()
    dns_zones: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ObjectMetaTemplate(JsonObject):
    """The labels and annotations a solver template may set; nothing else."""

    annotations: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PodTemplate(JsonObject):
    metadata: ObjectMetaTemplate | None = None
    spec: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class IngressTemplate(JsonObject):
    metadata: ObjectMetaTemplate | None = None


@dataclass(frozen=True, slots=True)
class ACMEChallengeSolverHTTP01Ingress(JsonObject):
    json_names: ClassVar[Mapping[str, str]] = {"class_": "class"}

    service_type: str = ""
    ingress_class_name: str | None = None
    class_: str | None = None
    name: str = ""
    pod_template: PodTemplate | None = None
    ingress_template: IngressTemplate | None = None

    @property
    def edits_in_place(self) -> bool:
        """True when the solver path goes into the existing Ingress ``name``."""
        return bool(self.name)

    @property
    def effective_service_type(self) -> str:
        return self.service_type or "NodePort"


@dataclass(frozen=True, slots=True)
class ACMEChallengeSolverHTTP01(JsonObject):
    json_names: ClassVar[Mapping[str, str]] = {"gateway_http_route": "gatewayHTTPRoute"}

    ingress: ACMEChallengeSolverHTTP01Ingress | None = None
    gateway_http_route: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ACMEChallengeSolver(JsonObject):
    selector: CertificateDNSNameSelector | None = None
    http01: ACMEChallengeSolverHTTP01 | None = None
    dns01: Mapping[str, Any] | None = None
    # Set: no self-check; the CA is asked this long after the challenge was presented.
    wait_instead_of_self_check: timedelta | None = None


@dataclass(frozen=True, slots=True)
class ACMEIssuer(JsonObject):
    json_names: ClassVar[Mapping[str, str]] = {
        "skip_tls_verify": "skipTLSVerify",
        "private_key_secret_ref": "privateKeySecretRef",
    }

    server: str
    private_key_secret_ref: SecretKeySelector
    email: str = ""
    skip_tls_verify: bool = False
    ca_bundle: bytes = b""
    external_account_binding: ACMEExternalAccountBinding | None = None
    preferred_chain: str = ""
    disable_account_key_generation: bool = False
    enable_duration_feature: bool = False
    profile: str = ""
    solvers: tuple[ACMEChallengeSolver, ...] = ()
    renewal_information_source: str = ""  # ARI (or unset) or None: ARI off for this issuer

    @property
    def account_key_entry(self) -> str:
        """Key of the account key in its Secret (``tls.key`` unless set)."""
        return self.private_key_secret_ref.key_or(DEFAULT_ACCOUNT_KEY_ENTRY)


@dataclass(frozen=True, slots=True)
class IssuerSpec(JsonObject):
    """Exactly one issuer type is set (the CRD enforces it); certmgr implements ``acme``."""

    acme: ACMEIssuer | None = None
    ca: Mapping[str, Any] | None = None
    self_signed: Mapping[str, Any] | None = None
    vault: Mapping[str, Any] | None = None
    venafi: Mapping[str, Any] | None = None

    @property
    def issuer_type(self) -> str:
        """The configured type's JSON name (``acme``, ``selfSigned``, ...), or ``""``."""
        for name, key in (
            ("acme", "acme"),
            ("ca", "ca"),
            ("self_signed", "selfSigned"),
            ("vault", "vault"),
            ("venafi", "venafi"),
        ):
            if getattr(self, name) is not None:
                return key
        return ""


@dataclass(frozen=True, slots=True)
class ACMEIssuerStatus(JsonObject):
    uri: str = ""
    last_registered_email: str = ""
    last_private_key_hash: str = ""


@dataclass(frozen=True, slots=True)
class IssuerStatus(JsonObject):
    acme: ACMEIssuerStatus | None = None
    conditions: tuple[Condition, ...] = ()

    def condition(self, type_: str) -> Condition | None:
        return find_condition(self.conditions, type_)
