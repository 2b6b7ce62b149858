"""The watch verb: replays history after a resourceVersion, then streams new events.

Owns the event stream of one watch request: the 410 Gone ERROR event when the
requested version has left the history window, synthetic ADDED events for a watch
without a version, selector filtering (an object leaving the selection is a DELETED
event, entering it an ADDED one, as in kube-apiserver), BOOKMARK events, timeouts and
stream cuts injected by faults. Each event is serialized once and shared by every
watcher that sends it unchanged. It must not change stored state.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from certmgr.testing.apiserver import errors, tables
from certmgr.testing.apiserver.resources import ResourceType
from certmgr.testing.apiserver.store import CLOSE, Obj, Store, WatchEvent

Matcher = Callable[[Obj], bool]


@dataclass(frozen=True, slots=True)
class WatchRequest:
    rtype: ResourceType
    matches: Matcher
    since: str | None
    bookmarks: bool
    timeout: float | None
    metadata_only: bool
    # Set when the client asked for Tables (kubectl get -w): one row per event.
    table_columns: list[dict[str, Any]] | None = None


@dataclass(frozen=True, slots=True)
class StreamLimits:
    """Server-side knobs: the idle bookmark period and injected cuts."""

    bookmark_interval: float
    cut_after_events: int | None = None
    cut_after_seconds: float | None = None


def encode(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def as_served(rtype: ResourceType, obj: Obj, *, metadata_only: bool) -> Obj:
    if metadata_only:
        return {
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj["metadata"],
        }
    if obj.get("apiVersion") != rtype.api_version:
        # Several CRD versions share storage; conversion is "None" (apiVersion only).
        return {**obj, "apiVersion": rtype.api_version}
    return obj


def _line(rtype: ResourceType, event: WatchEvent, kind: str, watch: WatchRequest) -> bytes:
    shape = "table" if watch.table_columns is not None else watch.metadata_only
    cache_key = f"{kind}|{rtype.api_version}|{shape}"
    line = event.lines.get(cache_key)
    if line is None:
        if watch.table_columns is not None:
            rv = event.obj["metadata"].get("resourceVersion", "")
            served = tables.table([event.obj], watch.table_columns, resource_version=rv)
        else:
            served = as_served(rtype, event.obj, metadata_only=watch.metadata_only)
        body = {"type": kind, "object": served}
        line = encode(body) + b"\n"
        event.lines[cache_key] = line
    return line


def _visible_as(event: WatchEvent, matches: Matcher) -> str | None:
    """The event type this watcher sees for ``event``, or None to skip it."""
    now = matches(event.obj)
    if event.type != "MODIFIED" or event.old is None:
        return event.type if now else None
    before = matches(event.old)
    if now and before:
        return "MODIFIED"
    if now:
        return "ADDED"
    if before:
        return "DELETED"
    return None


async def serve_watch(
    request: web.Request,
    *,
    store: Store,
    watch: WatchRequest,
    limits: StreamLimits,
    closing: asyncio.Event,
) -> web.StreamResponse:
    rtype = watch.rtype
    table = store.table(rtype)
    queue: asyncio.Queue[WatchEvent] = asyncio.Queue()
    table.watchers.add(queue.put_nowait)
    try:
        backlog: list[tuple[WatchEvent, str]] = []
        gone: dict[str, Any] | None = None
        floor = store.resource_version
        if watch.since in (None, "", "0"):
            current = floor
            for obj in list(table.objects.values()):
                if watch.matches(obj):
                    backlog.append((WatchEvent("ADDED", current, obj, None), "ADDED"))
        else:
            assert watch.since is not None
            try:
                since = int(watch.since)
            except ValueError:
                raise errors.bad_request(f"invalid resource version: {watch.since}") from None
            # A version from the future: stream only what comes after it, as etcd would.
            floor = max(floor, since)
            if since < table.compacted_rv:
                gone = errors.gone(
                    f"too old resource version: {since} ({table.compacted_rv + 1})"
                ).status
            else:
                for event in table.history:
                    if event.rv > since:
                        kind = _visible_as(event, watch.matches)
                        if kind is not None:
                            backlog.append((event, kind))
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        if gone is not None:
            await response.write(encode({"type": "ERROR", "object": gone}) + b"\n")
            return response
        await _stream(
            response,
            queue,
            backlog,
            floor=floor,
            store=store,
            watch=watch,
            limits=limits,
            closing=closing,
        )
        return response
    finally:
        table.watchers.discard(queue.put_nowait)


async def _stream(
    response: web.StreamResponse,
    queue: asyncio.Queue[WatchEvent],
    backlog: list[tuple[WatchEvent, str]],
    *,
    floor: int,
    store: Store,
    watch: WatchRequest,
    limits: StreamLimits,
    closing: asyncio.Event,
) -> None:
    rtype = watch.rtype
    started = time.monotonic()
    deadlines = [t for t in (watch.timeout, limits.cut_after_seconds) if t is not None]
    deadline = started + min(deadlines) if deadlines else None
    sent = 0
    try:
        for event, kind in backlog:
            await response.write(_line(rtype, event, kind, watch))
            sent += 1
            if limits.cut_after_events is not None and sent >= limits.cut_after_events:
                return
        if watch.bookmarks and queue.empty():
            await response.write(_bookmark(rtype, store))
        while not closing.is_set():
            wait = limits.bookmark_interval
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    return
            try:
                # A busy stream skips wait_for's timer task: events are already queued.
                event = (
                    queue.get_nowait()
                    if not queue.empty()
                    else await asyncio.wait_for(queue.get(), timeout=wait)
                )
            except TimeoutError:
                if watch.bookmarks and queue.empty():
                    await response.write(_bookmark(rtype, store))
                continue
            if event.type == CLOSE:
                return
            if event.rv <= floor:
                continue
            kind_seen = _visible_as(event, watch.matches)
            if kind_seen is None:
                continue
            await response.write(_line(rtype, event, kind_seen, watch))
            sent += 1
            if limits.cut_after_events is not None and sent >= limits.cut_after_events:
                return
    except (ConnectionResetError, ConnectionError):
        return


def _bookmark(rtype: ResourceType, store: Store) -> bytes:
    # Every event up to the current version has been queued synchronously at commit,
    # and the queue is empty, so the current version is a safe resume point.
    body = {
        "type": "BOOKMARK",
        "object": {
            "kind": rtype.kind,
            "apiVersion": rtype.api_version,
            "metadata": {"resourceVersion": str(store.resource_version)},
        },
    }
    return encode(body) + b"\n"
