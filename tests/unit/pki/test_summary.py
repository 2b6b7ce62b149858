"""A Secret's summary says what parsing its ``tls.crt`` and ``tls.key`` says, errors included,
and parsing it leaves nothing in the PEM memos."""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from certmgr.pki.certificates import (
    CertificateInfo,
    _describe,
    _parse_certificate,
    _parse_chain,
    encode_pem,
    parse_leaf,
)
from certmgr.pki.errors import PKIError
from certmgr.pki.keys import (
    KeyAlgorithm,
    KeyEncoding,
    _parse_private_key,
    encode_private_key,
    key_algorithm_and_size,
    parse_private_key,
    public_key_fingerprint,
    supported_public_key,
)
from certmgr.pki.renewalinfo import ari_cert_id, window_draw
from certmgr.pki.requirements import CertificateRequirements
from certmgr.pki.summary import summarise
from certmgr.pki.temporary import is_temporary_certificate, temporary_certificate
from certmgr.strings import share

from .conftest import NOW, KeyFactory, make_certificate

Pair = Callable[[KeyFactory], tuple[bytes, bytes]]


def _leaf(key: KeyFactory, *, n: int = 0) -> bytes:
    leaf = make_certificate(
        subject_key=key("ECDSA", n=n),
        issuer_key=key("ECDSA", n=5),
        subject="app.example.com",
        issuer="Test CA",
        dns_names=["app.example.com"],
    )
    return encode_pem([leaf])


def _issued(key: KeyFactory) -> tuple[bytes, bytes]:
    return _leaf(key), encode_private_key(key("ECDSA"))


def _temporary(key: KeyFactory) -> tuple[bytes, bytes]:
    requirements = CertificateRequirements(dns_names=("app.example.com",))
    return temporary_certificate(key("RSA", 2048), requirements, now=NOW), encode_private_key(
        key("RSA", 2048), encoding="PKCS8"
    )


def _mismatched(key: KeyFactory) -> tuple[bytes, bytes]:
    return _leaf(key, n=2), encode_private_key(key("ECDSA"))


def _acme_shaped(key: KeyFactory) -> tuple[bytes, bytes]:
    """A leaf as an ACME CA writes one (AKI, usages), with a subject and every kind of SAN."""
    issuer_key = key("ECDSA", n=5)
    leaf = make_certificate(
        subject_key=key("ECDSA"),
        issuer_key=issuer_key,
        subject="app.example.com",
        issuer="Test CA",
        extensions=[
            (
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),  # type: ignore[arg-type]
                False,
            ),
            (
                x509.SubjectAlternativeName(
                    [
                        x509.DNSName("app.example.com"),
                        x509.IPAddress(ipaddress.ip_address("192.0.2.1")),
                        x509.UniformResourceIdentifier("spiffe://example.com/app"),
                        x509.RFC822Name("ops@example.com"),
                        x509.DNSName("www.example.com"),
                    ]
                ),
                False,
            ),
            (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
        ],
    )
    return encode_pem([leaf]), encode_private_key(key("ECDSA"))


def _unsupported_leaf_key(key: KeyFactory) -> tuple[bytes, bytes]:
    from cryptography.hazmat.primitives.asymmetric import x25519

    leaf = make_certificate(
        subject_key=x25519.X25519PrivateKey.generate(),  # type: ignore[arg-type]
        issuer_key=key("ECDSA", n=5),
        subject="app.example.com",
        issuer="Test CA",
        dns_names=["app.example.com"],
    )
    return encode_pem([leaf]), encode_private_key(key("ECDSA"))


def _pair(
    leaf_key: tuple[KeyAlgorithm, int | None, int],
    private_key: tuple[KeyAlgorithm, int | None, int],
    *,
    encoding: KeyEncoding = "PKCS1",
) -> Pair:
    """A leaf for one key and (maybe another) private key: the summary takes the leaf's
    fingerprint for a key equal to the leaf's and computes its own otherwise."""

    def pair(key: KeyFactory) -> tuple[bytes, bytes]:
        leaf = make_certificate(
            subject_key=key(*leaf_key),
            issuer_key=key("ECDSA", None, 5),
            subject="app.example.com",
            issuer="Test CA",
            dns_names=["app.example.com"],
        )
        return encode_pem([leaf]), encode_private_key(key(*private_key), encoding=encoding)

    return pair


