"""The internal-PKI recipe of cert-manager's docs, end to end on the simulator: a SelfSigned
ClusterIssuer signs a CA Certificate (isCA), a CA Issuer on its Secret signs leaves that
an independent verifier (cryptography's X.509 path validation, and openssl) accepts
against ``ca.crt``; a webhook's certificate from SelfSigned; a CA-issued certificate
renewed by the scheduler on the fake clock; issuers of types certmgr does not run say so."""

from __future__ import annotations

import base64
import contextlib
import shutil
import subprocess
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store

from certmgr.api.codec import parse_rfc3339
from certmgr.kube import resources as r
from certmgr.kube.errors import NotFound
from certmgr.pki.certificates import parse_chain
from certmgr.pki.csr import build_csr
from certmgr.pki.keys import encode_private_key, generate_private_key
from certmgr.pki.requirements import CertificateRequirements
from certmgr.testing.dataplane.waiting import eventually

from .conftest import World, condition, data


@pytest.fixture(autouse=True)
async def delete_cluster_issuer(world: World) -> AsyncIterator[None]:
    """The test's ClusterIssuer is named after its namespace (the cluster may be shared)
    and deleted after it."""
    yield
    with contextlib.suppress(NotFound):
        await world.kube.delete(r.CLUSTERISSUERS, selfsigned(world))


def selfsigned(world: World) -> str:
    return f"selfsigned-{world.namespace}"


async def create_issuer(world: World, name: str, spec: dict[str, Any], *, cluster: bool) -> None:
    resource = r.CLUSTERISSUERS if cluster else r.ISSUERS
    metadata: dict[str, Any] = {"name": name}
    if not cluster:
        metadata["namespace"] = world.namespace
    body = {"apiVersion": "cert-manager.io/v1", "kind": resource.kind, "metadata": metadata}
    await world.kube.create(resource, {**body, "spec": spec})


async def issuer_ready(world: World, name: str, *, cluster: bool) -> dict[str, Any]:
    resource = r.CLUSTERISSUERS if cluster else r.ISSUERS

    async def probe() -> dict[str, Any]:
        return await world.kube.get(resource, name, namespace=None if cluster else world.namespace)

    return await eventually(probe, lambda i: condition(i, "Ready").get("status") is not None)


def verified_chain(
    leaf_pem: bytes, ca_pem: bytes, *, dns_name: str, at: Any
) -> list[x509.Certificate]:
    chain = parse_chain(leaf_pem)
    store = Store(list(parse_chain(ca_pem)))
    verifier = PolicyBuilder().store(store).time(at).build_server_verifier(x509.DNSName(dns_name))
    return verifier.verify(chain[0], list(chain[1:]))


