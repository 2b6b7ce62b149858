"""The Gateway API CRDs a Gateway implementation installs, for tests and ``certmgr dev``.

Owns ``crds/`` (GatewayClass, Gateway, HTTPRoute, ReferenceGrant; the standard channel's
versions, schemas written by us for the fields certmgr, cert-manager and the data plane
use) and reading them. certmgr itself never installs them: on a real cluster they come
with the Gateway implementation. It must not talk to a cluster.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import yaml

CRDS_DIR: Final = Path(__file__).resolve().parent / "crds"
GROUP: Final = "gateway.networking.k8s.io"


def crd_manifests() -> list[dict[str, Any]]:
    """The four CRDs, GatewayClass first (the order ``kubectl apply`` would take)."""
    docs: list[dict[str, Any]] = []
    for path in sorted(CRDS_DIR.glob("*.yaml")):
        with path.open() as stream:
            docs.extend(doc for doc in yaml.safe_load_all(stream) if doc)
    return docs
