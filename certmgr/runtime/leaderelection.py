"""Leader election on a coordination.k8s.io/v1 Lease (client-go's ``leaderelection``).

Owns ``LeaderElector``: acquire the Lease when it is free or expired, renew it every
``retry_period``, and stop leading (callbacks, ``is_leader`` cleared) when a renewal has
not succeeded within ``renew_deadline`` of the last one, which is before any other
candidate can consider the Lease expired (``lease_duration`` after it *saw* our last
renewal; expiry is judged on the local monotonic clock from when a record was observed,
so clock skew between nodes does not matter). ``release`` empties holderIdentity and sets
leaseDurationSeconds to 1 so a standby takes over at its next try instead of waiting out
the lease. Writes use the Lease's resourceVersion: a Conflict means someone else wrote
first, and the attempt is simply retried next period.

Every wait goes through the ``Clock``. Tries are not jittered: with a handful of replicas
there is no herd, and deterministic timing keeps fake-clock tests exact. This module must
not start or stop controllers itself: the callbacks and ``is_leader`` tell the
composition root, which does.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog
from structlog.typing import FilteringBoundLogger

from certmgr.kube.errors import AlreadyExists, Conflict, NotFound
from certmgr.kube.resources import LEASES, Resource
from certmgr.runtime import metrics
from certmgr.runtime.clock import Clock, race_clock

# The Lease's spec.renewTime/acquireTime are MicroTime: RFC 3339 with microseconds.
MICROTIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


class LeaseAPI(Protocol):
    """The three Kubernetes calls leader election needs (``certmgr.kube.KubeClient``)."""

    async def get(
        self, resource: Resource, name: str, *, namespace: str | None = None
    ) -> dict[str, Any]: ...

    async def create(
        self, resource: Resource, obj: dict[str, Any], *, namespace: str | None = None
    ) -> dict[str, Any]: ...

    async def update(self, resource: Resource, obj: dict[str, Any]) -> dict[str, Any]: ...


def default_identity() -> str:
    """``<hostname>_<random>``: unique per process even when pods share a hostname."""
    return f"{socket.gethostname()}_{secrets.token_hex(6)}"


@dataclass(frozen=True, slots=True)
class LeaderElectionConfig:
    """Where the Lease lives and how long things take (client-go's defaults)."""

    namespace: str
    name: str
    identity: str = field(default_factory=default_identity)
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        if not self.identity:
            raise ValueError("leader election identity must not be empty")
        if not 0 < self.retry_period < self.renew_deadline < self.lease_duration:
            raise ValueError("need 0 < retry_period < renew_deadline < lease_duration")
        if self.lease_duration != int(self.lease_duration):
            raise ValueError("lease_duration must be whole seconds (leaseDurationSeconds)")


class LeaderElector:
    """Campaigns for one Lease; ``run`` returns when leadership is lost."""

    def __init__(
        self,
        client: LeaseAPI,
        config: LeaderElectionConfig,
        *,
        clock: Clock,
        on_started_leading: Callable[[], None] | None = None,
        on_stopped_leading: Callable[[], None] | None = None,
        log: FilteringBoundLogger | None = None,
    ):
        self._client = client
        self.config = config
        self._clock = clock
        self._on_started = on_started_leading
        self._on_stopped = on_stopped_leading
        self._log = (log or structlog.get_logger("certmgr.leaderelection")).bind(
            lease=f"{config.namespace}/{config.name}", identity=config.identity
        )
        self.is_leader = asyncio.Event()
        self._running = False
        # What we last saw in the Lease and when (monotonic), to judge expiry locally.
        self._observed_spec: dict[str, Any] | None = None
        self._observed_at = 0.0
        self._renewal_started = 0.0  # monotonic start of the latest attempt
        # Monotonic end of our hold: renew_deadline after the start of the last successful
        # attempt (a float, read from any thread by ``holds_lease``).
        self._held_until = 0.0
        self._gauge = metrics.LEADER_IS_LEADER.labels(lease=f"{config.namespace}/{config.name}")
        self._gauge.set(0)

    @property
    def leading(self) -> bool:
        return self.is_leader.is_set()

    def holds_lease(self) -> bool:
        """True while leading and within ``renew_deadline`` of the last renewal's start.

        Judged on the clock, not on ``is_leader``: a process frozen past its deadline
        (SIGSTOP, a paused VM) runs its in-flight work before the renewal loop notices,
        so a write to the outside world (the CA) asks this first. Safe from any thread.
        """
        return self.leading and self._clock.monotonic() < self._held_until

    @property
    def healthy(self) -> bool:
        """True while campaigning or leading (readiness: "leading or standing by")."""
        return self._running

    @property
    def observed_holder(self) -> str | None:
        """The holder in the last Lease we read, if any ("" once released)."""
        return None if self._observed_spec is None else self._observed_spec.get("holderIdentity")

    async def run(self, work: Callable[[], Coroutine[Any, Any, None]] | None = None) -> None:
        """Campaign; while leading, renew the Lease and run ``work`` (the controllers).

        Returns when leadership is lost (a renewal missed its deadline) or ``work`` ends;
        ``work`` is then cancelled hard, twice, because another process may lead soon:
        the first cancel starts a controller's graceful drain, the second cuts it short.

        When cancelled (shutdown), ``work`` is cancelled once and awaited while the Lease
        is still renewed, so in-flight reconciles drain under our leadership; then we stop
        leading and release the Lease (bounded by ``renew_deadline``) for a standby.
        """
        self._running = True
        renewing: asyncio.Task[None] | None = None
        working: asyncio.Task[None] | None = None
        try:
            await self._acquire()
            renewing = asyncio.create_task(self._renew_until_lost(), name="lease-renewal")
            working = asyncio.create_task(work(), name="leader-work") if work else None
            try:
                await asyncio.wait(
                    {t for t in (renewing, working) if t is not None},
                    return_when=asyncio.FIRST_COMPLETED,
                )
            except asyncio.CancelledError:
                if working is not None:
                    working.cancel()
                    await asyncio.wait({working, renewing}, return_when=asyncio.FIRST_COMPLETED)
                    await _cancel_hard(working)
                renewing.cancel()
                if self.leading:
                    self._stop_leading("shutdown")
                    await self._release_bounded()
                raise
            if renewing.done():
                self._stop_leading("lost")
            if working is not None:
                await _cancel_hard(working)
                if not working.cancelled():
                    working.result()  # re-raise the work's error, if it failed
        finally:
            for task in (renewing, working):
                if task is not None:
                    task.cancel()
            if self.leading:
                self._stop_leading("ended")
                await self._release_bounded()
            self._running = False

    async def release(self) -> bool:
        """Give the Lease up now if we hold it; True if we did."""
        try:
            lease = await self._client.get(
                LEASES, self.config.name, namespace=self.config.namespace
            )
            spec = lease.get("spec") or {}
            if spec.get("holderIdentity") != self.config.identity:
                return False
            now = self._clock.now().strftime(MICROTIME_FORMAT)
            lease["spec"] = {
                **spec,
                "holderIdentity": "",
                "leaseDurationSeconds": 1,
                "acquireTime": now,
                "renewTime": now,
            }
            await self._client.update(LEASES, lease)
        except Exception as error:
            self._log.warning("lease_release_failed", error=f"{type(error).__name__}: {error}")
            return False
        self._log.info("lease_released")
        return True

    # -- phases -------------------------------------------------------------------

    async def _acquire(self) -> None:
        self._log.info("leader_election_started")
        while True:
            if await self._attempt(self.config.renew_deadline):
                self._start_leading()
                return
            await self._clock.sleep(self.config.retry_period)

    async def _renew_until_lost(self) -> None:
        # The deadline counts from the *start* of the last successful attempt: the Lease's
        # renewTime is no earlier than that, so others see it expire no earlier either.
        deadline = self._renewal_started + self.config.renew_deadline
        while True:
            await self._clock.sleep(self.config.retry_period)
            while True:
                remaining = deadline - self._clock.monotonic()
                if remaining <= 0:
                    self._log.warning("leader_renew_deadline_exceeded")
                    return
                if await self._attempt(remaining):
                    deadline = self._renewal_started + self.config.renew_deadline
                    break
                holder = self.observed_holder
                if holder and holder != self.config.identity:
                    self._log.warning("leader_lease_taken", holder=holder)
                    return
                remaining = deadline - self._clock.monotonic()
                if remaining > 0:
                    await self._clock.sleep(min(self.config.retry_period, remaining))

    async def _attempt(self, within: float) -> bool:
        self._renewal_started = self._clock.monotonic()
        try:
            renewed = await race_clock(self._clock, self._try_acquire_or_renew(), seconds=within)
            if renewed:
                self._held_until = self._renewal_started + self.config.renew_deadline
            return renewed
        except TimeoutError:
            self._log.warning("lease_request_timeout", seconds=within)
        except (Conflict, AlreadyExists) as error:
            self._log.debug("lease_write_conflict", error=str(error))
        except Exception as error:
            self._log.warning("lease_request_failed", error=f"{type(error).__name__}: {error}")
        return False

    async def _try_acquire_or_renew(self) -> bool:
        config = self.config
        now = self._clock.now().strftime(MICROTIME_FORMAT)
        try:
            lease = await self._client.get(LEASES, config.name, namespace=config.namespace)
        except NotFound:
            spec: dict[str, Any] = {
                "holderIdentity": config.identity,
                "leaseDurationSeconds": int(config.lease_duration),
                "acquireTime": now,
                "renewTime": now,
                "leaseTransitions": 0,
            }
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": config.name, "namespace": config.namespace},
                "spec": spec,
            }
            created = await self._client.create(LEASES, body, namespace=config.namespace)
            self._observe(created.get("spec") or spec)
            return True
        spec = dict(lease.get("spec") or {})
        self._observe(spec)
        holder = spec.get("holderIdentity") or ""
        if holder and holder != config.identity and not self._observed_expired():
            return False
        if holder != config.identity:
            spec["acquireTime"] = now
            spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
        spec.update(
            holderIdentity=config.identity,
            leaseDurationSeconds=int(config.lease_duration),
            renewTime=now,
        )
        lease["spec"] = spec
        updated = await self._client.update(LEASES, lease)
        self._observe(updated.get("spec") or spec)
        return True

    # -- bookkeeping --------------------------------------------------------------

    def _observe(self, spec: dict[str, Any]) -> None:
        if spec != self._observed_spec:
            self._observed_spec = dict(spec)
            self._observed_at = self._clock.monotonic()

    def _observed_expired(self) -> bool:
        spec = self._observed_spec or {}
        duration = float(spec.get("leaseDurationSeconds") or self.config.lease_duration)
        return self._clock.monotonic() >= self._observed_at + duration

    def _start_leading(self) -> None:
        self.is_leader.set()
        self._gauge.set(1)
        self._log.info("leader_elected")
        if self._on_started is not None:
            self._on_started()

    def _stop_leading(self, why: str) -> None:
        self._held_until = 0.0
        self.is_leader.clear()
        self._gauge.set(0)
        self._log.warning("leader_stopped_leading", why=why)
        if self._on_stopped is not None:
            self._on_stopped()

    async def _release_bounded(self) -> None:
        try:
            await race_clock(self._clock, self.release(), seconds=self.config.renew_deadline)
        except TimeoutError:
            self._log.warning("lease_release_timeout")


async def _cancel_hard(task: asyncio.Task[None]) -> None:
    """Cancel ``task`` until it is done, interrupting any graceful drain it starts."""
    while not task.done():
        task.cancel()
        await asyncio.sleep(0)
