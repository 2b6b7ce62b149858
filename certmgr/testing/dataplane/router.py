"""The ingress controller of the data plane: HTTP (and HTTPS) listeners routing by Ingress.

Owns :class:`IngressRouter`: it mirrors Ingresses, Services, Pods and EndpointSlices
(and Secrets when HTTPS is on) from any API server through the ``KubeAPI`` protocol,
and for every request picks the route (:mod:`routing`), the Service's endpoints
(:mod:`endpoints`, round robin) and forwards (:mod:`proxying`), to the next endpoint
when one refuses the connection (ingress-nginx's ``proxy_next_upstream``). Answers as
ingress-nginx would: 404 from the default backend when no rule matches, 503 when the
Service or its endpoints are missing, 502/504 when the endpoint fails. With
``gateway_api=True`` it is also a Gateway implementation (:mod:`gateways`): it also
listens on each Gateway's own address (same two ports), where only that Gateway's
listeners answer; on its own address a request whose listener port and host reach any
Gateway's rules goes where that rule says (500 for an unresolved backend), anything else
falls through to the Ingress routes; on TLS a Gateway listener's Secret comes before an
Ingress's. The router itself must not create or change any API object (the Gateway part
writes status only).
"""

from __future__ import annotations

import functools
import itertools
import ssl
from collections.abc import Mapping
from types import TracebackType
from typing import Final

import aiohttp
import structlog
from aiohttp import web

from certmgr.kube.protocol import KubeAPI
from certmgr.kube.resources import ENDPOINTSLICES, INGRESSES, PODS, SECRETS, SERVICES
from certmgr.testing.dataplane.endpoints import Endpoint, endpoints_for
from certmgr.testing.dataplane.gatewaymatching import Decision, Request
from certmgr.testing.dataplane.gateways import CONTROLLER_NAME, GatewayPlane
from certmgr.testing.dataplane.mirroring import Mirror, ObjectKey
from certmgr.testing.dataplane.proxying import error_page, forward_to_first, new_session
from certmgr.testing.dataplane.routing import (
    IngressClassFilter,
    RouteTable,
    ServiceBackend,
    tls_secret_for,
)
from certmgr.testing.dataplane.tls import SecretContexts
from solvers import normalize_host

DEFAULT_BACKEND_BODY: Final = "default backend - 404"
NEXT_UPSTREAM_TRIES: Final = 3
# Which Gateway listener port each of the router's sockets stands for.
GATEWAY_LISTENER_PORTS: Final = {"http": 80, "https": 443}
_log = structlog.get_logger("dataplane")


