"""Issued certificates: chain parsing, a flat description of the leaf, and output formats.

Owns: `parse_chain` (PEM bundle -> ordered chain, leaf first), `CertificateInfo` (what status,
annotations and policies need to know about a leaf; `describe_names`: its names alone), the
split into leaf / intermediates / root, and the Secret output formats cert-manager writes:
`key.der` (the private key's DER, as cert-manager's `DER` additional output format is),
`tls-combined.pem` and PKCS#12.
Must not: do I/O, log, or echo key or certificate bytes in errors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal, TypeAlias, TypeVar, cast

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from certmgr.frozen import quick_init
from certmgr.memo import memo, pem_digest
from certmgr.pki.csr import subject_and_common_name
from certmgr.pki.errors import PKIError
from certmgr.pki.keys import (
    KeyAlgorithm,
    PrivateKey,
    PublicKey,
    key_algorithm_and_size,
    key_kind,
)
from certmgr.pki.pbmac1 import with_pbmac1
from certmgr.pki.requirements import X509Subject
from certmgr.pki.usages import usage_names
from certmgr.strings import share

_E = TypeVar("_E", bound=x509.ExtensionType)

PKCS12Profile: TypeAlias = Literal["LegacyRC2", "LegacyDES", "Modern2023", "Modern2026"]

# cert-manager's Modern2023 profile: PBES2 AES-256-CBC, PBKDF2/HMAC-SHA256 2048 rounds;
# Modern2026 (go-pkcs12's): the same encryption, with a PBMAC1 MAC of 2048 rounds.
_MODERN_KDF_ROUNDS: Final = 2048
_LEGACY_KDF_ROUNDS: Final = 2048


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    """A flat, comparable description of one certificate (times are timezone-aware UTC)."""

    serial_hex: str
    common_name: str
    subject: X509Subject
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    uris: tuple[str, ...]
    emails: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    issuer_common_name: str
    key_algorithm: KeyAlgorithm
    key_size: int
    usages: tuple[str, ...]
    is_ca: bool

    @classmethod
    def of(cls, certificate: x509.Certificate) -> CertificateInfo:
        """Describe `certificate`; raises `PKIError` for unsupported keys or bad extensions.

        Memoized by the certificate (x509 certificates compare and hash by their DER):
        status, annotations and the policies describe the same leaf on every reconcile.
        The result is frozen; a certificate that cannot be described is not cached.
        """
        return _describe(certificate)


def describe_certificate(certificate: x509.Certificate) -> CertificateInfo:
    """``CertificateInfo.of`` without its memo."""
    values, checked_key = _extensions_and_key(certificate, None)
    names = _names(certificate, values)
    algorithm, size = key_algorithm_and_size(checked_key)
    key_usage = _extension(values, x509.KeyUsage)
    eku = _extension(values, x509.ExtendedKeyUsage)
    return CertificateInfo(
        serial_hex=format(certificate.serial_number, "x"),
        common_name=names.common_name,
        subject=names.subject,
        dns_names=names.dns_names,
        ip_addresses=names.ip_addresses,
        uris=names.uris,
        emails=names.emails,
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        issuer_common_name=_first(certificate.issuer),
        key_algorithm=algorithm,
        key_size=size,
        usages=usage_names(key_usage, list(eku) if eku else ()),
        is_ca=names.is_ca,
    )


@quick_init
@dataclass(frozen=True, slots=True)
class CertificateNamesInfo:
    """The names and ``is_ca`` of a ``CertificateInfo``, as ``certificate_alt_names_violations``
    and the Secret's managed annotations read them; the strings shared (a Secret's
    summary keeps them, and its annotations repeat them)."""

    common_name: str
    subject: X509Subject
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    uris: tuple[str, ...]
    emails: tuple[str, ...]
    is_ca: bool


ExtensionValues: TypeAlias = dict[type, x509.ExtensionType]


def extension_values(certificate: x509.Certificate) -> ExtensionValues:
    """The certificate's extensions' values by type; ``ValueError`` as
    ``certificate.extensions``. One pass (a certificate has each kind at most once: the
    parser rejects duplicates), not a search per kind that raises for each one missing."""
    return {type(extension.value): extension.value for extension in certificate.extensions}


def describe_names(
    certificate: x509.Certificate,
    *,
    public_key: object = None,
    extensions: ExtensionValues | None = None,
) -> CertificateNamesInfo:
    """``describe_certificate``'s names and ``is_ca``, with its checks and ``PKIError``s,
    without what only the rest needs (key size, usages, issuer): a Secret's summary
    reads only these, and keeps them itself (no memo). ``public_key`` and ``extensions``:
    ``certificate.public_key()`` and ``extension_values(certificate)`` when the caller
    already has them (each call decodes them again)."""
    values, _ = _extensions_and_key(certificate, public_key, extensions)
    return _names(certificate, values)


def _extensions_and_key(
    certificate: x509.Certificate, public_key: object, extensions: ExtensionValues | None = None
) -> tuple[ExtensionValues, PublicKey]:
    """The extensions by type and the public key, or the ``PKIError`` describing fails with."""
    try:
        if extensions is None:
            extensions = extension_values(certificate)
        if public_key is None:
            public_key = certificate.public_key()
    except ValueError:
        raise PKIError("error decoding certificate extensions or public key") from None
    kind = key_kind(public_key)
    if kind is None or kind[1]:
        raise PKIError(f"unsupported certificate public key type: {type(public_key).__name__}")
    return extensions, cast("PublicKey", public_key)


def _names(certificate: x509.Certificate, values: ExtensionValues) -> CertificateNamesInfo:
    sans = _extension(values, x509.SubjectAlternativeName)
    basic = _extension(values, x509.BasicConstraints)
    subject, common_name = subject_and_common_name(certificate.subject)
    # One pass over the SANs, each kind in its order (get_values_for_type walks them all
    # once per kind).
    dns_names: list[str] = []
    ip_addresses: list[str] = []
    uris: list[str] = []
    emails: list[str] = []
    for general in sans or ():
        if isinstance(general, x509.DNSName):
            dns_names.append(share(general.value))
        elif isinstance(general, x509.IPAddress):
            ip_addresses.append(share(str(general.value)))
        elif isinstance(general, x509.UniformResourceIdentifier):
            uris.append(share(general.value))
        elif isinstance(general, x509.RFC822Name):
            emails.append(share(general.value))
    return CertificateNamesInfo(
        common_name=share(common_name),
        subject=subject,
        dns_names=tuple(dns_names),
        ip_addresses=tuple(ip_addresses),
        uris=tuple(uris),
        emails=tuple(emails),
        is_ca=bool(basic and basic.ca),
    )


_describe = memo()(describe_certificate)


def parse_chain(pem: bytes) -> tuple[x509.Certificate, ...]:
    """Every certificate in a PEM bundle, ordered leaf first, each followed by its issuer.

    Input in any order is accepted as long as the certificates form one chain (like
    cert-manager's ParseSingleCertificateChain); anything else raises `PKIError`.

    Memoized by the PEM bytes (the same bytes always give the same chain): issuance,
    signers and the CLI parse what they write or read more than once; the decisions
    about a cached Secret read its summary instead (``certmgr.pki.summary``). The result
    is immutable (a tuple of certificates), so sharing it is safe; garbage is not cached
    (the `PKIError` is raised every time).
    """
    return _parse_chain(bytes(pem))


@memo(key=pem_digest)
def _parse_chain(pem: bytes) -> tuple[x509.Certificate, ...]:
    return _chain_of(pem, _parse_certificate)


def parse_chain_once(pem: bytes) -> tuple[x509.Certificate, ...]:
    """``parse_chain`` without adding the chain or its first block (the leaf) to the
    memos (same result, same errors), for a caller that keeps what it derives and drops
    the parsed leaf at once (a Secret's summary); a chain the memo already holds (the one
    just issued and written) is not parsed again, and the blocks after the first (the
    intermediates many Secrets share) are parsed through their block memo."""
    pem = bytes(pem)
    found = _parse_chain.peek(pem)
    if found is not None:
        return found
    # An intermediate is parsed, and its names decoded (order_chain compares them), once.
    return _chain_of(pem, _load_certificate, rest=_parse_certificate)


def _chain_of(
    pem: bytes,
    parse_block: Callable[[bytes], x509.Certificate],
    *,
    rest: Callable[[bytes], x509.Certificate] | None = None,
) -> tuple[x509.Certificate, ...]:
    if not pem or b"-----BEGIN CERTIFICATE-----" not in pem:
        raise PKIError("error decoding certificate PEM block: no certificate found")
    blocks = _certificate_blocks(pem)
    if not blocks:
        raise corrupt_certificate()
    parse_rest = parse_block if rest is None else rest  # (an empty Memo is falsy)
    certificates = [parse_block(blocks[0]), *(parse_rest(block) for block in blocks[1:])]
    try:
        return order_chain(certificates)
    except ValueError:  # a subject or issuer cryptography decodes only when read
        raise corrupt_certificate() from None


_BEGIN_CERTIFICATE: Final = b"-----BEGIN CERTIFICATE-----"
_END_CERTIFICATE: Final = b"-----END CERTIFICATE-----"


def _certificate_blocks(pem: bytes) -> list[bytes]:
    """Each ``BEGIN CERTIFICATE`` ... ``END CERTIFICATE`` block of ``pem`` (at least one
    byte between the markers), as the regular expression ``BEGIN.+?END`` (DOTALL) finds
    them; a search for the markers, not a regex stepping byte by byte."""
    blocks = []
    start = pem.find(_BEGIN_CERTIFICATE)
    while start != -1:
        end = pem.find(_END_CERTIFICATE, start + len(_BEGIN_CERTIFICATE) + 1)
        if end == -1:
            break
        end += len(_END_CERTIFICATE)
        blocks.append(pem[start:end])
        start = pem.find(_BEGIN_CERTIFICATE, end)
    return blocks


# Each PEM block has its own memo so the CA and intermediates that thousands of Secrets
# share are parsed, and held, once (a parsed certificate is ~2.4 KB).


def _load_certificate(block: bytes) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(block)
    except ValueError:
        raise corrupt_certificate() from None


_parse_certificate = memo(key=pem_digest)(_load_certificate)


def corrupt_certificate() -> PKIError:
    """The error of a certificate that does not decode (as Go's parser refuses it)."""
    return PKIError("error decoding certificate PEM block: corrupt certificate data")


def parse_leaf(pem: bytes) -> x509.Certificate:
    """The leaf of a PEM bundle (see `parse_chain`)."""
    return parse_chain(pem)[0]


def order_chain(certificates: Sequence[x509.Certificate]) -> tuple[x509.Certificate, ...]:
    """Order certificates leaf -> root by subject/issuer; raise `PKIError` if not one chain."""
    if len(certificates) == 1:
        return (certificates[0],)  # what the search below finds for one, without hashing
    # Certificates compare and hash by their DER: one of each, as a SHA-256 fingerprint
    # per certificate would tell them apart, without re-encoding and hashing each.
    unique = list({c: c for c in certificates}.values())
    if not unique:
        raise PKIError("no certificates found")
    subjects = [c.subject.public_bytes() for c in unique]
    issuers_of_others = {
        subject
        for c, subject in zip(unique, subjects, strict=True)
        for other in unique
        if _issued(other, by=c)
    }
    leaves = [
        c for c, subject in zip(unique, subjects, strict=True) if subject not in issuers_of_others
    ]
    if len(leaves) != 1:
        raise PKIError("certificate bundle does not form a single chain")
    chain = [leaves[0]]
    remaining = [c for c in unique if c is not leaves[0]]
    while remaining:
        parent = next((c for c in remaining if _issued(chain[-1], by=c)), None)
        if parent is None:
            raise PKIError("certificate bundle does not form a single chain")
        chain.append(parent)
        remaining.remove(parent)
    return tuple(chain)


def is_self_signed(certificate: x509.Certificate) -> bool:
    """Subject equals issuer and the signature verifies with its own key."""
    if certificate.subject != certificate.issuer:
        return False
    try:
        certificate.verify_directly_issued_by(certificate)
    except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError):
        return False
    return True


def split_leaf_and_chain(
    chain: Sequence[x509.Certificate],
) -> tuple[x509.Certificate, tuple[x509.Certificate, ...]]:
    """(leaf, intermediates): a trailing self-signed root is not part of the served chain."""
    if not chain:
        raise PKIError("no certificates found")
    rest = tuple(chain[1:])
    if rest and is_self_signed(rest[-1]):
        rest = rest[:-1]
    return chain[0], rest


def root_of_chain(chain: Sequence[x509.Certificate]) -> x509.Certificate | None:
    """The self-signed root at the end of an ordered chain, or None when it is not included."""
    if len(chain) > 1 and is_self_signed(chain[-1]):
        return chain[-1]
    return None


def encode_pem(certificates: Sequence[x509.Certificate]) -> bytes:
    """Concatenated PEM blocks, in the given order."""
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)


