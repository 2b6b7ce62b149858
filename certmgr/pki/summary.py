"""What the certificate decisions read of a Secret's ``tls.crt`` and ``tls.key``, parsed once.

Owns ``SecretSummary`` (a ``LeafSummary`` of the certificate and a ``KeySummary`` of the
key, or the ``PKIError`` message each gave) and ``summarise``, which parses both, keeps
what the policies, the scheduler and ARI compare, and drops the parsed objects at once.
A summary is kept per managed Secret for as long as it is cached, so it is compact: the
ARI draw instead of the signature, one copy of a fingerprint the leaf and key share,
names interned (the Secret's annotations repeat them), shared empty subjects and
encoding tuples. Parsing goes around the PEM memos, so at most the pair being
summarised is alive.
Must not: keep key material (only the public key's fingerprint), do I/O, or log.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from cryptography import x509

from certmgr.pki.certificates import describe_names, parse_chain_once
from certmgr.pki.errors import PKIError
from certmgr.pki.keys import (
    KeyAlgorithm,
    KeyEncoding,
    PublicKey,
    encode_private_key,
    key_algorithm_and_size,
    parse_private_key_once,
    public_key_fingerprint,
    supported_public_key,
)
from certmgr.pki.renewalinfo import ari_cert_id, window_draw
from certmgr.pki.requirements import X509Subject
from certmgr.pki.temporary import is_temporary_certificate


@dataclass(frozen=True, slots=True)
class CertificateNames:
    """The names of an issued certificate, as ``certificate_alt_names_violations`` and the
    Secret's managed annotations read them."""

    common_name: str
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    uris: tuple[str, ...]
    emails: tuple[str, ...]
    subject: X509Subject


@dataclass(frozen=True, slots=True)
class LeafSummary:
    """The leaf of ``tls.crt``.

    ``public_key`` is its SubjectPublicKeyInfo's SHA-256 (None: unsupported key, and
    ``public_key_error`` says why); ``names`` None means it cannot be described
    (``names_error``). ``signature`` seeds the time picked in an ARI window.
    ``pem_sha256`` is the SHA-256 of the whole ``tls.crt``, which seeds the renewal jitter.
    """

    not_before: datetime
    not_after: datetime
    window_draw: int
    pem_sha256: bytes
    public_key: bytes | None
    public_key_error: str
    names: CertificateNames | None
    names_error: str
    temporary: bool
    temporary_with_literal_subject: bool
    ari_cert_id: str | None
    is_ca: bool

    def is_temporary(self, *, literal_subject: bool) -> bool:
        """``is_temporary_certificate`` of the leaf."""
        return self.temporary_with_literal_subject if literal_subject else self.temporary


@dataclass(frozen=True, slots=True)
class KeySummary:
    """The private key of ``tls.key``: its public half's fingerprint, algorithm and size,
    and the encodings ``encode_private_key`` writes it in byte for byte (none: another
    writer's PEM)."""

    public_key: bytes
    algorithm: KeyAlgorithm
    size: int
    encodings: tuple[KeyEncoding, ...]


@dataclass(frozen=True, slots=True)
class SecretSummary:
    """``leaf`` and ``key``, or (when None) the ``PKIError`` message parsing gave."""

    leaf: LeafSummary | None
    leaf_error: str
    key: KeySummary | None
    key_error: str


def summarise(certificate_pem: bytes, key_pem: bytes) -> SecretSummary:
    """Parse ``tls.crt`` and ``tls.key`` (the same checks and messages as ``parse_leaf``
    and ``parse_private_key``) into a summary; never raises ``PKIError``."""
    leaf: LeafSummary | None = None
    leaf_key: PublicKey | None = None
    leaf_error = ""
    try:
        leaf, leaf_key = _summarise_leaf(certificate_pem)
    except PKIError as exc:
        leaf_error = str(exc)
    key: KeySummary | None = None
    key_error = ""
    try:
        key = _summarise_key(key_pem, leaf=leaf, leaf_key=leaf_key)
    except PKIError as exc:
        key_error = str(exc)
    return SecretSummary(leaf=leaf, leaf_error=leaf_error, key=key, key_error=key_error)


def summarise_leaf(certificate_pem: bytes) -> LeafSummary:
    """The summary of the leaf of ``certificate_pem``; ``PKIError`` as ``parse_leaf``."""
    return _summarise_leaf(certificate_pem)[0]


