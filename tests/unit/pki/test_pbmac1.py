"""PBMAC1 (RFC 9879) MACs on PKCS#12 keystores, as go-pkcs12's Modern2026 writes them.

Checked independently of certmgr's DER code: pyasn1 (a test dependency, through pyjks)
decodes the MacData, and the MAC is recomputed with hashlib from what it says.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest
from pyasn1.codec.der import decoder
from pyasn1.type import univ

from certmgr.pki.certificates import build_pkcs12, build_pkcs12_truststore
from certmgr.pki.errors import PKIError
from certmgr.pki.pbmac1 import uses_pbmac1, without_verified_pbmac1

PBMAC1 = univ.ObjectIdentifier("1.2.840.113549.1.5.14")
PBKDF2 = univ.ObjectIdentifier("1.2.840.113549.1.5.12")
HMAC_SHA256 = univ.ObjectIdentifier("1.2.840.113549.2.9")


def _der(data: bytes) -> Any:
    """The DER value as nested lists of pyasn1 scalars."""
    value, rest = decoder.decode(data)
    assert rest == b""
    return _plain(value)


def _plain(value: Any) -> Any:
    if isinstance(value, univ.SequenceAndSetBase | univ.SequenceOfAndSetOfBase):
        return [_plain(value[i]) for i in range(len(value))]
    return value


def test_the_mac_is_pbmac1_with_pbkdf2_hmac_sha256_over_the_safe(key, chain) -> None:
    pfx = build_pkcs12(key(), chain[:2], password=b"s3cret", profile="Modern2026")
    version, auth_safe, mac_data = _der(pfx)
    assert int(version) == 3
    digest_info, mac_salt, iterations = mac_data
    (oid, ((kdf_oid, kdf_params), (mac_oid,))), digest = digest_info
    assert (oid, kdf_oid, mac_oid) == (PBMAC1, PBKDF2, HMAC_SHA256)
    salt, rounds, length, (prf,) = kdf_params
    assert (len(salt), int(rounds), int(length), prf) == (16, 2048, 32, HMAC_SHA256)
    assert (bytes(mac_salt), int(iterations)) == (b"", 0)  # ignored by readers; as go-pkcs12
    # The generic decoder unwraps ContentInfo's [0] EXPLICIT: this is the safe's octets.
    safe = bytes(auth_safe[1])
    derived = hashlib.pbkdf2_hmac("sha256", b"s3cret", bytes(salt), 2048, 32)
    assert bytes(digest) == hmac.new(derived, safe, hashlib.sha256).digest()


@pytest.mark.parametrize("profile", ["LegacyDES", "Modern2023", "Modern2026"])
def test_uses_pbmac1_only_for_modern2026(key, chain, profile) -> None:
    pfx = build_pkcs12(key(), chain[:1], password=b"pw", profile=profile)
    assert uses_pbmac1(pfx) is (profile == "Modern2026")
    assert uses_pbmac1(build_pkcs12_truststore([chain[2]], password=b"pw", profile=profile)) is (
        profile == "Modern2026"
    )


def test_without_verified_pbmac1_checks_the_password_and_the_bytes(key, chain) -> None:
    pfx = build_pkcs12(key(), chain[:1], password=b"pw", profile="Modern2026")
    stripped = without_verified_pbmac1(pfx, password=b"pw")
    assert len(_der(stripped)) == 2  # version and authSafe, no MacData
    with pytest.raises(PKIError):
        without_verified_pbmac1(pfx, password=b"other")
    tampered = bytearray(pfx)
    tampered[len(tampered) // 2] ^= 1
    with pytest.raises(PKIError):
        without_verified_pbmac1(bytes(tampered), password=b"pw")
    with pytest.raises(PKIError):
        without_verified_pbmac1(
            build_pkcs12(key(), chain[:1], password=b"pw", profile="Modern2023"), password=b"pw"
        )


def test_garbage_is_not_pbmac1() -> None:
    assert uses_pbmac1(b"\x30\x03\x02\x01\x03") is False
    assert uses_pbmac1(b"nope") is False
