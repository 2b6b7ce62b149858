"""Key generation, PEM encodings, parsing errors and spec comparison."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from certmgr.pki.errors import KeySpecError, PKIError
from certmgr.pki.keys import (
    KeySpec,
    effective_key_size,
    encode_private_key,
    key_algorithm_and_size,
    key_matches_spec,
    key_spec_violations,
    parse_private_key,
    public_keys_equal,
)


@pytest.mark.parametrize(
    ("algorithm", "size", "expected"),
    [
        pytest.param("RSA", None, ("RSA", 2048), id="rsa-default-2048"),
        pytest.param("RSA", 3072, ("RSA", 3072), id="rsa-3072"),
        pytest.param("ECDSA", None, ("ECDSA", 256), id="ecdsa-default-p256"),
        pytest.param("ECDSA", 384, ("ECDSA", 384), id="ecdsa-p384"),
        pytest.param("ECDSA", 521, ("ECDSA", 521), id="ecdsa-p521"),
        pytest.param("Ed25519", None, ("Ed25519", 256), id="ed25519"),
        pytest.param("Ed25519", 4096, ("Ed25519", 256), id="ed25519-ignores-size"),
    ],
)
def test_generated_keys_have_the_requested_algorithm_and_size(
    key, algorithm, size, expected
) -> None:
    assert key_algorithm_and_size(key(algorithm, size)) == expected


@pytest.mark.parametrize(
    ("algorithm", "size", "expected"),
    [
        pytest.param("RSA", 0, 2048, id="rsa-zero-means-default"),
        pytest.param("RSA", 4096, 4096, id="rsa-4096"),
        pytest.param("RSA", 8192, 8192, id="rsa-max"),
        pytest.param("ECDSA", 0, 256, id="ecdsa-zero-means-default"),
        pytest.param("Ed25519", 123, None, id="ed25519-no-size"),
    ],
)
def test_effective_key_size_applies_cert_manager_defaults(algorithm, size, expected) -> None:
    assert effective_key_size(algorithm, size) == expected


@pytest.mark.parametrize(
    ("algorithm", "size"),
    [
        pytest.param("RSA", 1024, id="rsa-too-weak"),
        pytest.param("RSA", 8193, id="rsa-too-big"),
        pytest.param("ECDSA", 512, id="ecdsa-512-is-not-a-curve"),
        pytest.param("ECDSA", 224, id="ecdsa-p224-unsupported"),
        pytest.param("DSA", None, id="unknown-algorithm"),
    ],
)
def test_invalid_key_specs_are_rejected(algorithm, size) -> None:
    with pytest.raises(KeySpecError):
        effective_key_size(algorithm, size)


@pytest.mark.parametrize(
    ("algorithm", "size", "encoding", "header", "key_type"),
    [
        pytest.param("RSA", None, "PKCS1", b"RSA PRIVATE KEY", rsa.RSAPrivateKey, id="rsa-pkcs1"),
        pytest.param("RSA", None, "PKCS8", b"PRIVATE KEY", rsa.RSAPrivateKey, id="rsa-pkcs8"),
        pytest.param(
            "ECDSA", 384, "PKCS1", b"EC PRIVATE KEY", ec.EllipticCurvePrivateKey, id="ec-pkcs1"
        ),
        pytest.param(
            "ECDSA", 384, "PKCS8", b"PRIVATE KEY", ec.EllipticCurvePrivateKey, id="ec-pkcs8"
        ),
        pytest.param(
            "Ed25519",
            None,
            "PKCS1",
            b"PRIVATE KEY",
            ed25519.Ed25519PrivateKey,
            id="ed25519-pkcs1-is-pkcs8",
        ),
        pytest.param(
            "Ed25519", None, "PKCS8", b"PRIVATE KEY", ed25519.Ed25519PrivateKey, id="ed25519-pkcs8"
        ),
    ],
)
def test_encoding_round_trips_with_the_expected_pem_header(
    key, algorithm, size, encoding, header, key_type
) -> None:
    original = key(algorithm, size)
    pem = encode_private_key(original, encoding=encoding)
    assert pem.startswith(b"-----BEGIN " + header + b"-----\n")
    parsed = parse_private_key(pem)
    assert isinstance(parsed, key_type)
    assert public_keys_equal(parsed, original)


def test_unknown_encoding_is_rejected(key) -> None:
    with pytest.raises(KeySpecError):
        encode_private_key(key(), encoding="JKS")  # type: ignore[arg-type]


def _corrupt(pem: bytes) -> bytes:
    lines = pem.splitlines()
    lines[2] = b"A" * len(lines[2])
    return b"\n".join(lines)


@pytest.mark.parametrize(
    "make_pem",
    [
        pytest.param(lambda k: b"", id="empty"),
        pytest.param(lambda k: b"definitely not a key", id="not-pem"),
        pytest.param(lambda k: _corrupt(encode_private_key(k("RSA"))), id="corrupt-body"),
        pytest.param(
            lambda k: k("ECDSA").private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(b"pw"),
            ),
            id="encrypted",
        ),
        pytest.param(
            lambda k: (
                k("ECDSA")
                .public_key()
                .public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                )
            ),
            id="public-key-only",
        ),
    ],
)
def test_parse_errors_are_pki_errors_without_key_material(key, make_pem) -> None:
    pem = make_pem(key)
    with pytest.raises(PKIError) as caught:
        parse_private_key(pem)
    message = str(caught.value)
    body_lines = [line for line in pem.splitlines() if line and not line.startswith(b"-----")]
    assert all(line[:16].decode(errors="ignore") not in message for line in body_lines)
    assert caught.value.__cause__ is None  # the library's message is not chained along


@pytest.mark.parametrize(
    ("algorithm", "size", "spec", "violations"),
    [
        pytest.param("RSA", None, KeySpec(), (), id="rsa-default-matches-default-spec"),
        pytest.param("RSA", None, KeySpec("RSA", 2048), (), id="rsa-explicit-size"),
        pytest.param(
            "RSA", None, KeySpec("RSA", 4096), ("spec.privateKey.size",), id="rsa-size-differs"
        ),
        pytest.param("ECDSA", None, KeySpec("ECDSA"), (), id="ecdsa-default"),
        pytest.param(
            "ECDSA", 384, KeySpec("ECDSA"), ("spec.privateKey.size",), id="ecdsa-size-differs"
        ),
        pytest.param(
            "ECDSA", None, KeySpec("RSA"), ("spec.privateKey.algorithm",), id="algorithm-differs"
        ),
        pytest.param("Ed25519", None, KeySpec("Ed25519", 999), (), id="ed25519-size-ignored"),
        pytest.param(
            "Ed25519", None, KeySpec("ECDSA"), ("spec.privateKey.algorithm",), id="ed25519-vs-ec"
        ),
    ],
)
def test_key_spec_violations(key, algorithm, size, spec, violations) -> None:
    assert key_spec_violations(key(algorithm, size), spec) == violations
    assert key_matches_spec(key(algorithm, size), spec) is (not violations)


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        pytest.param(("ECDSA", None, 0), ("ECDSA", None, 0), True, id="same-key"),
        pytest.param(("ECDSA", None, 0), ("ECDSA", None, 1), False, id="different-ec-keys"),
        pytest.param(("RSA", None, 0), ("ECDSA", None, 0), False, id="different-algorithms"),
        pytest.param(("Ed25519", None, 0), ("Ed25519", None, 1), False, id="different-ed25519"),
    ],
)
def test_public_keys_equal(key, a, b, equal) -> None:
    assert public_keys_equal(key(*a), key(*b)) is equal
    assert public_keys_equal(key(*a).public_key(), key(*b)) is equal


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param({"d": 2}, id="d-not-the-inverse-of-e"),
        pytest.param({"dmp1": 2}, id="dmp1"),
        pytest.param({"dmq1": 2}, id="dmq1"),
        pytest.param({"iqmp": 1}, id="iqmp"),
    ],
)
def test_inconsistent_rsa_key_is_rejected(key, tamper) -> None:
    numbers = key("RSA").private_numbers()
    fields = {
        "p": numbers.p,
        "q": numbers.q,
        "d": numbers.d,
        "dmp1": numbers.dmp1,
        "dmq1": numbers.dmq1,
        "iqmp": numbers.iqmp,
    }
    for name, delta in tamper.items():
        fields[name] += delta
    tampered = rsa.RSAPrivateNumbers(**fields, public_numbers=numbers.public_numbers).private_key(
        unsafe_skip_rsa_key_validation=True
    )
    with pytest.raises(PKIError, match="inconsistent RSA key"):
        parse_private_key(encode_private_key(tampered))


def test_parse_private_key_is_memoized_by_bytes_and_never_caches_garbage() -> None:
    pem = encode_private_key(ec.generate_private_key(ec.SECP256R1()), encoding="PKCS8")
    first = parse_private_key(pem)
    assert parse_private_key(bytearray(pem)) is first
    garbage = pem.replace(b"\n", b"\n!", 2)
    for _ in range(2):
        with pytest.raises(PKIError):
            parse_private_key(garbage)


def _ed448() -> object:
    from cryptography.hazmat.primitives.asymmetric import ed448

    return ed448.Ed448PrivateKey.generate()


def _x25519() -> object:
    from cryptography.hazmat.primitives.asymmetric import x25519

    return x25519.X25519PrivateKey.generate()


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        pytest.param(lambda k: k("RSA"), ("RSA", True), id="rsa-private"),
        pytest.param(lambda k: k("RSA").public_key(), ("RSA", False), id="rsa-public"),
        pytest.param(lambda k: k("ECDSA"), ("ECDSA", True), id="ecdsa-private"),
        pytest.param(lambda k: k("ECDSA").public_key(), ("ECDSA", False), id="ecdsa-public"),
        pytest.param(lambda k: k("Ed25519"), ("Ed25519", True), id="ed25519-private"),
        pytest.param(lambda k: k("Ed25519").public_key(), ("Ed25519", False), id="ed25519-public"),
        pytest.param(lambda k: _ed448(), None, id="ed448"),
        pytest.param(lambda k: _x25519(), None, id="x25519"),
        pytest.param(lambda k: object(), None, id="not-a-key"),
    ],
)
def test_key_kind_is_what_the_key_abcs_say(key, make, expected) -> None:
    from certmgr.pki.keys import key_kind, public_key_of, supported_public_key

    value = make(key)
    abcs = {
        ("RSA", True): rsa.RSAPrivateKey,
        ("RSA", False): rsa.RSAPublicKey,
        ("ECDSA", True): ec.EllipticCurvePrivateKey,
        ("ECDSA", False): ec.EllipticCurvePublicKey,
        ("Ed25519", True): ed25519.Ed25519PrivateKey,
        ("Ed25519", False): ed25519.Ed25519PublicKey,
    }

    for _ in range(2):  # the second answer comes from the per-class table
        assert key_kind(value) == expected
        assert [kind for kind, abc in abcs.items() if isinstance(value, abc)] == (
            [expected] if expected else []
        )
    if expected is None or expected[1]:
        with pytest.raises(PKIError, match=f"unsupported public key type: {type(value).__name__}"):
            supported_public_key(value)
    else:
        assert supported_public_key(value) is value
        assert public_key_of(value) is value  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(lambda: _ed448(), "unsupported private key type: Ed448PrivateKey", id="ed448"),
        pytest.param(
            lambda: _x25519(), "unsupported private key type: X25519PrivateKey", id="x25519"
        ),
        pytest.param(
            lambda: ec.generate_private_key(ec.SECP256K1()),
            "unsupported ECDSA curve: secp256k1",
            id="secp256k1",
        ),
    ],
)
def test_unsupported_private_keys_are_named(make, message) -> None:
    pem = make().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )

    with pytest.raises(PKIError) as caught:
        parse_private_key(pem)

    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("algorithm", "size"),
    [
        pytest.param("RSA", 2048, id="rsa-2048"),
        pytest.param("RSA", 3072, id="rsa-3072"),
        pytest.param("ECDSA", 256, id="p256"),
        pytest.param("ECDSA", 384, id="p384"),
        pytest.param("ECDSA", 521, id="p521"),
        pytest.param("Ed25519", None, id="ed25519"),
    ],
)
def test_a_private_key_has_its_public_halfs_algorithm_and_size(key, algorithm, size) -> None:
    private_key = key(algorithm, size)

    assert key_algorithm_and_size(private_key) == key_algorithm_and_size(private_key.public_key())
    assert key_algorithm_and_size(private_key) == (algorithm, size or 256)
