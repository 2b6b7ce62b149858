"""CSR contents built from CertificateRequirements, and parsing them back."""

from __future__ import annotations

import ipaddress

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certmgr.pki.csr import _parse_csr, build_csr, name_rdns, parse_csr, read_csr
from certmgr.pki.errors import PKIError
from certmgr.pki.keys import KeySpec, public_key_fingerprint
from certmgr.pki.match import csr_violations
from certmgr.pki.requirements import CertificateRequirements, X509Subject

FULL = CertificateRequirements(
    common_name="app.example.com",
    dns_names=("app.example.com", "www.example.com"),
    ip_addresses=("10.0.0.1", "2001:db8::1"),
    uris=("spiffe://cluster.local/ns/default/sa/app",),
    emails=("ops@example.com",),
    subject=X509Subject(
        organizations=("Example Ltd", "Example Group"),
        countries=("GB",),
        organizational_units=("Ops",),
        localities=("London",),
        provinces=("Greater London",),
        street_addresses=("1 Main St",),
        postal_codes=("N1 1AA",),
        serial_number="1234",
    ),
    usages=("digital signature", "key encipherment", "server auth", "client auth"),
)


def _load(pem: bytes) -> x509.CertificateSigningRequest:
    return x509.load_pem_x509_csr(pem)


def _ext(csr: x509.CertificateSigningRequest, kind: type) -> x509.Extension:  # type: ignore[type-arg]
    return csr.extensions.get_extension_for_class(kind)


def test_full_spec_is_encoded_in_go_subject_order(key) -> None:
    csr = _load(build_csr(key(), FULL))
    assert [attr.oid for rdn in csr.subject.rdns for attr in rdn] == [
        NameOID.COUNTRY_NAME,
        NameOID.STATE_OR_PROVINCE_NAME,
        NameOID.LOCALITY_NAME,
        NameOID.STREET_ADDRESS,
        NameOID.POSTAL_CODE,
        NameOID.ORGANIZATION_NAME,
        NameOID.ORGANIZATION_NAME,
        NameOID.ORGANIZATIONAL_UNIT_NAME,
        NameOID.COMMON_NAME,
        NameOID.SERIAL_NUMBER,
    ]
    # Both organizations share one multi-valued RDN, as Go's pkix.Name writes them.
    assert len(csr.subject.rdns) == 9


def test_full_spec_sans_and_usages(key) -> None:
    csr = _load(build_csr(key(), FULL))
    san = _ext(csr, x509.SubjectAlternativeName)
    assert san.critical is False
    assert san.value.get_values_for_type(x509.DNSName) == ["app.example.com", "www.example.com"]
    assert san.value.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("10.0.0.1"),
        ipaddress.ip_address("2001:db8::1"),
    ]
    assert san.value.get_values_for_type(x509.UniformResourceIdentifier) == list(FULL.uris)
    assert san.value.get_values_for_type(x509.RFC822Name) == list(FULL.emails)
    key_usage = _ext(csr, x509.KeyUsage)
    assert key_usage.critical is True
    assert key_usage.value.digital_signature and key_usage.value.key_encipherment
    assert not key_usage.value.key_cert_sign
    eku = _ext(csr, x509.ExtendedKeyUsage)
    assert eku.critical is False
    assert list(eku.value) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    with pytest.raises(x509.ExtensionNotFound):
        _ext(csr, x509.BasicConstraints)
    assert csr.is_signature_valid


def test_a_literal_subject_is_the_csr_subject_as_written(key) -> None:
    literal = "CN=app.example.com,OU=Web+OU=Ops,O=Example\\, Inc.,L=Berlin,C=DE"
    requirements = CertificateRequirements(dns_names=("app.example.com",), literal_subject=literal)
    csr = _load(build_csr(key(), requirements))
    # RFC 4514 lists the most specific RDN first; the DER holds them the other way round.
    assert [[a.oid for a in rdn] for rdn in csr.subject.rdns] == [
        [NameOID.COUNTRY_NAME],
        [NameOID.LOCALITY_NAME],
        [NameOID.ORGANIZATION_NAME],
        [NameOID.ORGANIZATIONAL_UNIT_NAME, NameOID.ORGANIZATIONAL_UNIT_NAME],
        [NameOID.COMMON_NAME],
    ]
    assert csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Example, Inc."
    parsed = parse_csr(build_csr(key(), requirements))
    assert parsed.common_name == "app.example.com"
    assert parsed.subject_rdns == name_rdns(x509.Name.from_rfc4514_string(literal))


