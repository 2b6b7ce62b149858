"""The target Secret as cert-manager writes it: annotations, managed keys, foreign keys."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from certmgr.api.certificates import CertificateSpec
from certmgr.controllers.certificates.secretdata import (
    Issued,
    build_secret,
    join_csv,
    managed_annotations,
)
from certmgr.pki.certificates import CertificateInfo, parse_leaf

from .helpers import certificate, leaf


def spec_of(**fields: Any) -> CertificateSpec:
    spec = certificate(**fields).spec
    assert spec is not None
    return spec


@pytest.mark.parametrize(
    ("values", "joined"),
    [
        ((), ""),
        (("a",), "a"),
        (("a", "b"), "a,b"),
        (("Example, Inc.", "b"), '"Example, Inc.",b'),
        (('say "hi"',), '"say ""hi"""'),
    ],
    ids=["empty", "one", "two", "comma-quoted", "quote-doubled"],
)
def test_join_csv(values: tuple[str, ...], joined: str) -> None:
    assert join_csv(values) == joined


@pytest.mark.parametrize(
    ("certificate_fields", "expected"),
    [
        (
            {},
            {
                "cert-manager.io/common-name": "web.example.com",
                "cert-manager.io/alt-names": "web.example.com",
                "cert-manager.io/ip-sans": "",
            },
        ),
        (
            {"dns_names": ("a.example.com", "b.example.com"), "ips": ("10.0.0.1", "::1")},
            {
                "cert-manager.io/alt-names": "a.example.com,b.example.com",
                "cert-manager.io/ip-sans": "10.0.0.1,::1",
            },
        ),
        (
            {"organizations": ("Example, Inc.",)},
            {"cert-manager.io/subject-organizations": '"Example, Inc."'},
        ),
    ],
    ids=["defaults", "sans", "subject-escaped"],
)
def test_managed_annotations(certificate_fields: dict[str, Any], expected: dict[str, str]) -> None:
    _, pem = leaf(**certificate_fields)
    annotations = managed_annotations("web", spec_of(), CertificateInfo.of(parse_leaf(pem)))
    assert annotations["cert-manager.io/certificate-name"] == "web"
    assert annotations["cert-manager.io/issuer-name"] == "ca"
    assert annotations["cert-manager.io/issuer-kind"] == "Issuer"
    assert annotations["cert-manager.io/issuer-group"] == ""
    assert annotations.items() >= expected.items()
    if "organizations" not in certificate_fields:
        assert "cert-manager.io/subject-organizations" not in annotations


def decoded(secret: dict[str, Any]) -> dict[str, bytes]:
    return {k: base64.b64decode(v) for k, v in secret["data"].items()}


def test_new_secret_is_a_tls_secret_with_our_metadata() -> None:
    key, pem = leaf()
    secret = build_secret(
        None, namespace="default", certificate_name="web", spec=spec_of(), issued=Issued(key, pem)
    )
    assert secret["type"] == "kubernetes.io/tls"
    assert secret["metadata"]["name"] == "web-tls"
    assert secret["metadata"]["labels"] == {"controller.cert-manager.io/fao": "true"}
    assert set(decoded(secret)) == {"tls.crt", "tls.key"}  # no CA known: no ca.crt


def test_existing_secret_keeps_foreign_keys_and_loses_unrequested_outputs() -> None:
    key, pem = leaf()
    existing = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": "web-tls",
            "namespace": "default",
            "labels": {"app": "x", "team": "old"},
            "annotations": {"note": "keep"},
        },
        "data": {
            "extra": base64.b64encode(b"mine").decode(),
            "key.der": base64.b64encode(b"stale").decode(),
            "ca.crt": base64.b64encode(b"stale").decode(),
        },
    }
    spec = spec_of(
        secretTemplate={
            "labels": {"team": "new", "controller.cert-manager.io/fao": "false"},
            "annotations": {"cert-manager.io/certificate-name": "spoofed"},
        },
        additionalOutputFormats=[{"type": "CombinedPEM"}],
    )
    secret = build_secret(
        existing, namespace="default", certificate_name="web", spec=spec, issued=Issued(key, pem)
    )
    values = decoded(secret)
    assert values["extra"] == b"mine"
    assert "key.der" not in values and "ca.crt" not in values
    assert values["tls-combined.pem"] == values["tls.key"] + b"\n" + pem
    assert secret["type"] == "Opaque"  # a Secret's type is immutable
    labels, annotations = secret["metadata"]["labels"], secret["metadata"]["annotations"]
    assert labels == {"app": "x", "team": "new", "controller.cert-manager.io/fao": "true"}
    assert annotations["note"] == "keep"
    assert annotations["cert-manager.io/certificate-name"] == "web"  # managed beats template
    assert existing["data"].keys() == {"extra", "key.der", "ca.crt"}  # input untouched


def test_keystore_is_stable_across_rebuilds() -> None:
    key, pem = leaf()
    spec = spec_of(keystores={"pkcs12": {"create": True, "password": "pw"}})
    issued = Issued(key, pem, ca_pem=pem)
    first = build_secret(
        None,
        namespace="default",
        certificate_name="web",
        spec=spec,
        issued=issued,
        pkcs12_password=b"pw",
    )
    again = build_secret(
        first,
        namespace="default",
        certificate_name="web",
        spec=spec,
        issued=issued,
        pkcs12_password=b"pw",
    )
    assert again == first
    other = build_secret(
        first,
        namespace="default",
        certificate_name="web",
        spec=spec,
        issued=issued,
        pkcs12_password=b"changed",
    )
    assert other["data"]["keystore.p12"] != first["data"]["keystore.p12"]
