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
    managed_data,
)
from certmgr.pki.certificates import CertificateInfo, parse_chain, parse_leaf
from certmgr.pki.errors import PKIError
from certmgr.pki.jks import TrustedEntry, decode_jks
from certmgr.pki.keys import public_keys_equal
from certmgr.pki.pbmac1 import uses_pbmac1

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
        (("",), '""'),
        (("", ""), ","),
        (("a", ""), "a,"),
        (("a,b",), '"a,b"'),
        (("a", "b,c", "d"), 'a,"b,c",d'),
        ((" a ", "*.example.com"), " a ,*.example.com"),
    ],
    ids=[
        "empty",
        "one",
        "two",
        "comma-quoted",
        "quote-doubled",
        "lone-empty-value-quoted",
        "two-empty-values",
        "trailing-empty-value",
        "lone-value-with-comma",
        "middle-value-with-comma",
        "spaces-and-wildcard-unquoted",
    ],
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


@pytest.mark.parametrize(
    ("emails", "expected"),
    [
        ((), None),
        (("ops@example.com",), "ops@example.com"),
        (("a@x.org", "b@x.org"), "a@x.org,b@x.org"),
    ],
    ids=["none-no-annotation", "one", "two"],
)
def test_email_sans_is_written_only_when_there_are_emails(
    emails: tuple[str, ...], expected: str | None
) -> None:
    # cert-manager's AnnotationsForCertificate: email-sans (like the subject fields) is
    # left out when empty; common-name, alt-names, ip-sans and uri-sans are kept empty.
    _, pem = leaf(emails=emails)
    annotations = managed_annotations("web", spec_of(), CertificateInfo.of(parse_leaf(pem)))
    assert annotations.get("cert-manager.io/email-sans") == expected
    assert annotations["cert-manager.io/uri-sans"] == ""
    assert annotations["cert-manager.io/ip-sans"] == ""


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


@pytest.mark.parametrize("profile", [{}, {"profile": "Modern2026"}], ids=["default", "Modern2026"])
def test_keystore_is_stable_across_rebuilds(profile: dict[str, str]) -> None:
    key, pem = leaf()
    spec = spec_of(keystores={"pkcs12": {"create": True, "password": "pw", **profile}})
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


JKS_PASSWORD = b"s3cret"


def jks_spec(**jks: Any) -> CertificateSpec:
    return spec_of(keystores={"jks": {"create": True, "password": "s3cret", **jks}})


def jks_secret(
    spec: CertificateSpec,
    issued: Issued,
    existing: dict[str, Any] | None = None,
    *,
    password: bytes = JKS_PASSWORD,
) -> dict[str, Any]:
    return build_secret(
        existing,
        namespace="default",
        certificate_name="web",
        spec=spec,
        issued=issued,
        jks_password=password,
    )


@pytest.mark.parametrize("with_ca", [True, False], ids=["with-ca", "without-ca"])
def test_jks_keystore_holds_key_chain_and_ca(with_ca: bool) -> None:
    key, pem = leaf()
    issued = Issued(key, pem, ca_pem=pem if with_ca else b"")
    values = decoded(jks_secret(jks_spec(), issued))
    cas = (TrustedEntry("ca", parse_leaf(pem)),) if with_ca else ()
    keystore = decode_jks(values["keystore.jks"], JKS_PASSWORD)
    [entry] = keystore.keys
    assert (entry.alias, entry.chain) == ("certificate", parse_chain(pem))
    assert public_keys_equal(entry.key, key)
    assert keystore.trusted == cas
    if with_ca:
        truststore = decode_jks(values["truststore.jks"], JKS_PASSWORD)
        assert (truststore.keys, truststore.trusted) == ((), cas)
    else:
        assert "truststore.jks" not in values
    assert "keystore.p12" not in values


def test_jks_custom_alias_is_honoured_lower_cased() -> None:
    key, pem = leaf()
    values = decoded(jks_secret(jks_spec(alias="Tomcat"), Issued(key, pem)))
    assert [e.alias for e in decode_jks(values["keystore.jks"], JKS_PASSWORD).keys] == ["tomcat"]


@pytest.mark.parametrize(
    "keystores",
    [{"jks": {"create": False, "password": "s3cret"}}, {}],
    ids=["create-false", "jks-removed"],
)
def test_jks_stores_are_removed_when_no_longer_wanted(keystores: dict[str, Any]) -> None:
    key, pem = leaf()
    issued = Issued(key, pem, ca_pem=pem)
    first = jks_secret(jks_spec(), issued)
    first["data"]["extra"] = base64.b64encode(b"mine").decode()
    assert {"keystore.jks", "truststore.jks"} <= decoded(first).keys()
    values = decoded(jks_secret(spec_of(keystores=keystores), issued, first))
    assert "keystore.jks" not in values and "truststore.jks" not in values
    assert values["extra"] == b"mine"


def test_jks_stores_are_kept_byte_for_byte_while_they_hold_the_same_content() -> None:
    key, pem = leaf()
    issued = Issued(key, pem, ca_pem=pem)
    first = jks_secret(jks_spec(), issued)
    assert jks_secret(jks_spec(), issued, first) == first