class IngressRouter:
    """Listens on ``host:http_port`` (and ``host:https_port``); ``0`` picks a free port."""

    def __init__(
        self,
        client: KubeAPI,
        *,
        http_port: int,
        https_port: int | None = None,
        host: str = "127.0.0.1",
        ingress_class: str | None = "nginx",
        watch_ingress_without_class: bool = True,
        gateway_api: bool = False,
        gateway_listener_ports: Mapping[str, int] = GATEWAY_LISTENER_PORTS,
        gateway_controller_name: str = CONTROLLER_NAME,
    ) -> None:
        self._client = client
        self._host = host
        self._ports = {"http": http_port, "https": https_port}
        self._classes = IngressClassFilter(ingress_class, watch_ingress_without_class)
        self._ingresses = Mirror(client, INGRESSES)
        self._services = Mirror(client, SERVICES, on_change=self._backend_changed)
        self._pods = Mirror(client, PODS)
        self._slices = Mirror(client, ENDPOINTSLICES)
        self._secrets = (
            Mirror(client, SECRETS, on_change=self._backend_changed)
            if https_port is not None
            else None
        )
        self._listener_ports = dict(gateway_listener_ports)
        self.gateways: GatewayPlane | None = None
        if gateway_api:
            served = {self._listener_ports["http"]: "HTTP"}
            if https_port is not None:
                served[self._listener_ports["https"]] = "HTTPS"
            self.gateways = GatewayPlane(
                client,
                services=self._services,
                secrets=self._secrets,
                ports=served,
                controller_name=gateway_controller_name,
                listen=self._listen_on_gateway_addresses,
            )
        self._gateway_sites: dict[str, list[web.TCPSite]] = {}
        self._table = RouteTable()
        self._table_version = -1
        self._turns: dict[tuple[str, str, int | str], itertools.count[int]] = {}
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._contexts: SecretContexts | None = None
        self.http_port = http_port
        self.https_port = https_port

    @property
    def http_url(self) -> str:
        return f"http://{self._host}:{self.http_port}"

    @property
    def https_url(self) -> str:
        return f"https://{self._host}:{self.https_port}"

    def listener_url(self, listener_port: int, *, address: str | None = None) -> str:
        """Where a Gateway listener on ``listener_port`` is reached (send the listener's
        host name in the Host header, and as SNI for HTTPS): on the Gateway's own
        ``address`` (its ``status.addresses``), or, without one, on the router's address,
        where every Gateway answers (the oldest Gateway's listener on a tie)."""
        host = address or self._host
        if listener_port == self._listener_ports["http"]:
            return f"http://{host}:{self.http_port}"
        if listener_port == self._listener_ports.get("https") and self.https_port is not None:
            return f"https://{host}:{self.https_port}"
        raise ValueError(f"no socket of this router serves listener port {listener_port}")

    async def start(self) -> None:
        """Load the mirrors, then listen; the router never serves from an unsynced view."""
        try:
            for mirror in self._mirrors():
                await mirror.start()
            if self.gateways is not None:
                await self.gateways.start()
            self._session = new_session()
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", self._handle)
            self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
            await self._runner.setup()
            self.http_port = await self._listen(self._ports["http"] or 0, None)
            https_port = self._ports["https"]
            if https_port is not None:
                self._contexts = SecretContexts()
                context = self._contexts.server_context(self._context_for)
                self.https_port = await self._listen(https_port, context)
            if self.gateways is not None:
                self.gateways.serve()
        except BaseException:
            await self.stop()
            raise
        _log.info("dataplane_router_started", http=self.http_port, https=self.https_port)

    async def stop(self) -> None:
        if self.gateways is not None:
            await self.gateways.stop()
        self._gateway_sites.clear()  # the runner's cleanup stops them
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        for mirror in self._mirrors():
            await mirror.stop()
        if self._contexts is not None:
            self._contexts.close()
            self._contexts = None

    async def __aenter__(self) -> IngressRouter:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def route_table(self) -> RouteTable:
        """The current table, rebuilt only when an Ingress changed since the last request."""
        if self._table_version != self._ingresses.version:
            self._table_version = self._ingresses.version
            self._table = RouteTable.build(self._ingresses.objects(), classes=self._classes)
        return self._table

    def endpoint_for(self, host: str, path: str) -> Endpoint | web.Response:
        """Where a request goes, or the error page an ingress controller would answer."""
        chosen = self.endpoints_for(host, path)
        return chosen if isinstance(chosen, web.Response) else chosen[0]

    def endpoints_for(self, host: str, path: str) -> list[Endpoint] | web.Response:
        """The endpoints to try in turn (round robin: each request starts at the next
        one), or the error page an ingress controller would answer."""
        route = self.route_table().match(host, path)
        if route is None:
            return web.Response(status=404, text=DEFAULT_BACKEND_BODY)
        if route.backend is None:
            return error_page(503, "Service Temporarily Unavailable")
        return self._service_endpoints(route.backend)

    def gateway_endpoints_for(self, decision: Decision) -> list[Endpoint] | web.Response:
        """The endpoints of the backend a Gateway rule picks (round robin over its
        backendRefs, weights other than 0 counted as equal): 500 when it did not resolve
        or the rule has none, as the Gateway API requires."""
        rule = decision.rule
        if not rule.backends:
            return error_page(500, "Internal Server Error")
        turn = self._turns.setdefault(
            ("gateway", f"{rule.route}#{rule.rule_index}", 0), itertools.count()
        )
        backend = rule.backends[next(turn) % len(rule.backends)]
        if backend is None:
            return error_page(500, "Internal Server Error")
        return self._service_endpoints(backend)

    def _service_endpoints(self, backend: ServiceBackend) -> list[Endpoint] | web.Response:
        service = self._services.get(backend.namespace, backend.name)
        if service is None:
            return error_page(503, "Service Temporarily Unavailable")
        pods = [p for p in self._pods.objects() if _in_namespace(p, backend.namespace)]
        slices = [s for s in self._slices.objects() if _in_namespace(s, backend.namespace)]
        found = endpoints_for(service, backend.port, pods=pods, slices=slices)
        if not found:
            return error_page(503, "Service Temporarily Unavailable")
        turn = self._turns.setdefault(
            (backend.namespace, backend.name, backend.port), itertools.count()
        )
        start = next(turn) % len(found)
        return found[start:] + found[:start]

    def _gateway_decision(self, request: web.Request) -> Decision | None:
        if self.gateways is None:
            return None
        address = self._gateway_address(request)
        port = self._listener_ports["https" if request.secure else "http"]
        seen = Request(
            host=normalize_host(request.headers.get("Host", "")),
            path=request.path,
            method=request.method,
            headers={k.lower(): v for k, v in request.headers.items()},
            query=dict(request.query),
        )
        return self.gateways.match(port, seen, address=address)

    def _gateway_address(self, request: web.Request) -> str | None:
        """The Gateway address the request came in on; None: the router's own."""
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        local = str(sockname[0]) if sockname else self._host
        return local if local in self._gateway_sites else None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        decision = self._gateway_decision(request)
        if decision is not None:
            chosen = self.gateway_endpoints_for(decision)
        elif self._gateway_address(request) is not None:
            # A Gateway's own address: no Ingress behind it. The Gateway API leaves the
            # answer to the implementation; Envoy-based ones answer 404.
            return web.Response(status=404, text="no route")
        else:
            chosen = self.endpoints_for(request.headers.get("Host", ""), request.path)
        if isinstance(chosen, web.Response):
            return chosen
        assert self._session is not None  # handlers only run between start and stop
        # ingress-nginx's proxy_next_upstream "error timeout", 3 tries: an endpoint that
        # refuses the connection (a replica just killed) costs a retry, not the request.
        return await forward_to_first(
            request, chosen, session=self._session, tries=NEXT_UPSTREAM_TRIES
        )

    def _context_for(self, server_name: str, address: str | None = None) -> ssl.SSLContext | None:
        if self._secrets is None or self._contexts is None:
            return None
        ref = None
        if self.gateways is not None:
            port = self._listener_ports["https"]
            name = normalize_host(server_name)
            ref = self.gateways.certificate_for(port, name, address=address)
        if ref is None and address is None:
            ref = tls_secret_for(self._ingresses.objects(), server_name, classes=self._classes)
        secret = self._secrets.get(*ref) if ref else None
        return self._contexts.for_secret(secret) if secret else None

    async def _listen(self, port: int, context: ssl.SSLContext | None) -> int:
        assert self._runner is not None
        site = web.TCPSite(self._runner, host=self._host, port=port, ssl_context=context)
        await site.start()
        # The newest site's address comes last; with port 0 it is the only way to learn it.
        return int(self._runner.addresses[-1][1])

    async def _listen_on_gateway_addresses(self, addresses: frozenset[str]) -> None:
        """Serve exactly ``addresses`` (each Gateway's own) on the router's two ports."""
        if self._runner is None:
            return
        for address in set(self._gateway_sites) - addresses:
            for site in self._gateway_sites.pop(address):
                await site.stop()
            _log.info("dataplane_gateway_address_released", address=address)
        for address in sorted(addresses - set(self._gateway_sites)):
            sites = [web.TCPSite(self._runner, host=address, port=self.http_port)]
            if self.https_port is not None and self._contexts is not None:
                context = self._contexts.server_context(
                    functools.partial(self._context_for, address=address)
                )
                sites.append(
                    web.TCPSite(
                        self._runner, host=address, port=self.https_port, ssl_context=context
                    )
                )
            started: list[web.TCPSite] = []
            try:
                for site in sites:
                    await site.start()
                    started.append(site)
            except OSError as exc:
                _log.warning(
                    "dataplane_gateway_address_unavailable", address=address, error=str(exc)
                )
            self._gateway_sites[address] = started
            _log.info("dataplane_gateway_address_served", address=address)

    def _backend_changed(self, _key: ObjectKey) -> None:
        if self.gateways is not None:
            self.gateways.poke()

    def _mirrors(self) -> list[Mirror]:
        mirrors = [self._ingresses, self._services, self._pods, self._slices]
        return mirrors + ([self._secrets] if self._secrets is not None else [])


def _in_namespace(pod: dict[str, object], namespace: str) -> bool:
    meta = pod.get("metadata")
    return isinstance(meta, dict) and meta.get("namespace") == namespace
