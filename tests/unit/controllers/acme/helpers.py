"""Small builders for the ACME controllers' unit tests: a CSR and a request reconciler."""

from __future__ import annotations

from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certmgr.controllers.acme.requests import RequestReconciler
from certmgr.controllers.context import Context, Settings
from certmgr.runtime.cache import Cache
from certmgr.testing.clock import FakeClock


def csr_pem(name: str = "a.example.com") -> bytes:
    """A PEM CSR for ``name``, signed by a fresh P-256 key."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), False)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)


def request_reconciler(
    kube: Any, *, requests: Cache, orders: Cache, issuers: Cache
) -> RequestReconciler:
    """The ACME CertificateRequest reconciler over these caches, writing through ``kube``
    (a recording double), with a fake clock and no ACME client or Events."""
    ctx = Context(
        client=kube,
        manager=None,  # type: ignore[arg-type]
        clock=FakeClock(),
        events=None,  # type: ignore[arg-type]
        acme=None,  # type: ignore[arg-type]
        settings=Settings(),
    )
    return RequestReconciler(
        ctx, requests=requests, orders=orders, issuers=issuers, cluster_issuers=Cache()
    )


def owned_order(
    name: str,
    spec: dict[str, Any],
    status: dict[str, Any],
    *,
    namespace: str = "default",
    owner_uid: str = "r1",
    version: str = "1",
) -> dict[str, Any]:
    """An Order named ``name`` as the API serves it, controlled by the request ``web-1``
    (uid ``owner_uid``), with this ``spec`` and ``status``."""
    return {
        "apiVersion": "acme.cert-manager.io/v1",
        "kind": "Order",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"o-{name}",
            "resourceVersion": version,
            "ownerReferences": [
                {
                    "apiVersion": "cert-manager.io/v1",
                    "kind": "CertificateRequest",
                    "name": "web-1",
                    "uid": owner_uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": spec,
        "status": status,
    }
