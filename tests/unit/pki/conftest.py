"""Fixtures for the PKI unit tests: keys generated once per session, a tiny CA that issues.

Every key here is generated at test time; none is stored in the repository.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from certmgr.pki.keys import KeyAlgorithm, PrivateKey, generate_private_key

KeyFactory = Callable[..., PrivateKey]
Issue = Callable[..., x509.Certificate]

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="session")
def key() -> Iterator[KeyFactory]:
    """`key("RSA", 2048, n=0)`: the n-th cached key of that kind (RSA is slow to generate)."""
    cache: dict[tuple[str, int | None, int], PrivateKey] = {}

    def get(algorithm: KeyAlgorithm = "ECDSA", size: int | None = None, n: int = 0) -> PrivateKey:
        if (algorithm, size, n) not in cache:
            cache[(algorithm, size, n)] = generate_private_key(algorithm=algorithm, size=size)
        return cache[(algorithm, size, n)]

    yield get


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_certificate(
    *,
    subject_key: PrivateKey,
    issuer_key: PrivateKey,
    subject: str,
    issuer: str,
    not_before: datetime = NOW,
    not_after: datetime = NOW + timedelta(days=90),
    dns_names: Sequence[str] = (),
    is_ca: bool = False,
    extensions: Sequence[tuple[x509.ExtensionType, bool]] = (),
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject) if subject else x509.Name([]))
        .issuer_name(_name(issuer))
        .public_key(subject_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
    )
    if dns_names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(d) for d in dns_names]), critical=False
        )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="session")
def chain(key: KeyFactory) -> tuple[x509.Certificate, x509.Certificate, x509.Certificate]:
    """(leaf, intermediate, root), issued by a throwaway ECDSA hierarchy."""
    root_key, intermediate_key, leaf_key = key("ECDSA", 256, 10), key("ECDSA", 256, 11), key()
    root = make_certificate(
        subject_key=root_key, issuer_key=root_key, subject="Root", issuer="Root", is_ca=True
    )
    intermediate = make_certificate(
        subject_key=intermediate_key,
        issuer_key=root_key,
        subject="Intermediate",
        issuer="Root",
        is_ca=True,
    )
    leaf = make_certificate(
        subject_key=leaf_key,
        issuer_key=intermediate_key,
        subject="leaf.example.com",
        issuer="Intermediate",
        dns_names=("leaf.example.com", "www.example.com"),
    )
    return leaf, intermediate, root


@pytest.fixture(scope="session")
def make_cert() -> Issue:
    """`make_certificate` as a fixture (test modules cannot import conftest by name)."""
    return make_certificate
