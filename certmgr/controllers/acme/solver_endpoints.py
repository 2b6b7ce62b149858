"""Shared mode's endpoints: each replica publishes itself behind every shared solver Service.

Owns, per replica (leader or not: every replica serves every token), one EndpointSlice
per namespace whose shared solver Service has no selector (``EndpointSlice`` mode),
named ``cm-acme-http-solver-shared-<hash of the Pod name>``, labelled as the
EndpointSlice controller would (``kubernetes.io/service-name``) but
``endpointslice.kubernetes.io/managed-by: shared-solver.certmgr.io``, owned by the
Service (it goes with it), listing the replica's Pod IP and solver port; and its
heartbeat, a Lease ``certmgr-solver-<Pod name>`` renewed every 2 s while it has slices.
Draining (SIGTERM) marks its endpoint not ready but serving and terminating (kube-proxy
and most ingress controllers stop sending new requests to it while others are ready,
and keep using it while none is); :meth:`ReplicaEndpoints.withdraw` deletes its slices
and Lease. The Service has no selector, so no kubelet readiness probe takes a frozen or
killed replica out: the replicas do it. Any replica deletes the slices of a replica
whose heartbeat is 3 renewals late (its kernel may still accept connections nobody
answers), and :meth:`ReplicaEndpoints.unanswered` names the replicas listed behind a
Service whose heartbeat is late at all, so no CA is asked to validate through them.
Heartbeat ages are ``renewTime`` against this replica's clock (node clocks are
NTP-synced; a skew of a second shifts these seconds). It must not create or delete
Services (that is :mod:`solver_services`' business).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import structlog

from certmgr.api import labels
from certmgr.api.codec import parse_rfc3339
from certmgr.controllers.acme.solver_objects import SHARED_SERVICE
from certmgr.kube.errors import AlreadyExists, APIError, Conflict, NotFound, Unreachable
from certmgr.kube.protocol import KubeAPI
from certmgr.kube.resources import ENDPOINTSLICES, LEASES
from certmgr.runtime.cache import Cache, Obj
from certmgr.runtime.clock import Clock

log = structlog.get_logger(__name__)

SERVICE_NAME_LABEL: Final = "kubernetes.io/service-name"
MANAGED_BY_LABEL: Final = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY: Final = "shared-solver.certmgr.io"
REPLICA_LABEL: Final = "certmgr.io/solver-replica"
SLICE_SELECTOR: Final = f"{MANAGED_BY_LABEL}={MANAGED_BY}"
LEASE_PREFIX: Final = "certmgr-solver-"
# The heartbeat costs one Lease write and at most one list of the Leases per
# HEARTBEAT_SECONDS per replica while it has slices (kubelet-probe speed: a frozen Pod
# fails its readiness probe in seconds). A replica half its Lease's duration behind is
# not trusted with a validation; its whole duration behind (LEASE_SECONDS: 3 missed
# renewals) its endpoint is removed, within about LEASE_SECONDS + HEARTBEAT_SECONDS of
# its last renewal. Each Lease's own duration counts (a replica of an older version
# renews more slowly).
HEARTBEAT_SECONDS: Final = 2.0
LEASE_SECONDS: Final = 6
# A listing of the Leases younger than this answers :meth:`ReplicaEndpoints.unanswered`.
LISTING_FRESH_SECONDS: Final = 1.0
# A replica that looks behind is looked at again in a listing at most this old.
RECHECK_SECONDS: Final = 0.25
# How often a replica looks again without being woken (a missed event, an expiry).
RESYNC_SECONDS: Final = 30.0


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """A replica's Lease as last listed: when it was renewed, for how long."""

    renewed: datetime | None
    duration: float

    @classmethod
    def of(cls, lease: Obj) -> Heartbeat:
        spec = lease.get("spec") or {}
        try:
            renewed = parse_rfc3339(str(spec["renewTime"])) if spec.get("renewTime") else None
        except ValueError:
            renewed = None
        return cls(renewed=renewed, duration=float(spec.get("leaseDurationSeconds") or 0))

    def behind(self, now: datetime, *, fraction: float = 1.0) -> bool:
        """Not renewed within ``fraction`` of its duration."""
        if self.renewed is None:
            return True
        return now - self.renewed > timedelta(seconds=self.duration * fraction)


@dataclass(frozen=True, slots=True)
class Replica:
    """This process as an endpoint: its Pod's name and IP (downward API) and solver port."""

    name: str
    ip: str
    port: int


def slice_name(replica: str) -> str:
    return f"{SHARED_SERVICE}-{hashlib.sha256(replica.encode()).hexdigest()[:10]}"


def lease_name(replica: str) -> str:
    return LEASE_PREFIX + replica