def test_parse_csr_round_trips_the_requirements(key) -> None:
    pem = build_csr(key(), FULL)
    parsed = parse_csr(pem)
    assert parsed.common_name == FULL.common_name
    assert parsed.subject == FULL.subject
    assert parsed.dns_names == FULL.dns_names
    assert parsed.ip_addresses == FULL.ip_addresses
    assert parsed.uris == FULL.uris
    assert parsed.emails == FULL.emails
    assert parsed.usages == FULL.usages
    assert parsed.is_ca is None
    assert x509.load_pem_x509_csr(pem).is_signature_valid
    assert parsed.public_key_fingerprint == public_key_fingerprint(key())


@pytest.mark.parametrize(
    ("requirements", "usages", "is_ca"),
    [
        pytest.param(
            CertificateRequirements(dns_names=("a.example",)),
            ("digital signature", "key encipherment"),
            None,
            id="empty-usages-mean-cert-manager-defaults",
        ),
        pytest.param(
            CertificateRequirements(dns_names=("a.example",), encode_usages_in_request=False),
            None,
            None,
            id="encodeUsagesInRequest-false-omits-usages",
        ),
        pytest.param(
            CertificateRequirements(dns_names=("a.example",), usages=("server auth",)),
            ("server auth",),
            None,
            id="only-eku-no-keyusage-extension",
        ),
        pytest.param(
            CertificateRequirements(common_name="My CA", is_ca=True),
            ("digital signature", "key encipherment", "cert sign"),
            True,
            id="is-ca-adds-cert-sign-and-basic-constraints",
        ),
        pytest.param(
            CertificateRequirements(dns_names=("a.example",), usages=("signing", "s/mime")),
            ("digital signature", "email protection"),
            None,
            id="aliases-map-to-canonical-names",
        ),
    ],
)
def test_usage_and_basic_constraints_encoding(key, requirements, usages, is_ca) -> None:
    parsed = parse_csr(build_csr(key(), requirements))
    assert parsed.usages == usages
    assert parsed.is_ca is is_ca


def test_basic_constraints_for_ca_are_critical(key) -> None:
    csr = _load(build_csr(key(), CertificateRequirements(common_name="CA", is_ca=True)))
    basic = _ext(csr, x509.BasicConstraints)
    assert basic.critical is True
    assert basic.value.ca is True


def test_sans_are_critical_when_the_subject_is_empty(key) -> None:
    csr = _load(build_csr(key(), CertificateRequirements(dns_names=("only-san.example",))))
    assert len(csr.subject) == 0
    assert _ext(csr, x509.SubjectAlternativeName).critical is True


@pytest.mark.parametrize(
    ("algorithm", "size", "hash_name"),
    [
        pytest.param("RSA", None, "sha256", id="rsa-2048-sha256"),
        pytest.param("RSA", 3072, "sha384", id="rsa-3072-sha384"),
        pytest.param("ECDSA", None, "sha256", id="p256-sha256"),
        pytest.param("ECDSA", 384, "sha384", id="p384-sha384"),
        pytest.param("ECDSA", 521, "sha512", id="p521-sha512"),
        pytest.param("Ed25519", None, None, id="ed25519-pure"),
    ],
)
def test_signature_hash_follows_cert_manager(key, algorithm, size, hash_name) -> None:
    csr = _load(build_csr(key(algorithm, size), CertificateRequirements(dns_names=("a.example",))))
    algorithm_used = csr.signature_hash_algorithm
    assert (algorithm_used.name if isinstance(algorithm_used, hashes.HashAlgorithm) else None) == (
        hash_name
    )
    assert csr.is_signature_valid


