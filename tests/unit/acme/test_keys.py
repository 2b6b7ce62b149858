"""Account keys: algorithm per key type, refusal of unusable keys, key authorizations."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from acme import challenges
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from certmgr.acme import AcmeAccountKey, InvalidAccountKey, generate_account_key


def _pem(key: PrivateKeyTypes, *, password: bytes | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def _rsa_pkcs1(bits: int) -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


@pytest.mark.parametrize(
    ("make_pem", "algorithm"),
    [
        pytest.param(generate_account_key, "ES256", id="generated-p256"),
        pytest.param(lambda: _pem(ec.generate_private_key(ec.SECP384R1())), "ES384", id="p384"),
        pytest.param(lambda: _pem(ec.generate_private_key(ec.SECP521R1())), "ES512", id="p521"),
        pytest.param(lambda: _rsa_pkcs1(2048), "RS256", id="cert-manager-rsa-2048-pkcs1"),
    ],
)
def test_account_key_algorithm_follows_the_key(
    make_pem: Callable[[], bytes], algorithm: str
) -> None:
    key = AcmeAccountKey.from_pem(make_pem())
    assert key.algorithm.name == algorithm


@pytest.mark.parametrize(
    "make_pem",
    [
        pytest.param(generate_account_key, id="p256"),
        pytest.param(lambda: _pem(ec.generate_private_key(ec.SECP384R1())), id="p384"),
        pytest.param(lambda: _pem(ec.generate_private_key(ec.SECP521R1())), id="p521"),
        pytest.param(lambda: _rsa_pkcs1(2048), id="rsa-2048"),
    ],
)
def test_signatures_verify_as_the_library_reads_them(make_pem: Callable[[], bytes]) -> None:
    key = AcmeAccountKey.from_pem(make_pem())
    message = b"protected.payload"
    signature = key.sign(message)
    public = key.jwk.public_key().key
    assert key.algorithm.verify(public, message, signature)
    assert not key.algorithm.verify(public, message + b"!", signature)
    assert len(signature) == len(key.algorithm.sign(key.jwk.key, message))


@pytest.mark.parametrize(
    ("make_pem", "message"),
    [
        pytest.param(
            lambda: b"-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n", "not an unencrypted", id="garbage"
        ),
        pytest.param(
            lambda: _pem(ec.generate_private_key(ec.SECP256R1()), password=b"pw"),
            "not an unencrypted",
            id="encrypted",
        ),
        pytest.param(lambda: _rsa_pkcs1(1024), "1024 bits is too small", id="rsa-1024"),
        pytest.param(
            lambda: _pem(ed25519.Ed25519PrivateKey.generate()), "must be RSA", id="ed25519"
        ),
        pytest.param(
            lambda: _pem(ec.generate_private_key(ec.SECP256K1())), "must be RSA", id="secp256k1"
        ),
    ],
)
def test_unusable_account_keys_are_refused_without_echoing_them(
    make_pem: Callable[[], bytes], message: str
) -> None:
    pem = make_pem()
    with pytest.raises(InvalidAccountKey, match=message) as caught:
        AcmeAccountKey.from_pem(pem)
    body_lines = [line for line in pem.decode().splitlines() if "-----" not in line]
    rendered = str(caught.value) + repr(caught.value) + repr(caught.value.__cause__)
    assert not any(line and line in rendered for line in body_lines)


def test_repr_never_shows_the_key() -> None:
    key = AcmeAccountKey.from_pem(generate_account_key())
    assert "jwk" not in repr(key)
    assert key.thumbprint in repr(key)


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA", id="rfc8555-example"),
        pytest.param("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", id="zeros"),
    ],
)
def test_key_and_dns01_authorizations_match_the_acme_library(token: str) -> None:
    key = AcmeAccountKey.from_pem(generate_account_key())
    http01 = challenges.HTTP01.from_json({"type": "http-01", "token": token})
    dns01 = challenges.DNS01.from_json({"type": "dns-01", "token": token})
    assert key.key_authorization(token) == http01.key_authorization(key.jwk)
    assert key.dns01_txt_value(token) == dns01.validation(key.jwk)
