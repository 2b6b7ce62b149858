"""The data plane as a Gateway API implementation: its GatewayClass controller.

Owns :class:`GatewayPlane`: it mirrors GatewayClasses, Gateways, HTTPRoutes,
ReferenceGrants and Namespaces (Services and Secrets come from the router's mirrors),
gives each Gateway its address (``gatewayaddresses``), keeps the evaluation of
``gatewaymodel`` current (rebuilt when any mirror moved), answers the router's two
questions (which rule a request hits on an address and listener port, which Secret an
SNI name gets) and, after every change, has the router listen on the Gateways' addresses
and then writes statuses back (``gatewaystatus``), so ``Programmed`` is only read once the
address answers. The Gateway API CRDs must be installed. It must not proxy requests nor
open sockets (the router does).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Final

import structlog

from certmgr.kube.errors import APIError
from certmgr.kube.protocol import KubeAPI
from certmgr.kube.resources import NAMESPACES
from certmgr.testing.dataplane.gatewayaddresses import GatewayAddresses
from certmgr.testing.dataplane.gatewaymatching import Decision, Request
from certmgr.testing.dataplane.gatewaymodel import Evaluation, World, evaluate
from certmgr.testing.dataplane.gatewayrefs import Key
from certmgr.testing.dataplane.gatewaystatus import StatusWriter
from certmgr.testing.dataplane.mirroring import Mirror
from certmgr.testing.gatewayapi import GATEWAY_CLASSES, GATEWAYS, HTTP_ROUTES, REFERENCE_GRANTS
from certmgr.testing.gatewayapi.manifests import DATAPLANE_CONTROLLER

CONTROLLER_NAME: Final = DATAPLANE_CONTROLLER
RETRY_SECONDS: Final = 1.0
_log = structlog.get_logger("dataplane")
Listen = Callable[[frozenset[str]], Awaitable[None]]


class GatewayPlane:
    """Gateways of every class whose ``controllerName`` is ``controller_name``.

    ``ports``: listener port -> the protocol the router serves for it (``HTTP`` on its
    HTTP socket, ``HTTPS`` on its TLS socket); other listener ports are unavailable.
    ``listen``: makes the router serve exactly these Gateway addresses (awaited before
    statuses are written).
    """

    def __init__(
        self,
        client: KubeAPI,
        *,
        services: Mirror,
        secrets: Mirror | None,
        ports: Mapping[int, str],
        controller_name: str = CONTROLLER_NAME,
        listen: Listen | None = None,
    ) -> None:
        self.controller_name = controller_name
        self._listen = listen
        self._addresses = GatewayAddresses()
        self.ports = dict(ports)
        self._services = services
        self._secrets = secrets
        self._classes = Mirror(client, GATEWAY_CLASSES, on_change=self.poke)
        self._gateways = Mirror(client, GATEWAYS, on_change=self.poke)
        self._routes = Mirror(client, HTTP_ROUTES, on_change=self.poke)
        self._grants = Mirror(client, REFERENCE_GRANTS, on_change=self.poke)
        self._namespaces = Mirror(client, NAMESPACES, on_change=self.poke)
        self._writer = StatusWriter(client, controller_name=controller_name)
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._evaluation = Evaluation()
        self._versions: tuple[int, ...] = ()

    def _own_mirrors(self) -> list[Mirror]:
        return [self._classes, self._gateways, self._routes, self._grants, self._namespaces]

    async def start(self) -> None:
        """Load the mirrors; nothing is written until :meth:`serve`."""
        try:
            for mirror in self._own_mirrors():
                await mirror.start()
        except BaseException:
            await self.stop()
            raise

    def serve(self) -> None:
        """Start listening on the Gateways' addresses and writing statuses (the router
        calls it once its own sockets are up)."""
        self._dirty.set()
        self._task = asyncio.create_task(self._write_statuses(), name="dataplane-gateway-status")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for mirror in self._own_mirrors():
            await mirror.stop()

    def poke(self, _key: Key | None = None) -> None:
        """Something the evaluation reads changed: write statuses again."""
        self._dirty.set()

    def evaluation(self) -> Evaluation:
        """The current evaluation, rebuilt only when a mirror changed since the last one."""
        mirrors = [*self._own_mirrors(), self._services]
        mirrors += [self._secrets] if self._secrets is not None else []
        versions = tuple(m.version for m in mirrors)
        if versions != self._versions:
            self._versions = versions
            classes = self._classes.objects()
            ours = {
                (c.get("metadata") or {}).get("name")
                for c in classes
                if (c.get("spec") or {}).get("controllerName") == self.controller_name
            }
            gateways = self._gateways.objects()
            served = [
                g
                for g in gateways
                if (g.get("spec") or {}).get("gatewayClassName") in ours
                and not (g.get("metadata") or {}).get("deletionTimestamp")
            ]
            world = World(
                classes=classes,
                gateways=gateways,
                routes=self._routes.objects(),
                grants=self._grants.objects(),
                namespaces=self._namespaces.objects(),
                services=self._services.objects(),
                secrets=self._secrets.objects() if self._secrets is not None else (),
            )
            self._evaluation = evaluate(
                world,
                controller_name=self.controller_name,
                ports=self.ports,
                addresses=self._addresses.assign(served),
            )
        return self._evaluation

    def match(self, port: int, request: Request, *, address: str | None) -> Decision | None:
        """The rule a request on ``address``:``port`` hits, or None (no listener or
        rule). ``address`` None: the router's own address, where every Gateway answers."""
        return self.evaluation().table.match(port, request, address=address)

    def certificate_for(self, port: int, server_name: str, *, address: str | None) -> Key | None:
        """``(namespace, name)`` of the Secret a TLS listener serves for this SNI name."""
        return self.evaluation().table.certificate_for(port, server_name, address=address)

    def address_of(self, namespace: str, name: str) -> str | None:
        """The address Gateway ``namespace/name`` is served on, once it has one."""
        status = self.evaluation().gateways.get((namespace, name))
        return status.addresses[0] if status is not None and status.addresses else None

    async def _write_statuses(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            evaluation = self.evaluation()
            if self._listen is not None:
                addresses = (s.addresses for s in evaluation.gateways.values())
                await self._listen(frozenset(a for found in addresses for a in found))
            try:
                await self._writer.write(
                    evaluation,
                    classes=self._classes.objects(),
                    gateways=self._gateways.objects(),
                    routes=self._routes.objects(),
                )
            except APIError as exc:
                _log.warning("dataplane_gateway_status_failed", error=str(exc))
                await asyncio.sleep(RETRY_SECONDS)
                self._dirty.set()
