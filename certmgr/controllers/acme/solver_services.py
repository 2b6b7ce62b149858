"""Shared mode's solver Service: one per namespace, created on demand, removed when idle.

Owns the namespace's Service ``cm-acme-http-solver-shared`` (cert-manager's solver
label; without a selector, for the replicas' EndpointSlices, or an ExternalName to
``Settings.shared_solver_host``) that every solver Ingress of the namespace routes to,
and its lifetime: :meth:`SharedSolverServices.ensure` creates
it when a Challenge is presented (an existing one is reused, and put right if it points
elsewhere); the namespace-keyed reconcile deletes it once the namespace has had no
Challenge for ``Settings.shared_solver_service_linger`` seconds, measured on the
injectable clock and waited for with ``requeue_after`` (no sleeps, no polling loop);
a Challenge that arrives while that delete is in flight gets the Service back at once.

It is owned by no Challenge: one Service per namespace instead of one per Challenge
saves two writes per Challenge, and a namespace that issues often keeps it. In-memory
state (namespaces ensured, idle since when) is a cache: after a restart the idle time
starts over, and a one-time sweep (the first Issuer or ClusterIssuer event) finds the
namespaces that hold such a Service, so none is left behind. It must not present or
clean up anything of one Challenge.
"""

from __future__ import annotations

import contextlib
from typing import Any, Final

import structlog

from certmgr.api import labels
from certmgr.controllers.acme.solver_objects import SHARED_SERVICE, shared_service
from certmgr.kube.errors import AlreadyExists, Forbidden, NotFound
from certmgr.kube.protocol import KubeAPI
from certmgr.kube.resources import SERVICES
from certmgr.runtime.cache import Cache, Obj
from certmgr.runtime.clock import Clock
from certmgr.runtime.controller import Result
from certmgr.runtime.workqueue import WorkQueue

log = structlog.get_logger(__name__)

# The queue key of the one-time sweep (namespaces are DNS labels: no "*").
SWEEP: Final = "*sweep*"
# The Services informer is narrowed to the solver's (shared and pod mode alike).
SOLVER_SELECTOR: Final = f"{labels.HTTP01_SOLVER}=true"


class SharedSolverServices:
    def __init__(
        self,
        client: KubeAPI,
        *,
        challenges: Cache,
        services: Cache | None = None,
        clock: Clock,
        host: str,
        port: int,
        linger: float,
        service_type: str = "ExternalName",
    ) -> None:
        self._client = client
        self._challenges = challenges
        self._services = services
        self._clock = clock
        self._host = host
        self._port = port
        self._linger = linger
        self._type = service_type
        self._ensured: set[str] = set()  # checked since the last self-check failure
        self._existing: set[str] = set()  # namespaces we know to hold the Service
        self._idle_since: dict[str, float] = {}
        self._swept = False
        self._queue: WorkQueue[str] | None = None

    def bind(self, queue: WorkQueue[str]) -> None:
        """The reconcile's queue, where the sweep adds the namespaces it finds."""
        self._queue = queue

    async def ensure(self, namespace: str) -> None:
        """The namespace's shared solver Service exists and points at the solver."""
        if namespace in self._ensured:
            return
        wanted = shared_service(
            namespace, host=self._host, port=self._port, service_type=self._type
        )
        # A read first: in a namespace that issues often the Service is there already.
        current = await self._read(namespace)
        if current is None:
            with contextlib.suppress(AlreadyExists):  # another replica, or a retry
                await self._client.create(SERVICES, wanted, namespace=namespace)
        elif not _same_target(current, wanted):
            # Drifted, or the mode changed (ExternalName <-> EndpointSlice): replaced, as
            # fields the API server allocates (cluster IPs) cannot be edited across types.
            with contextlib.suppress(NotFound):
                await self._client.delete(SERVICES, SHARED_SERVICE, namespace=namespace)
            with contextlib.suppress(AlreadyExists):
                await self._client.create(SERVICES, wanted, namespace=namespace)
            log.info("acme_shared_solver_service_fixed", namespace=namespace)
        self._ensured.add(namespace)
        self._existing.add(namespace)

    async def _read(self, namespace: str) -> Obj | None:
        """The namespace's Service from the cache (without one: from the API)."""
        if self._services is not None:
            return self._services.get(namespace, SHARED_SERVICE)
        try:
            return await self._client.get(SERVICES, SHARED_SERVICE, namespace=namespace)
        except NotFound:
            return None

    def forget(self, namespace: str) -> None:
        """Check the Service again on the next :meth:`ensure` (a self-check failed)."""
        self._ensured.discard(namespace)

    def namespaces_of(self, obj: Obj) -> list[str]:
        """Mapper: a Challenge wakes the reconcile of its namespace."""
        namespace = (obj.get("metadata") or {}).get("namespace")
        return [str(namespace)] if namespace else []

    def sweep_once(self, _: Obj) -> list[str]:
        """Mapper on issuers: the first event after start runs the sweep, later ones nothing."""
        return [] if self._swept else [SWEEP]

    async def reconcile(self, key: str) -> Result | None:
        if key == SWEEP:
            await self._sweep()
            return None
        if key not in self._existing:
            return None  # nothing of ours there (pod mode, or deleted already)
        if self._challenges.holds_any(key):
            self._idle_since.pop(key, None)
            return None
        now = self._clock.monotonic()
        idle_since = self._idle_since.setdefault(key, now)
        left = self._linger - (now - idle_since)
        if left > 0:
            return Result(requeue_after=left)
        self._ensured.discard(key)
        self._existing.discard(key)
        with contextlib.suppress(NotFound):
            await self._client.delete(SERVICES, SHARED_SERVICE, namespace=key)
            log.info("acme_shared_solver_service_deleted", namespace=key)
        self._idle_since.pop(key, None)
        if self._challenges.holds_any(key):
            # A Challenge reached the cache while the delete was in flight, and its
            # present may have read the Service before the delete removed it: its
            # Ingress routes nowhere. Every such Challenge is cached by now, so one
            # look after the delete closes the window.
            self._ensured.discard(key)
            await self.ensure(key)
            log.info("acme_shared_solver_service_restored", namespace=key)
        return None

    async def _sweep(self) -> None:
        try:
            listed = await self._client.list(SERVICES, label_selector=SOLVER_SELECTOR)
        except Forbidden:
            # Namespaced permissions only: namespaces with Challenges still clean up.
            log.warning("acme_shared_solver_sweep_forbidden")
            self._swept = True
            return
        self._swept = True
        for service in listed.items:
            meta = service.get("metadata") or {}
            if meta.get("name") == SHARED_SERVICE:
                namespace = str(meta.get("namespace"))
                self._existing.add(namespace)
                if self._queue is not None:
                    self._queue.add(namespace)


def _same_target(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
    have, want = current.get("spec") or {}, wanted["spec"]
    return bool(
        have.get("type", "ClusterIP") == want["type"]
        and have.get("externalName") == want.get("externalName")
        and not have.get("selector")
        and [p.get("port") for p in have.get("ports") or ()] == [p["port"] for p in want["ports"]]
    )
