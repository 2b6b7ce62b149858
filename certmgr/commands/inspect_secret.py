"""``certmgr inspect secret NAME``: a TLS Secret's certificate, as cmctl inspect secret prints it.

Owns the report: cmctl's sections (Valid for, Validity period, Issued By, Issued For,
Certificate, Debugging) with its spellings, plus what cmctl does not say: the chain in
``tls.crt``, whether ``tls.key`` matches, whether the chain verifies against ``ca.crt``.
It must not do I/O: no Kubernetes, no trust store files, no CRL or OCSP fetches (those
lines say "not checked"); ``inspect_command.py`` reads and prints.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID, SignatureAlgorithmOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from certmgr.pki.usages import usage_names

_E = TypeVar("_E", bound=x509.ExtensionType)

NONE = "<none>"
NOT_CHECKED = "not checked (certmgr inspect secret makes no network requests)"

# Go's x509.SignatureAlgorithm.String() for the algorithms Go knows.
_GO_SIGNATURE_NAMES: dict[x509.ObjectIdentifier, str] = {
    SignatureAlgorithmOID.RSA_WITH_MD5: "MD5-RSA",
    SignatureAlgorithmOID.RSA_WITH_SHA1: "SHA1-RSA",
    SignatureAlgorithmOID.RSA_WITH_SHA256: "SHA256-RSA",
    SignatureAlgorithmOID.RSA_WITH_SHA384: "SHA384-RSA",
    SignatureAlgorithmOID.RSA_WITH_SHA512: "SHA512-RSA",
    SignatureAlgorithmOID.DSA_WITH_SHA1: "DSA-SHA1",
    SignatureAlgorithmOID.DSA_WITH_SHA256: "DSA-SHA256",
    SignatureAlgorithmOID.ECDSA_WITH_SHA1: "ECDSA-SHA1",
    SignatureAlgorithmOID.ECDSA_WITH_SHA256: "ECDSA-SHA256",
    SignatureAlgorithmOID.ECDSA_WITH_SHA384: "ECDSA-SHA384",
    SignatureAlgorithmOID.ECDSA_WITH_SHA512: "ECDSA-SHA512",
    SignatureAlgorithmOID.ED25519: "Ed25519",
}


class InspectError(Exception):
    """The Secret holds nothing to inspect (the message is cmctl's where cmctl has one)."""


@dataclass(frozen=True, slots=True)
class SecretData:
    """The decoded data keys of a TLS Secret (absent keys are None)."""

    tls_crt: bytes | None
    tls_key: bytes | None
    ca_crt: bytes | None


def describe(
    data: SecretData, *, now: datetime, system_roots: Sequence[x509.Certificate] = ()
) -> str:
    """The whole report, sections separated by a blank line, newline terminated."""
    chain = _certificates(data.tls_crt, what="tls.crt")
    if not chain:
        raise InspectError("no PEM data found in secret")
    leaf, intermediates = chain[0], chain[1:]
    sections = [
        valid_for(leaf),
        validity_period(leaf),
        issued_by(leaf),
        issued_for(leaf),
        certificate_section(leaf),
        chain_section(chain),
        debugging(data, leaf=leaf, intermediates=intermediates, now=now, roots=system_roots),
    ]
    return "\n\n".join(sections) + "\n"


def valid_for(cert: x509.Certificate) -> str:
    sans = _extension(cert, x509.SubjectAlternativeName)
    dns = sans.get_values_for_type(x509.DNSName) if sans else []
    uris = sans.get_values_for_type(x509.UniformResourceIdentifier) if sans else []
    ips = [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] if sans else []
    emails = sans.get_values_for_type(x509.RFC822Name) if sans else []
    key_usage = _extension(cert, x509.KeyUsage)
    eku = _extension(cert, x509.ExtendedKeyUsage)
    usages = usage_names(key_usage, list(eku) if eku else ())
    return (
        "Valid for:\n"
        f"\tDNS Names: {_slice(dns)}\n"
        f"\tURIs: {_slice(uris)}\n"
        f"\tIP Addresses: {_slice(ips)}\n"
        f"\tEmail Addresses: {_slice(emails)}\n"
        f"\tUsages: {_slice(usages) if usages else ' ' + NONE}"
    )


def validity_period(cert: x509.Certificate) -> str:
    return (
        "Validity period:\n"
        f"\tNot Before: {_rfc1123(cert.not_valid_before_utc)}\n"
        f"\tNot After: {_rfc1123(cert.not_valid_after_utc)}"
    )


def issued_by(cert: x509.Certificate) -> str:
    return _name_section("Issued By", cert.issuer)


def issued_for(cert: x509.Certificate) -> str:
    return _name_section("Issued For", cert.subject)


def certificate_section(cert: x509.Certificate) -> str:
    basic = _extension(cert, x509.BasicConstraints)
    return (
        "Certificate:\n"
        f"\tSigning Algorithm:\t{signature_algorithm(cert)}\n"
        f"\tPublic Key Algorithm: \t{public_key_algorithm(cert)}\n"
        f"\tSerial Number:\t{cert.serial_number}\n"
        f"\tFingerprints: \t{fingerprint(cert)}\n"
        f"\tIs a CA certificate: {'true' if basic and basic.ca else 'false'}\n"
        f"\tCRL:\t{_slice_or_one(crl_urls(cert))}\n"
        f"\tOCSP:\t{_slice_or_one(ocsp_urls(cert))}"
    )


def chain_section(chain: Sequence[x509.Certificate]) -> str:
    """certmgr's addition: every certificate of tls.crt, leaf first, as stored."""
    lines = ["Chain (tls.crt):"]
    for index, cert in enumerate(chain):
        lines.append(
            f"\t{index}: {_common_name(cert.subject)} "
            f"(issued by {_common_name(cert.issuer)}, "
            f"not after {_rfc1123(cert.not_valid_after_utc)})"
        )
    return "\n".join(lines)


def debugging(
    data: SecretData,
    *,
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    now: datetime,
    roots: Sequence[x509.Certificate],
) -> str:
    crl = "No CRL endpoints set" if not crl_urls(leaf) else NOT_CHECKED
    ocsp = "No OCSP servers set" if not ocsp_urls(leaf) else NOT_CHECKED
    return (
        "Debugging:\n"
        f"\tTrusted by this computer:\t{trusted(leaf, intermediates, roots=roots, now=now)}\n"
        f"\tTrusted by ca.crt:\t{trusted_by_ca(data, leaf, intermediates, now=now)}\n"
        f"\tPrivate key matches:\t{key_matches(data.tls_key, leaf)}\n"
        f"\tCurrently valid:\t{currently_valid(leaf, now=now)}\n"
        f"\tCRL Status:\t{crl}\n"
        f"\tOCSP Status:\t{ocsp}"
    )


def trusted(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    *,
    roots: Sequence[x509.Certificate],
    now: datetime,
) -> str:
    """Verified at ``now`` against this computer's roots, tls.crt's other certificates as
    intermediates (cmctl adds them to the roots, which trusts any chain that ends in its
    own root)."""
    if not roots:
        return "no: no trusted roots found on this computer"
    return _verify(leaf, intermediates, anchors=roots, now=now)


def trusted_by_ca(
    data: SecretData,
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    *,
    now: datetime,
) -> str:
    try:
        anchors = _certificates(data.ca_crt, what="ca.crt")
    except InspectError as exc:
        return f"no: {exc}"
    if not anchors:
        return "not checked: no ca.crt in the Secret"
    return _verify(leaf, intermediates, anchors=anchors, now=now)


def key_matches(key_pem: bytes | None, leaf: x509.Certificate) -> str:
    """Whether tls.key is the certificate's key (never says anything about the key itself)."""
    if not key_pem:
        return "not checked: no tls.key in the Secret"
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return "no: tls.key cannot be parsed as an unencrypted PEM private key"
    ours = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    theirs = leaf.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "yes" if ours == theirs else "no: tls.key is not the key of the certificate"


def currently_valid(leaf: x509.Certificate, *, now: datetime) -> str:
    if now < leaf.not_valid_before_utc:
        return f"no: not valid before {_rfc1123(leaf.not_valid_before_utc)}"
    if now > leaf.not_valid_after_utc:
        return f"no: expired {_rfc1123(leaf.not_valid_after_utc)}"
    left = leaf.not_valid_after_utc - now
    return f"yes: expires in {left.days}d{left.seconds // 3600}h"


def signature_algorithm(cert: x509.Certificate) -> str:
    oid = cert.signature_algorithm_oid
    if oid == SignatureAlgorithmOID.RSASSA_PSS:
        hash_algorithm = cert.signature_hash_algorithm
        return f"{hash_algorithm.name.upper() if hash_algorithm else 'UNKNOWN'}-RSAPSS"
    return _GO_SIGNATURE_NAMES.get(oid, oid.dotted_string)


def public_key_algorithm(cert: x509.Certificate) -> str:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "ECDSA"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA"
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448"
    return type(key).__name__


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the DER, upper-case hex bytes joined by colons (as cmctl)."""
    digest = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).digest()
    return ":".join(f"{byte:02X}" for byte in digest)


def crl_urls(cert: x509.Certificate) -> list[str]:
    points = _extension(cert, x509.CRLDistributionPoints)
    urls: list[str] = []
    for point in points or ():
        for name in point.full_name or ():
            if isinstance(name, x509.UniformResourceIdentifier):
                urls.append(name.value)
    return urls


def ocsp_urls(cert: x509.Certificate) -> list[str]:
    access = _extension(cert, x509.AuthorityInformationAccess)
    return [
        description.access_location.value
        for description in access or ()
        if description.access_method == AuthorityInformationAccessOID.OCSP
        and isinstance(description.access_location, x509.UniformResourceIdentifier)
    ]


def _verify(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    *,
    anchors: Sequence[x509.Certificate],
    now: datetime,
) -> str:
    if leaf in anchors:
        return "yes: the certificate itself is a trusted root"
    builder = PolicyBuilder().store(Store(list(anchors))).time(now.astimezone(UTC))
    sans = _extension(leaf, x509.SubjectAlternativeName)
    dns = sans.get_values_for_type(x509.DNSName) if sans else []
    ips = sans.get_values_for_type(x509.IPAddress) if sans else []
    try:
        if dns or ips:
            subject: x509.DNSName | x509.IPAddress = (
                x509.DNSName(dns[0]) if dns else x509.IPAddress(ips[0])
            )
            builder.build_server_verifier(subject).verify(leaf, list(intermediates))
        else:
            builder.build_client_verifier().verify(leaf, list(intermediates))
    except VerificationError as exc:
        return f"no: {exc}"
    return "yes"


def _certificates(pem: bytes | None, *, what: str) -> list[x509.Certificate]:
    if not pem or b"-----BEGIN CERTIFICATE-----" not in pem:
        return []
    try:
        return x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise InspectError(f"error when parsing '{what}': {exc}") from None


def _name_section(title: str, name: x509.Name) -> str:
    return (
        f"{title}:\n"
        f"\tCommon Name:\t{_common_name(name)}\n"
        f"\tOrganization:\t{_slice_or_one(_values(name, NameOID.ORGANIZATION_NAME))}\n"
        f"\tOrganizationalUnit:\t"
        f"{_slice_or_one(_values(name, NameOID.ORGANIZATIONAL_UNIT_NAME))}\n"
        f"\tCountry:\t{_slice_or_one(_values(name, NameOID.COUNTRY_NAME))}"
    )


def _common_name(name: x509.Name) -> str:
    values = _values(name, NameOID.COMMON_NAME)
    return values[-1] if values else NONE  # Go's pkix.Name keeps the last one


def _values(name: x509.Name, oid: x509.ObjectIdentifier) -> list[str]:
    return [str(attribute.value) for attribute in name.get_attributes_for_oid(oid)]


def _slice(values: Sequence[str]) -> str:
    if not values:
        return NONE
    return "\n\t\t- " + "\n\t\t- ".join(values).strip(" ")


def _slice_or_one(values: Sequence[str]) -> str:
    if len(values) == 1:
        return values[0]
    return _slice(values)


def _rfc1123(moment: datetime) -> str:
    """Go's time.RFC1123 of a UTC time (x509 times are UTC)."""
    return moment.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S UTC")


def _extension(cert: x509.Certificate, kind: type[_E]) -> _E | None:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None
