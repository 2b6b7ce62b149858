"""Java KeyStores: cert-manager's ``keystore.jks`` and ``truststore.jks``, written and read.

Owns the Sun JKS file format (version 2, big-endian: magic, version, entries, then a
SHA-1 digest keyed by the password and "Mighty Aphrodite"), Sun's KeyProtector cipher
for the private key (salted SHA-1 keystream, SHA-1 check of the plain PKCS#8), and
cert-manager's layout: the key under its alias (default ``certificate``) with the full
chain, the CA certificates as trusted entries ``ca``, ``ca-1``, ``ca-2``... The store
password is also the key password, as in cert-manager.

Written here rather than with pyjks: it is unmaintained since 2020 and pulls C
extensions (twofish, pycryptodomex) for formats we never touch. pyjks stays a test-only
dependency, as the independent reader our tests check these files with. The reader
here is only as complete as re-syncs need: to tell whether an existing store already
holds the wanted key and certificates under the password (the digest and the key's
check must both hold).
Must not: do I/O, log, or put key or password bytes into an exception message. The
KeyProtector salt is random, like the salts cryptography puts into PKCS#12 files.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from certmgr.pki.errors import PKIError
from certmgr.pki.keys import PrivateKey

DEFAULT_ALIAS: Final = "certificate"
CA_ALIAS: Final = "ca"

_MAGIC: Final = 0xFEEDFEED
_VERSION: Final = 2
_PRIVATE_KEY_TAG: Final = 1
_TRUSTED_CERTIFICATE_TAG: Final = 2
_CERTIFICATE_TYPE: Final = "X.509"
# keystore-go, so cert-manager, writes "X509"; Java accepts both names.
_CERTIFICATE_TYPES: Final = frozenset({"X.509", "X509"})
_WHITENER: Final = b"Mighty Aphrodite"
_DIGEST_SIZE: Final = 20
_MAX_UTF: Final = 0xFFFF
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
# AlgorithmIdentifier { 1.3.6.1.4.1.42.2.17.1.1 (Sun's KeyProtector), NULL }
_KEY_PROTECTOR_OID: Final = bytes.fromhex("060a2b060104012a02110101")
_DER_NULL: Final = b"\x05\x00"
_SEQUENCE: Final = 0x30
_OCTET_STRING: Final = 0x04


@dataclass(frozen=True, slots=True)
class KeyEntry:
    """A private key entry: the key and its chain, leaf first."""

    alias: str
    key: PrivateKey
    chain: tuple[x509.Certificate, ...]


@dataclass(frozen=True, slots=True)
class TrustedEntry:
    """A trusted certificate entry."""

    alias: str
    certificate: x509.Certificate


@dataclass(frozen=True, slots=True)
class JavaKeyStore:
    """A keystore's entries, each kind in file order; aliases are lower-cased as in Java."""

    keys: tuple[KeyEntry, ...] = ()
    trusted: tuple[TrustedEntry, ...] = ()


def keystore_entries(
    key: PrivateKey,
    chain: Sequence[x509.Certificate],
    *,
    alias: str = DEFAULT_ALIAS,
    ca_certificates: Sequence[x509.Certificate] = (),
) -> JavaKeyStore:
    """cert-manager's ``keystore.jks``: the key with the full chain, then the CA entries."""
    if not chain:
        raise PKIError("no certificates to put into the JKS keystore")
    return JavaKeyStore(
        keys=(KeyEntry(java_alias(alias), key, tuple(chain)),),
        trusted=truststore_entries(ca_certificates).trusted,
    )


def truststore_entries(ca_certificates: Sequence[x509.Certificate]) -> JavaKeyStore:
    """cert-manager's ``truststore.jks``: the first CA as ``ca``, the next ``ca-1``, ..."""
    return JavaKeyStore(
        trusted=tuple(
            TrustedEntry(f"{CA_ALIAS}-{i}" if i else CA_ALIAS, c)
            for i, c in enumerate(ca_certificates)
        )
    )


def build_jks(
    key: PrivateKey,
    chain: Sequence[x509.Certificate],
    *,
    password: bytes,
    created: datetime,
    alias: str = DEFAULT_ALIAS,
    ca_certificates: Sequence[x509.Certificate] = (),
) -> bytes:
    """A JKS keystore (`keystore.jks`) laid out as `keystore_entries` says."""
    entries = keystore_entries(key, chain, alias=alias, ca_certificates=ca_certificates)
    return encode_jks(entries, password=password, created=created)


def build_jks_truststore(
    ca_certificates: Sequence[x509.Certificate], *, password: bytes, created: datetime
) -> bytes:
    """A JKS truststore (`truststore.jks`) holding only CA certificates."""
    if not ca_certificates:
        raise PKIError("no CA certificates to put into the JKS truststore")
    return encode_jks(truststore_entries(ca_certificates), password=password, created=created)


def java_alias(alias: str) -> str:
    """The alias as Java's JKS stores it: lower-cased."""
    return alias.lower()


