"""Signing a CertificateRequest's CSR, as cert-manager's SelfSigned and CA issuers do.

Owns: the certificate built from a CSR (cert-manager's
CertificateTemplateFromCertificateRequest: subject and SANs from the CSR, basic
constraints and key usages from the request's ``isCA``/``usages``, checked against the
CSR's own, name constraints copied, validity ``now + duration``), the issuer's URLs
(CRL distribution points, OCSP servers, issuing certificate URLs), the signature, and
the CA keypair read from a Secret's ``tls.crt``/``tls.key``/``ca.crt`` with the
chain and CA split of ParseSingleCertificateChain.
Must not: do I/O, log, or put key bytes in an error message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtensionOID

from certmgr.pki.certificates import encode_pem, is_self_signed, order_chain, parse_chain
from certmgr.pki.csr import signature_hash
from certmgr.pki.errors import PKIError
from certmgr.pki.keys import (
    PrivateKey,
    PublicKey,
    parse_private_key,
    public_key_of,
    public_keys_equal,
    supported_public_key,
)
from certmgr.pki.usages import KEY_USAGE_FLAGS, ResolvedUsages, resolve_usages, usage_names

_E = TypeVar("_E", bound=x509.ExtensionType)

DEFAULT_DURATION: Final = timedelta(days=90)  # cert-manager's DefaultCertDuration
TLS_CRT: Final = "tls.crt"
TLS_KEY: Final = "tls.key"
CA_CRT: Final = "ca.crt"


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuerURLs:
    """What the issuer's spec adds to every certificate it signs."""

    crl_distribution_points: tuple[str, ...] = ()
    ocsp_servers: tuple[str, ...] = ()
    issuing_certificate_urls: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class SigningRequest:
    """A CertificateRequest's signing inputs."""

    csr_pem: bytes
    is_ca: bool = False
    usages: tuple[str, ...] = ()
    duration: timedelta | None = None


@dataclass(frozen=True, slots=True)
class Issued:
    """PEM ``status.certificate`` and ``status.ca`` of a signed request."""

    certificate: bytes
    ca: bytes


@dataclass(frozen=True, slots=True)
class CAKeyPair:
    """A CA Secret's signing certificate first, then the rest of its chain (and ca.crt)."""

    certificates: tuple[x509.Certificate, ...]
    key: PrivateKey

    @property
    def signer(self) -> x509.Certificate:
        return self.certificates[0]


class InvalidKeyPair(PKIError):
    """The Secret holds a keypair that cannot sign (not a CA, key does not match)."""


def load_ca_keypair(data: Mapping[str, bytes], *, where: str) -> CAKeyPair:
    """cert-manager's SecretTLSKeyPairAndCA: ``tls.key``, the ``tls.crt`` chain and
    ``ca.crt`` appended. ``where`` (``namespace/name``) names the Secret in messages.
    Raises `PKIError` for missing or malformed data."""
    if TLS_KEY not in data:
        raise PKIError(f"no private key data for \"{TLS_KEY}\" in secret '{where}'")
    key = parse_private_key(data[TLS_KEY])
    if TLS_CRT not in data:
        raise PKIError(f"no certificate data for \"{TLS_CRT}\" in secret '{where}'")
    certificates = list(parse_chain(data[TLS_CRT]))
    ca = data.get(CA_CRT) or b""
    if ca:
        certificates.append(parse_chain(ca)[0])
    return CAKeyPair(tuple(certificates), key)


def check_signing_ca(keypair: CAKeyPair) -> None:
    """Raise `InvalidKeyPair` when the keypair cannot sign: not a CA (cert-manager's
    check), or its key is not the certificate's (certmgr's, so a broken Secret shows on
    the issuer instead of as certificates that do not verify)."""
    try:
        constraints = keypair.signer.extensions.get_extension_for_class(x509.BasicConstraints)
        is_ca = constraints.value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        raise InvalidKeyPair("certificate is not a CA")
    if not public_keys_equal(keypair.key, supported_public_key(keypair.signer.public_key())):
        raise InvalidKeyPair("private key does not match the CA certificate")


def sign_self_signed(
    request: SigningRequest, *, key: PrivateKey, urls: IssuerURLs, now: datetime
) -> Issued:
    """The SelfSigned issuer: the CSR's key must be ``key``; ``ca`` is the certificate."""
    builder, public_key, subject = _template(request, now=now)
    if not public_keys_equal(public_key_of(key), public_key):
        raise PKIError("CSR not signed by referenced private key")
    builder = _add_urls(builder.issuer_name(subject), urls)
    if request.is_ca:
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False
        )
    certificate = builder.sign(key, signature_hash(key))
    pem = encode_pem([certificate])
    return Issued(certificate=pem, ca=pem)


def sign_with_ca(
    request: SigningRequest, *, keypair: CAKeyPair, urls: IssuerURLs, now: datetime
) -> Issued:
    """The CA issuer: signed by the keypair; ``certificate`` is the leaf and every
    intermediate up to (not including) a self-signed root, ``ca`` the chain's top."""
    builder, public_key, _ = _template(request, now=now)
    signer = keypair.signer
    builder = _add_urls(builder.issuer_name(signer.subject), urls)
    if request.is_ca:
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False
        )
    try:
        signer_key_id = signer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier(signer_key_id.value.digest, None, None), critical=False
        )
    except x509.ExtensionNotFound:
        pass
    certificate = builder.sign(keypair.key, signature_hash(keypair.key))
    chain = order_chain([*keypair.certificates, certificate])
    top = chain[-1]
    served = list(chain[:-1]) if is_self_signed(top) else list(chain)
    return Issued(certificate=encode_pem(served), ca=encode_pem([top]))


