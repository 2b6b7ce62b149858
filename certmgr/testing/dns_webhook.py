"""A cert-manager DNS-01 webhook for tests: an aggregated API server over TLS.

Owns :class:`DNSWebhook`, which answers like a webhook built on cert-manager's
``pkg/acme/webhook`` (discovery for its group, ``POST /apis/<group>/v1alpha1/<solver>``
with a ``ChallengePayload``, 201 with ``response.success`` or ``response.status.message``)
and authenticates callers as a generic apiserver does behind kube-apiserver's front proxy
(``X-Remote-User``/``X-Remote-Group`` trusted only with a client certificate from the
front-proxy CA and an allowed name; anyone else is anonymous and refused). The TXT values
go to a :class:`Zone`: :class:`RFC2136Zone` (DNS UPDATE with TSIG through dnspython, e.g.
to the BIND fixture) or :class:`MemoryZone`. It also writes the objects that publish it
(Service, EndpointSlice, APIService). It must not be used outside tests.
"""

from __future__ import annotations

import base64
import datetime
import json
import ssl
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

import dns.asyncquery
import dns.name
import dns.rcode
import dns.tsig
import dns.tsigkeyring
import dns.update
from aiohttp import web

from certmgr.testing.apiserver.errors import status_body
from certmgr.testing.throwaway_ca import ThrowawayCA

VERSION: Final = "v1alpha1"
PAYLOAD_API_VERSION: Final = "webhook.acme.cert-manager.io/v1alpha1"
KIND: Final = "ChallengePayload"
FRONT_PROXY_NAMES: Final = ("front-proxy-client",)
_HEALTH: Final = frozenset({"/healthz", "/livez", "/readyz"})


class Zone(Protocol):
    async def present(self, fqdn: str, *, zone: str, value: str) -> None: ...

    async def clean_up(self, fqdn: str, *, zone: str, value: str) -> None: ...


@dataclass
class MemoryZone:
    """TXT values kept in memory: fqdn -> values."""

    records: dict[str, set[str]] = field(default_factory=dict)

    async def present(self, fqdn: str, *, zone: str, value: str) -> None:
        self.records.setdefault(fqdn, set()).add(value)

    async def clean_up(self, fqdn: str, *, zone: str, value: str) -> None:
        values = self.records.get(fqdn, set())
        values.discard(value)
        if not values:
            self.records.pop(fqdn, None)


@dataclass(frozen=True, slots=True)
class RFC2136Zone:
    """TXT values added and removed one by one with DNS UPDATE, signed with TSIG."""

    host: str
    port: int
    key_name: str
    secret: str  # base64, as in a BIND key clause
    algorithm: str = "hmac-sha256"
    ttl: int = 60

    async def _send(self, update: dns.update.UpdateMessage) -> None:
        response = await dns.asyncquery.tcp(update, self.host, port=self.port, timeout=10)
        if response.rcode() != dns.rcode.NOERROR:
            raise RuntimeError(f"DNS update refused: {dns.rcode.to_text(response.rcode())}")

    def _update(self, zone: str) -> dns.update.UpdateMessage:
        keyring = dns.tsigkeyring.from_text({self.key_name: self.secret})
        return dns.update.UpdateMessage(
            zone,
            keyring=keyring,
            keyname=dns.name.from_text(self.key_name),
            keyalgorithm=dns.name.from_text(self.algorithm),
        )

    async def present(self, fqdn: str, *, zone: str, value: str) -> None:
        update = self._update(zone)
        update.add(dns.name.from_text(fqdn), self.ttl, "TXT", json.dumps(value))
        await self._send(update)

    async def clean_up(self, fqdn: str, *, zone: str, value: str) -> None:
        update = self._update(zone)
        update.delete(dns.name.from_text(fqdn), "TXT", json.dumps(value))
        await self._send(update)


@dataclass(frozen=True, slots=True)
class Received:
    """One ChallengePayload as the webhook saw it, with the caller's identity."""

    user: str
    groups: tuple[str, ...]
    request: Mapping[str, Any]


