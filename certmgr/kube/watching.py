"""Decoding a watch stream: newline-delimited JSON into ``WatchEvent``s.

Owns the framing of a watch response body and the meaning of its ERROR events (410 Gone
becomes ``Gone``, anything else the matching ``APIError``). It must not reconnect or
retry: a stream that ends simply ends, and the informer decides what to do next.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable
from typing import Any, cast

from certmgr.kube.bodies import decode
from certmgr.kube.errors import APIError, error_for
from certmgr.kube.objects import WATCH_EVENT_TYPES, WatchEvent, WatchEventType


async def lines(chunks: AsyncIterable[bytes]) -> AsyncGenerator[bytes, None]:
    """Split a byte stream on newlines, however the chunks fall.

    aiohttp's ``readline`` refuses lines over its buffer limit, and one watch event
    carries a whole object (a Secret can be ~1 MiB), so the framing is done here.
    """
    buffer = bytearray()
    async for chunk in chunks:
        buffer.extend(chunk)
        start = 0
        while (end := buffer.find(b"\n", start)) != -1:
            line = bytes(buffer[start:end])
            start = end + 1
            if line.strip():
                yield line
        del buffer[:start]
    if bytes(buffer).strip():
        yield bytes(buffer)


def decode_event(line: bytes) -> WatchEvent:
    """One line of a watch stream, or raise the error an ERROR event carries."""
    try:
        raw = decode(line)
    except ValueError as exc:
        raise APIError(_status(500, "InternalError", f"undecodable watch event: {exc}")) from exc
    if not isinstance(raw, dict):
        raise APIError(_status(500, "InternalError", "watch event is not a JSON object"))
    kind = raw.get("type")
    obj = raw.get("object")
    if not isinstance(obj, dict):
        obj = {}
    if kind == "ERROR":
        code = obj.get("code")
        raise error_for(int(code) if isinstance(code, int) else 500, obj)
    if kind not in WATCH_EVENT_TYPES:
        raise APIError(_status(500, "InternalError", f"unknown watch event type {kind!r}"))
    return WatchEvent(type=cast(WatchEventType, kind), object=obj)


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "status": "Failure",
        "code": code,
        "reason": reason,
        "message": message,
    }
