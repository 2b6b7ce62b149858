"""What the certificate decisions read of a Secret's ``tls.crt`` and ``tls.key``, parsed once.

Owns ``SecretSummary`` (a ``LeafSummary`` of the certificate and a ``KeySummary`` of the
key, or the ``PKIError`` message each gave) and ``summarise``, which parses both, keeps
what the policies, the scheduler and ARI compare, and drops the parsed objects at once.
A summary is kept per managed Secret for as long as it is cached, so it is compact: the
ARI draw instead of the signature, one copy of a fingerprint the leaf and key share,
names shared (the Secret's annotations repeat them), shared empty subjects and
encoding tuples. The leaf and key are parsed around the PEM memos, so at most the pair
being summarised is alive; a chain's intermediates, shared by many Secrets, through
their block memo.
Must not: keep key material (only the public key's fingerprint), do I/O, or log.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Final, cast

from cryptography import x509

from certmgr.pki.certificates import (
    CertificateNamesInfo,
    ExtensionValues,
    corrupt_certificate,
    describe_names,
    extension_values,
    parse_chain_once,
)
from certmgr.pki.errors import PKIError
from certmgr.pki.keyencodings import written_encodings
from certmgr.pki.keys import (
    KeyAlgorithm,
    KeyEncoding,
    PublicKey,
    key_algorithm_and_size,
    parse_private_key_once,
    public_key_fingerprint,
    supported_public_key,
)
from certmgr.pki.renewalinfo import cert_id, window_draw
from certmgr.pki.temporary import is_temporary_certificate


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
    names: CertificateNamesInfo | None
    names_error: str
    temporary: bool
    temporary_with_literal_subject: bool
    ari_cert_id: str | None

    def is_temporary(self, *, literal_subject: bool) -> bool:
        """``is_temporary_certificate`` of the leaf."""
        return self.temporary_with_literal_subject if literal_subject else self.temporary

    @property
    def is_ca(self) -> bool:
        """Whether the leaf is a CA (its names are described: False when they cannot be)."""
        return self.names is not None and self.names.is_ca


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
    try:
        return _summarise_parsed_leaf(certificate, certificate_pem)
    except ValueError:
        # cryptography decodes the subject and issuer only when they are read; one that
        # does not decode (invalid UTF-8, say) makes the certificate corrupt, as Go's
        # parser (so cert-manager) refuses it whole. Never an exception out of a summary:
        # the Secrets informer would fail its list on it.
        raise corrupt_certificate() from None


def _summarise_parsed_leaf(
    certificate: x509.Certificate, certificate_pem: bytes
) -> tuple[LeafSummary, PublicKey | None]:
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
    # The extensions are read once, for the names and the ARI CertID; undecodable ones
    # are the names' error (describe_names reads them again to say so) and no CertID.
    extensions: ExtensionValues | None
    try:
        extensions = extension_values(certificate)
    except ValueError:
        extensions = None
    names: CertificateNamesInfo | None = None
    names_error = ""
    try:
        names = describe_names(certificate, public_key=decoded_key, extensions=extensions)
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
        ari_cert_id=_ari_cert_id(certificate, extensions),
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
    algorithm, size = key_algorithm_and_size(key)
    encodings = written_encodings(key, bytes(key_pem), algorithm=algorithm)
    public = key.public_key()
    if leaf is not None and leaf.public_key is not None and public == leaf_key:
        fingerprint = leaf.public_key  # one copy of the fingerprint
    else:
        fingerprint = public_key_fingerprint(public)
        if leaf is not None and leaf.public_key == fingerprint:
            fingerprint = leaf.public_key
    return KeySummary(public_key=fingerprint, algorithm=algorithm, size=size, encodings=encodings)


def _ari_cert_id(certificate: x509.Certificate, extensions: ExtensionValues | None) -> str | None:
    """``ari_cert_id`` from the extensions already read (None: undecodable, so no CertID
    to ask about)."""
    aki = None if extensions is None else extensions.get(x509.AuthorityKeyIdentifier)
    if aki is None:
        return None
    try:
        return cert_id(cast("x509.AuthorityKeyIdentifier", aki), certificate.serial_number)
    except ValueError:
        return None


EMPTY: Final = summarise(b"", b"")
