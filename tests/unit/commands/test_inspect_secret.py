"""``certmgr inspect secret``'s report: cmctl's layout for one certificate, and a table of
the Debugging lines (chain, key match, ca.crt trust, validity) over generated certificates."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from certmgr.commands.inspect_secret import InspectError, SecretData, describe, fingerprint

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
START = datetime(2026, 5, 1, tzinfo=UTC)
END = datetime(2026, 7, 30, tzinfo=UTC)


@dataclass(frozen=True)
class Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey = field(repr=False)

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def issue(
    subject: str,
    *,
    by: Issued | None = None,
    ca: bool = False,
    sans: tuple[str, ...] = (),
    not_after: datetime = END,
    crl: str = "",
    ocsp: str = "",
) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example"),
            x509.NameAttribute(NameOID.COMMON_NAME, subject),
        ]
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(by.cert.subject if by else name)
        .public_key(key.public_key())
        .serial_number(4242)
        .not_valid_before(START)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(
                (by.key if by else key).public_key()
            ),
            False,
        )
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), True
        )
    else:
        builder = builder.add_extension(
            x509.KeyUsage(True, False, True, False, False, False, False, False, False), True
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
    if sans:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(name) for name in sans]), False
        )
    if crl:
        builder = builder.add_extension(
            x509.CRLDistributionPoints(
                [x509.DistributionPoint([x509.UniformResourceIdentifier(crl)], None, None, None)]
            ),
            False,
        )
    if ocsp:
        builder = builder.add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp)
                    )
                ]
            ),
            False,
        )
    return Issued(builder.sign((by.key if by else key), hashes.SHA256()), key)


ROOT = issue("Root CA", ca=True)
INTERMEDIATE = issue("Intermediate CA", by=ROOT, ca=True)
LEAF = issue("web", by=INTERMEDIATE, sans=("web.example.com", "www.example.com"))
OTHER_ROOT = issue("Other CA", ca=True)
GARBAGE_KEY = b"-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n"


def test_layout_follows_cmctl() -> None:
    leaf = issue(
        "web",
        by=ROOT,
        sans=("web.example.com",),
        crl="http://crl.example.com/ca.crl",
        ocsp="http://ocsp.example.com",
    )
    report = describe(
        SecretData(tls_crt=leaf.pem + ROOT.pem, tls_key=leaf.key_pem, ca_crt=ROOT.pem), now=NOW
    )
    assert report == (
        "Valid for:\n"
        "\tDNS Names: \n\t\t- web.example.com\n"
        "\tURIs: <none>\n"
        "\tIP Addresses: <none>\n"
        "\tEmail Addresses: <none>\n"
        "\tUsages: \n\t\t- digital signature\n\t\t- key encipherment\n\t\t- server auth\n"
        "\n"
        "Validity period:\n"
        "\tNot Before: Fri, 01 May 2026 00:00:00 UTC\n"
        "\tNot After: Thu, 30 Jul 2026 00:00:00 UTC\n"
        "\n"
        "Issued By:\n"
        "\tCommon Name:\tRoot CA\n"
        "\tOrganization:\tExample\n"
        "\tOrganizationalUnit:\t<none>\n"
        "\tCountry:\tDE\n"
        "\n"
        "Issued For:\n"
        "\tCommon Name:\tweb\n"
        "\tOrganization:\tExample\n"
        "\tOrganizationalUnit:\t<none>\n"
        "\tCountry:\tDE\n"
        "\n"
        "Certificate:\n"
        "\tSigning Algorithm:\tECDSA-SHA256\n"
        "\tPublic Key Algorithm: \tECDSA\n"
        "\tSerial Number:\t4242\n"
        f"\tFingerprints: \t{fingerprint(leaf.cert)}\n"
        "\tIs a CA certificate: false\n"
        "\tCRL:\thttp://crl.example.com/ca.crl\n"
        "\tOCSP:\thttp://ocsp.example.com\n"
        "\n"
        "Chain (tls.crt):\n"
        "\t0: web (issued by Root CA, not after Thu, 30 Jul 2026 00:00:00 UTC)\n"
        "\t1: Root CA (issued by Root CA, not after Thu, 30 Jul 2026 00:00:00 UTC)\n"
        "\n"
        "Debugging:\n"
        "\tTrusted by this computer:\tno: no trusted roots found on this computer\n"
        "\tTrusted by ca.crt:\tyes\n"
        "\tPrivate key matches:\tyes\n"
        "\tCurrently valid:\tyes: expires in 58d12h\n"
        "\tCRL Status:\tnot checked (certmgr inspect secret makes no network requests)\n"
        "\tOCSP Status:\tnot checked (certmgr inspect secret makes no network requests)\n"
    )


def test_fingerprint_is_sha256_upper_hex() -> None:
    digest = LEAF.cert.fingerprint(hashes.SHA256())
    assert fingerprint(LEAF.cert) == ":".join(f"{b:02X}" for b in digest)


@pytest.mark.parametrize(
    ("data", "now", "expected"),
    [
        pytest.param(
            SecretData(LEAF.pem + INTERMEDIATE.pem, LEAF.key_pem, ROOT.pem),
            NOW,
            {"Trusted by ca.crt": "yes", "Private key matches": "yes"},
            id="chain-with-intermediate-verifies-against-root",
        ),
        pytest.param(
            SecretData(LEAF.pem, LEAF.key_pem, ROOT.pem),
            NOW,
            {"Trusted by ca.crt": "no: "},
            id="intermediate-missing",
        ),
        pytest.param(
            SecretData(LEAF.pem + INTERMEDIATE.pem, LEAF.key_pem, OTHER_ROOT.pem),
            NOW,
            {"Trusted by ca.crt": "no: "},
            id="other-ca",
        ),
        pytest.param(
            SecretData(LEAF.pem + INTERMEDIATE.pem, None, None),
            NOW,
            {
                "Trusted by ca.crt": "not checked: no ca.crt in the Secret",
                "Private key matches": "not checked: no tls.key in the Secret",
            },
            id="no-key-no-ca",
        ),
        pytest.param(
            SecretData(LEAF.pem, ROOT.key_pem, None),
            NOW,
            {"Private key matches": "no: tls.key is not the key of the certificate"},
            id="key-of-another-certificate",
        ),
        pytest.param(
            SecretData(LEAF.pem, GARBAGE_KEY, None),
            NOW,
            {"Private key matches": "no: tls.key cannot be parsed"},
            id="garbage-key",
        ),
        pytest.param(
            SecretData(LEAF.pem + INTERMEDIATE.pem, LEAF.key_pem, ROOT.pem),
            datetime(2026, 8, 1, tzinfo=UTC),
            {
                "Currently valid": "no: expired Thu, 30 Jul 2026 00:00:00 UTC",
                "Trusted by ca.crt": "no: ",
            },
            id="expired",
        ),
        pytest.param(
            SecretData(LEAF.pem, LEAF.key_pem, None),
            datetime(2026, 4, 1, tzinfo=UTC),
            {"Currently valid": "no: not valid before Fri, 01 May 2026 00:00:00 UTC"},
            id="not-yet-valid",
        ),
        pytest.param(
            SecretData(ROOT.pem, ROOT.key_pem, ROOT.pem),
            NOW,
            {"Trusted by ca.crt": "yes: the certificate itself is a trusted root"},
            id="self-signed-ca-is-its-own-ca-crt",
        ),
    ],
)
def test_debugging_lines(data: SecretData, now: datetime, expected: dict[str, str]) -> None:
    report = describe(data, now=now)
    lines = dict(
        line.strip().split(":\t", 1) for line in report.split("Debugging:\n", 1)[1].splitlines()
    )
    for label, value in expected.items():
        assert lines[label].startswith(value), (label, lines[label])
    assert "PRIVATE KEY" not in report


def test_trusted_by_this_computer_uses_the_roots_given() -> None:
    data = SecretData(LEAF.pem + INTERMEDIATE.pem, None, None)
    assert "Trusted by this computer:\tyes" in describe(data, now=NOW, system_roots=[ROOT.cert])
    untrusted = describe(data, now=NOW, system_roots=[OTHER_ROOT.cert])
    assert "Trusted by this computer:\tno: " in untrusted


@pytest.mark.parametrize(
    ("tls_crt", "message"),
    [
        pytest.param(None, "no PEM data found in secret", id="no-tls-crt"),
        pytest.param(b"not pem", "no PEM data found in secret", id="not-pem"),
        pytest.param(
            b"-----BEGIN CERTIFICATE-----\nbm9wZQ==\n-----END CERTIFICATE-----\n",
            "error when parsing 'tls.crt'",
            id="corrupt",
        ),
    ],
)
def test_nothing_to_inspect(tls_crt: bytes | None, message: str) -> None:
    with pytest.raises(InspectError, match=message):
        describe(SecretData(tls_crt, None, None), now=NOW)
