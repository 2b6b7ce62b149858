"""An application for routes to point at in tests: answers every GET with a text the
test chooses from the request.

Owns :func:`echo_server` (aiohttp on a free loopback port, yielding the port), so data
plane and end-to-end tests can tell from the answer which route, host and scheme a
request took. It must not create API objects (point an ExternalName Service at it with
``manifests.external_service``).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

from aiohttp import web

Reply = Callable[[web.Request], str]


@contextlib.asynccontextmanager
async def echo_server(reply: Reply, *, host: str = "127.0.0.1") -> AsyncIterator[int]:
    """Serve ``reply(request)`` as the body of every GET on ``host``; yields the port."""

    async def answer(request: web.Request) -> web.Response:
        return web.Response(text=reply(request))

    app = web.Application()
    app.router.add_get("/{tail:.*}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, 0).start()
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()