def has_empty_subject(pem: bytes) -> bool:
    """Whether a PEM certificate's subject (so a self-signed one's issuer) is empty."""
    return len(x509.load_pem_x509_certificate(pem).subject) == 0


def _template(
    request: SigningRequest, *, now: datetime
) -> tuple[x509.CertificateBuilder, PublicKey, x509.Name]:
    """cert-manager's CertificateTemplateFromCertificateRequest, unsigned."""
    try:
        csr = x509.load_pem_x509_csr(request.csr_pem)
    except ValueError:
        raise PKIError("error decoding certificate request PEM block") from None
    try:
        valid = csr.is_signature_valid
    except (InvalidSignature, ValueError):
        valid = False
    if not valid:
        raise PKIError("x509: ECDSA/RSA verification failure: the CSR's signature is invalid")
    try:
        extensions = csr.extensions
    except ValueError:
        raise PKIError("error decoding certificate request extensions") from None
    public_key = supported_public_key(csr.public_key())
    start = now.replace(microsecond=0)
    builder = (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + (request.duration or DEFAULT_DURATION))
    )
    wanted = resolve_usages(request.usages, is_ca=request.is_ca)
    csr_basic = _value(extensions, x509.BasicConstraints)
    if csr_basic is not None and csr_basic.ca != request.is_ca:
        raise PKIError(
            f"encoded CSR error: IsCA {_go_bool(csr_basic.ca)} does not match expected "
            f"value {_go_bool(request.is_ca)}"
        )
    _check_usages(extensions, wanted=wanted)
    builder = builder.add_extension(
        x509.BasicConstraints(ca=request.is_ca, path_length=None), critical=True
    )
    key_usage = wanted.key_usage_extension()
    if key_usage is not None:
        builder = builder.add_extension(key_usage, critical=True)
    if wanted.extended_key_usages:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage(list(wanted.extended_key_usages)), critical=False
        )
    for extension in extensions:
        if extension.oid == ExtensionOID.SUBJECT_ALTERNATIVE_NAME:
            # Critical exactly when the subject is empty (RFC 5280 4.2.1.6), as Go.
            builder = builder.add_extension(extension.value, critical=len(csr.subject) == 0)
        elif extension.oid == ExtensionOID.NAME_CONSTRAINTS:
            builder = builder.add_extension(extension.value, critical=extension.critical)
    return builder, public_key, csr.subject


def _check_usages(extensions: x509.Extensions, *, wanted: ResolvedUsages) -> None:
    """The CSR's own usages, when it has any, must be exactly the request's."""
    key_usage = _value(extensions, x509.KeyUsage)
    eku = _value(extensions, x509.ExtendedKeyUsage)
    if key_usage is None and eku is None:
        return
    have_flags = _flags(key_usage) if key_usage is not None else frozenset()
    if have_flags != wanted.key_usage_flags:
        raise PKIError(
            f"encoded CSR error: the KeyUsages {_printed(usage_names(key_usage, []))} do not "
            f"match the expected KeyUsages "
            f"{_printed(usage_names(wanted.key_usage_extension(), []))}"
        )
    have_ekus = list(eku) if eku is not None else []
    if have_ekus != list(wanted.extended_key_usages):
        raise PKIError(
            f"encoded CSR error: the ExtKeyUsages {_printed(usage_names(None, have_ekus))} do "
            f"not match the expected ExtKeyUsages "
            f"{_printed(usage_names(None, wanted.extended_key_usages))}"
        )


def _flags(key_usage: x509.KeyUsage) -> frozenset[str]:
    # encipher_only/decipher_only raise unless key_agreement is set.
    return frozenset(
        flag
        for flag in KEY_USAGE_FLAGS
        if (key_usage.key_agreement or not flag.endswith("_only")) and getattr(key_usage, flag)
    )


def _printed(names: Sequence[str]) -> str:
    """cert-manager's printKeyUsage: ``[ 'a', 'b' ]``."""
    if not names:
        return "[]"
    return "[ " + ", ".join(f"'{n}'" for n in names) + " ]"


def _add_urls(builder: x509.CertificateBuilder, urls: IssuerURLs) -> x509.CertificateBuilder:
    if urls.crl_distribution_points:
        points = [
            x509.DistributionPoint(
                full_name=[x509.UniformResourceIdentifier(url)],
                relative_name=None,
                reasons=None,
                crl_issuer=None,
            )
            for url in urls.crl_distribution_points
        ]
        builder = builder.add_extension(x509.CRLDistributionPoints(points), critical=False)
    access = [
        x509.AccessDescription(
            AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(u)
        )
        for u in urls.ocsp_servers
    ] + [
        x509.AccessDescription(
            AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(u)
        )
        for u in urls.issuing_certificate_urls
    ]
    if access:
        builder = builder.add_extension(x509.AuthorityInformationAccess(access), critical=False)
    return builder


def _value(extensions: x509.Extensions, kind: type[_E]) -> _E | None:
    try:
        return extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _go_bool(value: bool) -> str:
    return "true" if value else "false"
