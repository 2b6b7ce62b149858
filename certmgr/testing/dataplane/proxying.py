"""Forwarding one HTTP request to an endpoint and streaming the answer back, as nginx does.

Owns the proxy rules: the original Host header is kept (the solver matches on it),
hop-by-hop headers are dropped, ``X-Forwarded-*`` and ``X-Real-IP`` are added, bodies
stream in both directions without decoding, and upstream failures become nginx's
answers: 502 when the endpoint refuses or breaks the connection, 504 on a timeout. It
also owns ingress-nginx's default ``proxy_next_upstream error timeout`` (with
``proxy_next_upstream_tries``): which failures send the request on to the next of the
endpoints it is given. It must not choose or order the endpoints.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, overload

import aiohttp
from aiohttp import web
from yarl import URL

from certmgr.testing.dataplane.endpoints import Endpoint

# RFC 9110 section 7.6.1, plus the ones nginx never passes through.
HOP_BY_HOP: Final = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
_CHUNK: Final = 64 * 1024
# nginx's non-idempotent methods: once sent, never passed to the next upstream.
NON_IDEMPOTENT: Final = frozenset({"POST", "LOCK", "PATCH"})


def new_session(
    *, connect_timeout: float = 5.0, read_timeout: float = 60.0
) -> aiohttp.ClientSession:
    """The upstream session: no decompression, no cookies, no proxies from the environment."""
    timeout = aiohttp.ClientTimeout(
        total=None, sock_connect=connect_timeout, sock_read=read_timeout
    )
    session = aiohttp.ClientSession(
        timeout=timeout,
        auto_decompress=False,
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
    )
    # aiohttp sends an idempotent request again, to the same endpoint, when the
    # connection breaks before the answer; nginx goes to the next endpoint instead
    # (forward_to_first), each once. aiohttp's own test client turns it off the same way.
    session._retry_connection = False
    return session


@overload
async def forward(
    request: web.Request, endpoint: Endpoint, *, session: aiohttp.ClientSession
) -> web.StreamResponse: ...


@overload
async def forward(
    request: web.Request,
    endpoint: Endpoint,
    *,
    session: aiohttp.ClientSession,
    give_up: bool,
) -> web.StreamResponse | None: ...


async def forward(
    request: web.Request,
    endpoint: Endpoint,
    *,
    session: aiohttp.ClientSession,
    give_up: bool = True,
) -> web.StreamResponse | None:
    """Proxy ``request`` to ``endpoint``. ``give_up=False``: None, instead of an error
    page, when the request may go to the next endpoint (see :func:`may_try_next`)."""
    url = URL(f"http://{endpoint.authority}{request.raw_path}", encoded=True)
    headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
    peer = request.remote or ""
    headers["X-Real-IP"] = peer
    headers["X-Forwarded-For"] = ", ".join(
        part for part in (request.headers.get("X-Forwarded-For"), peer) if part
    )
    headers["X-Forwarded-Host"] = request.headers.get("Host", "")
    headers["X-Forwarded-Proto"] = request.scheme
    body = request.content.iter_chunked(_CHUNK) if request.body_exists else None
    response: web.StreamResponse | None = None
    try:
        async with session.request(
            request.method, url, headers=headers, data=body, allow_redirects=False
        ) as upstream:
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for name, value in upstream.headers.items():
                if name.lower() not in HOP_BY_HOP:
                    response.headers.add(name, value)
            await response.prepare(request)
            async for chunk in upstream.content.iter_chunked(_CHUNK):
                await response.write(chunk)
            await response.write_eof()
            return response
    except (TimeoutError, aiohttp.ClientError) as exc:
        if not give_up and response is None and may_try_next(request, exc):
            return None
        if response is not None and response.prepared:
            # The status line is gone already: like nginx, cut the connection so the
            # client sees a truncated answer instead of a wrong complete one.
            raise ConnectionResetError("upstream failed mid-response") from exc
        if isinstance(exc, TimeoutError):
            return error_page(504, "Gateway Time-out")
        return error_page(502, "Bad Gateway")


def may_try_next(request: web.Request, exc: BaseException) -> bool:
    """nginx's ``error timeout`` before any answer: the connection could not be made
    (refused, unreachable, connect timeout), so nothing was sent; or it broke before the
    response header (reset, closed) and the request can be sent again (an idempotent
    method, no body). A read timeout is an answer coming slowly: never retried."""
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError):
        return True
    broken = isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError)
    return broken and request.method not in NON_IDEMPOTENT and not request.body_exists


async def forward_to_first(
    request: web.Request,
    endpoints: Sequence[Endpoint],
    *,
    session: aiohttp.ClientSession,
    tries: int,
) -> web.StreamResponse:
    """Proxy ``request`` to the first endpoint that answers, each tried at most once and
    at most ``tries`` of them (``proxy_next_upstream_tries``); the last one's failure
    is the answer (502, or 504 on a timeout). A response once begun is never retried."""
    chosen = list(dict.fromkeys(endpoints))[: max(tries, 1)]
    for endpoint in chosen[:-1]:
        answer = await forward(request, endpoint, session=session, give_up=False)
        if answer is not None:
            return answer
    return await forward(request, chosen[-1], session=session)


def error_page(status: int, reason: str) -> web.Response:
    """nginx's terse error body, so a client sees the same thing as behind ingress-nginx."""
    body = f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
    body += f"<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    body += "</body>\r\n</html>\r\n"
    return web.Response(status=status, reason=reason, text=body, content_type="text/html")
