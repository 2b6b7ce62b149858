"""CertificateRequest side, pure parts: the chain split into certificate and ca."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certmgr.controllers.acme.requests import split_issued_chain


def _cert(
    subject: str,
    issuer: str,
    key: ec.EllipticCurvePrivateKey,
    signer: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
) -> x509.Certificate:
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(signer, hashes.SHA256())
    )


ROOT_KEY, MID_KEY, LEAF_KEY = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
ROOT = _cert("root", "root", ROOT_KEY, ROOT_KEY, ca=True)
MID = _cert("mid", "root", MID_KEY, ROOT_KEY, ca=True)
LEAF = _cert("leaf", "mid", LEAF_KEY, MID_KEY, ca=False)


def pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


@pytest.mark.parametrize(
    ("chain", "certificate", "ca"),
    [
        pytest.param(pem(LEAF, MID), pem(LEAF, MID), b"", id="no-root-as-pebble-sends"),
        pytest.param(pem(LEAF, MID, ROOT), pem(LEAF, MID), pem(ROOT), id="root-included"),
        pytest.param(pem(MID, LEAF), pem(LEAF, MID), b"", id="any-order"),
        pytest.param(b"not pem", b"not pem", b"", id="unparsable-kept-as-is"),
    ],
)
def test_split_issued_chain(chain: bytes, certificate: bytes, ca: bytes) -> None:
    assert split_issued_chain(chain) == (certificate, ca)