def is_endpoint_service(service: Obj) -> bool:
    """A shared solver Service that routes through EndpointSlices (no selector)."""
    meta = service.get("metadata") or {}
    spec = service.get("spec") or {}
    return (
        meta.get("name") == SHARED_SERVICE
        and not meta.get("deletionTimestamp")
        and spec.get("type", "ClusterIP") == "ClusterIP"
        and not spec.get("selector")
    )


def replica_slice(service: Obj, replica: Replica, *, draining: bool) -> dict[str, Any]:
    """The replica's EndpointSlice behind ``service``."""
    meta = service.get("metadata") or {}
    return {
        "apiVersion": ENDPOINTSLICES.api_version,
        "kind": ENDPOINTSLICES.kind,
        "metadata": {
            "name": slice_name(replica.name),
            "namespace": meta.get("namespace"),
            "labels": {
                SERVICE_NAME_LABEL: SHARED_SERVICE,
                MANAGED_BY_LABEL: MANAGED_BY,
                REPLICA_LABEL: replica.name,
                labels.HTTP01_SOLVER: "true",
            },
            "ownerReferences": [
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "name": SHARED_SERVICE,
                    "uid": meta.get("uid"),
                    "controller": True,
                }
            ],
        },
        "addressType": "IPv6" if ":" in replica.ip else "IPv4",
        "endpoints": [
            {
                "addresses": [replica.ip],
                "conditions": {"ready": not draining, "serving": True, "terminating": draining},
            }
        ],
        "ports": [{"name": "http", "port": replica.port, "protocol": "TCP"}],
    }


def _same(have: Obj, want: dict[str, Any]) -> bool:
    owners = [r.get("uid") for r in (have.get("metadata") or {}).get("ownerReferences") or ()]
    return bool(
        have.get("endpoints") == want["endpoints"]
        and have.get("ports") == want["ports"]
        and owners == [r["uid"] for r in want["metadata"]["ownerReferences"]]
    )