def encode_der(certificate: x509.Certificate) -> bytes:
    """One certificate as DER."""
    return certificate.public_bytes(serialization.Encoding.DER)


def private_key_der(key_pem: bytes) -> bytes:
    """cert-manager's `DER` additional output format (`key.der`): the key PEM block's DER.

    The DER keeps the Secret's encoding (PKCS#1/SEC1 or PKCS#8), as cert-manager's does.
    """
    try:
        return serialization.load_pem_private_key(key_pem, password=None).private_bytes(
            serialization.Encoding.DER, _format_of(key_pem), serialization.NoEncryption()
        )
    except (ValueError, TypeError):
        raise PKIError("error decoding private key PEM block") from None


def combined_pem(key_pem: bytes, chain_pem: bytes) -> bytes:
    """cert-manager's `CombinedPEM` output (`tls-combined.pem`): key, a newline, the chain."""
    return key_pem + b"\n" + chain_pem


def build_pkcs12(
    key: PrivateKey,
    chain: Sequence[x509.Certificate],
    *,
    password: bytes,
    profile: PKCS12Profile = "LegacyRC2",
    ca_certificates: Sequence[x509.Certificate] = (),
) -> bytes:
    """A PKCS#12 keystore (`keystore.p12`): key, leaf, then intermediates and CA certificates.

    cryptography cannot write RC2, so `LegacyRC2` (cert-manager's default) is written like
    `LegacyDES` (3DES + SHA-1 MAC): every reader of RC2 keystores also reads 3DES ones.
    """
    if not chain:
        raise PKIError("no certificates to put into the PKCS#12 keystore")
    extra = [*chain[1:], *(c for c in ca_certificates if c not in chain)]
    return _with_profile_mac(
        pkcs12.serialize_key_and_certificates(
            None, key, chain[0], extra or None, _pkcs12_encryption(password, profile)
        ),
        password,
        profile,
    )


