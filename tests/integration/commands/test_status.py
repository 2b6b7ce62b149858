"""``certmgr status certificate`` against the simulator: a hand-built issuance chain
(ClusterIssuer, Certificate, Secret, CertificateRequest, Order, Challenges, Events) and
the report's pieces for each, plus the lookups that fail softly."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certmgr.api.codec import rfc3339

from .conftest import Cluster, certificate

KEY_MARKER = base64.b64encode(b"-----BEGIN EC PRIVATE KEY----- not printed").decode()


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def tls_crt() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "web.example.com")])
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Pebble Intermediate")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(0xC0FFEE)
        .not_valid_before(datetime(2026, 3, 1, tzinfo=UTC))
        .not_valid_after(datetime(2026, 5, 30, tzinfo=UTC))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("web.example.com")]), False)
        .sign(key, hashes.SHA256())
    )
    return b64(cert.public_bytes(serialization.Encoding.PEM))


def owner(obj: dict[str, Any]) -> list[dict[str, Any]]:
    meta = obj["metadata"]
    return [
        {
            "apiVersion": obj["apiVersion"],
            "kind": obj["kind"],
            "name": meta["name"],
            "uid": meta["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


def event(about: dict[str, Any], suffix: str, reason: str, message: str, **extra: Any) -> dict:
    meta = about["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{meta['name']}.{suffix}",
            "namespace": meta.get("namespace") or "default",
        },
        "involvedObject": {
            "apiVersion": about["apiVersion"],
            "kind": about["kind"],
            "name": meta["name"],
            "namespace": meta.get("namespace"),
            "uid": meta["uid"],
        },
        "type": extra.pop("type", "Normal"),
        "reason": reason,
        "message": message,
        "source": {"component": "certmgr"},
        # Now, not at import: in a long run the test may start minutes after collection.
        "firstTimestamp": rfc3339(datetime.now(UTC) - timedelta(minutes=5)),
        "lastTimestamp": rfc3339(datetime.now(UTC) - timedelta(minutes=5)),
        "count": extra.pop("count", 1),
    }


@pytest.fixture
def chain(cluster: Cluster) -> dict[str, dict[str, Any]]:
    """A Certificate mid-renewal: revision 1 issued, revision 2's request waiting on an
    Order whose one Challenge is pending (and one of another Order, not ours)."""
    issuer = cluster.create(
        {
            "apiVersion": "cert-manager.io/v1",
            "kind": "ClusterIssuer",
            "metadata": {"name": "letsencrypt"},
            "spec": {
                "acme": {
                    "server": "https://acme.example/directory",
                    "privateKeySecretRef": {"name": "letsencrypt-account"},
                    "solvers": [{"http01": {"ingress": {}}}],
                }
            },
            "status": {
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True",
                        "reason": "ACMEAccountRegistered",
                        "message": "The ACME account was registered with the ACME server",
                        "lastTransitionTime": "2026-03-01T11:00:00Z",
                    }
                ]
            },
        }
    )
    crt = cluster.create(
        certificate(
            "web",
            conditions=[
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "Ready",
                    "message": "Certificate is up to date and has not expired",
                    "lastTransitionTime": "2026-03-01T12:00:00Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "Issuing",
                    "status": "True",
                    "reason": "ManuallyTriggered",
                    "message": "Certificate re-issuance manually triggered",
                    "lastTransitionTime": "2026-03-02T08:00:00Z",
                    "observedGeneration": 1,
                },
            ],
            status={
                "notBefore": "2026-03-01T12:00:00Z",
                "notAfter": "2026-05-30T12:00:00Z",
                "renewalTime": "2026-04-30T12:00:00Z",
                "revision": 1,
            },
        )
    )
    secret = cluster.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/tls",
            "metadata": {
                "name": "web-tls",
                "namespace": "default",
                "annotations": {
                    "cert-manager.io/issuer-name": "letsencrypt",
                    "cert-manager.io/issuer-kind": "ClusterIssuer",
                    "cert-manager.io/issuer-group": "cert-manager.io",
                    "cert-manager.io/certificate-name": "web",
                    "unrelated.example/note": "hidden",
                },
            },
            "data": {"tls.crt": tls_crt(), "tls.key": KEY_MARKER},
        }
    )
    request_spec = {
        "request": b64("csr"),
        "issuerRef": {"name": "letsencrypt", "kind": "ClusterIssuer"},
    }

    def request(name: str, revision: int, conditions: list[dict[str, Any]]) -> dict[str, Any]:
        return cluster.create(
            {
                "apiVersion": "cert-manager.io/v1",
                "kind": "CertificateRequest",
                "metadata": {
                    "name": name,
                    "namespace": "default",
                    "annotations": {"cert-manager.io/certificate-revision": str(revision)},
                    "ownerReferences": owner(crt),
                },
                "spec": request_spec,
                "status": {"conditions": conditions},
            }
        )

    request(
        "web-1",
        1,
        [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Issued",
                "message": "Certificate fetched from issuer successfully",
            }
        ],
    )
    current = request(
        "web-2",
        2,
        [
            {
                "type": "Approved",
                "status": "True",
                "reason": "cert-manager.io",
                "message": "Certificate request has been approved by cert-manager.io",
            },
            {
                "type": "Ready",
                "status": "False",
                "reason": "Pending",
                "message": 'Waiting on certificate issuance from order web-2-123: "pending"',
            },
        ],
    )
    order_spec = {
        "request": b64("csr"),
        "issuerRef": {"name": "letsencrypt", "kind": "ClusterIssuer"},
        "dnsNames": ["web.example.com"],
    }
    order = cluster.create(
        {
            "apiVersion": "acme.cert-manager.io/v1",
            "kind": "Order",
            "metadata": {
                "name": "web-2-123",
                "namespace": "default",
                "ownerReferences": owner(current),
            },
            "spec": order_spec,
            "status": {
                "state": "pending",
                "url": "https://acme.example/order/1",
                "authorizations": [
                    {
                        "url": "https://acme.example/authz/1",
                        "identifier": "web.example.com",
                        "initialState": "pending",
                        "wildcard": False,
                        "challenges": [
                            {
                                "type": "http-01",
                                "url": "https://acme.example/chall/1",
                                "token": "tok",
                            }
                        ],
                    }
                ],
            },
        }
    )
    stranger = cluster.create(
        {
            "apiVersion": "acme.cert-manager.io/v1",
            "kind": "Order",
            "metadata": {"name": "other-1", "namespace": "default"},
            "spec": order_spec,
        }
    )

    def challenge(name: str, of: dict[str, Any], **status: Any) -> dict[str, Any]:
        return cluster.create(
            {
                "apiVersion": "acme.cert-manager.io/v1",
                "kind": "Challenge",
                "metadata": {"name": name, "namespace": "default", "ownerReferences": owner(of)},
                "spec": {
                    "url": "https://acme.example/chall/1",
                    "authorizationURL": "https://acme.example/authz/1",
                    "dnsName": "web.example.com",
                    "type": "HTTP-01",
                    "token": "tok",
                    "key": "tok.thumbprint",
                    "solver": {"http01": {"ingress": {}}},
                    "issuerRef": {"name": "letsencrypt", "kind": "ClusterIssuer"},
                },
                "status": status,
            }
        )

    ours = challenge(
        "web-2-123-456",
        order,
        state="pending",
        reason="Waiting for HTTP-01 challenge propagation: wrong status code '404', expected '200'",
        processing=True,
        presented=True,
    )
    challenge("other-1-789", stranger, state="valid", processing=False, presented=False)

    for obj in (
        event(crt, "a", "Issuing", "Issuing certificate as Secret does not exist"),
        event(crt, "b", "Requested", 'Created new CertificateRequest resource "web-2"'),
        event(current, "a", "OrderCreated", "Created Order resource default/web-2-123"),
        event(
            order,
            "a",
            "Created",
            'Created Challenge resource "web-2-123-456" for domain "web.example.com"',
        ),
        event(
            ours, "a", "PresentError", "Error presenting challenge: boom", type="Warning", count=3
        ),
        event(stranger, "a", "Complete", "Order completed successfully"),
    ):
        cluster.create(obj)
    return {"certificate": crt, "secret": secret, "issuer": issuer}


def section(output: str, title: str) -> list[str]:
    """The lines of one top-level section (``title:`` up to the next unindented line)."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{title}:"))
    end = next(
        (
            i
            for i in range(start + 1, len(lines))
            if lines[i] and not lines[i][0].isspace() and not lines[i].startswith("- ")
        ),
        len(lines),
    )
    return lines[start:end]


