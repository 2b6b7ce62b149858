"""The last moments a write to the CA can still be withheld.

Owns :func:`last_moment_trace`, an aiohttp ``TraceConfig`` that calls a request's guard
(given as the request's ``trace_request_ctx``) once its connection has been taken from
the pool or opened (TLS handshake included), and :class:`GuardedBody`, the request's
bytes, which call it again as they are handed to the connection: aiohttp buffers the
headers and writes the body in a task of its own, a turn of the loop later, so a check
at the connection alone leaves that turn open. A check made earlier leaves the JWS
signing and the wait for a connection, in which a process can be frozen (SIGSTOP, a
paused VM); thawed, it would send what it decided while it still led. It must not decide
whether to withhold (the guard does, by raising) nor retry.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import aiohttp
from aiohttp.abc import AbstractStreamWriter
from aiohttp.payload import BytesPayload

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


class GuardedBody(BytesPayload):
    """A request body that asks ``guard`` right before its bytes go to the connection.

    A guard that raises there leaves the request unsent (aiohttp closes the connection
    with the headers still buffered); the error reaches the caller as a
    ``ClientConnectionError`` caused by the guard's exception (:func:`withheld_by`).
    """

    def __init__(self, value: bytes, *, guard: Guard, content_type: str) -> None:
        super().__init__(value, content_type=content_type)
        self._guard = guard

    async def write(self, writer: AbstractStreamWriter) -> None:
        self._guard()
        await super().write(writer)

    async def write_with_length(
        self, writer: AbstractStreamWriter, content_length: int | None
    ) -> None:
        self._guard()
        await super().write_with_length(writer, content_length)


def withheld_by(error: BaseException, kind: type[Exception]) -> Exception | None:
    """The guard's exception of type ``kind`` behind an aiohttp error, if it is one."""
    cause = error.__cause__
    return cause if isinstance(cause, kind) else None
