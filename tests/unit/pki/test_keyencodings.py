"""An EC key's encodings judged from its PEM's layout say exactly what re-encoding the key
says: every PEM the encoder would not write byte for byte (another wrapping, line ending,
point form, text around the block) is no encoding, whichever key taught the layout."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from certmgr.pki import keyencodings
from certmgr.pki.keyencodings import ENCODINGS, written_encodings
from certmgr.pki.keys import KeyEncoding, encode_private_key, parse_private_key

_CURVES = {256: ec.SECP256R1, 384: ec.SECP384R1, 521: ec.SECP521R1}


def _pem(der: bytes, label: bytes) -> bytes:
    text = base64.b64encode(der)
    lines = b"".join(text[at : at + 64] + b"\n" for at in range(0, len(text), 64))
    return b"-----BEGIN " + label + b"-----\n" + lines + b"-----END " + label + b"-----\n"


def _der(pem: bytes) -> bytes:
    return base64.b64decode(b"".join(pem.splitlines()[1:-1]))


def _label(pem: bytes) -> bytes:
    return pem.splitlines()[0][len(b"-----BEGIN ") : -len(b"-----")]


def _same(pem: bytes) -> bytes:
    return pem


def _rewrapped(pem: bytes) -> bytes:
    lines = pem.splitlines()
    body = b"".join(lines[1:-1])
    return b"\n".join(
        [lines[0], *(body[i : i + 76] for i in range(0, len(body), 76)), lines[-1], b""]
    )


def _hybrid_point(pem: bytes) -> bytes:
    """The public point written in hybrid form (0x06/0x07 and both coordinates), which the
    parser accepts and the encoder never writes."""
    public = parse_private_key(pem).public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    point = public.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    der = _der(pem)
    at = der.index(point)
    hybrid = bytes([0x06 | (public.public_numbers().y & 1)]) + point[1:]
    return _pem(der[:at] + hybrid + der[at + len(point) :], _label(pem))


def _text_before(pem: bytes) -> bytes:
    return b"Bag Attributes\n    localKeyID: 01 \n" + pem


Rewrite = Callable[[bytes], bytes]


@pytest.mark.parametrize("size", [256, 384, 521])
@pytest.mark.parametrize("encoding", ["PKCS1", "PKCS8"])
@pytest.mark.parametrize(
    ("rewrite", "written"),
    [
        pytest.param(_same, True, id="as-written"),
        pytest.param(_rewrapped, False, id="76-columns"),
        pytest.param(lambda pem: pem.replace(b"\n", b"\r\n"), False, id="crlf"),
        pytest.param(lambda pem: pem.rstrip(b"\n"), False, id="no-final-newline"),
        pytest.param(_hybrid_point, False, id="hybrid-point"),
        pytest.param(_text_before, False, id="text-before-the-block"),
    ],
)
def test_a_known_layout_says_what_re_encoding_says(
    size: int, encoding: KeyEncoding, rewrite: Rewrite, written: bool
) -> None:
    teacher = ec.generate_private_key(_CURVES[size]())
    assert written_encodings(
        teacher, encode_private_key(teacher, encoding=encoding), algorithm="ECDSA"
    ) == (encoding,)
    assert (_CURVES[size].name, encoding) in keyencodings._LAYOUTS
    pem = rewrite(encode_private_key(ec.generate_private_key(_CURVES[size]()), encoding=encoding))
    key = parse_private_key(pem)

    found = written_encodings(key, pem, algorithm="ECDSA")

    assert found == _re_encoded(key, pem)
    assert found == ((encoding,) if written else ())


def test_a_scalar_with_leading_zero_bytes_fills_its_slot() -> None:
    """The encoder pads a small private scalar to the curve's size: such a key fits the
    layout a random one taught. (The parser refuses the scalar written short.)"""
    teacher = ec.generate_private_key(ec.SECP256R1())
    written_encodings(teacher, encode_private_key(teacher), algorithm="ECDSA")
    small = ec.derive_private_key(0x1234, ec.SECP256R1())
    pem = encode_private_key(small)

    assert written_encodings(small, pem, algorithm="ECDSA") == ("PKCS1",)


def _re_encoded(key: ec.EllipticCurvePrivateKey, pem: bytes) -> tuple[KeyEncoding, ...]:
    return tuple(e for e in ENCODINGS if encode_private_key(key, encoding=e) == pem)


def test_a_sec1_key_without_its_public_key_is_another_writers() -> None:
    """SEC1's public key is optional; the parser derives it, the encoder writes it: a PEM
    without it is not what re-encoding gives, layout known or not."""
    teacher = ec.generate_private_key(ec.SECP256R1())
    written_encodings(teacher, encode_private_key(teacher), algorithm="ECDSA")
    der = _der(encode_private_key(ec.generate_private_key(ec.SECP256R1())))
    assert der[-70:-68] == b"\xa1\x44"  # [1], the public key: the last 70 bytes
    without = der[2:-70]  # version, scalar, curve
    pem = _pem(bytes([0x30, len(without)]) + without, b"EC PRIVATE KEY")
    key = parse_private_key(pem)

    assert written_encodings(key, pem, algorithm="ECDSA") == _re_encoded(key, pem) == ()
