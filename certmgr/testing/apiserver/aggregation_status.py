"""kube-aggregator's availability controller: the `Available` condition of APIServices.

Owns deciding whether an APIService with a `service` can take traffic, with upstream's
reasons and messages: `ServiceNotFound`, `ServicePortError`, `EndpointsNotFound`,
`MissingEndpoints`, `FailedDiscoveryCheck` (a `GET /apis/<group>/<version>` to an
endpoint that fails or answers outside 2xx/3xx), `Passed`; a local APIService is
`Local`. It rechecks when the APIService's spec, its Service, EndpointSlices or Pods of
that namespace change, every `resync` seconds, and after a failure with upstream's
backoff (5 ms doubling to 30 s). It also owns where a Service's traffic goes for the
proxy (the data plane's rules). It writes only APIService status, never inside a request.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from certmgr.testing.apiserver import aggregation, errors
from certmgr.testing.apiserver.aggregation_proxy import AggregationProxy
from certmgr.testing.apiserver.resources import APISERVICES, ResourceType
from certmgr.testing.apiserver.store import Obj, Store, WatchEvent, now_rfc3339
from certmgr.testing.dataplane.endpoints import (
    SERVICE_NAME_LABEL,
    Endpoint,
    endpoints_for,
    service_port,
)

BACKOFF_BASE: Final = 0.005
BACKOFF_CAP: Final = 30.0
_WATCHED: Final = frozenset(
    {("", "services"), ("", "pods"), ("discovery.k8s.io", "endpointslices")}
)


@dataclass(frozen=True, slots=True)
class Verdict:
    status: str
    reason: str
    message: str


def _objects(store: Store, group: str, plural: str, namespace: str) -> list[Obj]:
    table = store.table_for(group, plural)
    if table is None:
        return []
    return [obj for (ns, _), obj in table.objects.items() if ns == namespace]


def _service(store: Store, ref: aggregation.ServiceRef) -> Obj | None:
    table = store.table_for("", "services")
    return None if table is None else table.objects.get((ref.namespace, ref.name))


def endpoints(store: Store, ref: aggregation.ServiceRef) -> list[Endpoint]:
    """Where a request for the Service port goes (empty: nowhere)."""
    service = _service(store, ref)
    if service is None:
        return []
    return endpoints_for(
        service,
        ref.port,
        pods=_objects(store, "", "pods", ref.namespace),
        slices=_objects(store, "discovery.k8s.io", "endpointslices", ref.namespace),
    )


def static_verdict(store: Store, ref: aggregation.ServiceRef) -> Verdict | None:
    """The failed check before any probe, or None when there are endpoints to probe."""
    where = f'service/{ref.name} in "{ref.namespace}"'
    service = _service(store, ref)
    if service is None:
        return Verdict("False", "ServiceNotFound", f"{where} is not present")
    spec = service.get("spec") or {}
    if spec.get("type", "ClusterIP") == "ClusterIP":
        entry = service_port(service, ref.port)
        if entry is None:
            return Verdict(
                "False", "ServicePortError", f"{where} is not listening on port {ref.port}"
            )
        if endpoints(store, ref):
            return None
        port_name = str(entry.get("name") or "")
        slices = [
            s
            for s in _objects(store, "discovery.k8s.io", "endpointslices", ref.namespace)
            if ((s.get("metadata") or {}).get("labels") or {}).get(SERVICE_NAME_LABEL) == ref.name
        ]
        if not slices and not spec.get("selector"):
            return Verdict(
                "False",
                "EndpointsNotFound",
                f'cannot find endpointslices for service/{ref.name} in "{ref.namespace}"',
            )
        return Verdict(
            "False",
            "MissingEndpoints",
            f'endpointslices for {where} have no addresses with port name "{port_name}"',
        )
    return None


class AvailabilityController:
    """Keeps `status.conditions[type=Available]` of every APIService current."""

    def __init__(
        self,
        store: Store,
        *,
        proxy: AggregationProxy,
        schedule: Callable[[Callable[[], None]], Any],
        resync: float = 30.0,
    ) -> None:
        self._store = store
        self._proxy = proxy
        self._schedule = schedule
        self._resync = resync
        self._running: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()
        self._failures: dict[str, int] = {}
        self._retries: dict[str, asyncio.TimerHandle] = {}
        self._ticker: asyncio.TimerHandle | None = None
        self._closed = False
        store.listeners.append(self._observe)

    def start(self) -> None:
        self._ticker = asyncio.get_running_loop().call_later(self._resync, self._tick)

    async def stop(self) -> None:
        self._closed = True
        if self._ticker is not None:
            self._ticker.cancel()
        for handle in self._retries.values():
            handle.cancel()
        for task in list(self._running.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _tick(self) -> None:
        for (_, name), obj in list(self._store.table(APISERVICES).objects.items()):
            if aggregation.service_of(obj) is not None:
                self.enqueue(name)
        self._ticker = asyncio.get_running_loop().call_later(self._resync, self._tick)

    def _observe(self, rtype: ResourceType, event: WatchEvent) -> None:
        if rtype.group_resource == APISERVICES.group_resource:
            new, old = event.obj, event.old
            if event.type == "DELETED":
                return
            # Our own status writes come back here too: only a spec change (or a lost
            # condition) is news.
            if old is None or old.get("spec") != new.get("spec") or not new.get("status"):
                name = new["metadata"]["name"]
                self._schedule(lambda: self.enqueue(name))
            return
        if rtype.group_resource not in _WATCHED:
            return
        namespace = event.obj["metadata"].get("namespace", "")
        for (_, name), obj in self._store.table(APISERVICES).objects.items():
            ref = aggregation.service_of(obj)
            if ref is not None and ref.namespace == namespace:
                self._schedule(lambda name=name: self.enqueue(name))  # type: ignore[misc]

    def enqueue(self, name: str) -> None:
        if self._closed:
            return
        if name in self._running:
            self._again.add(name)
            return
        retry = self._retries.pop(name, None)
        if retry is not None:
            retry.cancel()
        task = asyncio.get_running_loop().create_task(self._check(name))
        self._running[name] = task
        task.add_done_callback(lambda _: self._done(name))

    def _done(self, name: str) -> None:
        self._running.pop(name, None)
        if name in self._again:
            self._again.discard(name)
            self.enqueue(name)

    async def _check(self, name: str) -> None:
        obj = self._store.table(APISERVICES).objects.get(("", name))
        if obj is None:
            self._failures.pop(name, None)
            return
        ref = aggregation.service_of(obj)
        if ref is None:
            verdict = Verdict("True", "Local", "Local APIServices are always available")
        else:
            verdict = static_verdict(self._store, ref) or await self._probe(obj, ref)
        self._write(name, verdict)
        if verdict.status == "True" or verdict.reason != "FailedDiscoveryCheck":
            self._failures.pop(name, None)
            return
        # As upstream's rate-limited requeue after a failed discovery check.
        failures = self._failures.get(name, 0)
        self._failures[name] = failures + 1
        delay = min(BACKOFF_CAP, BACKOFF_BASE * 2**failures)
        self._retries[name] = asyncio.get_running_loop().call_later(
            delay, lambda: self._retry(name)
        )

    def _retry(self, name: str) -> None:
        self._retries.pop(name, None)
        self.enqueue(name)

    async def _probe(self, obj: Obj, ref: aggregation.ServiceRef) -> Verdict:
        spec = obj.get("spec") or {}
        found = endpoints(self._store, ref)
        last = f'no endpoints available for service "{ref.name}"'
        for endpoint in found:
            problem = await self._proxy.probe(
                endpoint, group=str(spec.get("group") or ""), version=str(spec.get("version"))
            )
            if problem is None:
                return Verdict("True", "Passed", "all checks passed")
            last = problem
        return Verdict("False", "FailedDiscoveryCheck", last)

    def _write(self, name: str, verdict: Verdict) -> None:
        current = self._store.table(APISERVICES).objects.get(("", name))
        if current is None:
            return
        conditions = list((current.get("status") or {}).get("conditions") or ())
        old = next((c for c in conditions if c.get("type") == aggregation.AVAILABLE), None)
        since = (
            old.get("lastTransitionTime")
            if old is not None and old.get("status") == verdict.status
            else now_rfc3339()
        )
        condition = {
            "type": aggregation.AVAILABLE,
            "status": verdict.status,
            "lastTransitionTime": since,
            "reason": verdict.reason,
            "message": verdict.message,
        }
        if old == condition:
            return
        others = [c for c in conditions if c.get("type") != aggregation.AVAILABLE]
        status = {**(current.get("status") or {}), "conditions": [*others, condition]}
        with contextlib.suppress(errors.StatusError):
            self._store.replace(APISERVICES, current, {**current, "status": status})
