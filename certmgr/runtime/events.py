"""Kubernetes Events (core/v1) for the objects certmgr reconciles, aggregated like client-go.

Owns ``EventRecorder``. ``event(obj, type_, reason, message)`` never raises and never
waits: it puts the event on a bounded in-memory queue (full → dropped and counted) and one
background task writes them in order, each API call bounded by ``timeout`` seconds of clock
time. One writer keeps aggregation simple: no two writes for the same Event race.

Aggregation, as client-go's recorder: a new Event is named ``<object name>.<hex nanoseconds>``
and created; a repeat of one this process created (same involved object, type, reason,
message; remembered in a bounded LRU) patches its ``count`` and ``lastTimestamp``. Nothing is
ever read back (deploy/'s RBAC grants create and patch only): a restarted process starts new
Events, a name already taken moves on by a nanosecond. Messages are cut at 1024 characters
(the API's limit for notes).

It must not decide what is worth an Event: reconcilers do.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import structlog

from certmgr.kube.errors import AlreadyExists, NotFound
from certmgr.kube.resources import EVENTS, Resource
from certmgr.runtime import metrics
from certmgr.runtime.clock import Clock, race_clock

EventType = Literal["Normal", "Warning"]

MAX_MESSAGE = 1024
# A name already taken is tried again this many nanoseconds later, at most.
MAX_NAME_ATTEMPTS = 8
# Room left for ``.<16 hex digits>`` in a 253-character name.
MAX_OBJECT_NAME = 253 - 17
# Events of cluster-scoped objects (ClusterIssuer) go where kubectl looks for them.
CLUSTER_SCOPED_NAMESPACE = "default"
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

log = structlog.get_logger(__name__)


class EventAPI(Protocol):
    """The Kubernetes calls the recorder needs (``certmgr.kube.KubeClient``)."""

    async def create(
        self, resource: Resource, obj: dict[str, Any], *, namespace: str | None = None
    ) -> dict[str, Any]: ...

    async def patch(
        self,
        resource: Resource,
        name: str,
        patch: dict[str, Any],
        *,
        namespace: str | None = None,
    ) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class _Pending:
    involved: dict[str, str]
    type_: EventType
    reason: str
    message: str

    @property
    def namespace(self) -> str:
        return self.involved.get("namespace") or CLUSTER_SCOPED_NAMESPACE

    @property
    def identity(self) -> tuple[str, ...]:
        """What makes a repeat the same Event (client-go's aggregation key, minus source)."""
        involved = tuple(
            self.involved.get(field, "")
            for field in ("apiVersion", "kind", "namespace", "name", "uid")
        )
        return (*involved, self.type_, self.reason, self.message)


@dataclass(frozen=True, slots=True)
class _Written:
    name: str
    namespace: str
    count: int


class EventRecorder:
    """Writes Events in the background; ``event`` is safe to call from any reconcile."""

    def __init__(
        self,
        client: EventAPI,
        *,
        clock: Clock,
        component: str = "certmgr",
        instance: str | None = None,
        max_pending: int = 1000,
        timeout: float = 10.0,
        remember: int = 4096,
    ):
        self._client = client
        self._clock = clock
        self._component = component
        self._instance = instance or socket.gethostname()
        self._timeout = timeout
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue(maxsize=max_pending)
        self._writer: asyncio.Task[None] | None = None
        # The Events this process created, by identity, so a repeat is a patch; bounded
        # like client-go's LRU (a forgotten one becomes a new Event).
        self._written: OrderedDict[tuple[str, ...], _Written] = OrderedDict()
        self._capacity = remember
        # The last name suffix used, so two Events in one clock instant get two names.
        self._last_nanoseconds = 0

    def event(self, obj: dict[str, Any], type_: EventType, reason: str, message: str) -> None:
        """Record an Event about ``obj`` (a Kubernetes object as a dict). Never raises."""
        try:
            metadata = obj.get("metadata") or {}
            involved = {
                "apiVersion": str(obj.get("apiVersion", "")),
                "kind": str(obj.get("kind", "")),
                "name": str(metadata.get("name", "")),
            }
            for field in ("namespace", "uid", "resourceVersion"):
                if metadata.get(field):
                    involved[field] = str(metadata[field])
            pending = _Pending(involved, type_, reason, message[:MAX_MESSAGE])
            self._queue.put_nowait(pending)
            if self._writer is None or self._writer.done():
                self._writer = asyncio.get_running_loop().create_task(
                    self._write_all(), name="event-recorder"
                )
        except asyncio.QueueFull:
            metrics.EVENTS_DROPPED.labels(why="queue_full").inc()
            log.warning("event_dropped", why="queue_full", reason=reason)
        except Exception as error:  # the contract: recording an Event never fails a caller
            metrics.EVENTS_DROPPED.labels(why="error").inc()
            log.warning("event_dropped", why=f"{type(error).__name__}: {error}", reason=reason)

    async def flush(self) -> None:
        """Wait until every Event recorded so far was written (or given up on)."""
        await self._queue.join()

    async def close(self, *, grace: float = 5.0) -> None:
        """Flush for at most ``grace`` seconds of clock time, then stop the writer."""
        with contextlib.suppress(TimeoutError):
            await race_clock(self._clock, self.flush(), seconds=grace)
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
            self._writer = None

    async def _write_all(self) -> None:
        while True:
            pending = await self._queue.get()
            try:
                await race_clock(self._clock, self._write(pending), seconds=self._timeout)
                metrics.EVENTS_RECORDED.labels(type=pending.type_).inc()
            except TimeoutError:
                metrics.EVENTS_DROPPED.labels(why="timeout").inc()
                log.warning("event_write_timeout", reason=pending.reason)
            except Exception as error:
                metrics.EVENTS_DROPPED.labels(why="api_error").inc()
                log.warning(
                    "event_write_failed",
                    reason=pending.reason,
                    error=f"{type(error).__name__}: {error}",
                )
            finally:
                self._queue.task_done()

    async def _write(self, pending: _Pending) -> None:
        now = self._clock.now()
        stamp = now.strftime(_TIME_FORMAT)
        written = self._written.get(pending.identity)
        if written is not None:
            try:
                await self._client.patch(
                    EVENTS,
                    written.name,
                    {"count": written.count + 1, "lastTimestamp": stamp},
                    namespace=written.namespace,
                )
                self._remember(pending, written.name, written.count + 1)
                log.debug("event_recorded", event_name=written.name, reason=pending.reason)
                return
            except NotFound:
                pass  # expired (Events live an hour): start a new one
        for _ in range(MAX_NAME_ATTEMPTS):
            name = self._new_name(pending, now)
            try:
                await self._client.create(
                    EVENTS, self._body(pending, name, stamp), namespace=pending.namespace
                )
            except AlreadyExists:
                continue  # another process used this instant for this object
            self._remember(pending, name, 1)
            log.debug("event_recorded", event_name=name, type=pending.type_, reason=pending.reason)
            return
        raise AlreadyExists(
            {"kind": "Status", "code": 409, "reason": "AlreadyExists", "message": name}
        )

    def _new_name(self, pending: _Pending, now: datetime) -> str:
        """client-go's ``<object name>.<hex UnixNano>``, unique within this process."""
        since = now - _EPOCH
        nanoseconds = (since.days * 86400 + since.seconds) * 10**9 + since.microseconds * 1000
        nanoseconds = max(nanoseconds, self._last_nanoseconds + 1)
        self._last_nanoseconds = nanoseconds
        object_name = pending.involved.get("name", "") or "unknown"
        return f"{object_name[:MAX_OBJECT_NAME]}.{nanoseconds:x}"

    def _remember(self, pending: _Pending, name: str, count: int) -> None:
        self._written[pending.identity] = _Written(name, pending.namespace, count)
        self._written.move_to_end(pending.identity)
        while len(self._written) > self._capacity:
            self._written.popitem(last=False)

    def _body(self, pending: _Pending, name: str, now: str) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": pending.namespace},
            "involvedObject": pending.involved,
            "type": pending.type_,
            "reason": pending.reason,
            "message": pending.message,
            "source": {"component": self._component, "host": self._instance},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "reportingComponent": self._component,
            "reportingInstance": self._instance,
        }