def openssl_verifies(tmp_path: Path, leaf_pem: bytes, ca_pem: bytes, at: Any) -> str:
    (tmp_path / "ca.pem").write_bytes(ca_pem)
    (tmp_path / "leaf.pem").write_bytes(leaf_pem)
    done = subprocess.run(
        [
            "openssl",
            "verify",
            "-attime",
            str(int(at.timestamp())),
            "-CAfile",
            str(tmp_path / "ca.pem"),
            str(tmp_path / "leaf.pem"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout + done.stderr


async def build_ca(world: World) -> dict[str, bytes]:
    await create_issuer(world, selfsigned(world), {"selfSigned": {}}, cluster=True)
    ready = await issuer_ready(world, selfsigned(world), cluster=True)
    assert (condition(ready, "Ready")["status"], condition(ready, "Ready")["reason"]) == (
        "True",
        "IsReady",
    )
    await world.create_certificate(
        "root-ca",
        isCA=True,
        commonName="certmgr test root",
        dnsNames=None,
        secretName="root-ca-tls",
        privateKey={"algorithm": "ECDSA", "size": 256},
        issuerRef={"name": selfsigned(world), "kind": "ClusterIssuer", "group": "cert-manager.io"},
    )
    await world.wait_ready("root-ca")
    secret = await world.secret("root-ca-tls")
    assert secret is not None
    values = data(secret)
    assert values["ca.crt"] == values["tls.crt"]  # SelfSigned: the CA is the certificate
    root = parse_chain(values["tls.crt"])[0]
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert root.issuer == root.subject
    return values


async def test_selfsigned_ca_then_ca_issuer_then_a_leaf_that_verifies(
    world: World, tmp_path: Path
) -> None:
    root = await build_ca(world)
    await create_issuer(
        world,
        "internal-ca",
        {
            "ca": {
                "secretName": "root-ca-tls",
                "crlDistributionPoints": ["http://crl.example/ca.crl"],
            }
        },
        cluster=False,
    )
    ca_issuer = await issuer_ready(world, "internal-ca", cluster=False)
    ready = condition(ca_issuer, "Ready")
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "True",
        "KeyPairVerified",
        "Signing CA verified",
    )
    await world.create_certificate(
        "api", issuerRef={"name": "internal-ca", "kind": "Issuer"}, dnsNames=["api.example.com"]
    )
    await world.wait_ready("api")
    secret = await world.secret("api-tls")
    assert secret is not None
    values = data(secret)
    assert values["ca.crt"] == root["tls.crt"]
    at = world.clock.now() + timedelta(minutes=1)
    chain = verified_chain(values["tls.crt"], values["ca.crt"], dns_name="api.example.com", at=at)
    assert chain[-1] == parse_chain(root["tls.crt"])[0]
    leaf = chain[0]
    points = leaf.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert [p.full_name[0].value for p in points] == ["http://crl.example/ca.crl"]  # type: ignore[index]
    if shutil.which("openssl"):
        assert "OK" in openssl_verifies(tmp_path, values["tls.crt"], values["ca.crt"], at)


async def test_a_webhook_certificate_issues_from_selfsigned(world: World) -> None:
    await create_issuer(world, selfsigned(world), {"selfSigned": {}}, cluster=True)
    await issuer_ready(world, selfsigned(world), cluster=True)
    names = ["webhook-service.system.svc", "webhook-service.system.svc.cluster.local"]
    await world.create_certificate(
        "serving-cert",
        dnsNames=names,
        issuerRef={"name": selfsigned(world), "kind": "ClusterIssuer"},
    )
    await world.wait_ready("serving-cert")
    secret = await world.secret("serving-cert-tls")
    assert secret is not None
    values = data(secret)
    assert values["ca.crt"] == values["tls.crt"]
    (certificate,) = parse_chain(values["tls.crt"])
    sans = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == names
    assert (
        sans is not None
        and certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).critical
    )  # empty subject: the SAN extension is critical (RFC 5280)
    certificate.verify_directly_issued_by(certificate)
    assert "BadConfig" in world.events.reasons("Warning")  # the empty issuer DN is said


async def test_a_ca_issued_certificate_renews_through_the_scheduler(world: World) -> None:
    await build_ca(world)
    await create_issuer(world, "internal-ca", {"ca": {"secretName": "root-ca-tls"}}, cluster=False)
    await issuer_ready(world, "internal-ca", cluster=False)
    await world.create_certificate(
        "api",
        issuerRef={"name": "internal-ca", "kind": "Issuer"},
        duration="3h",
        renewBefore="1h",
    )
    certificate = await world.wait_ready("api")
    first = data(await world.secret("api-tls") or {})
    renewal = parse_rfc3339(certificate["status"]["renewalTime"])
    await world.quiesce()
    await world.clock.advance_to(renewal)
    await world.clock.run_for(1)
    await world.wait_ready("api", revision=2)
    second = data(await world.secret("api-tls") or {})
    assert second["tls.crt"] != first["tls.crt"]
    verified_chain(
        second["tls.crt"],
        second["ca.crt"],
        dns_name="api.example.com",
        at=world.clock.now() + timedelta(minutes=1),
    )


async def test_a_ca_issuer_whose_secret_appears_later_becomes_ready_and_signs(
    world: World,
) -> None:
    await create_issuer(world, "internal-ca", {"ca": {"secretName": "later-ca"}}, cluster=False)
    not_ready = condition(await issuer_ready(world, "internal-ca", cluster=False), "Ready")
    assert (not_ready["status"], not_ready["reason"], not_ready["message"]) == (
        "False",
        "ErrGetKeyPair",
        'Error getting keypair for CA issuer: secret "later-ca" not found',
    )
    await world.create_certificate("api", issuerRef={"name": "internal-ca", "kind": "Issuer"})

    async def requests() -> list[dict[str, Any]]:
        return await world.requests()

    (pending,) = await eventually(
        requests, lambda qs: len(qs) == 1 and condition(qs[0], "Ready").get("reason") == "Pending"
    )
    assert condition(pending, "Ready")["message"] == (
        "Referenced issuer does not have a Ready status condition"
    )
    # The CA is made by a SelfSigned Certificate into exactly that Secret.
    await create_issuer(world, selfsigned(world), {"selfSigned": {}}, cluster=True)
    await world.create_certificate(
        "later",
        isCA=True,
        commonName="later root",
        secretName="later-ca",
        issuerRef={"name": selfsigned(world), "kind": "ClusterIssuer"},
    )
    await world.wait_ready("later")
    await world.wait_ready("api")


@pytest.mark.parametrize(
    ("spec", "issuer_type"),
    [
        pytest.param(
            {
                "vault": {
                    "server": "https://v",
                    "path": "pki",
                    "auth": {"tokenSecretRef": {"name": "t", "key": "k"}},
                }
            },
            "vault",
            id="vault",
        ),
        pytest.param(
            {"venafi": {"zone": "z", "cloud": {"apiTokenSecretRef": {"name": "t"}}}},
            "venafi",
            id="venafi",
        ),
    ],
)
async def test_an_unsupported_issuer_and_its_requests_say_so(
    world: World, spec: dict[str, Any], issuer_type: str
) -> None:
    await create_issuer(world, "other", spec, cluster=False)
    ready = condition(await issuer_ready(world, "other", cluster=False), "Ready")
    message = (
        f"certmgr does not support {issuer_type} issuers (it runs acme, ca, selfSigned): "
        "Certificates and CertificateRequests naming this Issuer are not signed"
    )
    assert (ready["status"], ready["reason"], ready["message"]) == ("False", "NotActedOn", message)
    await world.create_certificate("api", issuerRef={"name": "other", "kind": "Issuer"})

    async def request() -> list[dict[str, Any]]:
        return await world.requests()

    (pending,) = await eventually(
        request, lambda qs: len(qs) == 1 and condition(qs[0], "Ready").get("message") == message
    )
    assert condition(pending, "Ready")["reason"] == "Pending"
    await world.quiesce()
    assert ("api", "Warning", "NotActedOn", message) not in world.events.items
    assert [e for e in world.events.items if e[2] == "IssuerNotSupported"] == [
        (pending["metadata"]["name"], "Warning", "IssuerNotSupported", message)
    ]


def hand_made_request(
    world: World, name: str, *, key: Any, annotations: dict[str, str]
) -> dict[str, Any]:
    csr = build_csr(key, CertificateRequirements(common_name=name, dns_names=(f"{name}.example",)))
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "CertificateRequest",
        "metadata": {"name": name, "namespace": world.namespace, "annotations": annotations},
        "spec": {
            "request": base64.b64encode(csr).decode(),
            "issuerRef": {"name": selfsigned(world), "kind": "ClusterIssuer"},
        },
    }


