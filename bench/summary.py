"""Secret summary benchmark: microseconds per ``summarise`` call (printed figures).

``summarise`` runs once per managed Secret as the informer caches it (``pki/summary.py``),
so a start at N issued Certificates pays it N times. Each case summarises ``--pairs``
distinct (``tls.crt``, ``tls.key``) pairs, each key its own, ``--rounds`` times over, and
prints the median and the 10th/90th percentiles of the single calls (CPU time of the
thread):

- ``seeded-ecdsa``: the leaf bench/scale.py seeds (``IssuedSeeder``: empty subject, one
  critical SAN), ECDSA P-256 key in PKCS#1 (SEC1), cert-manager's default encoding;
- ``acme-ecdsa``, ``acme-ecdsa-pkcs8``, ``acme-rsa``: a leaf shaped like an ACME CA's
  (subject CN, key usage, extended key usage, basic constraints, AKI, AIA, SAN), with an
  ECDSA P-256 key in PKCS#1 or PKCS#8, or an RSA 2048 key in PKCS#1;
- ``acme-ecdsa-chain``: ``acme-ecdsa`` with the intermediate after the leaf in
  ``tls.crt``, as an ACME CA returns it (the same intermediate in every Secret).

Compare two checkouts back to back on the same machine with ``PYTHONPATH=DIR`` (DIR's
``certmgr`` is imported instead of this worktree's). Run: ``.venv/bin/python
bench/summary.py [--pairs 100] [--rounds 5] [--cases acme-ecdsa,acme-rsa]``. Not
imported by tests.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

import certmgr
from certmgr.pki.keys import KeyAlgorithm, KeyEncoding, encode_private_key, generate_private_key
from certmgr.pki.summary import summarise

NOW = datetime.now(UTC).replace(microsecond=0)
CA_KEY = ec.generate_private_key(ec.SECP256R1())
CA_NAME = x509.Name(
    [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Bench ACME CA"),
        x509.NameAttribute(NameOID.COMMON_NAME, "Bench Intermediate E1"),
    ]
)
SEEDED_CA_NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "seeded root")])


def seeded_leaf(key: ec.EllipticCurvePrivateKey, name: str) -> x509.Certificate:
    """``IssuedSeeder._leaf``'s shape."""
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(SEEDED_CA_NAME)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=89))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=True)
        .sign(CA_KEY, hashes.SHA256())
    )


def acme_leaf(key: ec.EllipticCurvePrivateKey, name: str) -> x509.Certificate:
    """A leaf with the extensions an ACME CA's carry."""
    rsa = not isinstance(key, ec.EllipticCurvePrivateKey)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(CA_NAME)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=89))
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=rsa,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(CA_KEY.public_key()),
            critical=False,
        )
        .add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.CA_ISSUERS,
                        x509.UniformResourceIdentifier("http://ca.example.test/e1.der"),
                    )
                ]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(CA_KEY, hashes.SHA256())
    )


ROOT_KEY = ec.generate_private_key(ec.SECP384R1())
ROOT_NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Bench Root X2")])
# The intermediate that issued acme_leaf's leaves, as an ACME CA appends it to tls.crt.
INTERMEDIATE = (
    x509.CertificateBuilder()
    .subject_name(CA_NAME)
    .issuer_name(ROOT_NAME)
    .public_key(CA_KEY.public_key())
    .serial_number(x509.random_serial_number())
    .not_valid_before(NOW - timedelta(days=30))
    .not_valid_after(NOW + timedelta(days=900))
    .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
    .add_extension(x509.SubjectKeyIdentifier.from_public_key(CA_KEY.public_key()), critical=False)
    .add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(ROOT_KEY.public_key()), critical=False
    )
    .sign(ROOT_KEY, hashes.SHA384())
    .public_bytes(serialization.Encoding.PEM)
)

# (leaf maker, key algorithm, size, encoding, whether tls.crt holds the intermediate)
Case = tuple[Callable[..., x509.Certificate], KeyAlgorithm, int, KeyEncoding, bool]
CASES: dict[str, Case] = {
    "seeded-ecdsa": (seeded_leaf, "ECDSA", 256, "PKCS1", False),
    "acme-ecdsa": (acme_leaf, "ECDSA", 256, "PKCS1", False),
    "acme-ecdsa-chain": (acme_leaf, "ECDSA", 256, "PKCS1", True),
    "acme-ecdsa-pkcs8": (acme_leaf, "ECDSA", 256, "PKCS8", False),
    "acme-rsa": (acme_leaf, "RSA", 2048, "PKCS1", False),
}


def pairs(case: Case, count: int) -> list[tuple[bytes, bytes]]:
    make_leaf, algorithm, size, encoding, chained = case
    made = []
    for n in range(count):
        key = generate_private_key(algorithm=algorithm, size=size)
        leaf = make_leaf(key, f"app-{n}.example.com")
        made.append(
            (
                leaf.public_bytes(serialization.Encoding.PEM) + (INTERMEDIATE if chained else b""),
                encode_private_key(key, encoding=encoding),
            )
        )
    return made


def timed(made: list[tuple[bytes, bytes]], rounds: int) -> list[float]:
    """Microseconds of each call."""
    clock = time.thread_time_ns  # CPU time: waits for a core on a loaded machine are left out
    spent = []
    gc.collect()
    gc.disable()  # a collection inside one call would be charged to it
    for _ in range(rounds):
        for certificate_pem, key_pem in made:
            started = clock()
            summarise(certificate_pem, key_pem)
            spent.append((clock() - started) / 1000)
    gc.enable()
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cases", default=",".join(CASES))
    args = parser.parse_args()
    print(f"certmgr from {os.path.dirname(os.path.dirname(certmgr.__file__))}")
    for name in args.cases.split(","):
        made = pairs(CASES[name], args.pairs)
        timed(made, 1)  # warm
        spent = timed(made, args.rounds)
        deciles = statistics.quantiles(spent, n=10)
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print(
            f"{name:18} median {statistics.median(spent):6.1f} us"
            f"  p10 {deciles[0]:6.1f}  p90 {deciles[-1]:6.1f}"
            f"  ({len(spent)} calls; load {load})"
        )


if __name__ == "__main__":
    main()