def test_status_shows_the_whole_chain(cluster: Cluster, chain: dict[str, Any]) -> None:
    result = cluster.cli("status", "certificate", "web", "-n", "default")

    assert result.code == 0, result.err
    out = result.out
    assert out.startswith("Name: web\nNamespace: default\n")
    assert section(out, "Conditions") == [
        "Conditions:",
        "  Ready: True, Reason: Ready, Message: Certificate is up to date and has not expired "
        "(since 2026-03-01T12:00:00Z, observedGeneration 1)",
        "  Issuing: True, Reason: ManuallyTriggered, Message: Certificate re-issuance manually "
        "triggered (since 2026-03-02T08:00:00Z, observedGeneration 1)",
    ]
    assert section(out, "DNS Names") == ["DNS Names:", "- web.example.com"]
    crt_events = section(out, "Events")
    assert crt_events[1].split() == ["Type", "Reason", "Age", "From", "Message"]
    assert crt_events[3].split()[:4] == ["Normal", "Issuing", "5m", "certmgr"]
    assert crt_events[4].endswith('Created new CertificateRequest resource "web-2"')

    issuer = section(out, "Issuer")
    assert issuer[:4] == [
        "Issuer:",
        "  Name: letsencrypt",
        "  Kind: ClusterIssuer",
        "  Conditions:",
    ]
    assert issuer[4].startswith("    Ready: True, Reason: ACMEAccountRegistered")

    secret = section(out, "Secret")
    assert secret[:9] == [
        "Secret:",
        "  Name: web-tls",
        "  Type: kubernetes.io/tls",
        "  Keys: tls.crt, tls.key",
        "  Annotations:",
        "    cert-manager.io/certificate-name: web",
        "    cert-manager.io/issuer-group: cert-manager.io",
        "    cert-manager.io/issuer-kind: ClusterIssuer",
        "    cert-manager.io/issuer-name: letsencrypt",
    ]
    assert "    Issuer Common Name: Pebble Intermediate" in secret
    assert "    Serial Number: c0ffee" in secret
    assert "    Not After: 2026-05-30T00:00:00Z" in secret
    assert "    Public Key: ECDSA 256" in secret
    assert "  Events: <none>" in secret
    assert KEY_MARKER not in out and "PRIVATE KEY" not in out
    assert "unrelated.example" not in out

    assert "Not Before: 2026-03-01T12:00:00Z\n" in out
    assert "Not After: 2026-05-30T12:00:00Z\n" in out
    assert "Renewal Time: 2026-04-30T12:00:00Z\n" in out
    assert "Revision: 1\n" in out

    request = section(out, "CertificateRequest")
    assert request[:5] == [
        "CertificateRequest:",
        "  Name: web-2",
        "  Namespace: default",
        "  Revision: revision 2, in progress",
        "  Conditions:",
    ]
    assert request[6].startswith("    Ready: False, Reason: Pending, Message: Waiting on")
    assert any("OrderCreated" in line for line in request)

    order = section(out, "Order")
    assert order[:5] == [
        "Order:",
        "  Name: web-2-123",
        "  State: pending, Reason: ",
        "  URL: https://acme.example/order/1",
        "  Authorizations:",
    ]
    assert order[5] == (
        "    URL: https://acme.example/authz/1, Identifier: web.example.com, "
        "Initial State: pending, Wildcard: false"
    )
    assert "other-1" not in out and "Order completed successfully" not in out

    challenges = section(out, "Challenges")
    assert challenges[1] == (
        "- Name: web-2-123-456, Type: HTTP-01, Domain: web.example.com, Wildcard: false, "
        "State: pending, Reason: Waiting for HTTP-01 challenge propagation: wrong status code "
        "'404', expected '200', Processing: true, Presented: true"
    )
    warning = challenges[5].split()
    assert warning[:5] == ["Warning", "PresentError", "5m", "(x3)", "certmgr"]


