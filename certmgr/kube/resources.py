"""Resource types the controller talks to, and the URL paths that address them.

Owns ``Resource`` (one group/version/kind/plural and its scope) and a constant for every
kind certmgr reads or writes. It must not do I/O or know anything about HTTP beyond the
shape of a Kubernetes REST path.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True, slots=True)
class Resource:
    """One served resource type, as discovery would describe it."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        """``v1`` for the core group, ``group/version`` otherwise (the objects' apiVersion)."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    def path(
        self,
        *,
        namespace: str | None = None,
        name: str | None = None,
        subresource: str | None = None,
    ) -> str:
        """The REST path for a collection or one object.

        ``namespace=None`` on a namespaced resource addresses all namespaces (list and watch
        only); a cluster-scoped resource must not be given a namespace, because the server
        would answer 404 for a path that looks right and the bug would be hard to see.
        """
        if namespace is not None and not self.namespaced:
            raise ValueError(f"{self.kind} is cluster-scoped; no namespace allowed")
        if subresource is not None and name is None:
            raise ValueError("a subresource needs an object name")
        prefix = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        parts = [prefix]
        if namespace is not None:
            parts.append(f"namespaces/{_segment(namespace)}")
        parts.append(self.plural)
        if name is not None:
            parts.append(_segment(name))
        if subresource is not None:
            parts.append(subresource)
        return "/".join(parts)


def _segment(value: str) -> str:
    # Names are DNS subdomains in practice, but quoting keeps a bad name from escaping
    # its path segment (a "/" in a name would otherwise address another resource).
    if not value:
        raise ValueError("empty name or namespace")
    return quote(value, safe="")


NAMESPACES = Resource("", "v1", "Namespace", "namespaces", namespaced=False)
SECRETS = Resource("", "v1", "Secret", "secrets", namespaced=True)
CONFIGMAPS = Resource("", "v1", "ConfigMap", "configmaps", namespaced=True)
SERVICES = Resource("", "v1", "Service", "services", namespaced=True)
PODS = Resource("", "v1", "Pod", "pods", namespaced=True)
EVENTS = Resource("", "v1", "Event", "events", namespaced=True)
SERVICEACCOUNTS = Resource("", "v1", "ServiceAccount", "serviceaccounts", namespaced=True)

INGRESSES = Resource("networking.k8s.io", "v1", "Ingress", "ingresses", namespaced=True)
INGRESSCLASSES = Resource(
    "networking.k8s.io", "v1", "IngressClass", "ingressclasses", namespaced=False
)
LEASES = Resource("coordination.k8s.io", "v1", "Lease", "leases", namespaced=True)
ENDPOINTSLICES = Resource(
    "discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", namespaced=True
)
CRDS = Resource(
    "apiextensions.k8s.io",
    "v1",
    "CustomResourceDefinition",
    "customresourcedefinitions",
    namespaced=False,
)

CERTIFICATES = Resource("cert-manager.io", "v1", "Certificate", "certificates", namespaced=True)
CERTIFICATEREQUESTS = Resource(
    "cert-manager.io", "v1", "CertificateRequest", "certificaterequests", namespaced=True
)
ISSUERS = Resource("cert-manager.io", "v1", "Issuer", "issuers", namespaced=True)
CLUSTERISSUERS = Resource(
    "cert-manager.io", "v1", "ClusterIssuer", "clusterissuers", namespaced=False
)
ORDERS = Resource("acme.cert-manager.io", "v1", "Order", "orders", namespaced=True)
CHALLENGES = Resource("acme.cert-manager.io", "v1", "Challenge", "challenges", namespaced=True)

# Gateway API (only with --enable-gateway-api: the CRDs may not be installed).
GATEWAYS = Resource("gateway.networking.k8s.io", "v1", "Gateway", "gateways", namespaced=True)
HTTPROUTES = Resource("gateway.networking.k8s.io", "v1", "HTTPRoute", "httproutes", namespaced=True)

ALL: tuple[Resource, ...] = (
    NAMESPACES,
    SECRETS,
    CONFIGMAPS,
    SERVICES,
    PODS,
    EVENTS,
    SERVICEACCOUNTS,
    INGRESSES,
    INGRESSCLASSES,
    LEASES,
    ENDPOINTSLICES,
    CRDS,
    CERTIFICATES,
    CERTIFICATEREQUESTS,
    ISSUERS,
    CLUSTERISSUERS,
    ORDERS,
    CHALLENGES,
)
