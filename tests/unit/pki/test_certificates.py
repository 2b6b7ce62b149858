"""Chain parsing, CertificateInfo, chain splitting and the Secret output formats."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from certmgr.pki.certificates import (
    CertificateInfo,
    build_pkcs12,
    build_pkcs12_truststore,
    combined_pem,
    encode_der,
    encode_pem,
    parse_chain,
    parse_leaf,
    private_key_der,
    root_of_chain,
    split_leaf_and_chain,
)
from certmgr.pki.errors import PKIError
from certmgr.pki.keys import encode_private_key, public_keys_equal
from certmgr.pki.requirements import X509Subject

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "order",
    [
        pytest.param((0, 1, 2), id="already-ordered"),
        pytest.param((2, 1, 0), id="reversed"),
        pytest.param((1, 0, 2), id="shuffled"),
        pytest.param((0, 1, 1, 2), id="duplicate-intermediate"),
    ],
)
def test_parse_chain_orders_leaf_first(chain, order) -> None:
    bundle = encode_pem([chain[i] for i in order])
    assert parse_chain(bundle) == chain
    assert parse_leaf(bundle) == chain[0]


def test_parse_chain_accepts_a_lone_leaf(chain) -> None:
    assert parse_chain(encode_pem([chain[0]])) == (chain[0],)


def _unrelated(key, make_cert):  # type: ignore[no-untyped-def]
    unrelated_key = key("ECDSA", 256, 5)
    return make_cert(subject_key=unrelated_key, issuer_key=unrelated_key, subject="U", issuer="U")


@pytest.mark.parametrize(
    "make_pem",
    [
        pytest.param(lambda c, k, m: b"", id="empty"),
        pytest.param(lambda c, k, m: b"hello", id="not-pem"),
        pytest.param(
            lambda c, k, m: b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            id="corrupt",
        ),
        pytest.param(lambda c, k, m: encode_private_key(k()), id="a-key-not-a-certificate"),
        pytest.param(
            lambda c, k, m: encode_pem([c[0], _unrelated(k, m)]), id="two-unrelated-certificates"
        ),
        pytest.param(lambda c, k, m: encode_pem([c[0], c[2]]), id="gap-in-chain"),
    ],
)
def test_parse_chain_rejects_garbage(chain, key, make_cert, make_pem) -> None:
    with pytest.raises(PKIError):
        parse_chain(make_pem(chain, key, make_cert))


def test_certificate_info_describes_the_leaf(chain, key) -> None:
    info = CertificateInfo.of(chain[0])
    assert info.common_name == "leaf.example.com"
    assert info.subject == X509Subject()
    assert info.issuer_common_name == "Intermediate"
    assert info.dns_names == ("leaf.example.com", "www.example.com")
    assert info.ip_addresses == info.uris == info.emails == ()
    assert info.not_before == NOW
    assert info.not_after == NOW + timedelta(days=90)
    assert info.not_after.tzinfo is UTC
    assert (info.key_algorithm, info.key_size) == ("ECDSA", 256)
    assert info.serial_hex == format(chain[0].serial_number, "x")
    assert info.is_ca is False
    assert info.usages == ()


def test_certificate_info_reports_usages_and_ca(key, make_cert) -> None:
    certificate = make_cert(
        subject_key=key("RSA"),
        issuer_key=key(),
        subject="",
        issuer="CA",
        is_ca=True,
        extensions=[
            (
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=True,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                True,
            ),
            (x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), False),
        ],
    )
    info = CertificateInfo.of(certificate)
    assert info.usages == ("digital signature", "key encipherment", "cert sign", "server auth")
    assert info.is_ca is True
    assert info.common_name == ""
    assert (info.key_algorithm, info.key_size) == ("RSA", 2048)


@pytest.mark.parametrize(
    ("members", "leaf", "intermediates", "root"),
    [
        pytest.param((0, 1, 2), 0, (1,), 2, id="with-root"),
        pytest.param((0, 1), 0, (1,), None, id="without-root"),
        pytest.param((0,), 0, (), None, id="leaf-only"),
    ],
)
def test_split_leaf_and_chain_and_root(chain, members, leaf, intermediates, root) -> None:
    ordered = tuple(chain[i] for i in members)
    assert split_leaf_and_chain(ordered) == (chain[leaf], tuple(chain[i] for i in intermediates))
    assert root_of_chain(ordered) == (None if root is None else chain[root])


def test_encode_der_is_the_certificate_der(chain) -> None:
    assert x509.load_der_x509_certificate(encode_der(chain[0])) == chain[0]


@pytest.mark.parametrize("encoding", ["PKCS1", "PKCS8"])
def test_private_key_der_is_the_pem_body(key, encoding) -> None:
    pem = encode_private_key(key("RSA"), encoding=encoding)
    der = private_key_der(pem)
    body = b"".join(line for line in pem.splitlines() if not line.startswith(b"-----"))
    assert der == base64.b64decode(body)
    loaded = serialization.load_der_private_key(der, password=None)
    assert public_keys_equal(loaded, key("RSA"))  # type: ignore[arg-type]


def test_private_key_der_rejects_garbage() -> None:
    with pytest.raises(PKIError):
        private_key_der(b"nope")


def test_combined_pem_is_key_newline_chain(key, chain) -> None:
    key_pem = encode_private_key(key())
    chain_pem = encode_pem(chain[:2])
    assert combined_pem(key_pem, chain_pem) == key_pem + b"\n" + chain_pem


@pytest.mark.parametrize("profile", ["LegacyRC2", "LegacyDES", "Modern2023", "Modern2026"])
def test_pkcs12_round_trip(key, chain, profile) -> None:
    data = build_pkcs12(
        key(), chain[:2], password=b"s3cret", profile=profile, ca_certificates=(chain[2],)
    )
    loaded_key, loaded_cert, extra = pkcs12.load_key_and_certificates(data, b"s3cret")
    assert loaded_key is not None and public_keys_equal(loaded_key, key())  # type: ignore[arg-type]
    assert loaded_cert == chain[0]
    assert extra == [chain[1], chain[2]]
    with pytest.raises(ValueError):
        pkcs12.load_key_and_certificates(data, b"wrong")


def test_pkcs12_truststore_holds_only_cas(chain) -> None:
    data = build_pkcs12_truststore([chain[2]], password=b"pw")
    loaded_key, loaded_cert, extra = pkcs12.load_key_and_certificates(data, b"pw")
    assert (loaded_key, loaded_cert, extra) == (None, None, [chain[2]])


def test_pkcs12_rejects_unknown_profile_and_empty_chain(key, chain) -> None:
    with pytest.raises(PKIError):
        build_pkcs12(key(), chain, password=b"pw", profile="Legacy3000")  # type: ignore[arg-type]
    with pytest.raises(PKIError):
        build_pkcs12(key(), (), password=b"pw")


def test_times_are_timezone_aware(chain) -> None:
    assert CertificateInfo.of(chain[0]).not_before == datetime(2026, 1, 1, tzinfo=UTC)


def test_parse_chain_is_memoized_by_bytes_and_never_caches_garbage(chain) -> None:
    bundle = encode_pem([chain[1], chain[0]])
    first = parse_chain(bundle)
    assert parse_chain(bytearray(bundle)) is first
    assert first == chain[:2]
    garbage = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    for _ in range(2):
        with pytest.raises(PKIError):
            parse_chain(garbage)


def test_certificate_info_is_memoized_by_the_certificate(chain) -> None:
    der = encode_der(chain[0])
    first = CertificateInfo.of(x509.load_der_x509_certificate(der))
    assert CertificateInfo.of(x509.load_der_x509_certificate(der)) is first
    assert CertificateInfo.of(chain[1]) != first


def test_describe_names_lists_each_kind_of_san_in_its_order(key) -> None:
    import ipaddress

    from certmgr.pki.certificates import describe_names

    from .conftest import make_certificate

    sans = [
        x509.DNSName("b.example.com"),
        x509.IPAddress(ipaddress.ip_address("2001:db8::1")),
        x509.UniformResourceIdentifier("spiffe://b"),
        x509.DNSName("a.example.com"),
        x509.RFC822Name("b@example.com"),
        x509.IPAddress(ipaddress.ip_address("192.0.2.1")),
        x509.UniformResourceIdentifier("spiffe://a"),
        x509.RFC822Name("a@example.com"),
    ]
    certificate = make_certificate(
        subject_key=key(),
        issuer_key=key("ECDSA", 256, 5),
        subject="",
        issuer="CA",
        extensions=[(x509.SubjectAlternativeName(sans), False)],
    )
    extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)

    names = describe_names(certificate)

    assert names.dns_names == tuple(extension.value.get_values_for_type(x509.DNSName))
    assert names.ip_addresses == ("2001:db8::1", "192.0.2.1")
    assert names.uris == ("spiffe://b", "spiffe://a")
    assert names.emails == ("b@example.com", "a@example.com")
    assert names.dns_names == ("b.example.com", "a.example.com")


_B, _E = b"-----BEGIN CERTIFICATE-----", b"-----END CERTIFICATE-----"


@pytest.mark.parametrize(
    ("pem", "blocks"),
    [
        pytest.param(b"", [], id="empty"),
        pytest.param(_B + b"\nA\n" + _E, [_B + b"\nA\n" + _E], id="one"),
        pytest.param(
            b"x" + _B + b"A" + _E + b"y" + _B + b"B" + _E + b"\n",
            [_B + b"A" + _E, _B + b"B" + _E],
            id="two-with-text-around",
        ),
        pytest.param(_B + _E, [], id="nothing-between-the-markers"),
        pytest.param(_B + _E + _E, [_B + _E + _E], id="an-end-marker-as-the-body"),
        pytest.param(_B + b"A" + _B + b"B" + _E, [_B + b"A" + _B + b"B" + _E], id="begin-inside"),
        pytest.param(
            _B + b"A" + _E + _B + b"unterminated", [_B + b"A" + _E], id="unterminated-last"
        ),
    ],
)
def test_certificate_blocks_are_what_the_pem_block_pattern_finds(pem, blocks) -> None:
    import re

    from certmgr.pki.certificates import _certificate_blocks

    pattern = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)
    assert pattern.findall(pem) == blocks
    assert _certificate_blocks(pem) == blocks
