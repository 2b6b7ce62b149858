"""The Gateway API CRDs a Gateway implementation installs, for tests and ``certmgr dev``.

Owns ``crds/`` (GatewayClass, Gateway, HTTPRoute, ReferenceGrant; the standard channel's
versions, schemas written by us for the fields certmgr, cert-manager and the data plane
use), their ``Resource`` descriptions, and reading them. certmgr itself never installs
them: on a real cluster they come with the Gateway implementation. It must not talk to a
cluster.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import yaml

from certmgr.kube.resources import Resource

CRDS_DIR: Final = Path(__file__).resolve().parent / "crds"
GROUP: Final = "gateway.networking.k8s.io"
GATEWAY_CLASSES: Final = Resource(GROUP, "v1", "GatewayClass", "gatewayclasses", namespaced=False)
GATEWAYS: Final = Resource(GROUP, "v1", "Gateway", "gateways", namespaced=True)
HTTP_ROUTES: Final = Resource(GROUP, "v1", "HTTPRoute", "httproutes", namespaced=True)
# v1 is served since the standard channel of v1.5; v1beta1 is served by every release.
REFERENCE_GRANTS: Final = Resource(
    GROUP, "v1beta1", "ReferenceGrant", "referencegrants", namespaced=True
)
RESOURCES: Final = (GATEWAY_CLASSES, GATEWAYS, HTTP_ROUTES, REFERENCE_GRANTS)


def crd_manifests() -> list[dict[str, Any]]:
    """The four CRDs, GatewayClass first (the order ``kubectl apply`` would take)."""
    docs: list[dict[str, Any]] = []
    for path in sorted(CRDS_DIR.glob("*.yaml")):
        with path.open() as stream:
            docs.extend(doc for doc in yaml.safe_load_all(stream) if doc)
    return docs