def _summarise_leaf(certificate_pem: bytes) -> tuple[LeafSummary, PublicKey | None]:
    """``summarise_leaf`` and the leaf's public key (None: unsupported)."""
    certificate = parse_chain_once(certificate_pem)[0]
    public_key: bytes | None = None
    public_key_error = ""
    decoded_key = None
    supported: PublicKey | None = None
    try:
        decoded_key = certificate.public_key()
        supported = supported_public_key(decoded_key)
        public_key = public_key_fingerprint(supported)
    except (PKIError, ValueError) as exc:
        supported = None
        public_key_error = str(exc)
    names: CertificateNames | None = None
    names_error = ""
    is_ca = False
    try:
        info = describe_names(certificate, public_key=decoded_key)
        is_ca = info.is_ca
        names = CertificateNames(
            common_name=sys.intern(info.common_name),
            dns_names=_interned(info.dns_names),
            ip_addresses=_interned(info.ip_addresses),
            uris=_interned(info.uris),
            emails=_interned(info.emails),
            subject=_NO_SUBJECT if info.subject == _NO_SUBJECT else info.subject,
        )
    except PKIError as exc:
        names_error = str(exc)
    # Temporary implies temporary with a literal subject (the same test plus the
    # serialNumber marker): most leaves fail the first and skip the second.
    literal_temporary = is_temporary_certificate(certificate, literal_subject=True)
    summary = LeafSummary(
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        window_draw=window_draw(certificate.signature),
        pem_sha256=hashlib.sha256(certificate_pem).digest(),
        public_key=public_key,
        public_key_error=public_key_error,
        names=names,
        names_error=names_error,
        temporary=literal_temporary and is_temporary_certificate(certificate),
        temporary_with_literal_subject=literal_temporary,
        ari_cert_id=_ari_cert_id(certificate),
        is_ca=is_ca,
    )
    return summary, supported


def summarise_key(key_pem: bytes) -> KeySummary:
    """The summary of the private key in ``key_pem``; ``PKIError`` as ``parse_private_key``."""
    return _summarise_key(key_pem, leaf=None, leaf_key=None)


def _summarise_key(
    key_pem: bytes, *, leaf: LeafSummary | None, leaf_key: PublicKey | None
) -> KeySummary:
    """``summarise_key``; when the key's public half equals ``leaf_key`` (the leaf's
    public key, fingerprinted in ``leaf``) the leaf's fingerprint is taken, not computed
    again: equal keys have the same SubjectPublicKeyInfo."""
    key = parse_private_key_once(key_pem)
    public = key.public_key()
    algorithm, size = key_algorithm_and_size(public)
    pem = bytes(key_pem)
    # An encoding whose PEM header differs from key_pem's cannot give its bytes: only
    # the one that can is computed (PKCS#8, and an Ed25519 key's PKCS1, begin
    # "PRIVATE KEY"; the other PKCS1 forms "RSA/EC PRIVATE KEY").
    pkcs8_header = pem.startswith(_PKCS8_HEADER)
    ed25519_key = algorithm == "Ed25519"
    encodings = _ENCODING_SETS[
        tuple(
            encoding
            for encoding in _ENCODINGS
            if pkcs8_header == (encoding == "PKCS8" or ed25519_key)
            and encode_private_key(key, encoding=encoding) == pem
        )
    ]
    if leaf is not None and leaf.public_key is not None and public == leaf_key:
        fingerprint = leaf.public_key  # one copy of the fingerprint
    else:
        fingerprint = public_key_fingerprint(public)
        if leaf is not None and leaf.public_key == fingerprint:
            fingerprint = leaf.public_key
    return KeySummary(public_key=fingerprint, algorithm=algorithm, size=size, encodings=encodings)


_ENCODINGS: Final[tuple[KeyEncoding, ...]] = ("PKCS1", "PKCS8")
_PKCS8_HEADER: Final = b"-----BEGIN PRIVATE KEY-----"
# One tuple per possible result, shared by every summary.
_ENCODING_SETS: Final[dict[tuple[KeyEncoding, ...], tuple[KeyEncoding, ...]]] = {
    found: found for found in ((), ("PKCS1",), ("PKCS8",), ("PKCS1", "PKCS8"))
}
_NO_SUBJECT: Final = X509Subject()


def _interned(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(map(sys.intern, values)) if values else ()


def _ari_cert_id(certificate: x509.Certificate) -> str | None:
    try:
        return ari_cert_id(certificate)
    except ValueError:  # undecodable extensions: no CertID to ask about
        return None


EMPTY: Final = summarise(b"", b"")
