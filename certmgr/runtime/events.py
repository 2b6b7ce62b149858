"""Kubernetes Events (core/v1) for the objects certmgr reconciles, aggregated like client-go.

Owns ``EventRecorder``. ``event(obj, type_, reason, message)`` never raises and never
waits: it puts the event on a bounded in-memory queue (full → dropped and counted) and one
background task writes them in order, each API call bounded by ``timeout`` seconds of clock
time. One writer keeps aggregation simple: no two writes for the same Event race.

Aggregation: the Event for one (involved object, type, reason, message) has a deterministic
name (``<object name>.<hash>``), so a repeat, even from a restarted process, patches
``count`` and ``lastTimestamp`` of the existing Event instead of creating another. Messages
are cut at 1024 characters (the API's limit for notes).

It must not decide what is worth an Event: reconcilers do.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import socket
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import structlog

from certmgr.kube.errors import AlreadyExists, NotFound
from certmgr.kube.resources import EVENTS, Resource
from certmgr.runtime import metrics
from certmgr.runtime.clock import Clock, race_clock

EventType = Literal["Normal", "Warning"]

MAX_MESSAGE = 1024
# Events of cluster-scoped objects (ClusterIssuer) go where kubectl looks for them.
CLUSTER_SCOPED_NAMESPACE = "default"
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

log = structlog.get_logger(__name__)


class EventAPI(Protocol):
    """The Kubernetes calls the recorder needs (``certmgr.kube.KubeClient``)."""

    async def get(
        self, resource: Resource, name: str, *, namespace: str | None = None
    ) -> dict[str, Any]: ...

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
    def name(self) -> str:
        """``<object>.<hash of what makes it the same event>``, at most 253 characters."""
        identity = [
            self.involved.get(field, "") for field in ("apiVersion", "kind", "namespace", "name")
        ]
        identity += [self.involved.get("uid", ""), self.type_, self.reason, self.message]
        digest = hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:16]
        return f"{self.involved.get('name', 'unknown')[:236]}.{digest}"


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
        # Counts of Events we wrote, by name, so a repeat is a patch without a read first;
        # bounded like client-go's LRU (a forgotten one costs one extra read).
        self._counts: OrderedDict[str, int] = OrderedDict()
        self._remember = remember

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
                log.warning("event_write_timeout", event_name=pending.name, reason=pending.reason)
            except Exception as error:
                metrics.EVENTS_DROPPED.labels(why="api_error").inc()
                log.warning(
                    "event_write_failed",
                    event_name=pending.name,
                    reason=pending.reason,
                    error=f"{type(error).__name__}: {error}",
                )
            finally:
                self._queue.task_done()

    async def _write(self, pending: _Pending) -> None:
        name, namespace = pending.name, pending.namespace
        now = self._clock.now().strftime(_TIME_FORMAT)
        count = self._counts.get(name)
        if count is not None:
            try:
                await self._bump(name, namespace, count + 1, now)
                return
            except NotFound:
                pass  # expired (Events live an hour): start again
        try:
            await self._client.create(EVENTS, self._body(pending, now), namespace=namespace)
            self._remember_count(name, 1)
        except AlreadyExists:
            # Written before this process remembered it (a restart): count on from there.
            existing = await self._client.get(EVENTS, name, namespace=namespace)
            await self._bump(name, namespace, int(existing.get("count") or 1) + 1, now)
        log.debug("event_recorded", event_name=name, type=pending.type_, reason=pending.reason)

    async def _bump(self, name: str, namespace: str, count: int, now: str) -> None:
        await self._client.patch(
            EVENTS, name, {"count": count, "lastTimestamp": now}, namespace=namespace
        )
        self._remember_count(name, count)

    def _remember_count(self, name: str, count: int) -> None:
        self._counts[name] = count
        self._counts.move_to_end(name)
        while len(self._counts) > self._remember:
            self._counts.popitem(last=False)

    def _body(self, pending: _Pending, now: str) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": pending.name, "namespace": pending.namespace},
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