def build_pkcs12_truststore(
    ca_certificates: Sequence[x509.Certificate],
    *,
    password: bytes,
    profile: PKCS12Profile = "LegacyRC2",
) -> bytes:
    """A PKCS#12 truststore (`truststore.p12`) holding only CA certificates."""
    if not ca_certificates:
        raise PKIError("no CA certificates to put into the PKCS#12 truststore")
    return _with_profile_mac(
        pkcs12.serialize_key_and_certificates(
            None, None, None, list(ca_certificates), _pkcs12_encryption(password, profile)
        ),
        password,
        profile,
    )


def _with_profile_mac(pfx: bytes, password: bytes, profile: PKCS12Profile) -> bytes:
    if profile == "Modern2026":
        return with_pbmac1(pfx, password=password, iterations=_MODERN_KDF_ROUNDS)
    return pfx


def _pkcs12_encryption(
    password: bytes, profile: PKCS12Profile
) -> serialization.KeySerializationEncryption:
    builder = serialization.PrivateFormat.PKCS12.encryption_builder()
    if profile in ("Modern2023", "Modern2026"):
        builder = (
            builder.kdf_rounds(_MODERN_KDF_ROUNDS)
            .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
            .hmac_hash(hashes.SHA256())
        )
    elif profile in ("LegacyRC2", "LegacyDES"):
        builder = (
            builder.kdf_rounds(_LEGACY_KDF_ROUNDS)
            .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
            .hmac_hash(hashes.SHA1())
        )
    else:
        raise PKIError(f"unsupported PKCS#12 profile: {profile!r}")
    return builder.build(password)


# The PEM label of an unencrypted PKCS#8 key; RSA/EC labels mean the traditional format.
_PKCS8_LABEL = b"BEGIN " + b"PRIVATE KEY-----"


def _format_of(key_pem: bytes) -> serialization.PrivateFormat:
    if b"-----" + _PKCS8_LABEL in key_pem:
        return serialization.PrivateFormat.PKCS8
    return serialization.PrivateFormat.TraditionalOpenSSL


def _issued(child: x509.Certificate, *, by: x509.Certificate) -> bool:
    return child is not by and child.issuer == by.subject


def _first(name: x509.Name) -> str:
    found = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(found[0].value) if found else ""


def _extension(values: ExtensionValues, kind: type[_E]) -> _E | None:
    return cast("_E | None", values.get(kind))
