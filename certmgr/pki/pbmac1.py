"""PBMAC1 (RFC 9879) integrity for PKCS#12 files, which cryptography cannot write.

Owns replacing the classic MacData of a DER PKCS#12 file with a PBMAC1 one as
go-pkcs12's ``Modern2026`` encoder writes it (PBKDF2-HMAC-SHA256, 32-byte key, HMAC-SHA256
over the authenticated safe, the UTF-8 password; MacData's own salt empty and iterations
0, which readers ignore), and telling whether a file uses PBMAC1. A hand-written DER
reader/writer for those few structures only. It must not encrypt or parse bags.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import Final

from certmgr.pki.errors import PKIError

_SEQUENCE: Final = 0x30
_INTEGER: Final = 0x02
_OCTET_STRING: Final = 0x04
_OID: Final = 0x06
_CONTEXT_0: Final = 0xA0
# 1.2.840.113549.1.5.14, 1.2.840.113549.1.5.12, 1.2.840.113549.2.9 (DER contents)
_OID_PBMAC1: Final = bytes.fromhex("2a864886f70d01050e")
_OID_PBKDF2: Final = bytes.fromhex("2a864886f70d01050c")
_OID_HMAC_SHA256: Final = bytes.fromhex("2a864886f70d0209")
_KEY_LENGTH: Final = 32


def with_pbmac1(pfx: bytes, *, password: bytes, iterations: int, salt_length: int = 16) -> bytes:
    """``pfx`` (DER) with its MacData replaced by a PBMAC1 MAC under ``password``."""
    version, auth_safe, _ = _pfx_parts(pfx)
    salt = os.urandom(salt_length)
    key = hashlib.pbkdf2_hmac("sha256", password, salt, iterations, _KEY_LENGTH)
    digest = hmac.new(key, _safe_contents(auth_safe), hashlib.sha256).digest()
    hmac_sha256 = _tlv(_SEQUENCE, _tlv(_OID, _OID_HMAC_SHA256))
    kdf_params = _tlv(
        _SEQUENCE,
        _tlv(_OCTET_STRING, salt) + _integer(iterations) + _integer(_KEY_LENGTH) + hmac_sha256,
    )
    kdf = _tlv(_SEQUENCE, _tlv(_OID, _OID_PBKDF2) + kdf_params)
    algorithm = _tlv(_SEQUENCE, _tlv(_OID, _OID_PBMAC1) + _tlv(_SEQUENCE, kdf + hmac_sha256))
    digest_info = _tlv(_SEQUENCE, algorithm + _tlv(_OCTET_STRING, digest))
    mac_data = _tlv(_SEQUENCE, digest_info + _tlv(_OCTET_STRING, b"") + _integer(0))
    return _tlv(_SEQUENCE, version + auth_safe + mac_data)


def without_verified_pbmac1(pfx: bytes, *, password: bytes) -> bytes:
    """``pfx`` without its MacData once its PBMAC1 MAC checks out under ``password``, so
    a PKCS#12 reader whose OpenSSL predates PBMAC1 (3.4) can decrypt it; raises
    PKIError when the MAC does not verify."""
    version, auth_safe, mac_data = _pfx_parts(pfx)
    try:
        (digest_info, *_) = _children(_contents(mac_data, _SEQUENCE))
        algorithm, digest = _children(_contents(digest_info, _SEQUENCE))
        oid, params = _children(_contents(algorithm, _SEQUENCE))
        kdf, mac_algorithm = _children(_contents(params, _SEQUENCE))
        kdf_oid, kdf_params = _children(_contents(kdf, _SEQUENCE))
        salt, iterations, key_length, prf = _children(_contents(kdf_params, _SEQUENCE))
    except ValueError as exc:
        raise PKIError("not a PBMAC1 PKCS#12 file") from exc
    sha256 = _tlv(_SEQUENCE, _tlv(_OID, _OID_HMAC_SHA256))
    if (
        _contents(oid, _OID) != _OID_PBMAC1
        or _contents(kdf_oid, _OID) != _OID_PBKDF2
        or prf != sha256
        or mac_algorithm != sha256
    ):
        raise PKIError("unsupported PBMAC1 parameters")
    length = int.from_bytes(_contents(key_length, _INTEGER), "big")
    if not 20 <= length <= 64:
        raise PKIError("unsupported PBMAC1 key length")
    key = hashlib.pbkdf2_hmac(
        "sha256",
        password,
        _contents(salt, _OCTET_STRING),
        int.from_bytes(_contents(iterations, _INTEGER), "big"),
        length,
    )
    expected = hmac.new(key, _safe_contents(auth_safe), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, _contents(digest, _OCTET_STRING)):
        raise PKIError("PKCS#12 MAC does not verify")
    return _tlv(_SEQUENCE, version + auth_safe)


def uses_pbmac1(pfx: bytes) -> bool:
    """Whether the PKCS#12 file ``pfx`` is integrity-protected with PBMAC1."""
    try:
        _, _, mac_data = _pfx_parts(pfx)
        (digest_info, *_) = _children(_contents(mac_data, _SEQUENCE))
        (algorithm, _) = _children(_contents(digest_info, _SEQUENCE))
        (oid, *_) = _children(_contents(algorithm, _SEQUENCE))
        return _contents(oid, _OID) == _OID_PBMAC1
    except (PKIError, ValueError):
        return False


def _pfx_parts(pfx: bytes) -> tuple[bytes, bytes, bytes]:
    """The encoded version, authSafe ContentInfo and MacData of a PFX (b"" if no MAC)."""
    parts = _children(_contents(pfx, _SEQUENCE))
    if len(parts) not in (2, 3):
        raise PKIError("not a PKCS#12 file")
    return parts[0], parts[1], parts[2] if len(parts) == 3 else b""


def _safe_contents(auth_safe: bytes) -> bytes:
    """The octets the MAC covers: the ``data`` ContentInfo's OCTET STRING contents."""
    _, explicit = _children(_contents(auth_safe, _SEQUENCE))
    (octets,) = _children(_contents(explicit, _CONTEXT_0))
    return _contents(octets, _OCTET_STRING)


def _read(data: bytes, at: int) -> tuple[int, int, int]:
    """(tag, start of contents, end) of the DER element at ``at``."""
    if at + 2 > len(data):
        raise PKIError("truncated DER")
    tag, first = data[at], data[at + 1]
    start = at + 2
    if first & 0x80:
        count = first & 0x7F
        if count == 0 or count > 4:
            raise PKIError("unsupported DER length")
        length = int.from_bytes(data[start : start + count], "big")
        start += count
    else:
        length = first
    if start + length > len(data):
        raise PKIError("truncated DER")
    return tag, start, start + length


def _contents(element: bytes, tag: int) -> bytes:
    found, start, end = _read(element, 0)
    if found != tag or end != len(element):
        raise PKIError(f"expected DER tag {tag:#x}, got {found:#x}")
    return element[start:end]


def _children(contents: bytes) -> list[bytes]:
    out, at = [], 0
    while at < len(contents):
        _, _, end = _read(contents, at)
        out.append(contents[at:end])
        at = end
    return out


def _tlv(tag: int, contents: bytes) -> bytes:
    size = len(contents)
    if size < 0x80:
        return bytes((tag, size)) + contents
    encoded = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(encoded))) + encoded + contents


def _integer(value: int) -> bytes:
    return _tlv(_INTEGER, value.to_bytes(value.bit_length() // 8 + 1, "big"))
