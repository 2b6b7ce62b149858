"""The solver's HTTP surface: one aiohttp application over a :class:`TokenSource`.

Owns the request handling rules: ``GET``/``HEAD /.well-known/acme-challenge/<token>``
answers the key authorization as ``text/plain`` only when the Host header (port
stripped) and the token both match a current challenge; ``/healthz`` answers 200;
everything else is 404, so a solver exposed through an Ingress leaks nothing. A token it
does not know while its source is still filling (``ready`` not done: a replica that just
started, its Challenge cache listing) is looked up again once the source is ready, up to
``READY_WAIT`` seconds: a CA's request answered late still validates, a 404 fails the
order. It must not decide which challenges exist (that is the source's job) nor
configure logging.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final

import structlog
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.log import server_logger

from solvers.tokens import TokenSource, normalize_host

CHALLENGE_PATH_PREFIX: Final = "/.well-known/acme-challenge/"
HEALTH_PATH: Final = "/healthz"
# How long a request for an unknown token waits for a source that is still filling.
READY_WAIT: Final = 10.0

Ready = Callable[[], Awaitable[object]]

_SOURCE_KEY: Final = web.AppKey("token_source", TokenSource)
_READY_KEY: Final[web.AppKey[Ready]] = web.AppKey("token_source_ready")
_log = structlog.get_logger("solvers")


def challenge_path(token: str) -> str:
    """The path a CA requests for ``token`` (RFC 8555 section 8.3)."""
    return CHALLENGE_PATH_PREFIX + token


def build_app(source: TokenSource, *, ready: Ready | None = None) -> web.Application:
    """An application answering the challenges ``source`` knows about; ``ready``, when
    given, returns once ``source`` is complete (immediately from then on)."""
    app = web.Application()
    app[_SOURCE_KEY] = source
    if ready is not None:
        app[_READY_KEY] = ready
    # One catch-all route: aiohttp's own 405 for a wrong method would tell a scanner more
    # than "nothing here", and cert-manager's acmesolver answers 404 for all of it too.
    app.router.add_route("*", "/{tail:.*}", _handle)
    return app


async def serve(
    source: TokenSource,
    *,
    host: str,
    port: int,
    shutdown_timeout: float = 1.0,
    ready: Ready | None = None,
) -> web.AppRunner:
    """Start listening on ``host:port`` (``0`` picks a free port) and return the runner.

    The caller owns the runner and must ``await runner.cleanup()``. The bound address is
    in ``runner.addresses`` (useful with ``port=0``).
    """
    runner = web.AppRunner(
        build_app(source, ready=ready),
        access_log=None,
        shutdown_timeout=shutdown_timeout,
        logger=_ServerLogger(),
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host=host, port=port)
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner


async def _handle(request: web.Request) -> web.StreamResponse:
    path = request.path
    if path == HEALTH_PATH:
        return web.Response(text="ok")
    if request.method not in ("GET", "HEAD") or not path.startswith(CHALLENGE_PATH_PREFIX):
        return _not_found()
    token = path[len(CHALLENGE_PATH_PREFIX) :]
    host = normalize_host(request.headers.get("Host", ""))
    if not token or "/" in token or not host:
        return _not_found()
    source = request.app[_SOURCE_KEY]
    key = source.lookup(host, token)
    ready = request.app.get(_READY_KEY)
    if key is None and ready is not None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(READY_WAIT):
                await ready()
        key = source.lookup(host, token)
    if key is None:
        _log.debug("challenge_unknown", host=host, token=token)
        return _not_found()
    _log.debug("challenge_served", host=host, token=token)
    return web.Response(text=key, content_type="text/plain")


class _ServerLogger(logging.Logger):
    """aiohttp's server logger, but a request that does not parse (an oversized line or
    Host, TLS on the HTTP port: anyone on the Internet can send one) is one info line
    without a traceback; aiohttp logs those at error with one. Anything else, a real
    bug, keeps its traceback."""

    def __init__(self) -> None:
        super().__init__(server_logger.name)
        self.parent = server_logger  # same level and handlers as aiohttp's own

    def exception(self, msg: object, *args: object, **kwargs: Any) -> None:
        if self._client_garbage(kwargs):
            return
        super().exception(msg, *args, **kwargs)

    def debug(self, msg: object, *args: object, **kwargs: Any) -> None:
        if self._client_garbage(kwargs):
            return
        super().debug(msg, *args, **kwargs)

    def _client_garbage(self, kwargs: dict[str, Any]) -> bool:
        error = kwargs.get("exc_info")
        if not isinstance(error, HttpProcessingError):
            return False
        _log.info("solver_bad_request", status=error.code, error=_first_line(error.message))
        return True


def _first_line(text: object, limit: int = 200) -> str:
    return str(text).strip().split("\n", 1)[0][:limit]


def _not_found() -> web.Response:
    return web.Response(status=404, text="404 page not found\n")
