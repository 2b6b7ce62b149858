"""Private keys: generation, PEM encoding and parsing, and comparison with a key spec.

Owns: the `KeySpec` (cert-manager's `spec.privateKey`: algorithm, size, encoding), the sizes
cert-manager accepts and defaults (RSA 2048..8192, default 2048; ECDSA 256/384/521, default
256; Ed25519 has no size), the PEM encodings ("PKCS1" is the traditional
`RSA PRIVATE KEY` / `EC PRIVATE KEY` form; Ed25519 is always PKCS#8), and the checks the
policies use (`key_spec_violations`, `public_keys_equal`).
Must not: do I/O, log, or put key material into an exception message. Key generation and
keystore salts (`jks`, and cryptography's inside PKCS#12) are the only randomness allowed in
`certmgr.pki`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias, cast

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from certmgr.memo import memo, pem_digest
from certmgr.pki.errors import KeySpecError, PKIError

PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey: TypeAlias = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
KeyAlgorithm: TypeAlias = Literal["RSA", "ECDSA", "Ed25519"]
KeyEncoding: TypeAlias = Literal["PKCS1", "PKCS8"]

MIN_RSA_KEY_SIZE: Final = 2048
MAX_RSA_KEY_SIZE: Final = 8192
DEFAULT_RSA_KEY_SIZE: Final = 2048
DEFAULT_ECDSA_KEY_SIZE: Final = 256
# cert-manager names curves by their bit size; 521 is P-521, not a typo for 512.
_CURVES: Final[dict[int, type[ec.EllipticCurve]]] = {
    256: ec.SECP256R1,
    384: ec.SECP384R1,
    521: ec.SECP521R1,
}
_CURVE_SIZES: Final[dict[str, int]] = {"secp256r1": 256, "secp384r1": 384, "secp521r1": 521}

# Violation names as cert-manager reports them ("Existing private key is not up to date for
# spec: [spec.privateKey.size]"), so messages read the same to people who know cert-manager.
ALGORITHM_VIOLATION: Final = "spec.privateKey.algorithm"
SIZE_VIOLATION: Final = "spec.privateKey.size"


@dataclass(frozen=True, slots=True)
class KeySpec:
    """cert-manager's `spec.privateKey` minus `rotationPolicy` (a controller concern).

    `size=None` means "the algorithm's default", exactly like an omitted or zero `size`.
    """

    algorithm: KeyAlgorithm = "RSA"
    size: int | None = None
    encoding: KeyEncoding = "PKCS1"

    @property
    def effective_size(self) -> int | None:
        """The size a generated key will have; None for Ed25519 (fixed size, ignored)."""
        return effective_key_size(self.algorithm, self.size)


def effective_key_size(algorithm: KeyAlgorithm, size: int | None) -> int | None:
    """Apply cert-manager's defaults and validate; raises `KeySpecError` for invalid sizes."""
    if algorithm == "RSA":
        effective = size or DEFAULT_RSA_KEY_SIZE
        if effective < MIN_RSA_KEY_SIZE:
            raise KeySpecError(
                f"weak RSA key size specified: {effective}; minimum key size: {MIN_RSA_KEY_SIZE}"
            )
        if effective > MAX_RSA_KEY_SIZE:
            raise KeySpecError(
                f"RSA key size specified too big: {effective}; maximum key size: {MAX_RSA_KEY_SIZE}"
            )
        return effective
    if algorithm == "ECDSA":
        effective = size or DEFAULT_ECDSA_KEY_SIZE
        if effective not in _CURVES:
            raise KeySpecError(f"unsupported ECDSA key size specified: {effective}")
        return effective
    if algorithm == "Ed25519":
        # cert-manager ignores spec.privateKey.size for Ed25519; so do we.
        return None
    raise KeySpecError(f"unsupported private key algorithm specified: {algorithm!r}")


def generate_private_key(*, algorithm: KeyAlgorithm, size: int | None = None) -> PrivateKey:
    """A fresh private key; `size=None` picks cert-manager's default for the algorithm."""
    effective = effective_key_size(algorithm, size)
    if algorithm == "RSA":
        assert effective is not None  # effective_key_size always sizes RSA
        return rsa.generate_private_key(public_exponent=65537, key_size=effective)
    if algorithm == "ECDSA":
        assert effective is not None
        return ec.generate_private_key(_CURVES[effective]())
    return ed25519.Ed25519PrivateKey.generate()


def generate_private_key_for_spec(spec: KeySpec) -> PrivateKey:
    """Convenience for `generate_private_key(algorithm=spec.algorithm, size=spec.size)`."""
    return generate_private_key(algorithm=spec.algorithm, size=spec.size)