def test_status_after_issuance_shows_the_issued_request(cluster: Cluster) -> None:
    crt = cluster.create(certificate("done", status={"revision": 1}))
    cluster.create(
        {
            "apiVersion": "cert-manager.io/v1",
            "kind": "CertificateRequest",
            "metadata": {
                "name": "done-1",
                "namespace": "default",
                "annotations": {"cert-manager.io/certificate-revision": "1"},
                "ownerReferences": owner(crt),
            },
            "spec": {"request": b64("csr"), "issuerRef": {"name": "letsencrypt"}},
        }
    )

    result = cluster.cli("status", "certificate", "done")

    assert result.code == 0, result.err
    assert "  Name: done-1\n" in result.out
    assert "  Revision: revision 1, issued the current certificate\n" in result.out
    # No Issuer, Secret, Order: each lookup fails softly with a line saying why.
    assert "Issuer: error when getting ClusterIssuer 'letsencrypt': NotFound: " in result.out
    assert "Secret: done-tls: error when getting Secret 'done-tls' in namespace default: " in (
        result.out
    )
    assert "Order:" not in result.out  # the issuer is unknown and nothing owns an Order


def test_status_of_a_fresh_certificate(cluster: Cluster) -> None:
    cluster.create(certificate("new"))

    result = cluster.cli("status", "certificate", "new")

    assert result.code == 0, result.err
    assert "Conditions:\n  No Conditions set\n" in result.out
    assert "Not After: <none>\n" in result.out
    assert "CertificateRequest: No CertificateRequest found for this Certificate\n" in result.out


def test_status_of_a_missing_certificate(cluster: Cluster) -> None:
    result = cluster.cli("status", "certificate", "ghost", "-n", "default")

    assert result.code == 1
    assert result.out == ""
    assert result.err == 'certmgr: error: Certificate "ghost" not found in namespace default\n'