@pytest.mark.parametrize(
    ("change", "rebuilt"),
    [
        ("key", {"keystore.jks"}),
        ("password", {"keystore.jks", "truststore.jks"}),
        ("alias", {"keystore.jks"}),
        ("ca", {"keystore.jks", "truststore.jks"}),
    ],
    ids=["key", "password", "alias", "ca"],
)
def test_jks_stores_are_rebuilt_when_their_content_changes(change: str, rebuilt: set[str]) -> None:
    key, pem = leaf()
    _, ca_pem = leaf(common_name="ca")
    first = jks_secret(jks_spec(), Issued(key, pem, ca_pem=ca_pem))
    spec, issued, password = jks_spec(), Issued(key, pem, ca_pem=ca_pem), JKS_PASSWORD
    if change == "key":
        new_key, new_pem = leaf()
        issued = Issued(new_key, new_pem, ca_pem=ca_pem)
    elif change == "password":
        password = b"changed"
    elif change == "alias":
        spec = jks_spec(alias="other")
    else:
        issued = Issued(key, pem, ca_pem=leaf(common_name="other-ca")[1])
    second = jks_secret(spec, issued, first, password=password)
    changed = {
        k for k in ("keystore.jks", "truststore.jks") if second["data"][k] != first["data"][k]
    }
    assert changed == rebuilt
    keystore = decode_jks(decoded(second)["keystore.jks"], password)
    assert public_keys_equal(keystore.keys[0].key, issued.key)
    assert keystore.trusted == (TrustedEntry("ca", parse_leaf(issued.ca_pem)),)


def test_jks_and_pkcs12_are_written_side_by_side() -> None:
    key, pem = leaf()
    spec = spec_of(
        keystores={
            "jks": {"create": True, "password": "s3cret"},
            "pkcs12": {"create": True, "password": "pw"},
        }
    )
    data = managed_data(
        spec, Issued(key, pem, ca_pem=pem), pkcs12_password=b"pw", jks_password=JKS_PASSWORD
    )
    stores = ("keystore.jks", "truststore.jks", "keystore.p12", "truststore.p12")
    assert all(data[k] for k in stores)


@pytest.mark.parametrize(
    ("keystores", "message"),
    [
        ({"jks": {"create": True, "password": "s3cret"}}, "JKS keystore needs a password"),
        ({"pkcs12": {"create": True, "password": "pw"}}, "PKCS#12 keystore needs a password"),
    ],
    ids=["jks", "pkcs12"],
)
def test_a_keystore_needs_its_password(keystores: dict[str, Any], message: str) -> None:
    key, pem = leaf()
    with pytest.raises(PKIError, match=message):
        managed_data(spec_of(keystores=keystores), Issued(key, pem), pkcs12_password=None)


def _owner_refs(secret: dict[str, Any]) -> list[dict[str, Any]]:
    return list(secret["metadata"].get("ownerReferences") or [])


def _secret_for_web(existing: dict[str, Any] | None, *, owned: bool) -> dict[str, Any]:
    key, pem = WEB_LEAF
    return build_secret(
        existing,
        namespace="default",
        certificate_name="web",
        spec=spec_of(),
        issued=Issued(key, pem),
        certificate_uid="cert-uid",
        owned=owned,
    )


WEB_LEAF = leaf()
FOREIGN_OWNER = {"apiVersion": "v1", "kind": "ConfigMap", "name": "keep", "uid": "other-uid"}
OUR_OWNER = {
    "apiVersion": "cert-manager.io/v1",
    "kind": "Certificate",
    "name": "web",
    "uid": "cert-uid",
    "controller": True,
    "blockOwnerDeletion": True,
}


@pytest.mark.parametrize("owned", [True, False])
def test_owner_reference_follows_the_setting_and_keeps_foreign_ones(owned: bool) -> None:
    existing = _secret_for_web(None, owned=False)
    stale = {**OUR_OWNER, "controller": False}  # ours, but not as cert-manager writes it
    existing["metadata"]["ownerReferences"] = [FOREIGN_OWNER, stale]
    secret = _secret_for_web(existing, owned=owned)
    assert _owner_refs(secret) == ([FOREIGN_OWNER, OUR_OWNER] if owned else [FOREIGN_OWNER])
    assert _secret_for_web(secret, owned=owned) == secret  # a re-sync then writes nothing


def test_no_owner_reference_by_default_and_none_left_empty() -> None:
    key, pem = WEB_LEAF
    fresh = build_secret(
        None,
        namespace="default",
        certificate_name="web",
        spec=spec_of(),
        issued=Issued(key, pem),
        certificate_uid="cert-uid",
    )
    assert "ownerReferences" not in fresh["metadata"]
    released = _secret_for_web(_secret_for_web(fresh, owned=True), owned=False)
    assert "ownerReferences" not in released["metadata"]


@pytest.mark.parametrize(
    ("before", "after", "rewritten"),
    [
        pytest.param("Modern2023", "Modern2026", True, id="to-Modern2026"),
        pytest.param("Modern2026", "Modern2023", True, id="from-Modern2026"),
        pytest.param("LegacyDES", "Modern2023", False, id="cipher-only"),
    ],
)
def test_pkcs12_profile_change_to_or_from_pbmac1_rewrites_the_stores(
    before: str, after: str, rewritten: bool
) -> None:
    key, pem = leaf()
    issued = Issued(key, pem, ca_pem=pem)

    def secret(profile: str, existing: dict[str, Any] | None) -> dict[str, Any]:
        spec = spec_of(keystores={"pkcs12": {"create": True, "password": "pw", "profile": profile}})
        return build_secret(
            existing,
            namespace="default",
            certificate_name="web",
            spec=spec,
            issued=issued,
            pkcs12_password=b"pw",
        )

    first = secret(before, None)
    second = secret(after, first)
    for name in ("keystore.p12", "truststore.p12"):
        assert (second["data"][name] != first["data"][name]) is rewritten
        assert uses_pbmac1(decoded(second)[name]) is (after == "Modern2026")
