"""Which of ``encode_private_key``'s encodings write a parsed key's PEM byte for byte.

Owns ``written_encodings``. A candidate whose PEM label differs from the PEM's cannot give
its bytes and is not tried. An EC key of a curve and encoding already seen is judged from
its PEM alone: the encoder writes every such key as one fixed DER layout (``_Layout``)
around the private scalar and the public point, so a PEM that is exactly the PEM of a DER
of that layout is what re-encoding the key would give (the parser read the key from those
slots and checked the point against the scalar). Any other key is encoded and compared.
Must not: keep key material (a layout holds only the bytes around it), do I/O, or log.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from typing import Final, cast

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certmgr.pki.keys import KeyAlgorithm, KeyEncoding, PrivateKey, encode_private_key

ENCODINGS: Final[tuple[KeyEncoding, ...]] = ("PKCS1", "PKCS8")
_PKCS8_HEADER: Final = b"-----BEGIN PRIVATE KEY-----"


def written_encodings(
    key: PrivateKey, pem: bytes, *, algorithm: KeyAlgorithm
) -> tuple[KeyEncoding, ...]:
    """The encodings ``encode_private_key`` writes ``key`` (parsed from ``pem``, of
    ``algorithm``) in as exactly ``pem``, in ``ENCODINGS`` order; one shared tuple per
    result."""
    # PKCS8, and an Ed25519 key's PKCS1, begin "PRIVATE KEY"; the other PKCS1 forms
    # "RSA/EC PRIVATE KEY".
    pkcs8_header = pem.startswith(_PKCS8_HEADER)
    found = tuple(
        encoding
        for encoding in ENCODINGS
        if pkcs8_header == (encoding == "PKCS8" or algorithm == "Ed25519")
        and _writes(key, pem, encoding=encoding, algorithm=algorithm)
    )
    return _RESULTS[found]


# One tuple per possible result, shared by every summary.
_RESULTS: Final[dict[tuple[KeyEncoding, ...], tuple[KeyEncoding, ...]]] = {
    found: found for found in ((), ("PKCS1",), ("PKCS8",), ("PKCS1", "PKCS8"))
}


def _writes(key: PrivateKey, pem: bytes, *, encoding: KeyEncoding, algorithm: KeyAlgorithm) -> bool:
    if algorithm != "ECDSA":
        return encode_private_key(key, encoding=encoding) == pem
    ec_key = cast("ec.EllipticCurvePrivateKey", key)
    shape = (ec_key.curve.name, encoding)
    layout = _LAYOUTS.get(shape)
    if layout is not None:
        return layout.holds(pem)
    encoded = encode_private_key(key, encoding=encoding)
    if encoded != pem:
        return False
    learned = _Layout.of(ec_key, encoded)
    if learned is not None:
        _LAYOUTS[shape] = learned
    return True


@dataclass(frozen=True, slots=True)
class _Layout:
    """The PEM ``encode_private_key`` writes for any key of one curve in one encoding: a
    label, and a DER of one length that is ``head``, the private scalar, ``middle`` (which
    ends with the uncompressed point's 0x04), the point's X and Y, ``tail``. Everything
    but the two slots is fixed: tags, lengths, version, curve and algorithm identifiers."""

    label: bytes
    head: bytes
    middle: bytes
    tail: bytes
    length: int
    middle_at: int

    @classmethod
    def of(cls, key: ec.EllipticCurvePrivateKey, encoded: bytes) -> _Layout | None:
        """The layout of ``encoded`` (``key`` as ``encode_private_key`` wrote it), or None
        when it cannot be cut so (then every key of its shape is encoded and compared)."""
        label = encoded[: encoded.find(b"\n") + 1]
        der = _der_of(encoded, label)
        if der is None:
            return None
        size = (key.curve.key_size + 7) // 8
        scalar = key.private_numbers().private_value.to_bytes(size, "big")
        point = key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )[1:]  # X and Y: the 0x04 stays in ``middle``
        at, point_at = der.find(scalar), der.find(point)
        if der.count(scalar) != 1 or der.count(point) != 1 or not 0 < at + size < point_at:
            return None
        return cls(
            label=label,
            head=der[:at],
            middle=der[at + size : point_at],
            tail=der[point_at + len(point) :],
            length=len(der),
            middle_at=at + size,
        )

    def holds(self, pem: bytes) -> bool:
        """Whether ``pem`` is exactly what the encoder writes for a key in this layout."""
        der = _der_of(pem, self.label)
        return (
            der is not None
            and len(der) == self.length
            and der.startswith(self.head)
            and der.endswith(self.tail)
            and der[self.middle_at : self.middle_at + len(self.middle)] == self.middle
        )


# By (curve name, encoding); at most one per curve the loader accepts and encoding.
_LAYOUTS: Final[dict[tuple[str, KeyEncoding], _Layout]] = {}


def _der_of(pem: bytes, label: bytes) -> bytes | None:
    """The DER of ``pem`` when ``pem`` is exactly the PEM the encoder writes of it (its
    ``label`` line, base64 in lines of 64, the matching END line, a final newline);
    None otherwise. Anything else in the body (another character, line or padding) is
    dropped or refused by the decoder, so the DER does not give the body back."""
    footer = b"-----END " + label[len(b"-----BEGIN ") :]
    if not pem.startswith(label) or not pem.endswith(footer):
        return None
    body = pem[len(label) : len(pem) - len(footer)]
    try:
        der = binascii.a2b_base64(body)
    except binascii.Error:
        return None
    return der if _base64_lines(der) == body else None


def _base64_lines(der: bytes) -> bytes:
    """``der`` in base64, in lines of 64 characters, each ending in a newline."""
    text = binascii.b2a_base64(der, newline=False)
    return b"\n".join([text[at : at + 64] for at in range(0, len(text), 64)]) + b"\n"
