"""A throwaway CA that signs serving certificates for loopback test servers.

Owns the one recipe the test tooling uses for TLS it makes up on the spot: the API
simulator's listener, Pebble's listener (Debian's package ships none) and test
backends. Keys are EC P-256, live in memory, and go only where the caller writes them.
It must not be used for anything but local test servers.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# Clocks of the processes involved may disagree a little; never start "in the future".
_BACKDATE = datetime.timedelta(minutes=5)


def common_name(value: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, value)])


def subject_alt_names(names: Sequence[str]) -> list[x509.GeneralName]:
    """IP literals as IP SANs, everything else as DNS names, duplicates dropped."""
    out: list[x509.GeneralName] = []
    for name in dict.fromkeys(names):
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            out.append(x509.DNSName(name))
    return out


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@dataclass(frozen=True, slots=True)
class ServingPair:
    """A leaf certificate and its key, PEM encoded."""

    certificate_pem: bytes
    key_pem: bytes


@dataclass(frozen=True, slots=True)
class ThrowawayCA:
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    validity: datetime.timedelta

    @classmethod
    def create(
        cls,
        name: str,
        *,
        validity: datetime.timedelta,
        not_before: datetime.datetime | None = None,
    ) -> ThrowawayCA:
        """A fresh CA valid from ``not_before`` (default: a few minutes ago, by the wall
        clock) for ``validity``; a fake clock's time can be given instead."""
        start = not_before or datetime.datetime.now(datetime.UTC) - _BACKDATE
        key = ec.generate_private_key(ec.SECP256R1())
        certificate = (
            x509.CertificateBuilder()
            .subject_name(common_name(name))
            .issuer_name(common_name(name))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + validity)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        return cls(key=key, certificate=certificate, validity=validity)

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def issue(
        self, subject: str, *, names: Sequence[str], client_auth: bool = False
    ) -> ServingPair:
        """A server certificate for ``names`` (DNS names or IP literals), as long-lived as
        the CA; with ``client_auth`` a client certificate instead (``names`` may be empty)."""
        now = datetime.datetime.now(datetime.UTC)
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(common_name(subject))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(now + self.validity)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [
                        ExtendedKeyUsageOID.CLIENT_AUTH
                        if client_auth
                        else ExtendedKeyUsageOID.SERVER_AUTH
                    ]
                ),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), False
            )
        )
        if names:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(subject_alt_names(names)), critical=False
            )
        certificate = builder.sign(self.key, hashes.SHA256())
        return ServingPair(
            certificate_pem=certificate.public_bytes(serialization.Encoding.PEM),
            key_pem=_pem_key(key),
        )
