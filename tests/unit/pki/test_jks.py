"""JKS keystores: our writer read back by our reader, by pyjks and (when installed) keytool."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime

import jks as pyjks
import pytest
from cryptography.hazmat.primitives import serialization

from certmgr.pki.certificates import encode_der
from certmgr.pki.errors import PKIError
from certmgr.pki.jks import (
    JavaKeyStore,
    KeyEntry,
    TrustedEntry,
    build_jks,
    build_jks_truststore,
    decode_jks,
    encode_jks,
)
from certmgr.pki.keys import public_keys_equal

CREATED = datetime(2026, 1, 1, tzinfo=UTC)
KEY_KINDS = [pytest.param(("RSA", 2048), id="rsa"), pytest.param(("ECDSA", 256), id="ecdsa")]


@pytest.fixture(params=KEY_KINDS)
def leaf_key_and_chain(request, key, make_cert, chain):  # type: ignore[no-untyped-def]
    """(key, (leaf, intermediate, root)): a leaf of the given key kind, issued by `chain`'s."""
    algorithm, size = request.param
    leaf_key = key(algorithm, size)
    leaf = make_cert(
        subject_key=leaf_key,
        issuer_key=key("ECDSA", 256, 11),
        subject="leaf.example.com",
        issuer="Intermediate",
    )
    return leaf_key, (leaf, chain[1], chain[2])


def test_our_reader_reads_back_key_chain_and_ca(leaf_key_and_chain) -> None:
    leaf_key, chain = leaf_key_and_chain
    data = build_jks(
        leaf_key,
        chain[:2],
        password=b"s3cret",
        created=CREATED,
        alias="MyKey",
        ca_certificates=(chain[2],),
    )
    store = decode_jks(data, b"s3cret")
    [entry] = store.keys
    assert (entry.alias, entry.chain) == ("mykey", chain[:2])  # lower-cased as Java does
    assert public_keys_equal(entry.key, leaf_key)
    assert store.trusted == (TrustedEntry("ca", chain[2]),)


def test_pyjks_reads_our_keystore(leaf_key_and_chain) -> None:
    leaf_key, chain = leaf_key_and_chain
    data = build_jks(
        leaf_key, chain[:2], password=b"s3cret", created=CREATED, ca_certificates=chain[1:]
    )
    loaded = pyjks.KeyStore.loads(data, "s3cret")
    assert loaded.store_type == "jks"
    assert set(loaded.private_keys) == {"certificate"}
    entry = loaded.private_keys["certificate"]
    assert entry.is_decrypted()  # with the store password: key password = store password
    decrypted = serialization.load_der_private_key(entry.pkey_pkcs8, password=None)
    assert public_keys_equal(decrypted, leaf_key)  # type: ignore[arg-type]
    assert entry.cert_chain == [("X.509", encode_der(c)) for c in chain[:2]]
    assert entry.timestamp == int(CREATED.timestamp() * 1000)
    assert {a: e.cert for a, e in loaded.certs.items()} == {
        "ca": encode_der(chain[1]),
        "ca-1": encode_der(chain[2]),
    }
    with pytest.raises(pyjks.KeystoreSignatureException):
        pyjks.KeyStore.loads(data, "wrong")


def test_pyjks_reads_our_truststore(chain) -> None:
    data = build_jks_truststore(chain[1:], password=b"pw", created=CREATED)
    loaded = pyjks.KeyStore.loads(data, "pw")
    assert loaded.private_keys == {}
    assert {a: e.cert for a, e in loaded.certs.items()} == {
        "ca": encode_der(chain[1]),
        "ca-1": encode_der(chain[2]),
    }
    assert decode_jks(data, b"pw") == JavaKeyStore(
        trusted=(TrustedEntry("ca", chain[1]), TrustedEntry("ca-1", chain[2]))
    )


