"""A consistent, up-to-date certificate world that policy tests change one thing at a time.

Keys are generated at test time (once per session); nothing secret is stored in the repo.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from certmgr.pki.certificates import encode_pem
from certmgr.pki.csr import build_csr, read_csr
from certmgr.pki.keys import KeySpec, PrivateKey, encode_private_key, generate_private_key
from certmgr.pki.requirements import CertificateRequirements
from certmgr.policies.inputs import Input, IssuerRef, RequestView, SecretView

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
ISSUER = IssuerRef(name="letsencrypt", kind="ClusterIssuer", group="cert-manager.io")
REQUIREMENTS = CertificateRequirements(
    common_name="app.example.com",
    dns_names=("app.example.com", "www.example.com"),
    key_spec=KeySpec("ECDSA"),
)


@dataclass(frozen=True)
class World:
    """Builds Inputs; every argument left out is the healthy, up-to-date value."""

    keys: Callable[[int], PrivateKey]
    ca_key: PrivateKey
    # Requests as a cached issued request holds them: the CSR parsed, no PEM.
    parsed_requests: bool = False

    def certificate(
        self,
        *,
        key: PrivateKey | None = None,
        common_name: str = REQUIREMENTS.common_name,
        dns_names: Sequence[str] = REQUIREMENTS.dns_names,
        not_before: datetime = NOW - timedelta(days=1),
        lifetime: timedelta = timedelta(days=90),
    ) -> bytes:
        subject_key = key or self.keys(0)
        subject = (
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
            if common_name
            else x509.Name([])
        )
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA")]))
            .public_key(subject_key.public_key())
            .serial_number(1000)
            .not_valid_before(not_before)
            .not_valid_after(not_before + lifetime)
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName(d) for d in dns_names]), critical=False
            )
            .sign(self.ca_key, hashes.SHA256())
        )
        return encode_pem([certificate])

    def secret(
        self,
        *,
        key: PrivateKey | None = None,
        certificate: bytes | None = None,
        annotations: dict[str, str] | None = None,
    ) -> SecretView:
        return SecretView(
            data={
                "tls.key": encode_private_key(key or self.keys(0)),
                "tls.crt": certificate if certificate is not None else self.certificate(),
            },
            annotations=annotations
            if annotations is not None
            else {
                "cert-manager.io/issuer-name": ISSUER.name,
                "cert-manager.io/issuer-kind": ISSUER.kind,
                "cert-manager.io/issuer-group": ISSUER.group,
                "cert-manager.io/certificate-name": "app",
            },
        )

    def request(
        self,
        *,
        key: PrivateKey | None = None,
        requirements: CertificateRequirements = REQUIREMENTS,
        **fields: Any,
    ) -> RequestView:
        fields.setdefault("issuer_ref", ISSUER)
        pem = build_csr(key or self.keys(0), requirements)
        if self.parsed_requests:
            return RequestView(csr_pem=b"", parsed_csr=read_csr(pem), **fields)
        return RequestView(csr_pem=pem, **fields)

    def input(self, **changes: Any) -> Input:
        healthy = Input(
            certificate_name="app",
            requirements=REQUIREMENTS,
            issuer_ref=ISSUER,
            secret=self.secret(),
            now=NOW,
            current_request=self.request(),
        )
        return replace(healthy, **changes)


_KEYS: dict[int, PrivateKey] = {}


def _keys(n: int) -> PrivateKey:
    if n not in _KEYS:
        _KEYS[n] = generate_private_key(algorithm="ECDSA")
    return _KEYS[n]


@pytest.fixture(scope="session")
def _ca_key() -> PrivateKey:
    return generate_private_key(algorithm="ECDSA")


@pytest.fixture(scope="session", params=["pem-requests", "parsed-requests"])
def world(request: pytest.FixtureRequest, _ca_key: PrivateKey) -> World:
    """Every policy test runs with the requests' CSR as PEM and as a cached issued request
    keeps it (parsed): the same decisions and messages either way."""
    return World(keys=_keys, ca_key=_ca_key, parsed_requests=request.param == "parsed-requests")