def encode_private_key(key: PrivateKey, *, encoding: KeyEncoding = "PKCS1") -> bytes:
    """Unencrypted PEM. PKCS1 is the traditional per-algorithm form; Ed25519 is always PKCS#8.

    cert-manager writes Ed25519 keys as PKCS#8 whatever the spec says, because there is no
    traditional Ed25519 form; matching it keeps Secrets byte-compatible.
    """
    if encoding not in ("PKCS1", "PKCS8"):
        raise KeySpecError(f"unsupported private key encoding: {encoding!r}")
    use_pkcs8 = encoding == "PKCS8" or key_kind(key) == ("Ed25519", True)
    fmt = (
        serialization.PrivateFormat.PKCS8
        if use_pkcs8
        else serialization.PrivateFormat.TraditionalOpenSSL
    )
    return key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=fmt,
        encryption_algorithm=serialization.NoEncryption(),
    )


def parse_private_key(pem: bytes) -> PrivateKey:
    """The first private key in `pem` (PKCS#1, SEC1 or PKCS#8, unencrypted).

    Raises `PKIError` with a fixed message: the underlying library's message is dropped on
    purpose, so no fragment of the (secret) input can reach a status, an Event or a log.

    Memoized by the PEM bytes: a next private key is read on every reconcile of an
    issuance. Key objects are immutable and those bytes already sit in the Secret cache,
    so keeping the parsed key beside them exposes nothing new; garbage is not cached
    (the `PKIError` is raised every time). A Secret's summary parses around the memo.
    """
    return _parse_private_key(bytes(pem))


def parse_private_key_once(pem: bytes) -> PrivateKey:
    """``parse_private_key`` without adding to its memo (same result, same errors), for a
    caller that keeps what it derives and drops the key at once (a Secret's summary); a
    key the memo already holds (the next private key a request was signed with) is not
    parsed again."""
    pem = bytes(pem)
    found = _parse_private_key.peek(pem)
    return found if found is not None else _load_private_key(pem)


def _load_private_key(pem: bytes) -> PrivateKey:
    if not pem or b"-----BEGIN" not in pem:
        raise PKIError("error decoding private key PEM block: no PEM data found")
    try:
        # OpenSSL's RSA check includes primality tests: 65 ms for RSA 2048 and 600 ms for
        # 4096 on our CI machine, paid on every reconcile. Go (so cert-manager) only checks
        # consistency, which `_check_rsa_consistency` does in microseconds.
        key = serialization.load_pem_private_key(
            pem, password=None, unsafe_skip_rsa_key_validation=True
        )
    except TypeError:
        raise PKIError("private key is encrypted; only unencrypted keys are supported") from None
    except (ValueError, UnsupportedAlgorithm):
        raise PKIError("error parsing private key: unrecognised or corrupt key data") from None
    kind = key_kind(key)
    if kind is None or not kind[1]:
        raise PKIError(f"unsupported private key type: {type(key).__name__}")
    if kind[0] == "ECDSA":
        curve = cast("ec.EllipticCurvePrivateKey", key).curve.name
        if curve not in _CURVE_SIZES:
            raise PKIError(f"unsupported ECDSA curve: {curve}")
    elif kind[0] == "RSA":
        _check_rsa_consistency(cast("rsa.RSAPrivateKey", key))
    return cast("PrivateKey", key)


_parse_private_key = memo(key=pem_digest)(_load_private_key)


def _check_rsa_consistency(key: rsa.RSAPrivateKey) -> None:
    """The checks of Go's rsa.PrivateKey.Validate: p*q == n and d*e == 1 mod (p-1), (q-1)."""
    numbers = key.private_numbers()
    p, q, d, e = numbers.p, numbers.q, numbers.d, numbers.public_numbers.e
    if not (p > 1 and q > 1 and p * q == numbers.public_numbers.n):
        raise PKIError("error parsing private key: inconsistent RSA key components")
    # d*e mod (p-1) is (d mod (p-1))*e mod (p-1): d is reduced once per prime (a 2048-bit
    # by 1024-bit division is ~2.5 us in Python), not twice.
    dp, dq = d % (p - 1), d % (q - 1)
    consistent = (
        (dp * e) % (p - 1) == 1
        and (dq * e) % (q - 1) == 1
        and numbers.dmp1 == dp
        and numbers.dmq1 == dq
        and (numbers.iqmp * q) % p == 1
    )
    if not consistent:
        raise PKIError("error parsing private key: inconsistent RSA key components")


