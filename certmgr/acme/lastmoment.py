"""The last moments a write to the CA can still be withheld.

Owns :class:`GuardingConnector`, an aiohttp connector that calls a request's guard
once its connection has been taken from the pool or opened (TLS handshake included),
and :class:`GuardedBody`, the request's bytes, which carry the guard and call it again
as they are handed to the connection: aiohttp buffers the headers and writes the body in
a task of its own, a turn of the loop later, so a check at the connection alone leaves
that turn open. (A ``TraceConfig`` did the first call before: with one, aiohttp awaits
a dozen trace signals per request, ~0.1 ms of CPU an exchange.) A check made earlier leaves the JWS
signing and the wait for a connection, in which a process can be frozen (SIGSTOP, a
paused VM); thawed, it would send what it decided while it still led. It must not decide
whether to withhold (the guard does, by raising) nor retry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp.abc import AbstractStreamWriter
from aiohttp.connector import Connection
from aiohttp.payload import BytesPayload

Guard = Callable[[], None]


class GuardingConnector(aiohttp.TCPConnector):
    """A ``TCPConnector`` that asks a ``GuardedBody``'s guard once the request's
    connection is ready; a guard that raises puts the connection back unused."""

    async def connect(
        self,
        req: aiohttp.ClientRequest,
        traces: list[Any],
        timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109 (aiohttp's signature)
    ) -> Connection:
        connection = await super().connect(req, traces, timeout)
        body = req.body
        if isinstance(body, GuardedBody):
            try:
                body.guard()
            except BaseException:
                connection.release()
                raise
        return connection


class GuardedBody(BytesPayload):
    """A request body that asks ``guard`` right before its bytes go to the connection.

    A guard that raises there leaves the request unsent (aiohttp closes the connection
    with the headers still buffered); the error reaches the caller as a
    ``ClientConnectionError`` caused by the guard's exception (:func:`withheld_by`).
    """

    def __init__(self, value: bytes, *, guard: Guard, content_type: str) -> None:
        super().__init__(value, content_type=content_type)
        self.guard = guard

    async def write(self, writer: AbstractStreamWriter) -> None:
        self.guard()
        await super().write(writer)

    async def write_with_length(
        self, writer: AbstractStreamWriter, content_length: int | None
    ) -> None:
        self.guard()
        await super().write_with_length(writer, content_length)


def withheld_by(error: BaseException, kind: type[Exception]) -> Exception | None:
    """The guard's exception of type ``kind`` behind an aiohttp error, if it is one."""
    cause = error.__cause__
    return cause if isinstance(cause, kind) else None
