"""One call for tests that need a Gateway of the data plane: create it, wait until it is
programmed, and say where its listeners are reached.

Owns :func:`create_gateway` (an HTTP listener on port 80 and, when the data plane has an
HTTPS socket, an HTTPS listener on 443 terminating TLS with one Secret) and
:class:`GatewayAddress`. The GatewayClass must exist (``local_environment(gateway_api=
True)`` creates ``dataplane``). It must not create anything else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from certmgr.kube.protocol import KubeAPI
from certmgr.testing.dataplane.plane import DataPlane
from certmgr.testing.dataplane.waiting import eventually
from certmgr.testing.gatewayapi import GATEWAYS, conditions
from certmgr.testing.gatewayapi import manifests as m


@dataclass(frozen=True, slots=True)
class GatewayAddress:
    """Where the Gateway's listeners answer, on its own address (``status.addresses``),
    which no other Gateway shares: send ``Host: <hostname>`` (and SNI)."""

    gateway: dict[str, Any]  # as stored once Programmed
    address: str  # its status.addresses[0].value
    http_url: str  # listener "http", port 80
    https_url: str | None  # listener "https", port 443 (None without an HTTPS socket)


async def create_gateway(
    client: KubeAPI,
    plane: DataPlane,
    *,
    namespace: str,
    name: str,
    hostname: str | None,
    secret: str,
    class_name: str = m.DATAPLANE_CLASS,
    annotations: dict[str, str] | None = None,
    allowed_from: str = "Same",
    deadline: float = 30.0,
) -> GatewayAddress:
    """Create Gateway ``name`` (listeners ``http``: 80, ``https``: 443 with ``hostname``
    and Secret ``secret``; ``allowedRoutes.namespaces.from: allowed_from``) and wait
    until it is Programmed. The HTTPS listener stays unprogrammed until the Secret holds
    a certificate (cert-manager's gateway-shim creates it)."""
    allowed = {"namespaces": {"from": allowed_from}}
    listeners = [m.http_listener(hostname=hostname, allowedRoutes=allowed)]
    if plane.https_port is not None:
        listeners.append(m.https_listener(secret=secret, hostname=hostname, allowedRoutes=allowed))
    body = m.gateway(
        name,
        namespace=namespace,
        listeners=listeners,
        class_name=class_name,
        annotations=annotations,
    )
    await client.create(GATEWAYS, body, namespace=namespace)
    stored = await eventually(
        lambda: client.get(GATEWAYS, name, namespace=namespace),
        conditions.programmed,
        deadline=deadline,
    )
    address = str(stored["status"]["addresses"][0]["value"])
    router = plane.router
    https_url = router.listener_url(443, address=address) if plane.https_port is not None else None
    return GatewayAddress(stored, address, router.listener_url(80, address=address), https_url)
