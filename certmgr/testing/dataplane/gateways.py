"""The data plane as a Gateway API implementation: its GatewayClass controller.

Owns :class:`GatewayPlane`: it mirrors GatewayClasses, Gateways, HTTPRoutes,
ReferenceGrants and Namespaces (Services and Secrets come from the router's mirrors),
keeps the evaluation of ``gatewaymodel`` current (rebuilt when any mirror moved), answers
the router's two questions (which rule a request hits on a listener port, which Secret
an SNI name gets) and writes statuses back after every change (``gatewaystatus``). The
Gateway API CRDs must be installed. It must not proxy requests (the router does).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Final

import structlog

from certmgr.kube.errors import APIError
from certmgr.kube.protocol import KubeAPI
from certmgr.kube.resources import NAMESPACES
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


class GatewayPlane:
    """Gateways of every class whose ``controllerName`` is ``controller_name``.

    ``ports``: listener port -> the protocol the router serves for it (``HTTP`` on its
    HTTP socket, ``HTTPS`` on its TLS socket); other listener ports are unavailable.
    """

    def __init__(
        self,
        client: KubeAPI,
        *,
        services: Mirror,
        secrets: Mirror | None,
        ports: Mapping[int, str],
        controller_name: str = CONTROLLER_NAME,
    ) -> None:
        self.controller_name = controller_name
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
        try:
            for mirror in self._own_mirrors():
                await mirror.start()
        except BaseException:
            await self.stop()
            raise
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
            world = World(
                classes=self._classes.objects(),
                gateways=self._gateways.objects(),
                routes=self._routes.objects(),
                grants=self._grants.objects(),
                namespaces=self._namespaces.objects(),
                services=self._services.objects(),
                secrets=self._secrets.objects() if self._secrets is not None else (),
            )
            self._evaluation = evaluate(
                world, controller_name=self.controller_name, ports=self.ports
            )
        return self._evaluation

    def match(self, port: int, request: Request) -> Decision | None:
        """The rule a request on listener ``port`` hits, or None (no listener or rule)."""
        return self.evaluation().table.match(port, request)

    def certificate_for(self, port: int, server_name: str) -> Key | None:
        """``(namespace, name)`` of the Secret a TLS listener serves for this SNI name."""
        return self.evaluation().table.certificate_for(port, server_name)

    async def _write_statuses(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            try:
                await self._writer.write(
                    self.evaluation(),
                    classes=self._classes.objects(),
                    gateways=self._gateways.objects(),
                    routes=self._routes.objects(),
                )
            except APIError as exc:
                _log.warning("dataplane_gateway_status_failed", error=str(exc))
                await asyncio.sleep(RETRY_SECONDS)
                self._dirty.set()
