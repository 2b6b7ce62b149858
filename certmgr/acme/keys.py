"""ACME account keys: loading, generating, the JWS algorithm, key authorizations.

Owns :class:`AcmeAccountKey`. New keys are EC P-256 (``ES256``): signing is ~20x cheaper
than RSA-2048 and generation is instant, which matters when a CA rejects nonces and we
re-sign. cert-manager generates RSA-2048 account keys; those load too (``RS256``), so
an account Secret written by cert-manager keeps working. P-384 / P-521 keys use
``ES384`` / ``ES512``.

It must never put key bytes into a log line, an exception message, or ``repr``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from josepy.b64 import b64encode
from josepy.jwa import ES256, ES384, ES512, RS256, JWASignature
from josepy.jwk import JWK, JWKEC, JWKRSA

from certmgr.acme.errors import InvalidAccountKey

_EC_ALGORITHMS = {
    "secp256r1": ES256,
    "secp384r1": ES384,
    "secp521r1": ES512,
}
# Each curve's signature scheme and the length of r and s (RFC 7518 3.4), as josepy's.
_EC_SIGNING = {
    "secp256r1": (ec.ECDSA(hashes.SHA256()), 32),
    "secp384r1": (ec.ECDSA(hashes.SHA384()), 48),
    "secp521r1": (ec.ECDSA(hashes.SHA512()), 66),
}


def generate_account_key() -> bytes:
    """A new EC P-256 private key as unencrypted PKCS#8 PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@dataclass(frozen=True, slots=True)
class AcmeAccountKey:
    """A loaded account key with the JWK and algorithm the JWS signer needs."""

    jwk: JWK = field(repr=False)
    algorithm: JWASignature
    thumbprint: str
    # An EC key as cryptography's object, to sign without josepy's wrappers (a third of
    # a signature's CPU); None for RSA, which josepy signs.
    _ec_key: ec.EllipticCurvePrivateKey | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_pem(cls, pem: bytes) -> AcmeAccountKey:
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError):
            # No chaining: some loaders echo fragments of the input.
            raise InvalidAccountKey("account key is not an unencrypted PEM private key") from None
        jwk: JWK
        if isinstance(key, rsa.RSAPrivateKey):
            if key.key_size < 2048:
                raise InvalidAccountKey(f"RSA account key of {key.key_size} bits is too small")
            jwk, algorithm = JWKRSA(key=key), RS256
        elif isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name in _EC_ALGORITHMS:
            jwk, algorithm = JWKEC(key=key), _EC_ALGORITHMS[key.curve.name]
        else:
            raise InvalidAccountKey(
                "account key must be RSA (>= 2048 bits) or EC P-256/P-384/P-521"
            )
        thumbprint = b64encode(jwk.thumbprint(hash_function=hashes.SHA256)).decode()
        ec_key = key if isinstance(key, ec.EllipticCurvePrivateKey) else None
        return cls(jwk=jwk, algorithm=algorithm, thumbprint=thumbprint, _ec_key=ec_key)

    def sign(self, message: bytes) -> bytes:
        """The JWS signature of ``message`` with ``algorithm``, as josepy's
        ``algorithm.sign`` makes it (EC: r || s, each as long as the curve's order)."""
        key = self._ec_key
        if key is None:
            return bytes(self.algorithm.sign(self.jwk.key, message))
        scheme, length = _EC_SIGNING[key.curve.name]
        r, s = decode_dss_signature(key.sign(message, scheme))
        return r.to_bytes(length, "big") + s.to_bytes(length, "big")

    def key_authorization(self, token: str) -> str:
        """RFC 8555 section 8.1: what an HTTP-01 responder serves for ``token``."""
        return f"{token}.{self.thumbprint}"

    def dns01_txt_value(self, token: str) -> str:
        """RFC 8555 section 8.4: the TXT record value for a DNS-01 challenge."""
        digest = hashlib.sha256(self.key_authorization(token).encode()).digest()
        return b64encode(digest).decode()
