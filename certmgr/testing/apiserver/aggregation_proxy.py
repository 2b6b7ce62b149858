"""API aggregation's wire: requests proxied to an APIService's Service over TLS.

Owns what kube-aggregator does on the network: the TLS client (the serving certificate
verified against `caBundle` for `<service>.<namespace>.svc`, or not at all with
`insecureSkipTLSVerify`; the front-proxy client certificate presented), the identity
headers of the front proxy (`X-Remote-User`, one `X-Remote-Group` per group; the
caller's `Authorization` and any `X-Remote-*` it sent are dropped), the discovery probe
behind the `Available` condition, and kube-apiserver's answers when that fails: a 503
`text/plain` body holding Go's error text. It must not decide whether a request may be
proxied (RBAC, availability): the handler does, before calling here.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import errno
import json
import ssl
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import aiohttp
from aiohttp import web
from cryptography import x509
from multidict import CIMultiDict
from yarl import URL

from certmgr.testing.apiserver.aggregation import ServiceRef
from certmgr.testing.dataplane.endpoints import Endpoint
from certmgr.testing.dataplane.proxying import HOP_BY_HOP
from certmgr.testing.throwaway_ca import ThrowawayCA

# The identity kube-aggregator's availability probe sends (always allowed).
PROBE_USER: Final = "system:kube-aggregator"
PROBE_GROUPS: Final = ("system:masters",)
PROBE_TIMEOUT: Final = 5.0
FRONT_PROXY_NAME: Final = "front-proxy-client"
# Headers the front proxy owns: what a client sent under these names never passes.
_IDENTITY_PREFIX: Final = "x-remote-"
_DROPPED: Final = HOP_BY_HOP | {"authorization", "host", "content-length"}
_CHUNK: Final = 64 * 1024
_UNKNOWN_AUTHORITY_CODES: Final = frozenset({18, 19, 20, 21})
_HOSTNAME_MISMATCH: Final = 62
_EXPIRED_CODES: Final = frozenset({9, 10})


@dataclass(frozen=True, slots=True)
class ClientIdentity:
    """The front-proxy client certificate (CN `front-proxy-client`) and its CA."""

    cert_pem: bytes
    key_pem: bytes
    ca_pem: bytes


def make_front_proxy_identity() -> ClientIdentity:
    """A front-proxy CA of its own and the `front-proxy-client` certificate it signs."""
    ca = ThrowawayCA.create("certmgr-simulator-front-proxy-ca", validity=datetime.timedelta(days=7))
    pair = ca.issue(FRONT_PROXY_NAME, names=(), client_auth=True)
    return ClientIdentity(cert_pem=pair.certificate_pem, key_pem=pair.key_pem, ca_pem=ca.pem)


def authentication_configmap(*, client_ca: bytes, front_proxy: ClientIdentity) -> dict[str, Any]:
    """kube-system/extension-apiserver-authentication, as kube-apiserver publishes it."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "extension-apiserver-authentication", "namespace": "kube-system"},
        "data": {
            "client-ca-file": client_ca.decode(),
            "requestheader-client-ca-file": front_proxy.ca_pem.decode(),
            "requestheader-allowed-names": json.dumps([FRONT_PROXY_NAME]),
            "requestheader-username-headers": json.dumps(["X-Remote-User"]),
            "requestheader-group-headers": json.dumps(["X-Remote-Group"]),
            "requestheader-extra-headers-prefix": json.dumps(["X-Remote-Extra-"]),
        },
    }


def service_unavailable(text: str = "service unavailable") -> web.Response:
    """Go's `http.Error(w, text, 503)`, as kube-aggregator answers."""
    response = web.Response(status=503, text=text + "\n", content_type="text/plain")
    response.charset = "utf-8"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


