"""The temporary certificate of ``issue-temporary-certificate`` (cert-manager's
GenerateLocallySignedTemporaryCertificate): for the given key, described by the spec,
issued by a throwaway ``cert-manager.local`` CA, and recognisable as such."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certmgr.pki.certificates import CertificateInfo, parse_leaf
from certmgr.pki.errors import PKIError
from certmgr.pki.keys import public_keys_equal
from certmgr.pki.requirements import CertificateRequirements, X509Subject
from certmgr.pki.temporary import is_temporary_certificate, temporary_certificate

NOW = datetime(2026, 1, 1, tzinfo=UTC)

REQUIREMENTS = CertificateRequirements(
    common_name="app.example.com",
    dns_names=("app.example.com", "www.example.com"),
    ip_addresses=("10.0.0.1",),
    subject=X509Subject(organizations=("Example",)),
    usages=("digital signature", "key encipherment", "server auth"),
)


def test_is_for_the_given_key_and_issued_by_cert_manager_local(key) -> None:
    leaf = parse_leaf(temporary_certificate(key("RSA", 2048), REQUIREMENTS, now=NOW))

    assert public_keys_equal(leaf.public_key(), key("RSA", 2048))
    assert leaf.issuer == x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cert-manager.local")])
    assert leaf.issuer != leaf.subject
    issuer_key = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert issuer_key.key_identifier  # signed by a CA key, not self-signed by the leaf's key
    assert leaf.signature_hash_algorithm is not None
    assert leaf.signature_hash_algorithm.name == "sha512"  # an EC P-521 CA, as Go signs


def test_carries_the_spec_names_usages_and_the_marker(key) -> None:
    leaf = parse_leaf(temporary_certificate(key(), REQUIREMENTS, now=NOW))
    info = CertificateInfo.of(leaf)

    assert info.common_name == "app.example.com"
    assert info.dns_names == ("app.example.com", "www.example.com")
    assert info.ip_addresses == (str(ipaddress.ip_address("10.0.0.1")),)
    assert info.subject.organizations == ("Example",)
    assert info.subject.serial_number == "1234567890"  # cert-manager's fixed marker
    assert info.usages == ("digital signature", "key encipherment", "server auth")
    assert not info.is_ca
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]


@pytest.mark.parametrize(
    ("duration", "lifetime"),
    [
        pytest.param(None, timedelta(days=90), id="default-90-days"),
        pytest.param(timedelta(hours=1), timedelta(hours=1), id="spec-duration"),
    ],
)
def test_is_valid_from_now_for_the_spec_duration(key, duration, lifetime) -> None:
    requirements = CertificateRequirements(dns_names=("a.example.com",), duration=duration)
    leaf = parse_leaf(temporary_certificate(key(), requirements, now=NOW))

    assert leaf.not_valid_before_utc == NOW
    assert leaf.not_valid_after_utc == NOW + lifetime


def test_each_one_has_its_own_throwaway_ca(key) -> None:
    first = parse_leaf(temporary_certificate(key(), REQUIREMENTS, now=NOW))
    second = parse_leaf(temporary_certificate(key(), REQUIREMENTS, now=NOW))

    def authority(leaf: x509.Certificate) -> bytes | None:
        ext = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
        return ext.key_identifier

    assert authority(first) != authority(second)
    assert first.serial_number != second.serial_number


def test_a_ca_certificate_is_marked_as_one(key) -> None:
    requirements = CertificateRequirements(common_name="My CA", is_ca=True)
    info = CertificateInfo.of(parse_leaf(temporary_certificate(key(), requirements, now=NOW)))

    assert info.is_ca
    assert "cert sign" in info.usages


def test_a_spec_that_cannot_be_encoded_is_a_pki_error(key) -> None:
    requirements = CertificateRequirements(ip_addresses=("not-an-ip",))
    with pytest.raises(PKIError):
        temporary_certificate(key(), requirements, now=NOW)


@pytest.mark.parametrize(
    ("subject", "issuer", "expected"),
    [
        pytest.param(
            "app.example.com,SERIALNUMBER=1234567890", "cert-manager.local", True, id="marked"
        ),
        pytest.param(
            "app.example.com,SERIALNUMBER=1234567890", "Let's Encrypt R3", False, id="a-real-ca"
        ),
        pytest.param(
            "app.example.com,SERIALNUMBER=1234567890",
            "cert-manager.local.example.com",
            False,
            id="only-the-exact-name",
        ),
        # A CA the user named cert-manager.local: its leaves and the root itself are real
        # certificates, and judging them temporary would reissue them for ever.
        pytest.param("app.example.com", "cert-manager.local", False, id="unmarked-leaf"),
        pytest.param("cert-manager.local", "cert-manager.local", False, id="self-signed-root"),
    ],
)
def test_is_temporary_certificate_looks_at_the_issuer_and_the_marker(
    key, make_cert, subject, issuer, expected
) -> None:
    cn, _, serial = subject.partition(",SERIALNUMBER=")
    name = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if serial:
        name.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, serial))
    issuer_key = key() if subject == issuer else key(n=1)
    leaf = make_cert(subject_key=key(), issuer_key=issuer_key, subject=cn, issuer=issuer)
    leaf = _resigned(leaf, x509.Name(name), issuer_key)
    assert is_temporary_certificate(leaf) is expected


def _resigned(cert: x509.Certificate, subject: x509.Name, issuer_key) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(cert.issuer)
        .public_key(cert.public_key())
        .serial_number(cert.serial_number)
        .not_valid_before(cert.not_valid_before_utc)
        .not_valid_after(cert.not_valid_after_utc)
    )
    return builder.sign(issuer_key, hashes.SHA256())


def test_a_temporary_certificate_for_a_literal_subject_has_no_marker(key) -> None:
    """As in cert-manager, the literal subject is written as is, without the marker: the
    issuer alone tells, when the spec has a literal subject."""
    requirements = CertificateRequirements(
        dns_names=("a.example",), literal_subject="CN=a.example,O=Example"
    )
    leaf = parse_leaf(temporary_certificate(key(), requirements, now=NOW))
    assert not CertificateInfo.of(leaf).subject.serial_number
    assert is_temporary_certificate(leaf, literal_subject=True)
    assert not is_temporary_certificate(leaf)


def test_a_written_temporary_certificate_is_recognised(key) -> None:
    leaf = parse_leaf(temporary_certificate(key("Ed25519"), REQUIREMENTS, now=NOW))
    assert is_temporary_certificate(leaf)


@pytest.mark.parametrize(
    ("issuer", "expected"),
    [
        pytest.param(_ASN1Type.UTF8String, True, id="utf8string"),
        pytest.param(_ASN1Type.PrintableString, True, id="printablestring"),
        pytest.param(_ASN1Type.IA5String, True, id="ia5string"),
        pytest.param(_ASN1Type.BMPString, True, id="bmpstring-utf16"),
        pytest.param(_ASN1Type.UniversalString, True, id="universalstring-utf32"),
        pytest.param("Cert-Manager.local", False, id="another-case"),
        pytest.param("cert-manager.loca", False, id="a-prefix"),
    ],
)
def test_the_issuer_is_recognised_in_any_string_type(key, issuer, expected) -> None:
    """A Name compares decoded values: cert-manager.local written as any string type is the
    temporary CA's name."""
    if isinstance(issuer, str):
        attribute = x509.NameAttribute(NameOID.COMMON_NAME, issuer)
    else:
        attribute = x509.NameAttribute(NameOID.COMMON_NAME, "cert-manager.local", issuer)
    marked = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "app.example.com"),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, "1234567890"),
        ]
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(marked)
        .issuer_name(x509.Name([attribute]))
        .public_key(key().public_key())
        .serial_number(1)
        .not_valid_before(NOW)
        .not_valid_after(NOW + timedelta(days=1))
        .sign(key(n=1), hashes.SHA256())
    )

    assert (
        leaf.issuer == x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cert-manager.local")])
    ) is expected
    assert is_temporary_certificate(leaf) is expected
    assert is_temporary_certificate(leaf, literal_subject=True) is expected