def encode_jks(store: JavaKeyStore, *, password: bytes, created: datetime) -> bytes:
    """The JKS file: key entries first, then trusted entries, all dated `created`.

    `password` (UTF-8, as a Kubernetes Secret holds it) protects the file and the keys.
    """
    secret = _password_bytes(password)
    aliases = [java_alias(e.alias) for e in store.keys]
    aliases += [java_alias(e.alias) for e in store.trusted]
    shared = sorted({a for a in aliases if aliases.count(a) > 1})
    if shared:
        raise PKIError(f"two JKS entries share the alias {shared[0]!r}")
    timestamp = _u64(_milliseconds_since_epoch(created))
    out = bytearray(_u32(_MAGIC) + _u32(_VERSION) + _u32(len(aliases)))
    for entry in store.keys:
        out += _entry_header(_PRIVATE_KEY_TAG, entry.alias, timestamp)
        out += _length_prefixed(_protected_key_info(entry.key, secret))
        out += _u32(len(entry.chain))
        out += b"".join(_certificate(c) for c in entry.chain)
    for trusted in store.trusted:
        out += _entry_header(_TRUSTED_CERTIFICATE_TAG, trusted.alias, timestamp)
        out += _certificate(trusted.certificate)
    return bytes(out + _store_digest(secret, bytes(out)))


def decode_jks(data: bytes, password: bytes) -> JavaKeyStore:
    """The entries of a JKS file; raises `PKIError` if it is not one, or not under `password`."""
    secret = _password_bytes(password)
    body, digest = data[:-_DIGEST_SIZE], data[-_DIGEST_SIZE:]
    if len(data) < 12 + _DIGEST_SIZE or not hmac.compare_digest(
        _store_digest(secret, body), digest
    ):
        raise PKIError("JKS keystore was tampered with, or the password is incorrect")
    reader = _Reader(body)
    if reader.u32() != _MAGIC or reader.u32() != _VERSION:
        raise PKIError("not a version 2 JKS keystore")
    keys: list[KeyEntry] = []
    trusted: list[TrustedEntry] = []
    for _ in range(reader.u32()):
        tag, alias = reader.u32(), reader.utf()
        reader.take(8)  # the entry's date
        if tag == _PRIVATE_KEY_TAG:
            key = _recover_key(reader.take(reader.u32()), secret)
            chain = tuple(reader.certificate() for _ in range(reader.u32()))
            keys.append(KeyEntry(alias, key, chain))
        elif tag == _TRUSTED_CERTIFICATE_TAG:
            trusted.append(TrustedEntry(alias, reader.certificate()))
        else:
            raise PKIError(f"unsupported JKS entry type {tag}")
    if not reader.at_end():
        raise PKIError("trailing data in the JKS keystore")
    return JavaKeyStore(keys=tuple(keys), trusted=tuple(trusted))


class _Reader:
    """A cursor over the JKS body; running out of bytes is a `PKIError`."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._at = 0

    def take(self, size: int) -> bytes:
        if size < 0 or self._at + size > len(self._data):
            raise PKIError("truncated JKS keystore")
        chunk = self._data[self._at : self._at + size]
        self._at += size
        return chunk

    def u32(self) -> int:
        return int.from_bytes(self.take(4), "big")

    def utf(self) -> str:
        return _from_modified_utf8(self.take(int.from_bytes(self.take(2), "big")))

    def certificate(self) -> x509.Certificate:
        if self.utf() not in _CERTIFICATE_TYPES:
            raise PKIError("unsupported certificate type in the JKS keystore")
        try:
            return x509.load_der_x509_certificate(self.take(self.u32()))
        except ValueError:
            raise PKIError("corrupt certificate in the JKS keystore") from None

    def at_end(self) -> bool:
        return self._at == len(self._data)


def _password_bytes(password: bytes) -> bytes:
    """Java's char[] password as bytes: UTF-16BE (keystore-go widens each byte instead,
    which is the same for ASCII passwords)."""
    try:
        return password.decode("utf-8").encode("utf-16-be")
    except UnicodeError:
        raise PKIError("the JKS password is not valid UTF-8") from None


def _store_digest(secret: bytes, body: bytes) -> bytes:
    return hashlib.sha1(secret + _WHITENER + body).digest()


def _protected_key_info(key: PrivateKey, secret: bytes) -> bytes:
    """The key as an EncryptedPrivateKeyInfo under Sun's KeyProtector."""
    plain = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    salt = os.urandom(_DIGEST_SIZE)
    protected = (
        salt
        + _xor(plain, _keystream(secret, salt, len(plain)))
        + hashlib.sha1(secret + plain).digest()
    )
    algorithm = _der(_SEQUENCE, _KEY_PROTECTOR_OID + _DER_NULL)
    return _der(_SEQUENCE, algorithm + _der(_OCTET_STRING, protected))