@pytest.mark.parametrize(
    "pair",
    [
        pytest.param(_issued, id="issued"),
        pytest.param(_temporary, id="temporary-rsa-pkcs8"),
        pytest.param(_mismatched, id="key-of-another-certificate"),
        pytest.param(_pair(("RSA", 2048, 0), ("RSA", 2048, 0)), id="rsa-pair"),
        pytest.param(_pair(("RSA", 2048, 0), ("RSA", 2048, 1)), id="rsa-other-key"),
        pytest.param(_pair(("ECDSA", 384, 0), ("ECDSA", 384, 0), encoding="PKCS8"), id="p384"),
        pytest.param(_pair(("ECDSA", 384, 0), ("ECDSA", 521, 0)), id="ecdsa-other-curve"),
        pytest.param(_pair(("Ed25519", None, 0), ("Ed25519", None, 0)), id="ed25519-pair"),
        pytest.param(_pair(("Ed25519", None, 0), ("Ed25519", None, 1)), id="ed25519-other"),
        pytest.param(_pair(("RSA", 2048, 0), ("ECDSA", 256, 0)), id="rsa-leaf-ecdsa-key"),
        pytest.param(_pair(("ECDSA", 256, 0), ("Ed25519", None, 0)), id="ecdsa-leaf-ed25519"),
        pytest.param(_acme_shaped, id="acme-shaped-every-san"),
        pytest.param(_unsupported_leaf_key, id="x25519-leaf"),
        pytest.param(lambda k: (b"", b""), id="empty"),
        pytest.param(lambda k: (b"garbage", b"garbage"), id="no-pem"),
        pytest.param(
            lambda k: (
                b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            ),
            id="corrupt-blocks",
        ),
    ],
)
def test_summary_says_what_parsing_says(key: KeyFactory, pair: Pair) -> None:
    certificate_pem, key_pem = pair(key)

    summary = summarise(certificate_pem, key_pem)

    try:
        leaf = parse_leaf(certificate_pem)
    except PKIError as exc:
        assert summary.leaf is None
        assert summary.leaf_error == str(exc)
    else:
        assert summary.leaf is not None
        assert summary.leaf_error == ""
        assert summary.leaf.not_before == leaf.not_valid_before_utc
        assert summary.leaf.not_after == leaf.not_valid_after_utc
        assert summary.leaf.window_draw == window_draw(leaf.signature)
        try:
            fingerprint = public_key_fingerprint(supported_public_key(leaf.public_key()))
        except PKIError as exc:
            assert (summary.leaf.public_key, summary.leaf.public_key_error) == (None, str(exc))
        else:
            assert (summary.leaf.public_key, summary.leaf.public_key_error) == (fingerprint, "")
        assert summary.leaf.ari_cert_id == ari_cert_id(leaf)
        for literal in (False, True):
            assert summary.leaf.is_temporary(literal_subject=literal) == is_temporary_certificate(
                leaf, literal_subject=literal
            )
        try:
            info = CertificateInfo.of(leaf)
        except PKIError as exc:
            assert (summary.leaf.names, summary.leaf.names_error) == (None, str(exc))
            assert summary.leaf.is_ca is False
        else:
            names = summary.leaf.names
            assert names is not None and summary.leaf.names_error == ""
            assert (
                names.common_name,
                names.subject,
                names.dns_names,
                names.ip_addresses,
                names.uris,
                names.emails,
                names.is_ca,
            ) == (
                info.common_name,
                info.subject,
                info.dns_names,
                info.ip_addresses,
                info.uris,
                info.emails,
                info.is_ca,
            )
            assert summary.leaf.is_ca is info.is_ca
    try:
        private_key = parse_private_key(key_pem)
    except PKIError as exc:
        assert summary.key is None
        assert summary.key_error == str(exc)
    else:
        assert summary.key is not None
        assert summary.key.public_key == public_key_fingerprint(private_key)
        assert (summary.key.algorithm, summary.key.size) == key_algorithm_and_size(private_key)
        if summary.leaf is not None and summary.leaf.public_key == summary.key.public_key:
            assert summary.key.public_key is summary.leaf.public_key  # one copy


def test_summarising_leaves_nothing_in_the_pem_memos(key: KeyFactory) -> None:
    memos = (_parse_chain, _parse_certificate, _parse_private_key, _describe)
    for each in memos:
        each.clear()

    summarise(*_issued(key))

    assert [len(each) for each in memos] == [0, 0, 0, 0]


