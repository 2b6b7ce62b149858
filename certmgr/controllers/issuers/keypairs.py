"""What SelfSigned and CA issuers sign with: Secrets read through the Manager's caches.

Owns where an issuer's Secret lives (the Issuer's namespace, or the cluster resource
namespace for a ClusterIssuer), reading a Secret's data (cached when certmgr manages it,
one GET otherwise), the CA keypair of ``spec.ca.secretName`` and the URLs an issuer's
spec adds to what it signs. It must not write anything or decide a status.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from certmgr.controllers.certificates.gather import secret_data
from certmgr.controllers.context import Context
from certmgr.pki.signing import CAKeyPair, IssuerURLs, load_ca_keypair

# The issuer types certmgr signs with (the CRD's JSON names).
SUPPORTED_TYPES: Final = ("acme", "ca", "selfSigned")
SIGNING_TYPES: Final = ("ca", "selfSigned")


class SecretNotFound(Exception):
    """The Secret does not exist; the message is the API server's (``secret "x" not found``)."""

    def __init__(self, name: str) -> None:
        super().__init__(f'secret "{name}" not found')


def resource_namespace(ctx: Context, issuer: Mapping[str, Any]) -> str:
    return issuer_namespace(issuer, ctx.settings.cluster_resource_namespace)


def issuer_namespace(issuer: Mapping[str, Any], cluster_namespace: str) -> str:
    """Where an issuer's Secrets live: its own namespace, or for a ClusterIssuer
    ``cluster_namespace`` (the cluster resource namespace)."""
    return str((issuer.get("metadata") or {}).get("namespace") or "") or cluster_namespace


async def read_secret(ctx: Context, namespace: str, name: str) -> dict[str, bytes]:
    """The Secret's decoded data; `SecretNotFound` when it does not exist."""
    secret = await ctx.manager.secrets.get(namespace, name) if name else None
    if secret is None:
        raise SecretNotFound(name)
    return secret_data(secret)


async def ca_keypair(ctx: Context, issuer: Mapping[str, Any]) -> CAKeyPair:
    """The keypair of ``spec.ca.secretName``: `SecretNotFound`, or `PKIError` when the
    data is missing or malformed."""
    namespace = resource_namespace(ctx, issuer)
    name = ca_secret_name(issuer)
    data = await read_secret(ctx, namespace, name)
    return load_ca_keypair(data, where=f"{namespace}/{name}")


def ca_secret_name(issuer: Mapping[str, Any]) -> str:
    return str(((issuer.get("spec") or {}).get("ca") or {}).get("secretName") or "")


def issuer_urls(issuer: Mapping[str, Any], issuer_type: str) -> IssuerURLs:
    """``crlDistributionPoints`` (both types), ``ocspServers`` and
    ``issuingCertificateURLs`` (CA only), as cert-manager reads them."""
    raw = (issuer.get("spec") or {}).get(issuer_type) or {}

    def strings(field: str) -> tuple[str, ...]:
        return tuple(str(v) for v in raw.get(field) or ())

    if issuer_type != "ca":
        return IssuerURLs(crl_distribution_points=strings("crlDistributionPoints"))
    return IssuerURLs(
        crl_distribution_points=strings("crlDistributionPoints"),
        ocsp_servers=strings("ocspServers"),
        issuing_certificate_urls=strings("issuingCertificateURLs"),
    )


def issuer_type(issuer: Mapping[str, Any]) -> str:
    """The configured type's JSON name (exactly one is set: the CRD enforces it)."""
    spec = issuer.get("spec") or {}
    for name in ("acme", "ca", "selfSigned", "vault", "venafi"):
        if spec.get(name) is not None:
            return name
    # A type added to the schema after certmgr (the CRD keeps unknown fields out, but be
    # honest about whatever is there).
    return next((str(k) for k in spec if isinstance(spec[k], dict)), "")
