"""A Certificate becomes Ready with a valid Secret, issued by the local test CA, in every
shape the spec allows: key algorithms and encodings, extra output formats, keystores,
a Secret template, and a pre-existing Secret whose foreign keys are kept."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from certmgr.kube import resources as r
from certmgr.pki.certificates import parse_chain, parse_leaf
from certmgr.pki.jks import TrustedEntry, decode_jks
from certmgr.pki.keys import parse_private_key, public_keys_equal
from certmgr.testing.dataplane.waiting import eventually

from .conftest import World, condition, data


async def issued(world: World, name: str, **spec: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    await world.create_certificate(name, **spec)
    certificate = await world.wait_ready(name)
    secret = await world.secret(f"{name}-tls")
    assert secret is not None
    return certificate, secret


def key_pair_matches(values: dict[str, bytes]) -> bool:
    chain = parse_chain(values["tls.crt"])
    return public_keys_equal(chain[0].public_key(), parse_private_key(values["tls.key"]))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("private_key", "key_type", "pem_header"),
    [
        ({}, rsa.RSAPrivateKey, b"-----BEGIN RSA PRIVATE KEY-----"),
        ({"encoding": "PKCS8"}, rsa.RSAPrivateKey, b"-----BEGIN PRIVATE KEY-----"),
        ({"algorithm": "ECDSA", "size": 384}, ec.EllipticCurvePrivateKey, b"-----BEGIN EC"),
        (
            {"algorithm": "ECDSA", "encoding": "PKCS8"},
            ec.EllipticCurvePrivateKey,
            b"-----BEGIN PRIVATE KEY-----",
        ),
    ],
    ids=["rsa-pkcs1", "rsa-pkcs8", "ecdsa-384-sec1", "ecdsa-pkcs8"],
)
async def test_certificate_becomes_ready_with_a_valid_secret(
    world: World, private_key: dict[str, Any], key_type: type, pem_header: bytes
) -> None:
    certificate, secret = await issued(world, "web", privateKey=private_key)
    assert secret["type"] == "kubernetes.io/tls"
    values = data(secret)
    assert key_pair_matches(values)
    assert isinstance(parse_private_key(values["tls.key"]), key_type)
    assert values["tls.key"].startswith(pem_header)
    assert values["ca.crt"] == world.issuer.ca_pem
    status = certificate["status"]
    assert condition(certificate, "Ready")["reason"] == "Ready"
    assert status["notBefore"] < status["renewalTime"] < status["notAfter"]
    assert "nextPrivateKeySecretName" not in status
    annotations = secret["metadata"]["annotations"]
    assert annotations["cert-manager.io/certificate-name"] == "web"
    assert annotations["cert-manager.io/issuer-name"] == "test-ca"
    assert annotations["cert-manager.io/alt-names"] == "web.example.com"
    assert secret["metadata"]["labels"]["controller.cert-manager.io/fao"] == "true"
    assert "Issuing" in world.events.reasons("Normal")
    # The temporary key Secret goes (the key manager deletes it once it sees the
    # Certificate no longer Issuing: after Ready, not with it), and no Warning was recorded.

    async def secret_names() -> list[str]:
        listed = await world.kube.list(r.SECRETS, namespace=world.namespace)
        return [s["metadata"]["name"] for s in listed.items]

    assert await eventually(secret_names, lambda names: names == ["web-tls"])
    assert world.events.reasons("Warning") == []


async def test_additional_output_formats_template_and_keystore(world: World) -> None:
    await world.kube.create(
        r.SECRETS,
        {
            "metadata": {"name": "p12-password", "namespace": world.namespace},
            "stringData": {"pw": "s3cret"},
        },
    )
    _, secret = await issued(
        world,
        "full",
        ipAddresses=["10.0.0.1"],
        subject={"organizations": ["Example, Inc."]},
        additionalOutputFormats=[{"type": "DER"}, {"type": "CombinedPEM"}],
        secretTemplate={"labels": {"team": "web"}, "annotations": {"owner": "alice"}},
        keystores={
            "pkcs12": {"create": True, "passwordSecretRef": {"name": "p12-password", "key": "pw"}}
        },
    )
    values = data(secret)
    key = parse_private_key(values["tls.key"])
    assert values["tls-combined.pem"] == values["tls.key"] + b"\n" + values["tls.crt"]
    assert (
        parse_private_key(
            b"-----BEGIN RSA PRIVATE KEY-----\n"
            + base64.encodebytes(values["key.der"])
            + b"-----END RSA PRIVATE KEY-----\n"
        ).private_numbers()
        == key.private_numbers()
    )  # type: ignore[union-attr]
    p12_key, p12_cert, _ = pkcs12.load_key_and_certificates(values["keystore.p12"], b"s3cret")
    assert p12_cert is not None and p12_cert == parse_chain(values["tls.crt"])[0]
    assert p12_key is not None and public_keys_equal(p12_key, key)  # type: ignore[arg-type]
    assert "truststore.p12" in values
    metadata = secret["metadata"]
    assert metadata["labels"]["team"] == "web"
    assert metadata["annotations"]["owner"] == "alice"
    assert metadata["annotations"]["cert-manager.io/ip-sans"] == "10.0.0.1"
    assert metadata["annotations"]["cert-manager.io/subject-organizations"] == '"Example, Inc."'


def assert_jks_holds_the_secret(values: dict[str, bytes], *, password: bytes, alias: str) -> None:
    keystore = decode_jks(values["keystore.jks"], password)
    [entry] = keystore.keys
    assert (entry.alias, entry.chain) == (alias, parse_chain(values["tls.crt"]))
    assert public_keys_equal(entry.key, parse_private_key(values["tls.key"]))
    cas = (TrustedEntry("ca", parse_leaf(values["ca.crt"])),)
    assert keystore.trusted == cas
    assert decode_jks(values["truststore.jks"], password).trusted == cas


async def test_jks_keystore_with_its_password_from_a_secret(world: World) -> None:
    await world.kube.create(
        r.SECRETS,
        {
            "metadata": {"name": "jks-password", "namespace": world.namespace},
            "stringData": {"password": "s3cret"},  # the key passwordSecretRef defaults to
        },
    )
    _, secret = await issued(
        world,
        "java",
        keystores={
            "jks": {
                "create": True,
                "alias": "Tomcat",
                "passwordSecretRef": {"name": "jks-password"},
            }
        },
    )
    assert_jks_holds_the_secret(data(secret), password=b"s3cret", alias="tomcat")
    await world.quiesce()
    # Re-syncs and restarts keep the (randomly salted) stores as they are.
    await world.kube.patch(
        r.CERTIFICATES, "java", {"metadata": {"labels": {"poke": "1"}}}, namespace=world.namespace
    )
    await world.restart()
    await world.quiesce()
    assert await world.secret("java-tls") == secret


async def test_jks_keystore_is_added_and_removed_without_reissuing(world: World) -> None:
    _, secret = await issued(world, "web")
    assert "keystore.jks" not in data(secret)

    async def probe() -> dict[str, bytes]:
        return data(await world.secret("web-tls") or {})

    await world.patch_spec("web", {"keystores": {"jks": {"create": True, "password": "s3cret"}}})
    values = await eventually(probe, lambda v: "truststore.jks" in v)
    assert_jks_holds_the_secret(values, password=b"s3cret", alias="certificate")
    await world.patch_spec("web", {"keystores": {"jks": {"create": False, "password": "s3cret"}}})
    values = await eventually(probe, lambda v: "keystore.jks" not in v)
    assert "truststore.jks" not in values
    assert values["tls.crt"] == data(secret)["tls.crt"]
    assert len(world.issuer.signed) == 1


async def test_pre_existing_secret_is_taken_over_and_its_foreign_keys_kept(world: World) -> None:
    await world.kube.create(
        r.SECRETS,
        {
            "metadata": {"name": "old-tls", "namespace": world.namespace, "labels": {"app": "old"}},
            "type": "kubernetes.io/tls",
            "stringData": {"tls.crt": "", "tls.key": "", "extra": "keep me"},
        },
    )
    _, secret = await issued(world, "old")
    values = data(secret)
    assert values["extra"] == b"keep me"
    assert key_pair_matches(values)
    assert secret["metadata"]["labels"]["app"] == "old"


async def test_invalid_spec_is_reported_and_others_are_still_served(world: World) -> None:
    await world.create_certificate("bad", ipAddresses=["999.1.1.1"])
    await world.create_certificate("good")
    await world.wait_ready("good")
    bad = await world.wait_condition("bad", "Ready", "False")
    ready = condition(bad, "Ready")
    assert ready["reason"] == "InvalidSpec"
    assert "999.1.1.1" in ready["message"]
    await world.quiesce()
    assert not condition(await world.certificate("bad"), "Issuing")
    assert all(
        r["metadata"]["annotations"]["cert-manager.io/certificate-name"] == "good"
        for r in await world.requests()
    )
    assert "InvalidSpec" in world.events.reasons("Warning")


async def test_template_and_output_changes_are_applied_without_reissuing(world: World) -> None:
    _, secret = await issued(world, "web", secretTemplate={"labels": {"team": "a"}})
    before = data(secret)
    await world.patch_spec(
        "web",
        {
            "secretTemplate": {"labels": {"team": "b"}},
            "additionalOutputFormats": [{"type": "CombinedPEM"}],
            "privateKey": {"encoding": "PKCS8"},
        },
    )

    async def probe() -> dict[str, Any]:
        return await world.secret("web-tls") or {}

    synced = await eventually(
        probe,
        lambda s: s["metadata"]["labels"].get("team") == "b" and "tls-combined.pem" in s["data"],
    )
    await world.quiesce()
    values = data(synced)
    assert values["tls.crt"] == before["tls.crt"]  # same certificate, not reissued
    assert values["tls.key"].startswith(b"-----BEGIN PRIVATE KEY-----")
    assert (
        parse_private_key(values["tls.key"]).private_numbers()
        == parse_private_key(  # type: ignore[union-attr]
            before["tls.key"]
        ).private_numbers()
    )
    assert len(world.issuer.signed) == 1
    assert (await world.certificate("web"))["status"]["revision"] == 1


async def test_literal_subject_is_requested_as_written_and_never_reissued(world: World) -> None:
    literal = "CN=web.example.com,OU=Web+OU=Ops,O=Example\\, Inc.,C=DE"
    certificate, _ = await issued(world, "web", dnsNames=[], literalSubject=literal)
    (request,) = await world.requests()
    csr = x509.load_pem_x509_csr(base64.b64decode(request["spec"]["request"]))
    assert csr.subject == x509.Name.from_rfc4514_string(literal)
    # Every policy is judged again after a restart: the literal subject matches what was
    # requested, so nothing is reissued.
    await world.restart()
    await world.quiesce()
    after = await world.certificate("web")
    assert after["status"]["revision"] == certificate["status"]["revision"] == 1
    assert len(await world.requests()) == 1