def test_a_chains_intermediates_are_parsed_once_for_every_secret(key: KeyFactory) -> None:
    # An ACME CA's tls.crt is the leaf and its intermediate, the same for thousands of
    # Secrets: the intermediate is parsed (and its names decoded) once, the leaves never
    # enter a memo.
    memos = (_parse_chain, _parse_certificate, _parse_private_key, _describe)
    for each in memos:
        each.clear()
    intermediate_key = key("ECDSA", n=5)
    intermediate = make_certificate(
        subject_key=intermediate_key,
        issuer_key=key("ECDSA", n=6),
        subject="Test CA",
        issuer="Test Root",
        is_ca=True,
    )
    pairs = [
        (_leaf(key, n=n) + encode_pem([intermediate]), encode_private_key(key("ECDSA", n=n)))
        for n in range(3)
    ]

    summaries = [summarise(*pair) for pair in pairs]

    assert [len(each) for each in memos] == [0, 1, 0, 0]
    assert _parse_certificate.peek(encode_pem([intermediate]).strip()) == intermediate
    for (certificate_pem, _), summary in zip(pairs, summaries, strict=True):
        leaf = parse_leaf(certificate_pem)
        assert summary.leaf is not None
        assert summary.leaf.pem_sha256 == hashlib.sha256(certificate_pem).digest()
        assert summary.leaf.not_after == leaf.not_valid_after_utc
        assert summary.key is not None and summary.key.public_key == summary.leaf.public_key


def _rewrapped(pem: bytes) -> bytes:
    """The same key in PEM with 76-column lines: another writer's bytes."""
    lines = pem.decode().splitlines()
    body = "".join(lines[1:-1])
    wrapped = [body[i : i + 76] for i in range(0, len(body), 76)]
    return "\n".join([lines[0], *wrapped, lines[-1], ""]).encode()


def _crlf(pem: bytes) -> bytes:
    return pem.replace(b"\n", b"\r\n")


def _bag_attributes(pem: bytes) -> bytes:
    """As ``openssl pkcs12 -nodes`` writes a key: attribute lines before the block."""
    return b"Bag Attributes\n    localKeyID: 01 02 03 04 \nKey Attributes: <No Attributes>\n" + pem


def _same(pem: bytes) -> bytes:
    return pem


@pytest.mark.parametrize(
    ("algorithm", "size", "written_as", "rewrite", "expected"),
    [
        pytest.param("RSA", 2048, "PKCS1", _same, ("PKCS1",), id="rsa-pkcs1"),
        pytest.param("RSA", 2048, "PKCS8", _same, ("PKCS8",), id="rsa-pkcs8"),
        pytest.param("ECDSA", 256, "PKCS1", _same, ("PKCS1",), id="ecdsa-pkcs1"),
        pytest.param("ECDSA", 256, "PKCS8", _same, ("PKCS8",), id="ecdsa-p256-pkcs8"),
        pytest.param("ECDSA", 384, "PKCS8", _same, ("PKCS8",), id="ecdsa-pkcs8"),
        pytest.param("ECDSA", 521, "PKCS1", _same, ("PKCS1",), id="ecdsa-p521-pkcs1"),
        # Ed25519 has no traditional form: both encodings write PKCS#8.
        pytest.param("Ed25519", None, "PKCS1", _same, ("PKCS1", "PKCS8"), id="ed25519"),
        pytest.param("Ed25519", None, "PKCS8", _same, ("PKCS1", "PKCS8"), id="ed25519-pkcs8"),
        # Its one base64 line is as long at 76 columns: the same bytes.
        pytest.param(
            "Ed25519", None, "PKCS8", _rewrapped, ("PKCS1", "PKCS8"), id="ed25519-rewrapped"
        ),
        pytest.param("ECDSA", 256, "PKCS1", _rewrapped, (), id="ecdsa-pkcs1-other-writer"),
        pytest.param("RSA", 2048, "PKCS8", _rewrapped, (), id="rsa-pkcs8-other-writer"),
        pytest.param("RSA", 2048, "PKCS1", _crlf, (), id="rsa-pkcs1-crlf"),
        pytest.param("ECDSA", 256, "PKCS8", _crlf, (), id="ecdsa-pkcs8-crlf"),
        pytest.param("Ed25519", None, "PKCS8", _crlf, (), id="ed25519-crlf"),
        pytest.param(
            "ECDSA", 256, "PKCS1", lambda pem: pem.rstrip(b"\n"), (), id="no-final-newline"
        ),
        pytest.param("RSA", 2048, "PKCS8", _bag_attributes, (), id="text-before-the-block"),
        pytest.param(
            "ECDSA", 256, "PKCS1", lambda pem: pem + pem, (), id="the-block-written-twice"
        ),
    ],
)
def test_key_summary_lists_the_encodings_that_give_its_bytes(
    key: KeyFactory,
    algorithm: KeyAlgorithm,
    size: int | None,
    written_as: KeyEncoding,
    rewrite: Callable[[bytes], bytes],
    expected: tuple[KeyEncoding, ...],
) -> None:
    private_key = key(algorithm, size)
    pem = rewrite(encode_private_key(private_key, encoding=written_as))

    summary = summarise(b"", pem)

    assert summary.key is not None
    assert summary.key.encodings == expected