class ReplicaEndpoints:
    def __init__(
        self,
        client: KubeAPI,
        *,
        replica: Replica,
        services: Cache,
        slices: Cache,
        lease_namespace: str,
        clock: Clock,
    ) -> None:
        self._client = client
        self._replica = replica
        self._services = services
        self._slices = slices
        self._lease_namespace = lease_namespace
        self._clock = clock
        self._wake = asyncio.Event()
        self._draining = False
        self._withdrawn = False
        self._heartbeat_due = 0.0
        self._lease: Obj | None = None  # as last written: renewed without a read
        self._heartbeats: dict[str, Heartbeat] = {}  # holder -> as last listed
        self._listed_at: float | None = None
        self._listing = asyncio.Lock()

    @property
    def replica(self) -> Replica:
        return self._replica

    def wake(self, *_: object) -> None:
        """An informer handler: a Service or EndpointSlice changed; look again."""
        self._wake.set()

    async def run(self) -> None:
        """Keep this replica's slices and heartbeat current until cancelled."""
        while True:
            self._wake.clear()
            try:
                await self.sync()
            except (APIError, Unreachable) as exc:
                log.warning("acme_solver_endpoints_sync_failed", error=str(exc))
            wait = min(RESYNC_SECONDS, max(0.0, self._heartbeat_due - self._clock.monotonic()))
            # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation
            # that arrives as the event is set, and this loop would never end.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait or RESYNC_SECONDS):
                    await self._wake.wait()

    async def sync(self) -> None:
        """One pass: heartbeat, own slices as wanted, dead replicas' slices removed."""
        if self._withdrawn:
            return
        services = [s for s in self._services if is_endpoint_service(s)]
        if services:
            await self._heartbeat()
        for service in services:
            await self._publish(service)
        await self._remove_dead()

    async def drain(self) -> None:
        """Stop taking new requests: the endpoint is marked not ready, serving, terminating."""
        self._draining = True
        await self.sync()

    async def withdraw(self) -> None:
        """Remove this replica's slices and heartbeat (the last step before exiting);
        nothing is published again."""
        self._withdrawn = True
        for obj in list(self._slices):
            meta = obj.get("metadata") or {}
            if (meta.get("labels") or {}).get(REPLICA_LABEL) == self._replica.name:
                with contextlib.suppress(NotFound):
                    await self._client.delete(
                        ENDPOINTSLICES, meta["name"], namespace=meta.get("namespace")
                    )
        with contextlib.suppress(NotFound):
            await self._client.delete(
                LEASES, lease_name(self._replica.name), namespace=self._lease_namespace
            )
        log.info("acme_solver_endpoints_withdrawn", replica=self._replica.name)

    async def _publish(self, service: Obj) -> None:
        want = replica_slice(service, self._replica, draining=self._draining)
        namespace = str(want["metadata"]["namespace"])
        have = self._slices.get(namespace, want["metadata"]["name"])
        if have is not None and _same(have, want):
            return
        if have is None:
            # Already there (the cache is behind): its event wakes the next sync, which
            # puts it right from the cache.
            with contextlib.suppress(AlreadyExists):
                await self._client.create(ENDPOINTSLICES, want, namespace=namespace)
            return
        version = (have.get("metadata") or {}).get("resourceVersion")
        want["metadata"]["resourceVersion"] = version
        await self._client.update(ENDPOINTSLICES, want)

    async def _heartbeat(self) -> None:
        if self._clock.monotonic() < self._heartbeat_due:
            return
        now = _micro(self._clock.now())
        name = lease_name(self._replica.name)
        spec = {
            "holderIdentity": self._replica.name,
            "leaseDurationSeconds": LEASE_SECONDS,
            "renewTime": now,
        }
        if self._lease is not None:
            renewed = {**self._lease, "spec": {**(self._lease.get("spec") or {}), **spec}}
            try:
                self._lease = await self._client.update(LEASES, renewed)
            except (Conflict, NotFound):
                self._lease = None  # changed or gone behind our back: read it next time
                raise
        else:
            try:
                current = await self._client.get(LEASES, name, namespace=self._lease_namespace)
            except NotFound:
                lease = {
                    "apiVersion": LEASES.api_version,
                    "kind": LEASES.kind,
                    "metadata": {
                        "name": name,
                        "namespace": self._lease_namespace,
                        "labels": {REPLICA_LABEL: self._replica.name},
                    },
                    "spec": {**spec, "acquireTime": now},
                }
                self._lease = await self._client.create(
                    LEASES, lease, namespace=self._lease_namespace
                )
            else:
                current["spec"] = {**(current.get("spec") or {}), **spec}
                self._lease = await self._client.update(LEASES, current)
        self._heartbeat_due = self._clock.monotonic() + HEARTBEAT_SECONDS

    async def unanswered(self, namespace: str) -> list[str]:
        """The other replicas listed behind ``namespace``'s shared solver Service whose
        heartbeat is late (half its duration): a request routed to one may hang unanswered,
        so no CA should be asked to validate through that route yet. The Leases are listed
        again when the last listing is older than LISTING_FRESH_SECONDS."""
        owners = {owner for owner, meta in self._others() if meta.get("namespace") == namespace}
        if not owners:
            return []
        return sorted(await self._behind(owners, max_age=LISTING_FRESH_SECONDS, fraction=0.5))

    def _others(self) -> list[tuple[str, dict[str, Any]]]:
        """(replica, metadata) of every other replica's slice."""
        found = []
        for obj in self._slices:
            meta = obj.get("metadata") or {}
            owner = (meta.get("labels") or {}).get(REPLICA_LABEL)
            if owner not in (None, self._replica.name):
                found.append((str(owner), meta))
        return found

    async def _behind(self, owners: set[str], *, max_age: float, fraction: float) -> set[str]:
        """Those of ``owners`` whose heartbeat is ``fraction`` of its duration behind, by a
        listing at most ``max_age`` old, confirmed by a new one (a replica that has just
        started writes its Lease before its slices, so a listing made since it did names it)."""
        await self._list_leases(max_age=max_age)
        if not self._behind_now(owners, fraction=fraction):
            return set()
        await self._list_leases(max_age=RECHECK_SECONDS)
        return self._behind_now(owners, fraction=fraction)

    def _behind_now(self, owners: set[str], *, fraction: float) -> set[str]:
        now = self._clock.now()
        missing = Heartbeat(renewed=None, duration=0.0)
        return {
            o for o in owners if self._heartbeats.get(o, missing).behind(now, fraction=fraction)
        }

    async def _list_leases(self, *, max_age: float) -> None:
        async with self._listing:  # concurrent askers share one listing
            at = self._listed_at
            if at is not None and self._clock.monotonic() - at < max_age:
                return
            listed = await self._client.list(
                LEASES, namespace=self._lease_namespace, label_selector=REPLICA_LABEL
            )
            self._heartbeats = {
                str((lease.get("spec") or {}).get("holderIdentity")): Heartbeat.of(lease)
                for lease in listed.items
            }
            self._listed_at = self._clock.monotonic()

    async def _remove_dead(self) -> None:
        others = self._others()
        if not others:
            return
        # Half the heartbeat: the run loop wakes every HEARTBEAT_SECONDS, and a listing
        # made at the last wake must not be taken as fresh at this one.
        dead = await self._behind(
            {owner for owner, _ in others}, max_age=HEARTBEAT_SECONDS / 2, fraction=1.0
        )
        for owner, meta in others:
            if owner not in dead:
                continue
            with contextlib.suppress(NotFound):
                await self._client.delete(
                    ENDPOINTSLICES, meta["name"], namespace=meta.get("namespace")
                )
            log.info("acme_solver_endpoint_removed", replica=owner, namespace=meta.get("namespace"))


def _micro(moment: datetime) -> str:
    """A Lease's MicroTime."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
