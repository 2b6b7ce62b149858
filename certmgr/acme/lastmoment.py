"""The last moment a write to the CA can still be withheld: once its connection is ready.

Owns :func:`last_moment_trace`, an aiohttp ``TraceConfig`` that calls a request's guard
(given as the request's ``trace_request_ctx``) once its connection has been taken from
the pool or opened (TLS handshake included), right before the request is written. A
check made earlier leaves the JWS signing and the wait for a connection, in which a
process can be frozen (SIGSTOP, a paused VM); thawed, it would send what it decided
while it still led. It must not decide whether to withhold (the guard does, by raising)
nor retry.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import aiohttp

Guard = Callable[[], None]


async def _ask(session: aiohttp.ClientSession, context: SimpleNamespace, params: Any) -> None:
    guard = context.trace_request_ctx
    if callable(guard):
        guard()


def last_moment_trace() -> aiohttp.TraceConfig:
    """The trace to give the session (``trace_configs=[...]``)."""
    trace = aiohttp.TraceConfig()
    trace.on_connection_reuseconn.append(_ask)
    trace.on_connection_create_end.append(_ask)
    return trace
