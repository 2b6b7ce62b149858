"""An ACME endpoint with Renewal Information (RFC 9773) in front of the harness's Pebble.

Owns :class:`AriProxy`: an aiohttp HTTPS reverse proxy (Pebble's own listener certificate,
so clients trust it with ``pebble.ca_bundle``) that forwards every request to Pebble with
the proxy's ``Host`` header, so the URLs Pebble builds (directory, ``Location``) and checks
(the JWS ``url``) all name the proxy and no response is rewritten. On top of that it adds
``renewalInfo`` to the directory (unless ``ari`` is off), answers ``GET
<renewalInfo>/<certID>`` with the :class:`RenewalAnswer` the test set for that CertID (or
the default), records every CertID asked about and the payload of every order placed (``replaces``),
and can refuse orders that carry ``replaces``. Debian's Pebble 2.4 has no ARI.

It must not be used outside tests, and must not change Pebble's answers otherwise.
"""

from __future__ import annotations

import base64
import datetime
import json
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
from aiohttp import web

from certmgr.testing.pebble import PebbleServer, free_port

RENEWAL_INFO_PATH = "/renewal-info"
# Hop-by-hop and length headers the proxy must not copy (aiohttp sets its own).
_SKIPPED_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "content-encoding"}
)


@dataclass(frozen=True, slots=True)
class RenewalAnswer:
    """One renewal-info answer: a window (``explanation_url``, ``retry_after`` seconds), or
    ``status``/``body`` verbatim (``body`` set: malformed answers, errors)."""

    start: datetime.datetime | None = None
    end: datetime.datetime | None = None
    explanation_url: str | None = None
    retry_after: int | None = None
    status: int = 200
    body: str | None = None

    def render(self) -> tuple[int, str, dict[str, str]]:
        headers = {"Content-Type": "application/json"}
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        if self.body is not None:
            return self.status, self.body, headers
        assert self.start is not None and self.end is not None
        document: dict[str, Any] = {
            "suggestedWindow": {"start": _rfc3339(self.start), "end": _rfc3339(self.end)}
        }
        if self.explanation_url:
            document["explanationURL"] = self.explanation_url
        return self.status, json.dumps(document), headers


def window(start: datetime.datetime, end: datetime.datetime, **kwargs: Any) -> RenewalAnswer:
    return RenewalAnswer(start=start, end=end, **kwargs)


@dataclass
class AriProxy:
    """Start with ``async with AriProxy(pebble) as proxy``; use ``proxy.directory_url``."""

    pebble: PebbleServer
    ari: bool = True
    answers: dict[str, RenewalAnswer] = field(default_factory=dict)
    default: RenewalAnswer | None = None
    # Consulted when ``answers`` has no entry, before ``default`` (e.g. "the first
    # certificate asked about gets a window in the past").
    answer_for: Callable[[str], RenewalAnswer | None] | None = None
    # A problem type (e.g. "alreadyReplaced") to answer new-orders carrying replaces with.
    refuse_replaces: str | None = None
    fetches: list[str] = field(default_factory=list)
    new_orders: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None
    _client: aiohttp.ClientSession | None = None
    _pebble_directory: dict[str, Any] | None = None

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def directory_url(self) -> str:
        return f"{self.base_url}/dir"

    @property
    def renewal_info_url(self) -> str:
        return f"{self.base_url}{RENEWAL_INFO_PATH}"

    async def __aenter__(self) -> AriProxy:
        workdir = Path(self.pebble.ca_bundle).parent
        server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_tls.load_cert_chain(workdir / "listener.pem", workdir / "listener-key.pem")
        client_tls = ssl.create_default_context(cafile=self.pebble.ca_bundle)
        self._client = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=client_tls), auto_decompress=False
        )
        app = web.Application()
        app.router.add_get(RENEWAL_INFO_PATH + "/{cert_id}", self._renewal_info)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        self.port = self.port or free_port()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, ssl_context=server_tls).start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._client is not None:
            await self._client.close()

    def replaces(self) -> list[str | None]:
        """The ``replaces`` of every new-order seen, in order (None: absent)."""
        return [payload.get("replaces") for payload in self.new_orders]

    # -- handlers ----------------------------------------------------------------

    async def _renewal_info(self, request: web.Request) -> web.Response:
        cert_id = request.match_info["cert_id"]
        self.fetches.append(cert_id)
        answer = self.answers.get(cert_id)
        if answer is None and self.answer_for is not None:
            answer = self.answer_for(cert_id)
        if answer is None:
            answer = self.default
        if answer is None:
            return web.json_response(
                {"type": "urn:ietf:params:acme:error:malformed", "detail": "unknown CertID"},
                status=404,
                content_type="application/problem+json",
            )
        status, body, headers = answer.render()
        return web.Response(status=status, text=body, headers=headers)

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        new_order = request.method == "POST" and request.path == await self._new_order_path()
        payload = _jws_payload(body) if new_order else {}
        if self.refuse_replaces and payload.get("replaces"):
            self.new_orders.append(payload)
            return await self._refusal()
        status, data, headers = await self._to_pebble(
            request.method, request.path_qs, request, body
        )
        if new_order and status == 201:
            # Only orders Pebble placed: the client retries a badNonce answer.
            self.new_orders.append(payload)
        if request.path == "/dir" and status == 200 and self.ari:
            directory = json.loads(data)
            directory["renewalInfo"] = self.renewal_info_url
            data = json.dumps(directory).encode()
        return web.Response(status=status, body=data, headers=headers)

    async def _refusal(self) -> web.Response:
        problem = {
            "type": f"urn:ietf:params:acme:error:{self.refuse_replaces}",
            "detail": "the certificate named in replaces was already replaced",
        }
        nonce_path = urlpath((await self._directory())["newNonce"])
        _, _, nonce_headers = await self._to_pebble("HEAD", nonce_path, None, b"")
        headers = {k: v for k, v in nonce_headers.items() if k.lower() == "replay-nonce"}
        headers["Content-Type"] = "application/problem+json"
        return web.Response(status=409, text=json.dumps(problem), headers=headers)

    async def _to_pebble(
        self, method: str, path_qs: str, request: web.Request | None, body: bytes
    ) -> tuple[int, bytes, dict[str, str]]:
        assert self._client is not None
        headers = {
            k: v
            for k, v in (request.headers if request else {}).items()
            if k.lower() not in _SKIPPED_HEADERS
        }
        # Pebble builds and checks URLs from Host: keep the proxy's.
        headers["Host"] = f"127.0.0.1:{self.port}"
        target = self.pebble.directory_url.rsplit("/", 1)[0] + path_qs
        async with self._client.request(
            method, target, data=body or None, headers=headers, allow_redirects=False
        ) as response:
            data = await response.read()
            copied = {
                k: v for k, v in response.headers.items() if k.lower() not in _SKIPPED_HEADERS
            }
            return response.status, data, copied

    async def _directory(self) -> dict[str, Any]:
        if self._pebble_directory is None:
            _, data, _ = await self._to_pebble("GET", "/dir", None, b"")
            self._pebble_directory = json.loads(data)
        return self._pebble_directory

    async def _new_order_path(self) -> str:
        return urlpath((await self._directory())["newOrder"])


def urlpath(url: str) -> str:
    return "/" + url.split("://", 1)[-1].split("/", 1)[-1]


def _jws_payload(body: bytes) -> dict[str, Any]:
    try:
        encoded = json.loads(body)["payload"]
        decoded = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except (ValueError, KeyError, TypeError):
        return {}
    return decoded if isinstance(decoded, dict) else {}


def _rfc3339(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