def _status(code: int, reason: str, message: str) -> web.Response:
    return web.json_response(status_body(code, reason, message), status=code)


class DNSWebhook:
    """``async with DNSWebhook(group_name=..., solver_name=..., zone=..., ...) as hook:``"""

    def __init__(
        self,
        *,
        group_name: str,
        solver_name: str,
        zone: Zone,
        front_proxy_ca_pem: bytes,
        service_name: str = "dns-webhook",
        namespace: str = "certmgr",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.group_name = group_name
        self.solver_name = solver_name
        self.zone = zone
        self.service_name = service_name
        self.namespace = namespace
        self.host = host
        self.port = port
        # Set to make Present/CleanUp answer success=false with this message.
        self.fail_with: str | None = None
        self.received: list[Received] = []
        self._front_proxy_ca_pem = front_proxy_ca_pem
        self._ca = ThrowawayCA.create(f"{service_name}-ca", validity=datetime.timedelta(days=7))
        self._runner: web.AppRunner | None = None

    @property
    def ca_pem(self) -> bytes:
        """The CA of the serving certificate: the APIService's caBundle."""
        return self._ca.pem

    @property
    def server_name(self) -> str:
        return f"{self.service_name}.{self.namespace}.svc"

    def _server_context(self) -> ssl.SSLContext:
        names = [self.service_name, f"{self.service_name}.{self.namespace}", self.server_name]
        pair = self._ca.issue(self.server_name, names=names)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        # A generic apiserver asks for a client certificate and verifies one if given.
        context.verify_mode = ssl.CERT_OPTIONAL
        context.load_verify_locations(cadata=self._front_proxy_ca_pem.decode())
        with tempfile.TemporaryDirectory(prefix="certmgr-dns-webhook-") as tmp:
            cert, key = Path(tmp, "tls.crt"), Path(tmp, "tls.key")
            cert.write_bytes(pair.certificate_pem + self._ca.pem)
            key.write_bytes(pair.key_pem)
            context.load_cert_chain(cert, key)
        return context

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, ssl_context=self._server_context())
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[attr-defined]
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> DNSWebhook:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- the objects that publish it --------------------------------------------------------

    def service(self) -> dict[str, Any]:
        """A Service without a selector: its endpoints come from :meth:`endpoint_slice`."""
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": self.service_name, "namespace": self.namespace},
            "spec": {"ports": [{"name": "https", "port": 443, "targetPort": self.port}]},
        }

    def endpoint_slice(self) -> dict[str, Any]:
        return {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": f"{self.service_name}-local",
                "namespace": self.namespace,
                "labels": {"kubernetes.io/service-name": self.service_name},
            },
            "addressType": "IPv4",
            "endpoints": [{"addresses": [self.host], "conditions": {"ready": True}}],
            "ports": [{"name": "https", "port": self.port, "protocol": "TCP"}],
        }

    def apiservice(self, *, ca_bundle: bytes | None = None) -> dict[str, Any]:
        """The APIService a webhook chart installs (caBundle: this webhook's CA)."""
        bundle = self.ca_pem if ca_bundle is None else ca_bundle
        return {
            "apiVersion": "apiregistration.k8s.io/v1",
            "kind": "APIService",
            "metadata": {"name": f"{VERSION}.{self.group_name}"},
            "spec": {
                "group": self.group_name,
                "version": VERSION,
                "groupPriorityMinimum": 1000,
                "versionPriority": 15,
                "service": {"name": self.service_name, "namespace": self.namespace},
                "caBundle": base64.b64encode(bundle).decode(),
            },
        }

    def domain_solver_rbac(self, *, service_account: str, namespace: str) -> list[dict[str, Any]]:
        """What a webhook chart grants cert-manager's controller: create on its group."""
        name = f"{self.service_name}:domain-solver"
        return [
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": name},
                "rules": [
                    {"apiGroups": [self.group_name], "resources": ["*"], "verbs": ["create"]}
                ],
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": name},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": name,
                },
                "subjects": [
                    {"kind": "ServiceAccount", "name": service_account, "namespace": namespace}
                ],
            },
        ]

    # -- serving ---------------------------------------------------------------------------

    def _caller(self, request: web.Request) -> tuple[str, tuple[str, ...]] | None:
        """The front proxy's user and groups, or None (anonymous)."""
        ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
        peer = ssl_object.getpeercert() if ssl_object is not None else None
        if not peer:
            return None
        subject = dict(item for rdn in peer.get("subject", ()) for item in rdn)
        if subject.get("commonName") not in FRONT_PROXY_NAMES:
            return None
        user = request.headers.get("X-Remote-User", "")
        if not user:
            return None
        return user, tuple(request.headers.getall("X-Remote-Group", ()))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.path in _HEALTH:
            return web.Response(text="ok")
        caller = self._caller(request)
        if caller is None:
            return _status(
                403,
                "Forbidden",
                f'forbidden: User "system:anonymous" cannot {request.method.lower()} path '
                f'"{request.path}"',
            )
        group_version = f"{self.group_name}/{VERSION}"
        gv = {"groupVersion": group_version, "version": VERSION}
        group = {"name": self.group_name, "versions": [gv], "preferredVersion": gv}
        if request.method == "GET" and request.path == "/apis":
            return web.json_response(
                {"kind": "APIGroupList", "apiVersion": "v1", "groups": [group]}
            )
        if request.method == "GET" and request.path == f"/apis/{self.group_name}":
            return web.json_response({"kind": "APIGroup", "apiVersion": "v1", **group})
        if request.method == "GET" and request.path == f"/apis/{group_version}":
            return web.json_response(
                {
                    "kind": "APIResourceList",
                    "apiVersion": "v1",
                    "groupVersion": group_version,
                    "resources": [
                        {
                            "name": self.solver_name,
                            "singularName": "ChallengePayload",
                            "namespaced": False,
                            "kind": "ChallengePayload",
                            "verbs": ["create"],
                        }
                    ],
                }
            )
        if request.path != f"/apis/{group_version}/{self.solver_name}":
            return _status(404, "NotFound", "the server could not find the requested resource")
        if request.method != "POST":
            return _status(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
            )
        return await self._solve(request, caller)

    async def _solve(
        self, request: web.Request, caller: tuple[str, tuple[str, ...]]
    ) -> web.Response:
        try:
            payload = await request.json()
        except ValueError:
            return _status(400, "BadRequest", "the body of the request was in an unknown format")
        if not isinstance(payload, dict):
            return _status(400, "BadRequest", "the body of the request must be an object")
        if payload.get("apiVersion") != PAYLOAD_API_VERSION or payload.get("kind") != KIND:
            return _status(
                400,
                "BadRequest",
                f"the API version in the data ({payload.get('apiVersion')}) does not match "
                f"the expected API version ({PAYLOAD_API_VERSION})",
            )
        body = payload.get("request")
        if not isinstance(body, dict):
            return _status(500, "InternalError", "payload request field cannot be empty")
        action = body.get("action")
        if action not in ("Present", "CleanUp"):
            return _status(500, "InternalError", f'unknown action type "{action}"')
        self.received.append(Received(user=caller[0], groups=caller[1], request=body))
        response: dict[str, Any] = {"uid": body.get("uid", ""), "success": True}
        try:
            if self.fail_with is not None:
                raise RuntimeError(self.fail_with)
            fqdn, zone, key = (
                str(body.get("resolvedFQDN")),
                str(body.get("resolvedZone")),
                str(body.get("key")),
            )
            if action == "Present":
                await self.zone.present(fqdn, zone=zone, value=key)
            else:
                await self.zone.clean_up(fqdn, zone=zone, value=key)
        except Exception as exc:  # a solver error is the answer, as in cert-manager
            response = {
                "uid": body.get("uid", ""),
                "success": False,
                "status": {"metadata": {}, "status": "Failed", "message": str(exc)},
            }
        return web.json_response({**payload, "response": response}, status=201)