def test_our_reader_reads_a_keystore_pyjks_wrote(key, chain) -> None:
    der = key().private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    entry = pyjks.PrivateKeyEntry.new("web", [encode_der(c) for c in chain[:2]], der)
    trusted = pyjks.TrustedCertEntry.new("root", encode_der(chain[2]))
    data = pyjks.KeyStore.new("jks", [entry, trusted]).saves("pw")
    store = decode_jks(data, b"pw")
    assert [(e.alias, e.chain) for e in store.keys] == [("web", chain[:2])]
    assert public_keys_equal(store.keys[0].key, key())
    assert store.trusted == (TrustedEntry("root", chain[2]),)


def test_a_key_under_another_password_is_rejected(key, chain) -> None:
    der = key().private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    entry = pyjks.PrivateKeyEntry.new("web", [encode_der(chain[0])], der)
    entry.encrypt("other")
    data = pyjks.KeyStore.new("jks", [entry]).saves("pw")
    with pytest.raises(PKIError, match="key password"):
        decode_jks(data, b"pw")


def test_wrong_password_is_rejected(key, chain) -> None:
    data = build_jks(key(), chain, password=b"pw", created=CREATED)
    with pytest.raises(PKIError, match="password"):
        decode_jks(data, b"wrong")


@pytest.mark.parametrize(
    "position",
    [pytest.param(4, id="version"), pytest.param(100, id="key"), pytest.param(-1, id="digest")],
)
def test_a_changed_byte_is_rejected(key, chain, position: int) -> None:
    data = bytearray(build_jks(key(), chain, password=b"pw", created=CREATED))
    data[position] ^= 0x01
    with pytest.raises(PKIError):
        decode_jks(bytes(data), b"pw")


@pytest.mark.parametrize(
    "data",
    [pytest.param(b"", id="empty"), pytest.param(b"\xfe\xed\xfe\xed" * 10, id="garbage")],
)
def test_non_keystores_are_rejected(data: bytes) -> None:
    with pytest.raises(PKIError):
        decode_jks(data, b"pw")


@pytest.mark.parametrize(
    "alias", [pytest.param("Zertifikat-ü", id="latin"), pytest.param("键-\U0001f511", id="astral")]
)
def test_non_ascii_aliases_round_trip(key, chain, alias: str) -> None:
    data = build_jks(key(), chain[:1], password=b"pw", created=CREATED, alias=alias)
    assert decode_jks(data, b"pw").keys[0].alias == alias.lower()


def test_non_ascii_password_is_utf16_as_in_java(key, chain) -> None:
    data = build_jks(key(), chain[:1], password="pässwörd".encode(), created=CREATED)
    assert set(pyjks.KeyStore.loads(data, "pässwörd").private_keys) == {"certificate"}


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda k, c: build_jks(k, (), password=b"pw", created=CREATED), id="no-chain"),
        pytest.param(
            lambda k, c: build_jks_truststore((), password=b"pw", created=CREATED), id="no-cas"
        ),
        pytest.param(
            lambda k, c: build_jks(
                k, c, password=b"pw", created=CREATED, alias="CA", ca_certificates=c[2:]
            ),
            id="alias-taken-by-the-ca",
        ),
        pytest.param(
            lambda k, c: encode_jks(
                JavaKeyStore(keys=(KeyEntry("web", k, c),)), password=b"\xff", created=CREATED
            ),
            id="password-not-utf8",
        ),
    ],
)
def test_unwritable_keystores_raise(key, chain, build) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PKIError):
        build(key(), chain)


@pytest.mark.skipif(shutil.which("keytool") is None, reason="no Java keytool installed")
def test_keytool_lists_a_private_key_entry(tmp_path, key, chain) -> None:
    path = tmp_path / "keystore.jks"
    path.write_bytes(
        build_jks(key(), chain[:2], password=b"s3cret", created=CREATED, ca_certificates=chain[2:])
    )
    listed = subprocess.run(
        ["keytool", "-list", "-v", "-keystore", str(path), "-storepass", "s3cret"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert "Alias name: certificate\n" in listed and "Entry type: PrivateKeyEntry" in listed
    assert "Alias name: ca\n" in listed and "Entry type: trustedCertEntry" in listed
