"""gateway-shim: Certificates for annotated Gateways, as cert-manager's certificate-shim.

A Gateway annotated ``cert-manager.io/issuer`` or ``cert-manager.io/cluster-issuer``
gets one Certificate per TLS Secret its listeners name (``listeners`` reads them), owned
by it, with the listeners' hostnames; the other shim annotations mean what they mean on
an Ingress. Everything else is ingress-shim's machinery (``ingressshim.desired``,
``merging``, ``sync``) with the Gateway as :class:`~certmgr.controllers.ingressshim.
desired.Source`. Runs only with ``--enable-gateway-api``. See docs/gateway.md. This
package must not touch a Certificate the Gateway does not control.
"""

from __future__ import annotations

from typing import Final

from certmgr.controllers.context import Context
from certmgr.controllers.gatewayshim.listeners import gateway_blocks
from certmgr.controllers.ingressshim.desired import Source
from certmgr.controllers.ingressshim.sync import setup_shim
from certmgr.kube.resources import GATEWAYS
from certmgr.runtime.manager import owner_keys

NAME: Final = "gateway-shim"
# Certificates by the ``namespace/name`` of the Gateways named in their ownerReferences.
OWNER_INDEX: Final = "gateway-shim-certificates-by-owner-gateway"
# One function object, so registering the index again is a no-op (Cache.add_index).
gateway_owners: Final = owner_keys("Gateway")
GATEWAY: Final = Source(
    kind="Gateway",
    api_version=GATEWAYS.api_version,
    auto_annotations=(),
    blocks=gateway_blocks,
    parent_ref=True,
)


def setup(ctx: Context) -> None:
    """Register the Gateway and Certificate informers and the gateway-shim controller."""
    setup_shim(
        ctx, name=NAME, resource=GATEWAYS, source=GATEWAY, index=(OWNER_INDEX, gateway_owners)
    )


__all__ = ["GATEWAY", "NAME", "OWNER_INDEX", "setup"]
