"""Spec comparison: CSR vs requirements (strict) and issued certificate vs requirements (loose)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.name import _ASN1Type

from certmgr.pki.certificates import CertificateInfo
from certmgr.pki.csr import build_csr, parse_csr
from certmgr.pki.match import certificate_alt_names_violations, csr_violations, ip_lists_equal
from certmgr.pki.requirements import CertificateRequirements, X509Subject

BASE = CertificateRequirements(
    common_name="a.example",
    dns_names=("a.example", "b.example"),
    ip_addresses=("10.0.0.1",),
    subject=X509Subject(organizations=("Org",)),
)


@pytest.mark.parametrize(
    ("spec", "violations"),
    [
        pytest.param(BASE, (), id="identical"),
        pytest.param(replace(BASE, dns_names=("b.example", "a.example")), (), id="order-ignored"),
        pytest.param(replace(BASE, dns_names=("a.example",)), ("spec.dnsNames",), id="dns"),
        pytest.param(replace(BASE, common_name="c.example"), ("spec.commonName",), id="cn"),
        pytest.param(replace(BASE, ip_addresses=()), ("spec.ipAddresses",), id="ips"),
        pytest.param(replace(BASE, uris=("urn:x",)), ("spec.uris",), id="uris"),
        pytest.param(replace(BASE, emails=("a@b.c",)), ("spec.emailAddresses",), id="emails"),
        pytest.param(
            replace(BASE, subject=X509Subject(organizations=("Other",))),
            ("spec.subject.organizations",),
            id="organizations",
        ),
        pytest.param(
            replace(BASE, subject=X509Subject(organizations=("Org",), serial_number="9")),
            ("spec.subject.serialNumber",),
            id="serial-number",
        ),
        pytest.param(
            replace(BASE, subject=X509Subject(organizations=("Org",), provinces=("P",))),
            ("spec.subject.provinces",),
            id="provinces",
        ),
    ],
)
def test_csr_violations(key, spec, violations) -> None:
    csr = parse_csr(build_csr(key(), BASE))
    assert csr_violations(csr, spec) == violations


def _info(
    common_name: str, dns_names: tuple[str, ...], ips: tuple[str, ...] = ()
) -> CertificateInfo:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return CertificateInfo(
        serial_hex="1",
        common_name=common_name,
        subject=X509Subject(),
        dns_names=dns_names,
        ip_addresses=ips,
        uris=(),
        emails=(),
        not_before=now,
        not_after=now,
        issuer_common_name="CA",
        key_algorithm="ECDSA",
        key_size=256,
        usages=(),
        is_ca=False,
    )


@pytest.mark.parametrize(
    ("info", "spec", "violations"),
    [
        pytest.param(
            _info("a.example", ("a.example",)),
            CertificateRequirements(common_name="a.example", dns_names=("a.example",)),
            (),
            id="identical",
        ),
        pytest.param(
            _info("", ("a.example", "b.example")),
            CertificateRequirements(common_name="a.example", dns_names=("b.example",)),
            (),
            id="cn-moved-to-sans-by-ca",
        ),
        pytest.param(
            _info("a.example", ("a.example",)),
            CertificateRequirements(dns_names=("a.example",)),
            (),
            id="ca-promoted-san-to-cn",
        ),
        pytest.param(
            _info("a.example", ("a.example",)),
            CertificateRequirements(dns_names=("a.example", "new.example")),
            ("spec.dnsNames",),
            id="dns-name-added",
        ),
        pytest.param(
            _info("old.example", ("old.example", "a.example")),
            CertificateRequirements(common_name="a.example", dns_names=("a.example",)),
            ("spec.commonName", "spec.dnsNames"),
            id="cn-changed",
        ),
        pytest.param(
            _info("a.example", ("a.example",), ("10.0.0.1",)),
            CertificateRequirements(dns_names=("a.example",), ip_addresses=("10.0.0.2",)),
            ("spec.ipAddresses",),
            id="ip-changed",
        ),
    ],
)
def test_certificate_alt_names_violations(info, spec, violations) -> None:
    assert certificate_alt_names_violations(info, spec) == violations


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        pytest.param(("2001:db8::1",), ("2001:0db8:0:0:0:0:0:1",), True, id="ipv6-spellings"),
        pytest.param(("10.0.0.1", "10.0.0.2"), ("10.0.0.2", "10.0.0.1"), True, id="order"),
        pytest.param(("10.0.0.1",), ("10.0.0.1", "10.0.0.1"), False, id="duplicates-count"),
        pytest.param(
            ("10.0.0.1", "10.0.0.1", "10.0.0.2"),
            ("10.0.0.2", "10.0.0.2", "10.0.0.1"),
            False,
            id="same-length-other-counts",
        ),
        pytest.param(
            ("10.0.0.1", "10.0.0.2", "10.0.0.1"),
            ("10.0.0.2", "10.0.0.1", "10.0.0.1"),
            True,
            id="duplicates-reordered",
        ),
        pytest.param((), (), True, id="both-empty"),
        pytest.param((), ("10.0.0.1",), False, id="one-empty"),
        pytest.param(iter(("10.0.0.1",)), ["10.0.0.1"], True, id="any-iterables"),
    ],
)
def test_ip_lists_equal(a, b, equal) -> None:
    assert ip_lists_equal(a, b) is equal


LITERAL = CertificateRequirements(
    dns_names=("a.example",), literal_subject="CN=a.example,OU=Web+OU=Ops,O=Example\\, Inc.,C=DE"
)


@pytest.mark.parametrize(
    ("requested", "spec", "violations"),
    [
        pytest.param(LITERAL, LITERAL, (), id="same-literal"),
        pytest.param(
            LITERAL,
            replace(LITERAL, literal_subject="CN=a.example,O=Example\\, Inc.,C=DE"),
            ("spec.literalSubject",),
            id="literal-changed",
        ),
        pytest.param(
            LITERAL,
            replace(LITERAL, literal_subject="C=DE,O=Example\\, Inc.,OU=Web+OU=Ops,CN=a.example"),
            ("spec.literalSubject",),
            id="order-is-part-of-the-literal",
        ),
        pytest.param(
            replace(LITERAL, literal_subject="", common_name="a.example"),
            LITERAL,
            ("spec.literalSubject",),
            id="structured-subject-to-literal",
        ),
        pytest.param(
            LITERAL,
            replace(LITERAL, dns_names=("b.example",)),
            ("spec.dnsNames",),
            id="names-still-compared",
        ),
    ],
)
def test_csr_violations_with_a_literal_subject(key, requested, spec, violations) -> None:
    assert sorted(csr_violations(parse_csr(build_csr(key(), requested)), spec)) == sorted(
        violations
    )


def test_the_cn_inside_a_literal_subject_counts_as_the_common_name() -> None:
    issued = _info("a.example", ("a.example",))
    assert certificate_alt_names_violations(issued, LITERAL) == ()
    spec = replace(LITERAL, literal_subject="CN=other.example,C=DE")
    assert certificate_alt_names_violations(issued, spec) == ("spec.commonName",)


def _go_style_csr(key, subject: x509.Name, dns_names: tuple[str, ...]) -> bytes:
    """A CSR as cert-manager writes a literalSubject: Go's asn1 encodes each printable
    ASCII value as a PrintableString, where cryptography would write a UTF8String."""
    printable = x509.Name(
        [
            x509.RelativeDistinguishedName(
                [x509.NameAttribute(a.oid, a.value, _ASN1Type.PrintableString) for a in rdn]
            )
            for rdn in subject.rdns
        ]
    )
    builder = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(printable)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]), critical=False
        )
    )
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def test_a_literal_subject_written_by_cert_manager_still_matches(key) -> None:
    """A request cert-manager made before the migration must not trigger a reissue: the
    DN is compared attribute by attribute, in order, not by its string encodings."""
    literal = "CN=a.example,OU=Web+OU=Ops,O=Example Inc,C=DE"
    spec = CertificateRequirements(dns_names=("a.example",), literal_subject=literal)
    pem = _go_style_csr(key(), x509.Name.from_rfc4514_string(literal), ("a.example",))
    assert csr_violations(parse_csr(pem), spec) == ()
    reordered = replace(spec, literal_subject="C=DE,O=Example Inc,OU=Web+OU=Ops,CN=a.example")
    assert csr_violations(parse_csr(pem), reordered) == ("spec.literalSubject",)
