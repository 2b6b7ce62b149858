"""The temporary certificate written while an issuance runs (``issue-temporary-certificate``).

Owns `temporary_certificate` (a leaf for the next private key, signed by a throwaway CA
that is generated, used once and forgotten) and `is_temporary_certificate` (how the
policies recognise one in a Secret). As cert-manager's
GenerateLocallySignedTemporaryCertificate: the CA is an EC P-521 key with the subject
``CN=cert-manager.local``; the leaf carries the spec's subject, SANs, usages and isCA,
is valid from `now` for the spec's duration (90 days by default), and has the subject
serialNumber ``1234567890``. Some ingress controllers (ingress-gce) only program an
Ingress whose TLS Secret holds a certificate; this one only has to exist, not be trusted.
Must not: do I/O, read a clock (`now` is an argument), or keep the CA key anywhere.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certmgr.pki.csr import build_sans, build_subject, usage_extensions
from certmgr.pki.errors import PKIError
from certmgr.pki.keys import PrivateKey, public_key_of
from certmgr.pki.requirements import CertificateRequirements

TEMPORARY_ISSUER_COMMON_NAME: Final = "cert-manager.local"
# cert-manager's fixed marker in the leaf's subject (older releases used it as the serial).
TEMPORARY_SUBJECT_SERIAL_NUMBER: Final = "1234567890"
# cert-manager's default spec.duration, which its template (and so the leaf) uses.
DEFAULT_TEMPORARY_DURATION: Final = timedelta(days=90)

_TEMPORARY_ISSUER: Final = x509.Name(
    [x509.NameAttribute(NameOID.COMMON_NAME, TEMPORARY_ISSUER_COMMON_NAME)]
)


def temporary_certificate(
    key: PrivateKey, requirements: CertificateRequirements, *, now: datetime
) -> bytes:
    """A PEM leaf for `key` described by `requirements`, signed by a one-use CA.

    Raises `PKIError` when the requirements cannot be encoded (the same spec problems
    the CSR build reports).
    """
    duration = requirements.duration or DEFAULT_TEMPORARY_DURATION
    not_before = now.replace(microsecond=0)
    not_after = not_before + duration
    ca_key = ec.generate_private_key(ec.SECP521R1())
    marked = dataclasses.replace(
        requirements,
        subject=dataclasses.replace(
            requirements.subject, serial_number=TEMPORARY_SUBJECT_SERIAL_NUMBER
        ),
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(build_subject(marked))
        .issuer_name(_TEMPORARY_ISSUER)
        .public_key(public_key_of(key))
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    sans = build_sans(requirements)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    for extension, critical in usage_extensions(requirements):
        builder = builder.add_extension(extension, critical=critical)
    try:
        leaf = builder.sign(ca_key, hashes.SHA512())  # Go's choice for a P-521 signer
    except ValueError as exc:
        raise PKIError(f"failed to sign temporary certificate: {exc}") from None
    return leaf.public_bytes(serialization.Encoding.PEM)


def is_temporary_certificate(
    certificate: x509.Certificate, *, literal_subject: bool = False
) -> bool:
    """Whether `certificate` is a temporary certificate (ours or cert-manager's: a Secret
    written by either during a migration is recognised): issued by ``cert-manager.local``
    to another subject, and carrying the subject serialNumber marker, which a
    `literal_subject` leaves out (in cert-manager too).

    The issuer name alone is not enough: a user's own CA may be called
    ``cert-manager.local``, and judging its certificates temporary would reissue them
    for ever.
    """
    if certificate.issuer != _TEMPORARY_ISSUER or certificate.subject == _TEMPORARY_ISSUER:
        return False
    if literal_subject:
        return True
    serials = certificate.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    return [a.value for a in serials] == [TEMPORARY_SUBJECT_SERIAL_NUMBER]
