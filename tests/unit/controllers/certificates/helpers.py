"""Small builders for the unit tests: a Certificate dict and a self-signed leaf."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certmgr.controllers.certificates.spec import CertificateView

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def certificate(**spec: Any) -> CertificateView:
    obj = {
        "metadata": {"name": "web", "namespace": "default", "uid": "u-1", "generation": 1},
        "spec": {
            "secretName": "web-tls",
            "issuerRef": {"name": "ca", "kind": "Issuer"},
            "dnsNames": ["web.example.com"],
            **spec,
        },
    }
    return CertificateView.of(obj)


def leaf(
    *,
    common_name: str = "web.example.com",
    dns_names: tuple[str, ...] = ("web.example.com",),
    ips: tuple[str, ...] = (),
    organizations: tuple[str, ...] = (),
    emails: tuple[str, ...] = (),
    lifetime: timedelta = timedelta(days=90),
    key: ec.EllipticCurvePrivateKey | None = None,
) -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    key = key or ec.generate_private_key(ec.SECP256R1())
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    sans += [x509.RFC822Name(e) for e in emails]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(attributes))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ca")]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW)
        .not_valid_after(NOW + lifetime)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM)
