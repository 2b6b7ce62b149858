"""Moving off cert-manager: ``certmgr run`` takes over objects exactly as cert-manager
v1.20 leaves them (Ready Certificates at revision 2 with cert-manager's renewalTime,
Secrets with cert-manager's annotations, label and field managers, the CertificateRequest
history with its Orders) and rewrites nothing that is already acceptable: 0 new
CertificateRequests or ACME Orders, 0 Secret writes, 0 Certificate or status writes.

The objects are written as cert-manager's controllers write them: server-side apply with
cert-manager's field managers, annotations from its AnnotationsForCertificate (no
``email-sans`` without email SANs), renewalTime at 2/3 of the lifetime without jitter.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import ssl
import time
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from certmgr.acme.resources import Identifier
from certmgr.acme.session import connect as acme_connect
from certmgr.api.certificates import CertificateSpec
from certmgr.api.codec import rfc3339
from certmgr.controllers.certificates.spec import requirements_of
from certmgr.pki.csr import build_csr
from certmgr.pki.renewal import renewal_time
from certmgr.testing.localenv import (
    CONTROLLER_NAMESPACE,
    EXAMPLES_DIR,
    LocalEnvironment,
    local_environment,
)
from certmgr.testing.pebble import PebbleServer

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.timeout(600),
    pytest.mark.simulator_only("counts the controller's writes"),
]

NAMESPACE = "default"
ISSUER = "letsencrypt-staging"
CERTIFICATES = 12
HISTORY = 2  # revisionHistoryLimit of every other Certificate (the rest: the default, 1)
DEADLINE = 90.0
# Controllers that look at every object at start, and how many objects each has: the
# key and request managers act on Issuing Certificates only, so they see none here, and
# the revision manager on Certificates with more than one request. cert-manager left
# every request finished, so acme-certificaterequests enqueues none (its watches filter
# with the predicate its reconcile stops on), and every Order valid with no Challenge
# left, so acme-orders enqueues none either (``orders._may_act``).
SYNCED = {
    "certificates-trigger": CERTIFICATES,
    "certificates-issuing": CERTIFICATES,
    "certificates-readiness": CERTIFICATES,
    "certificates-revisionmanager": CERTIFICATES // 2,  # those with requests to prune
}


@pytest.fixture
async def env(pebble: PebbleServer, tmp_path: Path) -> AsyncIterator[LocalEnvironment]:
    async with local_environment(tmp_path, pebble=pebble) as env:
        yield env


@dataclass(frozen=True, slots=True)
class Applier:
    """Server-side apply as cert-manager's controllers do it, each with its field manager."""

    url: str
    token: str
    ca_pem: bytes

    async def apply(self, path: str, body: dict[str, Any], *, manager: str) -> dict[str, Any]:
        context = ssl.create_default_context(cadata=self.ca_pem.decode())
        async with (
            aiohttp.ClientSession() as session,
            session.patch(
                f"{self.url}{path}",
                params={"fieldManager": manager, "force": "true"},
                data=json.dumps(body),
                headers={
                    "Authorization": f"Bearer {self.token}",
                    "Content-Type": "application/apply-patch+yaml",
                },
                ssl=context,
            ) as response,
        ):
            answer: dict[str, Any] = await response.json()
            assert response.status in (200, 201), answer
            return answer


