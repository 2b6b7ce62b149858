"""The probe's verdict for a spec is the one signing its own probe CSR gives, whether it
was judged on its shape (plain host names replaced) or on itself; specs that differ only
in plain host names sign one probe between them."""

from __future__ import annotations

import pytest

from certmgr.pki import probe
from certmgr.pki.keys import KeySpec
from certmgr.pki.requirements import CertificateRequirements, X509Subject

EC = KeySpec(algorithm="ECDSA", size=256)


def req(**fields: object) -> CertificateRequirements:
    return CertificateRequirements(key_spec=EC, **fields)  # type: ignore[arg-type]


CASES = [
    pytest.param(req(dns_names=("web.example.com",)), id="plain-dns"),
    pytest.param(req(dns_names=("*.Apps.example.com", "a_b-c.example")), id="wildcard-upper"),
    pytest.param(req(dns_names=("bücher.example",)), id="non-ascii-dns"),
    pytest.param(req(dns_names=("xn--bcher-kva.example",)), id="a-label"),
    pytest.param(req(dns_names=("has space.example",)), id="dns-with-space"),
    pytest.param(req(common_name="c" * 64), id="cn-64"),
    pytest.param(req(common_name="c" * 65), id="cn-65"),
    pytest.param(req(common_name="Web Server"), id="cn-with-space"),
    pytest.param(req(common_name="web.example.com", dns_names=("",)), id="empty-dns"),
    pytest.param(req(), id="no-names"),
    pytest.param(req(dns_names=("web.example.com",), ip_addresses=("300.1.1.1",)), id="bad-ip"),
    pytest.param(req(dns_names=("web.example.com",), emails=("ü@example.com",)), id="bad-email"),
    pytest.param(
        req(dns_names=("web.example.com",), subject=X509Subject(serial_number="a@b")),
        id="serial-not-printable",
    ),
    pytest.param(
        req(dns_names=("web.example.com",), subject=X509Subject(countries=("USA",))),
        id="country-3-letters",
    ),
    pytest.param(
        req(dns_names=("web.example.com",), signature_algorithm="SHA256WithRSA"),
        id="signature-needs-rsa",
    ),
    pytest.param(
        CertificateRequirements(
            dns_names=("web.example.com",), key_spec=KeySpec(algorithm="RSA", size=1024)
        ),
        id="weak-rsa",
    ),
    pytest.param(
        req(dns_names=("web.example.com",), usages=("digital signature", "no such usage")),
        id="unknown-usage",
    ),
    pytest.param(
        req(common_name="web.example.com", literal_subject="CN=web.example.com,O=Example"),
        id="literal-subject",
    ),
]


@pytest.mark.parametrize("requirements", CASES)
def test_the_verdict_is_the_probe_of_the_requirements_themselves(
    requirements: CertificateRequirements,
) -> None:
    probe._shape_problem.clear()
    assert probe.csr_problem(requirements) == probe._probe(requirements)
    # And again, with the shape's verdict memoised.
    assert probe.csr_problem(requirements) == probe._probe(requirements)


def test_specs_differing_only_in_plain_names_sign_one_probe(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    probe._shape_problem.clear()
    signed: list[CertificateRequirements] = []
    build = probe.build_csr

    def counting(
        key: probe.ed25519.Ed25519PrivateKey, requirements: CertificateRequirements
    ) -> bytes:
        signed.append(requirements)
        return build(key, requirements)

    monkeypatch.setattr(probe, "build_csr", counting)
    verdicts = {
        probe.csr_problem(req(dns_names=(f"c{i:06d}.certs-{i % 10}.example.com",)))
        for i in range(1000)
    }
    assert verdicts == {None}
    assert len(signed) == 1
    # A name that is not plain is judged on its own, once.
    assert probe.csr_problem(req(dns_names=("bücher.example",))) is not None
    assert len(signed) == 2
