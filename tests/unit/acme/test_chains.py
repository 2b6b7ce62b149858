"""cert-manager's preferredChain rule: match the issuer CN of the chain's top certificate."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certmgr.acme import choose_chain, top_issuer_common_name

_NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(subject: str, issuer: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(_NOW)
        .not_valid_after(_NOW + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


LEAF = _certificate("www.example.com", "Intermediate")
# Same leaf and intermediate name, cross-signed by two different roots.
VIA_ROOT_A = LEAF + _certificate("Intermediate", "Root A")
VIA_ROOT_B = LEAF + _certificate("Intermediate", "Root B")
# A chain that includes a self-signed root: its top certificate's issuer is itself.
WITH_ROOT_C = LEAF + _certificate("Intermediate", "Root C") + _certificate("Root C", "Root C")


@pytest.mark.parametrize(
    ("preferred", "expected"),
    [
        pytest.param("Root A", VIA_ROOT_A, id="first-chain"),
        pytest.param("Root B", VIA_ROOT_B, id="alternate"),
        pytest.param("Root C", WITH_ROOT_C, id="self-signed-top"),
        pytest.param("Intermediate", None, id="intermediate-is-not-top"),
        pytest.param("root a", None, id="case-sensitive"),
        pytest.param("Nowhere", None, id="no-match"),
    ],
)
def test_choose_chain(preferred: str, expected: str | None) -> None:
    assert choose_chain(preferred, [VIA_ROOT_A, VIA_ROOT_B, WITH_ROOT_C]) == expected


@pytest.mark.parametrize(
    ("chain", "expected"),
    [
        pytest.param(LEAF, "Intermediate", id="leaf-only"),
        pytest.param(VIA_ROOT_B, "Root B", id="two-certificates"),
        pytest.param("", None, id="empty"),
        pytest.param("not pem", None, id="garbage"),
    ],
)
def test_top_issuer_common_name(chain: str, expected: str | None) -> None:
    assert top_issuer_common_name(chain) == expected