class AggregationProxy:
    """One client session for every proxied request and probe of one simulator."""

    def __init__(self, *, identity: ClientIdentity) -> None:
        self._identity = identity
        self._session: aiohttp.ClientSession | None = None
        self._contexts: dict[tuple[bytes, bool], ssl.SSLContext] = {}

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10.0, sock_read=60.0),
                auto_decompress=False,
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
                connector=aiohttp.TCPConnector(force_close=True),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _context(self, ca_bundle: bytes, *, insecure: bool) -> ssl.SSLContext:
        key = (ca_bundle, insecure)
        context = self._contexts.get(key)
        if context is None:
            context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
            if insecure:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            elif ca_bundle:
                # Only the bundle: an empty one means the system's roots, as in Go.
                context = ssl.create_default_context(
                    ssl.Purpose.SERVER_AUTH, cadata=ca_bundle.decode("ascii", "replace")
                )
            _load_identity(context, self._identity)
            self._contexts[key] = context
        return context

    async def forward(
        self,
        request: web.Request,
        *,
        endpoint: Endpoint,
        service: ServiceRef,
        ca_bundle: bytes,
        insecure: bool,
        user: str,
        groups: Sequence[str],
    ) -> web.StreamResponse:
        """Proxy `request` to `endpoint` as `user`; a 503 with Go's error when it fails."""
        headers: CIMultiDict[str] = CIMultiDict()
        for name, value in request.headers.items():
            lowered = name.lower()
            if lowered in _DROPPED or lowered.startswith(_IDENTITY_PREFIX):
                continue
            headers.add(name, value)
        headers["X-Remote-User"] = user
        for group in groups:
            headers.add("X-Remote-Group", group)
        forwarded = request.headers.get("X-Forwarded-For")
        peer = request.remote or ""
        headers["X-Forwarded-For"] = f"{forwarded}, {peer}" if forwarded else peer
        url = URL(f"https://{endpoint.authority}{request.raw_path}", encoded=True)
        body = await request.read() if request.body_exists else None
        context = self._context(ca_bundle, insecure=insecure)
        response: web.StreamResponse | None = None
        try:
            async with self._client().request(
                request.method,
                url,
                headers=headers,
                data=body,
                ssl=context,
                server_hostname=service.server_name,
                allow_redirects=False,
            ) as upstream:
                response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
                for name, value in upstream.headers.items():
                    if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                        response.headers.add(name, value)
                await response.prepare(request)
                async for chunk in upstream.content.iter_chunked(_CHUNK):
                    await response.write(chunk)
                await response.write_eof()
                return response
        except (TimeoutError, aiohttp.ClientError) as exc:
            if response is not None and response.prepared:
                raise ConnectionResetError("aggregated server failed mid-response") from exc
            text = await self._go_error(exc, endpoint=endpoint, service=service)
            return service_unavailable(text)

    async def probe(self, endpoint: Endpoint, *, group: str, version: str) -> str | None:
        """kube-aggregator's discovery check: None when `GET /apis/<group>/<version>`
        answers 2xx or 3xx, else the message its `FailedDiscoveryCheck` carries."""
        url = f"https://{endpoint.authority}/apis/{group}/{version}"
        headers: CIMultiDict[str] = CIMultiDict({"X-Remote-User": PROBE_USER})
        for name in PROBE_GROUPS:
            headers.add("X-Remote-Group", name)
        # The probe skips verification, as upstream: it says "up", not "trusted".
        context = self._context(b"", insecure=True)
        try:
            async with self._client().get(
                url,
                headers=headers,
                ssl=context,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=PROBE_TIMEOUT),
            ) as response:
                if not 200 <= response.status < 300:
                    return f"bad status from {url}: {response.status}"
                return None
        except TimeoutError:
            return (
                f'failing or missing response from {url}: Get "{url}": context deadline '
                "exceeded (Client.Timeout exceeded while awaiting headers)"
            )
        except aiohttp.ClientError as exc:
            text = await self._go_error(exc, endpoint=endpoint, service=None)
            return f'failing or missing response from {url}: Get "{url}": {text}'

    async def _go_error(
        self, exc: BaseException, *, endpoint: Endpoint, service: ServiceRef | None
    ) -> str:
        """The text Go's net/http and crypto/tls give for the same failure."""
        dial = f"dial tcp {endpoint.authority}"
        if isinstance(exc, aiohttp.ClientConnectorCertificateError):
            problem = exc.certificate_error
            code = getattr(problem, "verify_code", 0)
            if code in _UNKNOWN_AUTHORITY_CODES:
                why = "x509: certificate signed by unknown authority"
            elif code == _HOSTNAME_MISMATCH and service is not None:
                why = await self._name_mismatch(endpoint, service.server_name)
            elif code in _EXPIRED_CODES:
                why = (
                    f"x509: certificate has expired or is not yet valid: {_verify_message(problem)}"
                )
            else:
                why = f"x509: {_verify_message(problem)}"
            return f"tls: failed to verify certificate: {why}"
        if isinstance(exc, aiohttp.ClientConnectorSSLError):
            if "WRONG_VERSION_NUMBER" in str(exc) or "record layer" in str(exc):
                return "tls: first record does not look like a TLS handshake"
            return f"remote error: tls: {exc}"
        if isinstance(exc, aiohttp.ClientConnectorError):
            if exc.os_error.errno == errno.ECONNREFUSED:
                return f"{dial}: connect: connection refused"
            return f"{dial}: {exc.os_error.strerror or exc.os_error}"
        if isinstance(exc, TimeoutError):
            return f"{dial}: i/o timeout"
        if isinstance(exc, aiohttp.ServerDisconnectedError):
            return "EOF"
        return str(exc) or type(exc).__name__

    async def _name_mismatch(self, endpoint: Endpoint, server_name: str) -> str:
        """Go names what the certificate is valid for; read it without verifying."""
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        valid: list[str] = []
        with contextlib.suppress(OSError, ValueError, TimeoutError):
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(
                    endpoint.host, endpoint.port, ssl=context, server_hostname=server_name
                ),
                PROBE_TIMEOUT,
            )
            try:
                ssl_object = writer.get_extra_info("ssl_object")
                der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
            finally:
                writer.close()
            if der:
                certificate = x509.load_der_x509_certificate(der)
                with contextlib.suppress(x509.ExtensionNotFound):
                    sans = certificate.extensions.get_extension_for_class(
                        x509.SubjectAlternativeName
                    ).value
                    valid = [*sans.get_values_for_type(x509.DNSName)]
        if not valid:
            return "x509: certificate relies on legacy Common Name field, use SANs instead"
        return f"x509: certificate is valid for {', '.join(valid)}, not {server_name}"


def _verify_message(problem: object) -> str:
    return str(getattr(problem, "verify_message", "") or problem)


def _load_identity(context: ssl.SSLContext, identity: ClientIdentity) -> None:
    # load_cert_chain reads files only; the directory is removed right after.
    with tempfile.TemporaryDirectory(prefix="certmgr-sim-proxy-") as tmp:
        cert, key = Path(tmp, "tls.crt"), Path(tmp, "tls.key")
        cert.write_bytes(identity.cert_pem)
        key.write_bytes(identity.key_pem)
        context.load_cert_chain(cert, key)