@pytest.mark.parametrize(
    ("algorithm", "size", "signature_algorithm", "hash_name"),
    [
        pytest.param("RSA", None, "SHA512WithRSA", "sha512", id="rsa-2048-sha512"),
        pytest.param("RSA", 4096, "SHA256WithRSA", "sha256", id="rsa-4096-sha256"),
        pytest.param("ECDSA", None, "ECDSAWithSHA384", "sha384", id="p256-sha384"),
        pytest.param("ECDSA", 384, "ECDSAWithSHA256", "sha256", id="p384-sha256"),
        pytest.param("Ed25519", None, "PureEd25519", None, id="ed25519-pure"),
    ],
)
def test_signature_algorithm_chooses_the_csr_hash(
    key, algorithm, size, signature_algorithm, hash_name
) -> None:
    requirements = CertificateRequirements(
        dns_names=("a.example",),
        key_spec=KeySpec(algorithm=algorithm, size=size),
        signature_algorithm=signature_algorithm,
    )
    csr = _load(build_csr(key(algorithm, size), requirements))
    used = csr.signature_hash_algorithm
    assert (used.name if isinstance(used, hashes.HashAlgorithm) else None) == hash_name
    assert csr.is_signature_valid


@pytest.mark.parametrize(
    ("algorithm", "signature_algorithm"),
    [("RSA", "ECDSAWithSHA256"), ("ECDSA", "SHA256WithRSA"), ("ECDSA", "PureEd25519")],
)
def test_a_signature_algorithm_for_another_key_kind_is_refused(
    key, algorithm, signature_algorithm
) -> None:
    requirements = CertificateRequirements(
        dns_names=("a.example",),
        key_spec=KeySpec(algorithm=algorithm),
        signature_algorithm=signature_algorithm,
    )
    with pytest.raises(PKIError, match=f"signatureAlgorithm {signature_algorithm} needs"):
        build_csr(key(algorithm), requirements)


@pytest.mark.parametrize(
    ("requirements", "fragment"),
    [
        pytest.param(CertificateRequirements(), "at least one of", id="no-names-at-all"),
        pytest.param(
            CertificateRequirements(ip_addresses=("10.0.0.300",)), "IP address", id="bad-ip"
        ),
        pytest.param(
            CertificateRequirements(dns_names=("a.example",), usages=("telepathy",)),
            "unknown key usages",
            id="unknown-usage",
        ),
        pytest.param(
            CertificateRequirements(dns_names=("bücher.example",)),
            "subject alternative name",
            id="non-ascii-dns-name",
        ),
        pytest.param(
            CertificateRequirements(common_name="x", subject=X509Subject(countries=("GBR",))),
            "invalid subject",
            id="three-letter-country",
        ),
    ],
)
def test_invalid_requirements_raise_pki_error(key, requirements, fragment) -> None:
    with pytest.raises(PKIError, match=fragment):
        build_csr(key(), requirements)


@pytest.mark.parametrize(
    "pem",
    [
        pytest.param(b"", id="empty"),
        pytest.param(
            b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
            id="corrupt",
        ),
    ],
)
def test_parse_csr_rejects_garbage(pem) -> None:
    with pytest.raises(PKIError):
        parse_csr(pem)


def _csr_signed_by(key: dsa.DSAPrivateKey | ed448.Ed448PrivateKey) -> bytes:
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "app")])
    )
    algorithm = hashes.SHA256() if isinstance(key, dsa.DSAPrivateKey) else None
    return builder.sign(key, algorithm).public_bytes(serialization.Encoding.PEM)


@pytest.mark.parametrize(
    ("make_key", "kind"),
    [
        pytest.param(lambda: dsa.generate_private_key(2048), "DSAPublicKey", id="dsa"),
        pytest.param(ed448.Ed448PrivateKey.generate, "Ed448PublicKey", id="ed448"),
    ],
)
def test_a_csr_of_an_unsupported_key_type_is_refused(make_key, kind) -> None:
    pem = _csr_signed_by(make_key())
    for parse in (parse_csr, read_csr):
        with pytest.raises(PKIError, match=f"unsupported CSR public key type: .*{kind}"):
            parse(pem)