def key_kind(key: object) -> tuple[KeyAlgorithm, bool] | None:
    """(algorithm, whether private) of a supported key object, None for any other object.

    isinstance against the key ABCs runs once per concrete class: the library's key
    classes are registered with them, not derived, so each test goes through
    ``ABCMeta.__instancecheck__`` (0.3-0.6 us), and a Secret's summary made about ten.
    """
    cls = type(key)
    try:
        return _KINDS[cls]
    except KeyError:
        pass
    kind = next((found for abc, found in _KIND_OF_ABC if isinstance(key, abc)), None)
    _KINDS[cls] = kind
    return kind


_KIND_OF_ABC: Final[tuple[tuple[type, tuple[KeyAlgorithm, bool]], ...]] = (
    (rsa.RSAPrivateKey, ("RSA", True)),
    (rsa.RSAPublicKey, ("RSA", False)),
    (ec.EllipticCurvePrivateKey, ("ECDSA", True)),
    (ec.EllipticCurvePublicKey, ("ECDSA", False)),
    (ed25519.Ed25519PrivateKey, ("Ed25519", True)),
    (ed25519.Ed25519PublicKey, ("Ed25519", False)),
)
_KINDS: Final[dict[type, tuple[KeyAlgorithm, bool] | None]] = {}


def supported_public_key(key: object) -> PublicKey:
    """Narrow a parsed public key (certificate, CSR) to the types we support, or `PKIError`."""
    kind = key_kind(key)
    if kind is not None and not kind[1]:
        return cast("PublicKey", key)
    raise PKIError(f"unsupported public key type: {type(key).__name__}")


def public_key_of(key: PrivateKey | PublicKey) -> PublicKey:
    """The public half of a private key; a public key is returned unchanged."""
    kind = key_kind(key)
    if kind is not None and kind[1]:
        return cast("PrivateKey", key).public_key()
    return cast("PublicKey", key)


def public_keys_equal(a: PrivateKey | PublicKey, b: PrivateKey | PublicKey) -> bool:
    """Whether two keys (private or public, any mix) share the same public key."""
    return _spki(public_key_of(a)) == _spki(public_key_of(b))


def key_algorithm_and_size(key: PrivateKey | PublicKey) -> tuple[KeyAlgorithm, int]:
    """("RSA", modulus bits), ("ECDSA", curve bits) or ("Ed25519", 256). A private key
    has its public half's size and curve: it is read without deriving that half."""
    kind = key_kind(key)
    if kind is not None and kind[0] == "RSA":
        return "RSA", cast("rsa.RSAPublicKey", key).key_size
    if kind is not None and kind[0] == "ECDSA":
        curve = cast("ec.EllipticCurvePublicKey", key).curve
        return "ECDSA", _CURVE_SIZES.get(curve.name, curve.key_size)
    return "Ed25519", 256


def key_spec_violations(key: PrivateKey | PublicKey, spec: KeySpec) -> tuple[str, ...]:
    """cert-manager's PrivateKeyMatchesSpec: which of algorithm/size differ from the spec.

    The spec's defaults apply (RSA 2048, ECDSA 256); an invalid spec size is simply a
    mismatch here, because rejecting the spec is the admission rules' job.
    """
    algorithm, size = key_algorithm_and_size(key)
    return key_size_violations(algorithm, size, spec)


def key_size_violations(algorithm: KeyAlgorithm, size: int, spec: KeySpec) -> tuple[str, ...]:
    """``key_spec_violations`` for a key known by its algorithm and size."""
    if algorithm != spec.algorithm:
        return (ALGORITHM_VIOLATION,)
    if algorithm == "Ed25519":
        return ()
    wanted = spec.size or (DEFAULT_RSA_KEY_SIZE if algorithm == "RSA" else DEFAULT_ECDSA_KEY_SIZE)
    return () if size == wanted else (SIZE_VIOLATION,)


def key_matches_spec(key: PrivateKey | PublicKey, spec: KeySpec) -> bool:
    """True when the key has the spec's algorithm and (defaulted) size."""
    return not key_spec_violations(key, spec)


def public_key_fingerprint(key: PrivateKey | PublicKey) -> bytes:
    """SHA-256 of the public key's SubjectPublicKeyInfo: equal exactly when
    ``public_keys_equal`` says so (for a key kept as a summary, not as a key object)."""
    return hashlib.sha256(_spki(public_key_of(key))).digest()


def _spki(key: PublicKey) -> bytes:
    return key.public_bytes(
        encoding=serialization.Encoding.DER,
        format=serialization.PublicFormat.SubjectPublicKeyInfo,
    )
