"""Signing a CSR as cert-manager's SelfSigned and CA issuers do: extensions from the
request, the issuer's URLs, the chain and CA split, and the CA keypair checks."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder, Store

from certmgr.pki.certificates import parse_chain
from certmgr.pki.csr import build_csr
from certmgr.pki.errors import PKIError
from certmgr.pki.keys import PrivateKey, encode_private_key, generate_private_key
from certmgr.pki.requirements import CertificateRequirements
from certmgr.pki.signing import (
    CAKeyPair,
    InvalidKeyPair,
    IssuerURLs,
    SigningRequest,
    check_signing_ca,
    load_ca_keypair,
    sign_self_signed,
    sign_with_ca,
)

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def key() -> PrivateKey:
    return generate_private_key(algorithm="ECDSA", size=256)


def request(signer: PrivateKey, **fields: Any) -> SigningRequest:
    extra = {k: fields.pop(k) for k in ("duration",) if k in fields}
    csr = build_csr(signer, CertificateRequirements(**fields))
    return SigningRequest(
        csr_pem=csr,
        is_ca=fields.get("is_ca", False),
        usages=fields.get("usages", ()),
        **extra,
    )


def self_signed_ca(name: str) -> tuple[CAKeyPair, bytes]:
    ca_key = key()
    issued = sign_self_signed(
        request(ca_key, common_name=name, is_ca=True), key=ca_key, urls=IssuerURLs(), now=NOW
    )
    return CAKeyPair(parse_chain(issued.certificate), ca_key), issued.certificate


def ext(certificate: x509.Certificate, kind: type[Any]) -> Any:
    return certificate.extensions.get_extension_for_class(kind)


def test_self_signed_is_its_own_ca_with_the_crl_distribution_points() -> None:
    signer = key()
    issued = sign_self_signed(
        request(signer, common_name="root", is_ca=True, duration=timedelta(days=10)),
        key=signer,
        urls=IssuerURLs(crl_distribution_points=("http://crl.example/a.crl",)),
        now=NOW,
    )
    assert issued.ca == issued.certificate
    (certificate,) = parse_chain(issued.certificate)
    assert certificate.issuer == certificate.subject
    assert certificate.not_valid_after_utc - certificate.not_valid_before_utc == timedelta(days=10)
    constraints = ext(certificate, x509.BasicConstraints)
    assert (constraints.value.ca, constraints.value.path_length, constraints.critical) == (
        True,
        None,
        True,
    )
    assert ext(certificate, x509.KeyUsage).value.key_cert_sign
    assert ext(certificate, x509.SubjectKeyIdentifier)
    points = ext(certificate, x509.CRLDistributionPoints).value
    assert [p.full_name[0].value for p in points] == ["http://crl.example/a.crl"]
    certificate.verify_directly_issued_by(certificate)


def test_self_signed_refuses_a_csr_of_another_key() -> None:
    with pytest.raises(PKIError, match="CSR not signed by referenced private key"):
        sign_self_signed(request(key(), common_name="x"), key=key(), urls=IssuerURLs(), now=NOW)


def test_a_leaf_from_an_intermediate_chains_to_the_root() -> None:
    root, root_pem = self_signed_ca("root")
    intermediate_key = key()
    intermediate = sign_with_ca(
        request(intermediate_key, common_name="intermediate", is_ca=True),
        keypair=root,
        urls=IssuerURLs(),
        now=NOW,
    )
    assert intermediate.ca == root_pem
    # The intermediate's Secret as the issuing controller writes it.
    keypair = load_ca_keypair(
        {
            "tls.crt": intermediate.certificate,
            "tls.key": encode_private_key(intermediate_key),
            "ca.crt": intermediate.ca,
        },
        where="default/intermediate",
    )
    check_signing_ca(keypair)
    leaf_key = key()
    issued = sign_with_ca(
        request(leaf_key, dns_names=("api.example.com",), usages=("server auth",)),
        keypair=keypair,
        urls=IssuerURLs(
            ocsp_servers=("http://ocsp.example",),
            issuing_certificate_urls=("http://ca.example/i.crt",),
        ),
        now=NOW,
    )
    chain = parse_chain(issued.certificate)
    assert [c.subject.rfc4514_string() for c in chain] == ["", "CN=intermediate"]
    assert issued.ca == root_pem
    leaf = chain[0]
    assert ext(leaf, x509.BasicConstraints).value.ca is False
    assert list(ext(leaf, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert ext(leaf, x509.SubjectAlternativeName).critical  # empty subject
    access = ext(leaf, x509.AuthorityInformationAccess).value
    assert [(a.access_method, a.access_location.value) for a in access] == [
        (AuthorityInformationAccessOID.OCSP, "http://ocsp.example"),
        (AuthorityInformationAccessOID.CA_ISSUERS, "http://ca.example/i.crt"),
    ]
    assert (
        ext(leaf, x509.AuthorityKeyIdentifier).value.key_identifier
        == ext(chain[1], x509.SubjectKeyIdentifier).value.digest
    )
    verifier = (
        PolicyBuilder()
        .store(Store(list(parse_chain(issued.ca))))
        .time(NOW + timedelta(minutes=1))
        .build_server_verifier(x509.DNSName("api.example.com"))
    )
    verifier.verify(leaf, list(chain[1:]))


@pytest.mark.parametrize(
    ("csr_fields", "signing", "message"),
    [
        pytest.param(
            {"common_name": "x", "is_ca": True},
            {"is_ca": False},
            "encoded CSR error: IsCA true does not match expected value false",
            id="is-ca-mismatch",
        ),
        pytest.param(
            {"common_name": "x", "usages": ("client auth",)},
            {"usages": ("server auth",)},
            "encoded CSR error: the ExtKeyUsages [ 'client auth' ] do not match the expected "
            "ExtKeyUsages [ 'server auth' ]",
            id="usages-mismatch",
        ),
    ],
)
def test_a_csr_that_contradicts_its_request_is_refused(
    csr_fields: dict[str, Any], signing: dict[str, Any], message: str
) -> None:
    root, _ = self_signed_ca("root")
    signed = request(key(), **csr_fields)
    mismatched = SigningRequest(csr_pem=signed.csr_pem, **signing)
    with pytest.raises(PKIError) as caught:
        sign_with_ca(mismatched, keypair=root, urls=IssuerURLs(), now=NOW)
    assert str(caught.value) == message


def test_keypair_checks() -> None:
    root, root_pem = self_signed_ca("root")
    leaf = sign_with_ca(
        request(key(), common_name="leaf"), keypair=root, urls=IssuerURLs(), now=NOW
    )
    with pytest.raises(InvalidKeyPair, match="certificate is not a CA"):
        check_signing_ca(CAKeyPair(parse_chain(leaf.certificate), root.key))
    with pytest.raises(InvalidKeyPair, match="private key does not match"):
        check_signing_ca(CAKeyPair(root.certificates, key()))
    with pytest.raises(
        PKIError, match=re.escape("no private key data for \"tls.key\" in secret 'ns/ca'")
    ):
        load_ca_keypair({"tls.crt": root_pem}, where="ns/ca")
    with pytest.raises(PKIError, match="no certificate data"):
        load_ca_keypair({"tls.key": encode_private_key(root.key)}, where="ns/ca")