@dataclass(frozen=True, slots=True)
class Authority:
    """A stand-in for the ACME CA's intermediate: signs the leaves cert-manager stored."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @classmethod
    def create(cls, now: datetime) -> Authority:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Takeover Intermediate")])
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=400))
            .not_valid_after(now + timedelta(days=400))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        return cls(key, cert)

    def issue(self, csr_pem: bytes, *, not_before: datetime) -> bytes:
        """The chain as an ACME CA returns it: leaf (SANs from the CSR, no CN) + intermediate."""
        csr = x509.load_pem_x509_csr(csr_pem)
        sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        leaf = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self.certificate.subject)
            .public_key(csr.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_before + timedelta(days=90))
            .add_extension(x509.SubjectAlternativeName(sans), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_encipherment=True,
                    content_commitment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self.key, hashes.SHA256())
        )
        pem = serialization.Encoding.PEM
        return leaf.public_bytes(pem) + self.certificate.public_bytes(pem)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def condition(
    type_: str, reason: str, message: str, *, at: datetime, **extra: Any
) -> dict[str, Any]:
    return {
        "type": type_,
        "status": "True",
        "reason": reason,
        "message": message,
        "lastTransitionTime": rfc3339(at),
        **extra,
    }


async def leave_as_cert_manager_does(
    applier: Applier, authority: Authority, name: str, *, now: datetime, history: int | None
) -> None:
    """One Certificate issued twice by cert-manager (revision 2, renewed 20 days ago); its
    revisionmanager kept ``history`` CertificateRequests (default 1), their Orders with them."""
    spec_dict: dict[str, Any] = {
        "secretName": f"{name}-tls",
        "dnsNames": [f"{name}.example.com"],
        "issuerRef": {"name": ISSUER, "kind": "ClusterIssuer", "group": "cert-manager.io"},
    }
    if history is not None:
        spec_dict["revisionHistoryLimit"] = history
    kept = history or 1
    certs = f"/apis/cert-manager.io/v1/namespaces/{NAMESPACE}/certificates"
    certificate = await applier.apply(
        f"{certs}/{name}",
        {
            "apiVersion": "cert-manager.io/v1",
            "kind": "Certificate",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": spec_dict,
        },
        manager="kubectl",
    )
    owner = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "name": name,
        "uid": certificate["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
    requirements = requirements_of(CertificateSpec.from_dict(spec_dict, path="spec"))
    chain = b""
    key = None
    for revision, issued_at in ((1, now - timedelta(days=80)), (2, now - timedelta(days=20))):
        # cert-manager's default: RSA 2048, PKCS#1, a new key per issuance.
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        csr = build_csr(key, requirements)
        chain = authority.issue(csr, not_before=issued_at)
        if revision <= 2 - kept:
            continue  # pruned by cert-manager's revisionmanager (the Order with it)
        request_name = f"{name}-{revision}"
        requests = f"/apis/cert-manager.io/v1/namespaces/{NAMESPACE}/certificaterequests"
        request = await applier.apply(
            f"{requests}/{request_name}",
            {
                "apiVersion": "cert-manager.io/v1",
                "kind": "CertificateRequest",
                "metadata": {
                    "name": request_name,
                    "namespace": NAMESPACE,
                    "annotations": {
                        "cert-manager.io/certificate-name": name,
                        "cert-manager.io/certificate-revision": str(revision),
                        "cert-manager.io/private-key-secret-name": f"{name}-x7k2p",
                    },
                    "ownerReferences": [owner],
                },
                # requestmanager copies duration, isCA and usages as the Certificate
                # writes them (none here); cert-manager's webhook adds who asked.
                "spec": {
                    "request": b64(csr),
                    "issuerRef": spec_dict["issuerRef"],
                    "username": "system:serviceaccount:cert-manager:cert-manager",
                    "uid": "6d4e2a3c-0d0b-4a53-9d56-1d4c4b0e8f11",
                    "groups": [
                        "system:serviceaccounts",
                        "system:serviceaccounts:cert-manager",
                        "system:authenticated",
                    ],
                },
            },
            manager="cert-manager-certificates-request-manager",
        )
        await applier.apply(
            f"{requests}/{request_name}/status",
            {
                "apiVersion": "cert-manager.io/v1",
                "kind": "CertificateRequest",
                "metadata": {"name": request_name, "namespace": NAMESPACE},
                "status": {
                    "conditions": [
                        condition(
                            "Approved",
                            "cert-manager.io",
                            "Certificate request has been approved by cert-manager.io",
                            at=issued_at,
                        ),
                        condition(
                            "Ready",
                            "Issued",
                            "Certificate fetched from issuer successfully",
                            at=issued_at,
                        ),
                    ],
                    "certificate": b64(chain),
                },
            },
            manager="cert-manager-certificaterequests-issuer-acme",
        )
        order_name = f"{request_name}-1912453891"
        orders = f"/apis/acme.cert-manager.io/v1/namespaces/{NAMESPACE}/orders"
        await applier.apply(
            f"{orders}/{order_name}",
            {
                "apiVersion": "acme.cert-manager.io/v1",
                "kind": "Order",
                "metadata": {
                    "name": order_name,
                    "namespace": NAMESPACE,
                    "annotations": {
                        "cert-manager.io/certificate-name": name,
                        "cert-manager.io/certificate-revision": str(revision),
                        "cert-manager.io/private-key-secret-name": f"{name}-x7k2p",
                    },
                    "ownerReferences": [
                        {
                            "apiVersion": "cert-manager.io/v1",
                            "kind": "CertificateRequest",
                            "name": request_name,
                            "uid": request["metadata"]["uid"],
                            "controller": True,
                            "blockOwnerDeletion": True,
                        }
                    ],
                },
                "spec": {
                    "request": b64(csr),
                    "issuerRef": spec_dict["issuerRef"],
                    "dnsNames": spec_dict["dnsNames"],
                },
            },
            manager="cert-manager-orders",
        )
        await applier.apply(
            f"{orders}/{order_name}/status",
            {
                "apiVersion": "acme.cert-manager.io/v1",
                "kind": "Order",
                "metadata": {"name": order_name, "namespace": NAMESPACE},
                "status": {
                    "state": "valid",
                    "url": f"https://acme.example/order/{order_name}",
                    "finalizeURL": f"https://acme.example/finalize/{order_name}",
                    "certificate": b64(chain),
                    "authorizations": [
                        {
                            "url": f"https://acme.example/authz/{order_name}",
                            "identifier": spec_dict["dnsNames"][0],
                            "initialState": "valid",
                            "wildcard": False,
                        }
                    ],
                },
            },
            manager="cert-manager-orders",
        )
    assert key is not None
    leaf = x509.load_pem_x509_certificates(chain)[0]
    # cert-manager's issuing controller: SecretsManager.UpdateData, server-side apply.
    await applier.apply(
        f"/api/v1/namespaces/{NAMESPACE}/secrets/{name}-tls",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": f"{name}-tls",
                "namespace": NAMESPACE,
                "labels": {"controller.cert-manager.io/fao": "true"},
                "annotations": {
                    "cert-manager.io/alt-names": f"{name}.example.com",
                    "cert-manager.io/certificate-name": name,
                    "cert-manager.io/common-name": "",
                    "cert-manager.io/ip-sans": "",
                    "cert-manager.io/issuer-group": "cert-manager.io",
                    "cert-manager.io/issuer-kind": "ClusterIssuer",
                    "cert-manager.io/issuer-name": ISSUER,
                    "cert-manager.io/uri-sans": "",
                },
            },
            "type": "kubernetes.io/tls",
            "data": {
                "tls.crt": b64(chain),
                "tls.key": b64(
                    key.private_bytes(
                        serialization.Encoding.PEM,
                        serialization.PrivateFormat.TraditionalOpenSSL,
                        serialization.NoEncryption(),
                    )
                ),
            },
        },
        manager="cert-manager-certificates-issuing",
    )
    not_before = leaf.not_valid_before_utc
    not_after = leaf.not_valid_after_utc
    await applier.apply(
        f"{certs}/{name}/status",
        {
            "apiVersion": "cert-manager.io/v1",
            "kind": "Certificate",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "status": {
                "conditions": [
                    condition(
                        "Ready",
                        "Ready",
                        "Certificate is up to date and has not expired",
                        at=not_before,
                        observedGeneration=certificate["metadata"]["generation"],
                    )
                ],
                "notBefore": rfc3339(not_before),
                "notAfter": rfc3339(not_after),
                # pki.RenewalTime: 2/3 of the lifetime, no jitter.
                "renewalTime": rfc3339(
                    renewal_time(
                        not_before=not_before,
                        not_after=not_after,
                        renew_before=None,
                        renew_before_percentage=None,
                    )
                ),
                "revision": 2,
            },
        },
        manager="cert-manager-certificates-readiness",
    )


def sync_counts(metrics: str) -> dict[str, float]:
    counts: dict[str, float] = {}
    for line in metrics.splitlines():
        found = re.match(
            r'certmanager_controller_sync_call_count\{controller="([^"]+)"\} (\S+)', line
        )
        if found:
            counts[found.group(1)] = float(found.group(2))
    return counts


def busy(metrics: str) -> bool:
    for line in metrics.splitlines():
        found = re.match(
            r"certmgr_(?:workqueue_depth|controller_active_workers)\{[^}]*\} (\S+)", line
        )
        if found and float(found.group(1)) > 0:
            return True
    return False


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text: str = answer.read().decode()
    return text


def metrics_port(env: LocalEnvironment) -> int | None:
    for line in env.controllers[-1].log_path.read_text(errors="replace").splitlines():
        if '"certmgr_starting"' in line:
            return int(json.loads(line)["metrics_port"])
    return None


async def settled(env: LocalEnvironment) -> None:
    """Until every certificate controller has synced every Certificate and nothing is queued
    or running, three scrapes in a row."""
    deadline = time.monotonic() + DEADLINE
    calm, counts, text = 0, {}, ""
    while calm < 3:
        if time.monotonic() > deadline:
            pytest.fail(f"controller did not settle: {counts}, busy: {busy(text)}")
        await asyncio.sleep(0.3)
        port = metrics_port(env)
        if port is None:
            continue
        text = await asyncio.to_thread(scrape, port)
        counts = sync_counts(text)
        done = all(counts.get(name, 0) >= least for name, least in SYNCED.items())
        calm = calm + 1 if done and not busy(text) else 0


def is_ready(obj: dict[str, Any] | None) -> bool:
    conditions = ((obj or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


async def account_registered(env: LocalEnvironment) -> None:
    """cert-manager registered the ClusterIssuer's account: here certmgr does it, before
    any other object exists (its status and account key Secret have one format), and stops."""
    env.apply([env.issuer_for_pebble(EXAMPLES_DIR / "clusterissuer-letsencrypt-staging.yaml")])
    first = env.start_controller()
    deadline = time.monotonic() + DEADLINE
    while not is_ready(env.simulator.get("cert-manager.io/v1", "ClusterIssuer", ISSUER, "")):
        assert time.monotonic() < deadline, env.controller_logs()
        await asyncio.sleep(0.1)
    assert first.stop() == 0, env.controller_logs()


async def test_taking_over_from_cert_manager_rewrites_nothing(env: LocalEnvironment) -> None:
    sim = env.simulator
    await account_registered(env)

    now = datetime.now(UTC)
    applier = Applier(sim.url, sim.admin_token, sim.ca_pem)
    authority = Authority.create(now)
    names = [f"web-{index}" for index in range(CERTIFICATES)]
    for index, name in enumerate(names):
        history = HISTORY if index % 2 == 0 else None
        await leave_as_cert_manager_does(applier, authority, name, now=now, history=history)
    before = {
        name: (
            sim.get("cert-manager.io/v1", "Certificate", name, NAMESPACE),
            sim.get("v1", "Secret", f"{name}-tls", NAMESPACE),
        )
        for name in names
    }

    sim.requests.reset()
    env.start_controller()
    await settled(env)

    writes = {
        k: v for k, v in sim.requests.snapshot().items() if k[0] not in ("get", "list", "watch")
    }
    assert sim.requests.count(verb="create", resource="certificaterequests") == 0, writes
    assert sim.requests.count(verb="create", resource="orders") == 0, writes
    assert sim.requests.writes(resource="secrets") == 0, writes
    assert sim.requests.writes(resource="certificates") == 0, writes
    assert sim.requests.writes(resource="certificates/status") == 0, writes
    assert sim.requests.writes(resource="certificaterequests") == 0, writes
    assert sim.requests.writes(resource="certificaterequests/status") == 0, writes
    for name in names:
        certificate, secret = before[name]
        assert sim.get("cert-manager.io/v1", "Certificate", name, NAMESPACE) == certificate
        assert sim.get("v1", "Secret", f"{name}-tls", NAMESPACE) == secret


async def leave_in_flight(applier: Applier, env: LocalEnvironment, name: str) -> None:
    """A first issuance cert-manager left half done: Issuing, its next private key Secret,
    an approved CertificateRequest, an Order pending at the CA and its HTTP-01 Challenge
    scheduled (processing, not yet presented)."""
    sim = env.simulator
    issuer = sim.get("cert-manager.io/v1", "ClusterIssuer", ISSUER, "")
    assert issuer is not None
    account_uri = issuer["status"]["acme"]["uri"]
    key_secret_name = issuer["spec"]["acme"]["privateKeySecretRef"]["name"]
    key_secret = sim.get("v1", "Secret", key_secret_name, CONTROLLER_NAMESPACE)
    assert key_secret is not None
    dns_name = f"{name}.example.com"
    spec_dict: dict[str, Any] = {
        "secretName": f"{name}-tls",
        "dnsNames": [dns_name],
        "issuerRef": {"name": ISSUER, "kind": "ClusterIssuer", "group": "cert-manager.io"},
    }
    certs = f"/apis/cert-manager.io/v1/namespaces/{NAMESPACE}/certificates"
    certificate = await applier.apply(
        f"{certs}/{name}",
        {
            "apiVersion": "cert-manager.io/v1",
            "kind": "Certificate",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": spec_dict,
        },
        manager="kubectl",
    )
    owner = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "name": name,
        "uid": certificate["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
    now = datetime.now(UTC)
    next_key_name = f"{name}-n7q4z"
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    await applier.apply(
        f"/api/v1/namespaces/{NAMESPACE}/secrets/{next_key_name}",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": next_key_name,
                "namespace": NAMESPACE,
                "labels": {
                    "cert-manager.io/next-private-key": "true",
                    "controller.cert-manager.io/fao": "true",
                },
                "ownerReferences": [owner],
            },
            "data": {
                "tls.key": b64(
                    key.private_bytes(
                        serialization.Encoding.PEM,
                        serialization.PrivateFormat.TraditionalOpenSSL,
                        serialization.NoEncryption(),
                    )
                )
            },
        },
        manager="cert-manager-certificates-key-manager",
    )
    message = "Issuing certificate as Secret does not exist"
    await applier.apply(
        f"{certs}/{name}/status",
        {
            "apiVersion": "cert-manager.io/v1",
            "kind": "Certificate",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "status": {
                "conditions": [
                    {**condition("Ready", "DoesNotExist", message, at=now), "status": "False"},
                    condition("Issuing", "DoesNotExist", message, at=now),
                ],
                "nextPrivateKeySecretName": next_key_name,
            },
        },
        manager="cert-manager-certificates-trigger",
    )
    requirements = requirements_of(CertificateSpec.from_dict(spec_dict, path="spec"))
    csr = build_csr(key, requirements)
    acme = await acme_connect(
        env.pebble.directory_url,
        account_key_pem=base64.b64decode(key_secret["data"]["tls.key"]),
        account_uri=account_uri,
        ca_bundle=env.pebble.ca_bundle,
    )
    try:
        order = await acme.new_order([Identifier("dns", dns_name)])
        authorization = await acme.get_authorization(order.authorizations[0])
        http01 = next(c for c in authorization.challenges if c.type == "http-01")
        key_authorization = acme.key_authorization(http01.token)
    finally:
        await acme.close()
    request_name = f"{name}-1"
    order_name = f"{request_name}-3412453891"
    annotations = {
        "cert-manager.io/certificate-name": name,
        "cert-manager.io/certificate-revision": "1",
        "cert-manager.io/private-key-secret-name": next_key_name,
    }
    requests = f"/apis/cert-manager.io/v1/namespaces/{NAMESPACE}/certificaterequests"
    request = await applier.apply(
        f"{requests}/{request_name}",
        {
            "apiVersion": "cert-manager.io/v1",
            "kind": "CertificateRequest",
            "metadata": {
                "name": request_name,
                "namespace": NAMESPACE,
                "annotations": annotations,
                "ownerReferences": [owner],
            },
            "spec": {"request": b64(csr), "issuerRef": spec_dict["issuerRef"]},
        },
        manager="cert-manager-certificates-request-manager",
    )
    await applier.apply(
        f"{requests}/{request_name}/status",
        {
            "apiVersion": "cert-manager.io/v1",
            "kind": "CertificateRequest",
            "metadata": {"name": request_name, "namespace": NAMESPACE},
            "status": {
                "conditions": [
                    condition(
                        "Approved",
                        "cert-manager.io",
                        "Certificate request has been approved by cert-manager.io",
                        at=now,
                    ),
                    {
                        **condition(
                            "Ready",
                            "Pending",
                            "Waiting on certificate issuance from order "
                            f'{NAMESPACE}/{order_name}: "pending"',
                            at=now,
                        ),
                        "status": "False",
                    },
                ]
            },
        },
        manager="cert-manager-certificaterequests-issuer-acme",
    )
    orders = f"/apis/acme.cert-manager.io/v1/namespaces/{NAMESPACE}/orders"
    stored_order = await applier.apply(
        f"{orders}/{order_name}",
        {
            "apiVersion": "acme.cert-manager.io/v1",
            "kind": "Order",
            "metadata": {
                "name": order_name,
                "namespace": NAMESPACE,
                "annotations": annotations,
                "ownerReferences": [
                    {
                        "apiVersion": "cert-manager.io/v1",
                        "kind": "CertificateRequest",
                        "name": request_name,
                        "uid": request["metadata"]["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": {
                "request": b64(csr),
                "issuerRef": spec_dict["issuerRef"],
                "dnsNames": [dns_name],
            },
        },
        manager="cert-manager-orders",
    )
    await applier.apply(
        f"{orders}/{order_name}/status",
        {
            "apiVersion": "acme.cert-manager.io/v1",
            "kind": "Order",
            "metadata": {"name": order_name, "namespace": NAMESPACE},
            "status": {
                "state": "pending",
                "url": order.url,
                "finalizeURL": order.finalize_url,
                "authorizations": [
                    {
                        "url": authorization.url,
                        "identifier": dns_name,
                        "initialState": "pending",
                        "wildcard": False,
                        "challenges": [
                            {"type": c.type, "url": c.url, "token": c.token}
                            for c in authorization.challenges
                        ],
                    }
                ],
            },
        },
        manager="cert-manager-orders",
    )
    challenge_name = f"{order_name}-2581293212"
    challenges = f"/apis/acme.cert-manager.io/v1/namespaces/{NAMESPACE}/challenges"
    await applier.apply(
        f"{challenges}/{challenge_name}",
        {
            "apiVersion": "acme.cert-manager.io/v1",
            "kind": "Challenge",
            "metadata": {
                "name": challenge_name,
                "namespace": NAMESPACE,
                "finalizers": ["acme.cert-manager.io/finalizer"],
                "ownerReferences": [
                    {
                        "apiVersion": "acme.cert-manager.io/v1",
                        "kind": "Order",
                        "name": order_name,
                        "uid": stored_order["metadata"]["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": {
                "url": http01.url,
                "authorizationURL": authorization.url,
                "dnsName": dns_name,
                "type": "HTTP-01",
                "token": http01.token,
                "key": key_authorization,
                "solver": issuer["spec"]["acme"]["solvers"][0],
                "issuerRef": spec_dict["issuerRef"],
                "wildcard": False,
            },
        },
        manager="cert-manager-orders",
    )
    await applier.apply(
        f"{challenges}/{challenge_name}/status",
        {
            "apiVersion": "acme.cert-manager.io/v1",
            "kind": "Challenge",
            "metadata": {"name": challenge_name, "namespace": NAMESPACE},
            "status": {"processing": True, "presented": False, "state": "pending"},
        },
        manager="cert-manager-challenges",
    )


async def test_an_issuance_in_flight_is_carried_on_with_its_order(env: LocalEnvironment) -> None:
    sim = env.simulator
    await account_registered(env)
    applier = Applier(sim.url, sim.admin_token, sim.ca_pem)
    await leave_in_flight(applier, env, "inflight")
    (order,) = env.list("acme.cert-manager.io/v1", "Order")

    sim.requests.reset()
    env.start_controller()
    deadline = time.monotonic() + DEADLINE
    while not is_ready(sim.get("cert-manager.io/v1", "Certificate", "inflight", NAMESPACE)):
        if time.monotonic() > deadline:
            pytest.fail(f"the in-flight Certificate did not become Ready\n{env.controller_logs()}")
        await asyncio.sleep(0.1)

    writes = {
        k: v for k, v in sim.requests.snapshot().items() if k[0] not in ("get", "list", "watch")
    }
    assert sim.requests.count(verb="create", resource="certificaterequests") == 0, writes
    assert sim.requests.count(verb="create", resource="orders") == 0, writes
    assert sim.requests.count(verb="create", resource="challenges") == 0, writes
    carried = sim.get("acme.cert-manager.io/v1", "Order", order["metadata"]["name"], NAMESPACE)
    assert carried is not None
    assert carried["status"]["state"] == "valid"
    assert carried["status"]["url"] == order["status"]["url"]  # the CA's order, finished
    certificate = sim.get("cert-manager.io/v1", "Certificate", "inflight", NAMESPACE)
    assert certificate is not None and certificate["status"]["revision"] == 1