def test_parse_csr_is_memoized_by_bytes_and_never_caches_garbage() -> None:
    pem = build_csr(ec.generate_private_key(ec.SECP256R1()), FULL)
    first = parse_csr(pem)
    assert parse_csr(bytes(bytearray(pem))) is first  # equal bytes, another object
    assert parse_csr(bytearray(pem)) is first
    garbage = b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"
    for _ in range(2):
        with pytest.raises(PKIError):
            parse_csr(garbage)


def test_a_literal_subject_may_name_the_serial_number(key) -> None:
    """cert-manager's literalSubject knows SERIALNUMBER (cryptography's parser does not)."""
    literal = "CN=a.example,SERIALNUMBER=1234,O=Example"
    requirements = CertificateRequirements(dns_names=("a.example",), literal_subject=literal)
    csr = _load(build_csr(key(), requirements))
    assert [[a.oid for a in rdn] for rdn in csr.subject.rdns] == [
        [NameOID.ORGANIZATION_NAME],
        [NameOID.SERIAL_NUMBER],
        [NameOID.COMMON_NAME],
    ]
    assert csr_violations(parse_csr(build_csr(key(), requirements)), requirements) == ()


def _attribute(oid: x509.ObjectIdentifier, value: str) -> x509.NameAttribute:
    return x509.NameAttribute(oid, value)


@pytest.mark.parametrize(
    "rdns",
    [
        pytest.param([], id="empty"),
        pytest.param([[_attribute(NameOID.COMMON_NAME, "a")]], id="common-name"),
        pytest.param(
            [
                [_attribute(NameOID.COUNTRY_NAME, "DE")],
                [_attribute(NameOID.ORGANIZATION_NAME, "O1")],
                [_attribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "U2")],
                [_attribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "U1")],
                [_attribute(NameOID.COMMON_NAME, "second")],
                [_attribute(NameOID.COMMON_NAME, "first")],
                [_attribute(NameOID.SERIAL_NUMBER, "9")],
                [_attribute(NameOID.SERIAL_NUMBER, "1")],
                [_attribute(NameOID.LOCALITY_NAME, "L")],
                [_attribute(NameOID.STATE_OR_PROVINCE_NAME, "P")],
                [_attribute(NameOID.STREET_ADDRESS, "S")],
                [_attribute(NameOID.POSTAL_CODE, "12345")],
                [_attribute(NameOID.EMAIL_ADDRESS, "x@example.com")],
            ],
            id="every-field-repeated-in-order",
        ),
        pytest.param(
            [
                [
                    _attribute(NameOID.ORGANIZATION_NAME, "O2"),
                    _attribute(NameOID.COMMON_NAME, "multi"),
                    _attribute(NameOID.ORGANIZATION_NAME, "O1"),
                ]
            ],
            id="multi-valued-rdn",
        ),
    ],
)
def test_subject_and_common_name_read_each_field_as_a_search_for_it(
    rdns: list[list[x509.NameAttribute]],
) -> None:
    from certmgr.pki.csr import subject_and_common_name

    name = x509.Name([x509.RelativeDistinguishedName(rdn) for rdn in rdns])

    def found(oid: x509.ObjectIdentifier) -> tuple[str, ...]:
        return tuple(str(a.value) for a in name.get_attributes_for_oid(oid))

    subject, common_name = subject_and_common_name(name)

    assert subject == X509Subject(
        organizations=found(NameOID.ORGANIZATION_NAME),
        countries=found(NameOID.COUNTRY_NAME),
        organizational_units=found(NameOID.ORGANIZATIONAL_UNIT_NAME),
        localities=found(NameOID.LOCALITY_NAME),
        provinces=found(NameOID.STATE_OR_PROVINCE_NAME),
        street_addresses=found(NameOID.STREET_ADDRESS),
        postal_codes=found(NameOID.POSTAL_CODE),
        serial_number=(found(NameOID.SERIAL_NUMBER) or ("",))[0],
    )
    assert common_name == (found(NameOID.COMMON_NAME) or ("",))[0]