def _recover_key(info: bytes, secret: bytes) -> PrivateKey:
    """The key from its EncryptedPrivateKeyInfo; `PKIError` unless the check digest holds."""
    content = _der_only(info, _SEQUENCE)
    algorithm, rest = _der_next(content, _SEQUENCE)
    if algorithm not in (_KEY_PROTECTOR_OID + _DER_NULL, _KEY_PROTECTOR_OID):
        raise PKIError("unsupported JKS private key protection")
    protected = _der_only(rest, _OCTET_STRING)
    if len(protected) < 2 * _DIGEST_SIZE:
        raise PKIError("truncated JKS private key")
    salt, encrypted = protected[:_DIGEST_SIZE], protected[_DIGEST_SIZE:-_DIGEST_SIZE]
    plain = _xor(encrypted, _keystream(secret, salt, len(encrypted)))
    if not hmac.compare_digest(hashlib.sha1(secret + plain).digest(), protected[-_DIGEST_SIZE:]):
        raise PKIError("the JKS key password is incorrect")
    try:
        # The check digest above proves these are the bytes that were stored; skipping
        # OpenSSL's RSA primality tests saves ~65 ms per RSA 2048 key on every re-sync.
        key = serialization.load_der_private_key(
            plain, password=None, unsafe_skip_rsa_key_validation=True
        )
    except (ValueError, TypeError):
        raise PKIError("corrupt private key in the JKS keystore") from None
    if not isinstance(
        key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
    ):
        raise PKIError(f"unsupported private key type in the JKS keystore: {type(key).__name__}")
    return key


def _keystream(secret: bytes, salt: bytes, size: int) -> bytes:
    """SHA1(password + previous block), starting from the salt, until `size` bytes."""
    blocks: list[bytes] = []
    block = salt
    for _ in range(-(-size // _DIGEST_SIZE)):
        block = hashlib.sha1(secret + block).digest()
        blocks.append(block)
    return b"".join(blocks)[:size]


def _xor(data: bytes, keystream: bytes) -> bytes:
    mixed = int.from_bytes(data, "big") ^ int.from_bytes(keystream, "big")
    return mixed.to_bytes(len(data), "big")


def _entry_header(tag: int, alias: str, timestamp: bytes) -> bytes:
    return _u32(tag) + _modified_utf8(java_alias(alias)) + timestamp


def _certificate(certificate: x509.Certificate) -> bytes:
    der = certificate.public_bytes(serialization.Encoding.DER)
    return _modified_utf8(_CERTIFICATE_TYPE) + _length_prefixed(der)


def _length_prefixed(data: bytes) -> bytes:
    return _u32(len(data)) + data


def _u32(value: int) -> bytes:
    return value.to_bytes(4, "big")


def _u64(value: int) -> bytes:
    return value.to_bytes(8, "big", signed=True)


def _milliseconds_since_epoch(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _modified_utf8(text: str) -> bytes:
    """Java's DataOutput.writeUTF: a 2-byte length, then modified UTF-8 (UTF-16 code
    units each encoded alone, NUL as two bytes)."""
    utf16 = text.encode("utf-16-be", "surrogatepass")
    out = bytearray()
    for i in range(0, len(utf16), 2):
        unit = int.from_bytes(utf16[i : i + 2], "big")
        if 0 < unit < 0x80:
            out.append(unit)
        elif unit < 0x800:
            out += bytes((0xC0 | unit >> 6, 0x80 | unit & 0x3F))
        else:
            out += bytes((0xE0 | unit >> 12, 0x80 | unit >> 6 & 0x3F, 0x80 | unit & 0x3F))
    if len(out) > _MAX_UTF:
        raise PKIError("string too long for a JKS keystore")
    return len(out).to_bytes(2, "big") + bytes(out)


def _from_modified_utf8(data: bytes) -> str:
    # 0xC0 is only ever a lead byte, so replacing C0 80 cannot split a character.
    try:
        units = data.replace(b"\xc0\x80", b"\x00").decode("utf-8", "surrogatepass")
        return units.encode("utf-16-be", "surrogatepass").decode("utf-16-be")
    except UnicodeError:
        raise PKIError("corrupt string in the JKS keystore") from None


def _der(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        return bytes((tag, size)) + content
    octets = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(octets))) + octets + content


def _der_next(data: bytes, tag: int) -> tuple[bytes, bytes]:
    """(content, rest) of the DER element at the start of `data`, which must be `tag`."""
    if len(data) < 2 or data[0] != tag:
        raise PKIError("corrupt JKS private key structure")
    size, start = data[1], 2
    if size & 0x80:
        count = size & 0x7F
        if count == 0 or count > 4 or len(data) < 2 + count:
            raise PKIError("corrupt JKS private key structure")
        size, start = int.from_bytes(data[2 : 2 + count], "big"), 2 + count
    if start + size > len(data):
        raise PKIError("corrupt JKS private key structure")
    return data[start : start + size], data[start + size :]


def _der_only(data: bytes, tag: int) -> bytes:
    content, rest = _der_next(data, tag)
    if rest:
        raise PKIError("corrupt JKS private key structure")
    return content