async def test_a_selfsigned_request_waits_for_its_key_secret_and_fails_without_one(
    world: World,
) -> None:
    await create_issuer(world, selfsigned(world), {"selfSigned": {}}, cluster=True)
    await issuer_ready(world, selfsigned(world), cluster=True)
    key = generate_private_key(algorithm="ECDSA", size=256)
    annotation = "cert-manager.io/private-key-secret-name"
    await world.kube.create(
        r.CERTIFICATEREQUESTS,
        hand_made_request(world, "waits", key=key, annotations={annotation: "later-key"}),
    )
    await world.kube.create(
        r.CERTIFICATEREQUESTS, hand_made_request(world, "nokey", key=key, annotations={})
    )

    async def ready(name: str) -> dict[str, Any]:
        return condition(
            await world.kube.get(r.CERTIFICATEREQUESTS, name, namespace=world.namespace), "Ready"
        )

    waiting = await eventually(lambda: ready("waits"), lambda c: c.get("reason") == "Pending")
    assert waiting["message"] == (
        f'Referenced secret {world.namespace}/later-key not found: secret "later-key" not found'
    )
    failed = await eventually(lambda: ready("nokey"), lambda c: c.get("reason") == "Failed")
    assert failed["message"] == (
        f'Annotation "{annotation}" missing or reference empty: secret name missing'
    )
    assert "MissingAnnotation" in world.events.reasons("Warning")
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "later-key", "namespace": world.namespace},
        "data": {"tls.key": base64.b64encode(encode_private_key(key)).decode()},
    }
    await world.kube.create(r.SECRETS, secret)
    issued = await eventually(lambda: ready("waits"), lambda c: c.get("reason") == "Issued")
    assert issued["message"] == "Certificate fetched from issuer successfully"