def test_a_summary_shares_what_it_repeats(key: KeyFactory) -> None:
    # Kept per cached Secret: the leaf's and key's fingerprint is one object, the names
    # are the shared strings the Secret's annotations hold, the encodings tuple and an
    # empty subject are shared by every summary.
    one = summarise(*_issued(key))
    other = summarise(_leaf(key, n=1), encode_private_key(key("ECDSA", n=1)))

    assert one.leaf is not None and one.key is not None and other.leaf is not None
    assert one.key.public_key is one.leaf.public_key
    assert one.leaf.names is not None and other.leaf.names is not None
    (name,) = one.leaf.names.dns_names
    assert name is share("app.example.com")
    assert one.leaf.names.subject is other.leaf.names.subject
    assert other.key is not None and one.key.encodings is other.key.encodings


@pytest.mark.parametrize(
    ("held", "parsed_again"),
    [
        pytest.param(False, ["chain", "key"], id="memos-empty-both-parsed"),
        pytest.param(True, [], id="memos-hold-them-neither-parsed"),
    ],
)
def test_summarising_uses_what_the_pem_memos_already_hold(
    key: KeyFactory, monkeypatch: pytest.MonkeyPatch, held: bool, parsed_again: list[str]
) -> None:
    from certmgr.pki import certificates, keys

    memos = (_parse_chain, _parse_certificate, _parse_private_key, _describe)
    for each in memos:
        each.clear()
    certificate_pem, key_pem = _issued(key)
    if held:  # what issuance parsed before writing the Secret
        parse_leaf(certificate_pem)
        parse_private_key(key_pem)
    sizes = [len(each) for each in memos]
    parsed: list[str] = []
    chain_of, load_key = certificates._chain_of, keys._load_private_key
    monkeypatch.setattr(
        certificates, "_chain_of", lambda *a, **k: parsed.append("chain") or chain_of(*a, **k)
    )
    monkeypatch.setattr(
        keys, "_load_private_key", lambda pem: parsed.append("key") or load_key(pem)
    )

    summary = summarise(certificate_pem, key_pem)

    assert parsed == parsed_again
    assert [len(each) for each in memos] == sizes  # nothing added
    assert summary == summarise(certificate_pem, key_pem)
    assert summary.leaf is not None and summary.key is not None
    assert summary.leaf.public_key == summary.key.public_key


def _with_undecodable_name(key: KeyFactory, *, field: str) -> bytes:
    """A leaf whose subject or issuer common name is invalid UTF-8 in a UTF8String:
    cryptography loads it and fails only when the name is read; Go refuses it whole."""
    marker = "MARKERXX"
    leaf = make_certificate(
        subject_key=key(),
        issuer_key=key(),
        subject=marker if field == "subject" else "leaf.example",
        issuer=marker if field == "issuer" else "ca.example",
        dns_names=["leaf.example"],
    )
    der = leaf.public_bytes(Encoding.DER).replace(marker.encode(), b"\xff\xfe" * 4)
    return encode_pem([x509.load_der_x509_certificate(der)])


@pytest.mark.parametrize("field", ["subject", "issuer"])
def test_an_undecodable_name_is_a_corrupt_certificate_not_an_exception(
    key: KeyFactory, field: str
) -> None:
    # An exception out of a summary failed the Secrets informer's list: one such Secret
    # kept the cache from syncing.
    pem = _with_undecodable_name(key, field=field)
    key_pem = encode_private_key(key())

    summary = summarise(pem, key_pem)

    assert summary.leaf is None
    assert summary.leaf_error == "error decoding certificate PEM block: corrupt certificate data"
    assert summary.key is not None
    # In a bundle, ordering the chain reads every subject and issuer: the same error.
    ca = make_certificate(subject_key=key(), issuer_key=key(), subject="ca", issuer="ca")
    with pytest.raises(PKIError, match="corrupt certificate data"):
        parse_leaf(pem + encode_pem([ca]))