def _rdn(*attributes: tuple[x509.ObjectIdentifier, str | bytes]) -> x509.RelativeDistinguishedName:
    return x509.RelativeDistinguishedName(
        [
            x509.NameAttribute(oid, value)  # type: ignore[arg-type]
            if type(value) is str
            else x509.NameAttribute(oid, value, _type=_ASN1Type.BitString)
            for oid, value in attributes
        ]
    )


PRINTABLE = _ASN1Type.PrintableString
CN = (NameOID.COMMON_NAME, "app")
OU_WEB = (NameOID.ORGANIZATIONAL_UNIT_NAME, "Web")
OU_OPS = (NameOID.ORGANIZATIONAL_UNIT_NAME, "Ops")
ORG = (NameOID.ORGANIZATION_NAME, "Example")
UID_BITS = (NameOID.X500_UNIQUE_IDENTIFIER, b"\x01")


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ([_rdn(CN)], [_rdn(CN)]),
        ([_rdn(OU_WEB, OU_OPS), _rdn(CN)], [_rdn(OU_OPS, OU_WEB), _rdn(CN)]),
        ([_rdn(ORG), _rdn(CN)], [_rdn(CN), _rdn(ORG)]),
        ([_rdn(ORG, CN)], [_rdn(ORG), _rdn(CN)]),
        ([_rdn(CN)], [_rdn((NameOID.COMMON_NAME, "other"))]),
        ([_rdn(CN)], [_rdn(CN), _rdn(ORG)]),
        ([], []),
        ([_rdn(UID_BITS, (NameOID.X500_UNIQUE_IDENTIFIER, "\x01"))], [_rdn(UID_BITS)]),
        (
            [_rdn(CN)],
            [x509.RelativeDistinguishedName([x509.NameAttribute(*CN, _type=PRINTABLE)])],
        ),
    ],
    ids=[
        "same",
        "multi-valued-rdn-in-another-order",
        "rdns-in-another-order",
        "grouped-otherwise",
        "other-value",
        "one-more-rdn",
        "empty",
        "bytes-and-str-of-one-oid",
        "printable-against-utf8",
    ],
)
def test_name_rdns_are_equal_exactly_when_the_names_are(
    left: list[x509.RelativeDistinguishedName], right: list[x509.RelativeDistinguishedName]
) -> None:
    # The policies compare a literalSubject with a CSR's subject by these (the cached
    # request keeps no x509.Name): the same answer as comparing the names.
    a, b = x509.Name(left), x509.Name(right)
    assert (name_rdns(a) == name_rdns(b)) is (a == b)


@pytest.mark.parametrize(
    "requirements",
    [
        FULL,
        CertificateRequirements(dns_names=("app.example.com",)),
        CertificateRequirements(common_name="app.example.com"),
        CertificateRequirements(
            dns_names=("app.example.com",), literal_subject="CN=app,OU=Web+OU=Ops,C=DE"
        ),
    ],
    ids=["full", "sans-only", "common-name-only", "literal-subject"],
)
def test_read_csr_is_parse_csr_without_adding_to_the_memo(
    key, requirements: CertificateRequirements
) -> None:
    pem = build_csr(key(), requirements)
    _parse_csr.clear()
    read = read_csr(pem)
    assert read_csr(pem) is not read  # parsed again: nothing was kept
    assert len(_parse_csr) == 0
    assert parse_csr(pem) == read
    # A CSR the memo holds (its issuer's controller parsed it) is not parsed again.
    assert read_csr(bytearray(pem)) is parse_csr(pem)
    assert len(_parse_csr) == 1


def test_read_csr_raises_as_parse_csr_does_for_garbage() -> None:
    garbage = b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"
    parse_csr(build_csr(ec.generate_private_key(ec.SECP256R1()), FULL))  # a memo not empty
    with pytest.raises(PKIError):
        read_csr(garbage)
