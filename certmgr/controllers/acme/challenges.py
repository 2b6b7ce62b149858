"""The Challenge controller: schedule, present, self-check, accept, poll, clean up.

Owns ``Challenge.status`` (processing, presented, presentedAt, reason, state), removing the
challenge finalizer after clean-up, and scheduling: never two Challenges for one name and
type at once (a free slot goes to the oldest), at most ``max_concurrent_challenges`` in
flight. HTTP-01 is presented by :class:`Presenter` and checked by :class:`SelfCheck`,
DNS-01 by :class:`DNS01Solving`; ``waitInsteadOfSelfCheck`` replaces the check by a wait
after presentedAt. A presentation that fails (a refused solver object, a DNS-01 provider
error) is the Challenge's reason and a Warning Event, retried from 5 s to 5 min. Every
wait is a per-Challenge, jittered, backed-off ``requeue_after`` (nothing sleeps, nothing
is read from the API that a cache holds), and status is written only to say why it waits
and once when final. What it keeps in memory is a cache of progress: after a restart it
resumes from status and the CA, asked before answering so no challenge is answered twice.
It must not create Challenges or talk to CertificateRequests.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from typing import Any, Final, Protocol

import structlog

from certmgr.acme.errors import AcmeError, AcmeRateLimited
from certmgr.acme.protocol import AcmeClient
from certmgr.acme.resources import Problem
from certmgr.api import labels, reasons
from certmgr.api.acme import State
from certmgr.api.codec import parse_rfc3339, rfc3339
from certmgr.api.durations import format_go_duration, parse_go_duration
from certmgr.controllers.acme.accounts import Accounts, IssuerNotReady
from certmgr.controllers.acme.dns01_solving import DNS01Solving
from certmgr.controllers.acme.issuer_refs import referenced_issuer
from certmgr.controllers.acme.names import solver_name
from certmgr.controllers.acme.polling import PollIntervals, is_transient
from certmgr.controllers.acme.presenting import Presenter, PresentError
from certmgr.controllers.acme.selfcheck import CheckResult, SelfCheck
from certmgr.controllers.acme.solver_objects import SOLVER_PORT, SolverTarget, uses_pod
from certmgr.controllers.acme.solver_services import SOLVER_SELECTOR, SharedSolverServices
from certmgr.controllers.acme.writes import owner_reference, patch_status, progress_event
from certmgr.controllers.context import Context
from certmgr.dns01.nameservers import parse_nameserver
from certmgr.dns01.providers import DNS01Error
from certmgr.kube.errors import APIError, Conflict, NotFound, TooManyRequests
from certmgr.kube.resources import CHALLENGES, CLUSTERISSUERS, INGRESSES, ISSUERS, SERVICES
from certmgr.runtime.cache import Cache, Obj, object_key, split_key
from certmgr.runtime.controller import Result
from certmgr.runtime.workqueue import WorkQueue

log = structlog.get_logger(__name__)

SLOT_INDEX: Final = "acme-challenges-by-name-and-type"
PROCESSING_INDEX: Final = "acme-challenges-processing"
PROCESSING: Final = "processing"
FINALIZERS: Final = (labels.ACME_FINALIZER, labels.LEGACY_ACME_FINALIZER)
DNS01_TYPE: Final = "DNS-01"
CACHE_WAIT_SECONDS: Final = 5.0
# How soon a Challenge waiting for a free slot under the global cap looks again.
CAP_RETRY_SECONDS: Final = 1.0
# The API server refused a solver object (4xx: Pod Security, quota, validation): retried
# from this wait, doubling to the cap, until the user or an admin changes something.
PRESENT_RETRY_BASE: Final = 5.0
PRESENT_RETRY_CAP: Final = 300.0
# A shared solver route with a replica behind it that may not answer: how soon to look
# again (its endpoint goes within seconds: see solver_endpoints).
ROUTE_RETRY_SECONDS: Final = 1.0
_FINAL: Final = frozenset(s.value for s in State if s.is_final)


class SolverRoute(Protocol):
    """Who answers behind the shared solver Service of a namespace (solver_endpoints)."""

    async def unanswered(self, namespace: str) -> list[str]: ...


def slot_of(challenge: Obj) -> list[str]:
    """The index function: ``<dnsName>|<type>``, the unit scheduling serialises on."""
    spec = challenge.get("spec") or {}
    name = str(spec.get("dnsName") or "").lower()
    return [f"{name}|{spec.get('type')}"] if name else []


def processing_of(challenge: Obj) -> list[str]:
    """The index function: ``PROCESSING`` for a Challenge whose status says processing and
    that is still active (not final, not being deleted)."""
    status = challenge.get("status") or {}
    if not status.get("processing") or status.get("state") in _FINAL:
        return []
    return [] if (challenge.get("metadata") or {}).get("deletionTimestamp") else [PROCESSING]


def setup(ctx: Context, *, accounts: Accounts, run: bool = True) -> ChallengeReconciler:
    """Register the Challenge controller on ``ctx.manager`` (unless ``run`` is false:
    --controllers turned it off); returns the reconciler (its ``close()`` releases the
    self-check's HTTP session)."""
    manager = ctx.manager
    challenges = manager.informer(CHALLENGES)
    challenges.cache.add_index(SLOT_INDEX, slot_of)
    reconciler = ChallengeReconciler(
        ctx,
        accounts=accounts,
        challenges=challenges.cache,
        issuers=manager.informer(ISSUERS).cache,
        cluster_issuers=manager.informer(CLUSTERISSUERS).cache,
        services=manager.informer(SERVICES, label_selector=SOLVER_SELECTOR).cache,
        # The user's Ingress an edit-in-place solver adds its path to (ingress-shim's
        # informer too).
        ingresses=manager.informer(INGRESSES).cache,
    )
    if not run:
        return reconciler
    controller = manager.controller(
        "acme-challenges", reconciler.reconcile, workers=ctx.settings.workers
    )
    reconciler.bind(controller.queue)
    manager.watch(challenges, controller)

    def same_slot(challenge: Obj) -> list[str]:
        # A Challenge finishing frees its slot: wake the ones waiting for it.
        return [
            object_key(other)
            for value in slot_of(challenge)
            for other in challenges.cache.by_index(SLOT_INDEX, value)
        ]

    manager.watch(challenges, controller, same_slot)

    services = reconciler.shared_services
    linger = manager.controller("acme-shared-solver-services", services.reconcile, workers=1)
    services.bind(linger.queue)
    manager.watch(challenges, linger, services.namespaces_of)
    manager.watch(manager.informer(ISSUERS), linger, services.sweep_once)
    manager.watch(manager.informer(CLUSTERISSUERS), linger, services.sweep_once)
    return reconciler


class ChallengeReconciler:
    def __init__(
        self,
        ctx: Context,
        *,
        accounts: Accounts,
        challenges: Cache,
        issuers: Cache,
        cluster_issuers: Cache,
        services: Cache | None = None,
        ingresses: Cache | None = None,
    ) -> None:
        settings = ctx.settings
        self._ctx = ctx
        self._accounts = accounts
        self._challenges = challenges
        challenges.add_index(PROCESSING_INDEX, processing_of)  # a no-op when already there
        # An ExternalName is dialled on the solver's own port; a Service of EndpointSlices
        # has a port of its own that every replica's slice maps to its listen port (which
        # may differ between replicas), so it never changes with the leader.
        shared_port = (
            SOLVER_PORT
            if settings.shared_solver_service_type == "EndpointSlice"
            else settings.shared_solver_port
        )
        self._issuers = issuers
        self._cluster_issuers = cluster_issuers
        self.shared_services = SharedSolverServices(
            ctx.client,
            challenges=challenges,
            services=services,
            clock=ctx.clock,
            host=settings.shared_solver_host,
            port=shared_port,
            linger=settings.shared_solver_service_linger,
            service_type=settings.shared_solver_service_type,
        )
        self._presenter = Presenter(
            ctx.client,
            solver_mode=settings.solver_mode,
            solver_image=settings.solver_image,
            shared=self.shared_services,
            shared_port=shared_port,
            gateway_api=settings.enable_gateway_api,
            ingresses=ingresses,
        )
        self._dns01 = DNS01Solving(
            ctx,
            nameservers=[parse_nameserver(n) for n in settings.dns01_recursive_nameservers],
            recursive_only=settings.dns01_recursive_nameservers_only,
        )
        self._self_check = SelfCheck(
            port=settings.self_check_port,
            nameserver=settings.self_check_nameserver,
            clock=ctx.clock,
        )
        self._checks = asyncio.Semaphore(settings.max_concurrent_challenges)
        self._polls = PollIntervals(base=settings.acme_poll_base, cap=settings.acme_poll_cap)
        self._check_backoff = PollIntervals(
            base=settings.self_check_interval, cap=settings.self_check_backoff_cap
        )
        self._present_backoff = PollIntervals(base=PRESENT_RETRY_BASE, cap=PRESENT_RETRY_CAP)
        self._next_present: dict[str, float] = {}  # key -> clock.monotonic() of the retry
        self._successes: dict[str, int] = {}
        self._misses: dict[str, int] = {}
        self._presented: set[str] = set()
        self._presented_at: dict[str, datetime] = {}  # key -> status.presentedAt
        self._next_check: dict[str, float] = {}  # key -> clock.monotonic() of the next
        self._accepted: set[str] = set()
        self._cleaned: dict[str, str] = {}  # key -> uid of the Challenge cleaned up
        self._slots: dict[str, str] = {}  # slot -> key of the Challenge holding it
        # Challenges the global cap turned away, first turned away first: a freed slot
        # wakes them at once instead of at their CAP_RETRY_SECONDS look.
        self._cap_waiters: dict[str, None] = {}
        self._queue: WorkQueue[str] | None = None
        self._draining = False
        self._route: SolverRoute | None = None

    def route_through(self, route: SolverRoute) -> None:
        """Shared mode with EndpointSlices: the CA is asked to validate only while every
        replica behind the solver Service answers its heartbeat."""
        self._route = route

    async def close(self) -> None:
        await self._self_check.close()

    def bind(self, queue: WorkQueue[str]) -> None:
        """The controller's queue, where Challenges waiting for the cap are woken."""
        self._queue = queue

    def drain(self) -> None:
        """Shutting down: answer no new challenge to the CA; those accepted already are
        still polled to the end (see :meth:`accepted_in_flight`)."""
        self._draining = True

    def accepted_in_flight(self) -> int:
        """Challenges this process told the CA to validate that are not final yet."""
        return sum(1 for key in self._accepted if self._active(key))

    async def reconcile(self, key: str) -> Result | None:
        namespace, name = split_key(key)
        challenge = self._challenges.get(namespace, name)
        if challenge is None:
            self._forget(key)
            self._cleaned.pop(key, None)
            return None
        meta = challenge.get("metadata") or {}
        status = challenge.get("status") or {}
        if meta.get("deletionTimestamp"):
            await self._clean_up(challenge)
            await self._remove_finalizer(challenge)
            self._forget(key)
            return None
        if status.get("state") in _FINAL:
            await self._clean_up(challenge)
            self._forget(key)
            return None
        if not status.get("processing") and not self._schedule(key, challenge):
            return Result(requeue_after=CAP_RETRY_SECONDS)
        found = referenced_issuer(
            challenge, issuers=self._issuers, cluster_issuers=self._cluster_issuers
        )
        if found is None or found[2] is None:
            return Result(requeue_after=CAP_RETRY_SECONDS)
        try:
            client = await self._accounts.client_for(found[2])
        except IssuerNotReady:
            return Result(requeue_after=CAP_RETRY_SECONDS)
        try:
            return await self._advance(key, challenge, client)
        except AcmeRateLimited as exc:
            return Result(requeue_after=exc.retry_after or self._ctx.settings.acme_poll_cap)
        except AcmeError as exc:
            if is_transient(exc):
                raise
            await self._finish(challenge, (State.ERRORED, _problem_text(exc.problem)))
            return None

    async def _advance(self, key: str, challenge: Obj, client: AcmeClient) -> Result | None:
        status = challenge.get("status") or {}
        spec = challenge.get("spec") or {}
        target = self._target(challenge)
        if key not in self._presented:
            # Our own status write wakes us before a refused presentation's retry is due.
            wait = self._next_present.get(key, 0.0) - self._ctx.clock.monotonic()
            if wait > 0:
                return Result(requeue_after=wait)
            try:
                if _is_dns01(challenge):
                    resumed = False
                    again = await self._dns01.present(challenge)
                    if again is not None:  # accepted by the provider, not applied yet
                        self._next_present[key] = self._ctx.clock.monotonic() + again
                        return Result(requeue_after=again)
                else:
                    resumed = await self._presenter.present(target)
            except (PresentError, DNS01Error) as exc:
                return await self._present_failed(key, challenge, str(exc))
            except APIError as exc:
                if not _refused(exc):
                    raise
                return await self._present_failed(key, challenge, exc.message)
            self._present_backoff.forget(key)
            self._next_present.pop(key, None)
            progress_event(
                self._ctx,
                challenge,
                reasons.EVENT_PRESENTED,
                f"Presented challenge using {_mechanism(challenge)} challenge mechanism",
            )
            self._presented.add(key)
            # When first presented (cert-manager's status.presentedAt): kept across
            # restarts once written, else this presentation.
            self._presented_at[key] = _presented_at(status) or self._ctx.clock.now()
            if resumed or status.get("presented"):
                # An earlier attempt (maybe before a restart) presented it and may have
                # answered the CA: ask, rather than answer twice into a 400.
                offered = await client.get_challenge(spec["url"])
                if offered.status != State.PENDING.value:
                    self._accepted.add(key)
        if key not in self._accepted:
            if self._draining:
                return Result(requeue_after=CAP_RETRY_SECONDS)  # the next leader's
            return await self._check_and_accept(key, challenge, client, target)
        return await self._poll(key, challenge, client)

    async def _present_failed(self, key: str, challenge: Obj, error: str) -> Result:
        """The solver objects could not be made: say why on the Challenge (one status
        write per new reason, a Warning Event per attempt) and retry with backoff."""
        status = challenge.get("status") or {}
        message = f"Error presenting challenge: {error}"
        self._ctx.events.event(challenge, "Warning", reasons.EVENT_PRESENT_ERROR, message)
        log.warning("acme_present_failed", challenge=key, error=error)
        if status.get("reason") != message or not status.get("processing"):
            await self._write(challenge, {**status, "processing": True, "reason": message})
        interval = self._present_backoff.next(key)
        self._next_present[key] = self._ctx.clock.monotonic() + interval
        return Result(requeue_after=interval)

    async def _check_and_accept(
        self, key: str, challenge: Obj, client: AcmeClient, target: SolverTarget
    ) -> Result | None:
        spec = challenge.get("spec") or {}
        instead = wait_instead_of_self_check(spec)
        if instead is not None:
            return await self._wait_then_accept(key, challenge, client, instead, target=target)
        # Our own status write (or another Challenge) may wake us before the interval.
        wait = self._next_check.get(key, 0.0) - self._ctx.clock.monotonic()
        if wait > 0:
            return Result(requeue_after=wait)
        async with self._checks:
            result = await self._check(challenge)
        log.debug("acme_self_check", challenge=key, ok=result.ok, detail=result.detail)
        if not result.ok:
            self._successes.pop(key, None)
            self._misses[key] = self._misses.get(key, 0) + 1
            # Misses in a row back off: a route that never works costs a few checks a
            # minute, not five a second.
            interval = self._check_backoff.next(key)
            self._next_check[key] = self._ctx.clock.monotonic() + interval
            # The check right after presenting usually races the ingress controller
            # loading the route: that wait is not worth a write. Say that (and why) we
            # wait only when it fails again, and only then make sure the route's objects
            # are still there (from the cache).
            if self._misses[key] > 1:
                if not _is_dns01(challenge):
                    await self._presenter.repair(target)
                prefix = f"Waiting for {_mechanism(challenge)} challenge propagation: "
                await self._write_waiting(challenge, reason=prefix + result.detail)
            return Result(requeue_after=interval)
        self._check_backoff.forget(key)
        interval = self._ctx.settings.self_check_interval
        self._next_check[key] = self._ctx.clock.monotonic() + interval
        self._successes[key] = self._successes.get(key, 0) + 1
        if self._successes[key] < self._ctx.settings.self_check_successes:
            await self._write_waiting(challenge)
            return Result(requeue_after=interval)
        if await self._route_unanswered(key, challenge, target):
            return Result(requeue_after=ROUTE_RETRY_SECONDS)
        await self._accept(client, spec["url"])
        # Remembered in memory only: the CA's answer is read when polling, and after a
        # restart the CA is asked before answering again (see _advance).
        self._accepted.add(key)
        return Result(requeue_after=self._polls.next(key))

    async def _check(self, challenge: Obj) -> CheckResult:
        spec = challenge.get("spec") or {}
        if not _is_dns01(challenge):
            return await self._self_check.check(spec["dnsName"], spec["token"], spec["key"])
        try:
            return await self._dns01.check(challenge)
        except DNS01Error as exc:  # a lookup failed: a miss like any other, backed off
            return CheckResult(False, str(exc))

    async def _route_unanswered(self, key: str, challenge: Obj, target: SolverTarget) -> bool:
        """A replica behind the shared solver route is late with its heartbeat (frozen,
        or killed): the self-check may have reached a live one while the CA, routed the
        same way, would reach that one and time out. Wait for its endpoint to go, then
        self-check again."""
        if (
            self._route is None
            or _is_dns01(challenge)
            or uses_pod(target, solver_mode=self._ctx.settings.solver_mode)
        ):
            return False
        late = await self._route.unanswered(target.namespace)
        if late:
            self._successes.pop(key, None)
            log.info("acme_accept_waiting_for_solver_route", challenge=key, replicas=late)
        return bool(late)

    async def _wait_then_accept(
        self, key: str, challenge: Obj, client: AcmeClient, wait: timedelta, *, target: SolverTarget
    ) -> Result | None:
        """``waitInsteadOfSelfCheck``, as cert-manager: no self-check; the CA is asked once
        ``wait`` has passed since the challenge was presented. The first time it waits
        it records presentedAt and why, so a restart does not start the wait over."""
        remaining = self._presented_at[key] + wait - self._ctx.clock.now()
        if remaining > timedelta(0):
            if not (challenge.get("status") or {}).get("presentedAt"):
                reason = (
                    f"Waiting {format_go_duration(wait)} before accepting "
                    f"{_mechanism(challenge)} challenge without self-check"
                )
                await self._write_waiting(challenge, reason=reason)
            return Result(requeue_after=remaining.total_seconds())
        if await self._route_unanswered(key, challenge, target):
            return Result(requeue_after=ROUTE_RETRY_SECONDS)
        await self._accept(client, (challenge.get("spec") or {})["url"])
        self._accepted.add(key)
        return Result(requeue_after=self._polls.next(key))

    async def _accept(self, client: AcmeClient, url: str) -> str:
        try:
            return (await client.accept_challenge(url)).status
        except AcmeError as exc:
            if is_transient(exc):
                raise
            # Accepted already (a restart between the CA's answer and ours): read it.
            current = await client.get_challenge(url)
            if current.status == State.PENDING.value:
                raise
            return current.status

    async def _poll(self, key: str, challenge: Obj, client: AcmeClient) -> Result | None:
        spec = challenge.get("spec") or {}
        authz = await client.get_authorization(spec["authorizationURL"])
        offered = next((c for c in authz.challenges if c.url == spec["url"]), None)
        if authz.status == State.VALID.value:
            await self._finish(challenge, (State.VALID, "Successfully authorized domain"))
            return None
        problem = offered.error if offered is not None else None
        if authz.status != State.PENDING.value or (offered and offered.status == "invalid"):
            detail = _problem_text(problem) if problem else f"authorization is {authz.status}"
            reason = (
                f"Error accepting authorization: acme: authorization error for "
                f"{spec.get('dnsName')}: {detail}"
            )
            await self._finish(challenge, (State.INVALID, reason))
            return None
        # The CA is still validating after the first look: now it is worth saying so.
        await self._write_waiting(challenge)
        return Result(requeue_after=authz.retry_after or self._polls.next(key))

    async def _finish(self, challenge: Obj, outcome: tuple[State, str]) -> None:
        """Record the final ``outcome`` (one status write), then stop routing the token."""
        key = object_key(challenge)
        state, reason = outcome
        status = {
            **(challenge.get("status") or {}),
            "state": state.value,
            "reason": reason,
            "processing": False,
            "presented": False,
        }
        if state is State.VALID:
            progress_event(self._ctx, challenge, reasons.EVENT_DOMAIN_VERIFIED, reason)
        else:
            self._ctx.events.event(challenge, "Warning", "Failed", reason)
        log.info("acme_challenge_final", challenge=key, state=state.value)
        # Final first: the Order moves on at once, and the solver objects are owned by
        # the Challenge, so a crash before the clean up below leaks nothing for long
        # (a final Challenge not cleaned in this process is cleaned on its next look).
        written = await self._write(challenge, status)
        self._forget(key)
        await self._clean_up(written or challenge)

    async def _clean_up(self, challenge: Obj) -> None:
        """Remove the solver objects once per Challenge and process (absent ones are fine)."""
        key = object_key(challenge)
        uid = str((challenge.get("metadata") or {}).get("uid") or "")
        if self._cleaned.get(key) == uid:
            return
        try:
            if _is_dns01(challenge):
                await self._dns01.clean_up(challenge)
            else:
                await self._presenter.clean_up(self._target(challenge))
        except Exception as exc:
            self._ctx.events.event(
                challenge, "Warning", reasons.EVENT_CLEANUP_ERROR, f"Error cleaning up: {exc}"
            )
            raise
        self._cleaned[key] = uid

    async def _remove_finalizer(self, challenge: Obj) -> None:
        meta = challenge.get("metadata") or {}
        finalizers = list(meta.get("finalizers") or ())
        kept = [f for f in finalizers if f not in FINALIZERS]
        if kept == finalizers:
            return
        with contextlib.suppress(NotFound):
            await self._ctx.client.patch(
                CHALLENGES,
                meta["name"],
                {"metadata": {"finalizers": kept, "resourceVersion": meta.get("resourceVersion")}},
                namespace=meta.get("namespace"),
            )

    def _schedule(self, key: str, challenge: Obj) -> bool:
        """Take the challenge's slot if free, no older Challenge waits for it, and the
        global cap allows (no awaits: atomic).

        Costs what is in flight, not what is cached: the Challenges marked processing come
        from an index, and a Challenge that holds its slot already is admitted at once
        (it was counted when it took the slot, and every later admission counted it).
        """
        (slot,) = slot_of(challenge) or ("",)
        holder = self._slots.get(slot)
        if holder == key:
            return True
        if holder is not None and self._active(holder):
            return False
        mine = _queue_position(challenge)
        for other in self._challenges.by_index(SLOT_INDEX, slot):
            other_key = object_key(other)
            if other_key == key or not self._active(other_key):
                continue
            if (other.get("status") or {}).get("processing"):
                return False
            if _queue_position(other) < mine:
                # A free slot goes to the oldest waiting Challenge. Not only fairness: a
                # Challenge that went straight from presented to accepted has written no
                # status, so after a restart its being in flight shows nowhere; it took
                # the slot as the oldest, so it is the oldest still and takes it again.
                return False
        if not self._under_cap(key):
            self._cap_waiters[key] = None
            return False
        self._cap_waiters.pop(key, None)
        self._slots[slot] = key
        return True

    def _under_cap(self, key: str) -> bool:
        """Fewer than ``max_concurrent_challenges`` other Challenges in flight: those
        holding a slot in this process, and those whose status says processing (held by
        an earlier process, before a restart)."""
        cap = self._ctx.settings.max_concurrent_challenges
        processing = {
            object_key(c) for c in self._challenges.by_index(PROCESSING_INDEX, PROCESSING)
        }
        if len(self._slots) + len(processing) < cap:
            return True  # an upper bound of what is in flight is enough
        # Near the cap: drop holders that finished (their reconcile would, soon), count.
        for slot, holder in list(self._slots.items()):
            if not self._active(holder):
                del self._slots[slot]
        in_flight = set(self._slots.values()) | processing
        in_flight.discard(key)
        return len(in_flight) < cap

    def _active(self, key: str) -> bool:
        namespace, name = split_key(key)
        challenge = self._challenges.get(namespace, name)
        if challenge is None or (challenge.get("metadata") or {}).get("deletionTimestamp"):
            return False
        return (challenge.get("status") or {}).get("state") not in _FINAL

    def _forget(self, key: str) -> None:
        self._successes.pop(key, None)
        self._misses.pop(key, None)
        self._presented.discard(key)
        self._presented_at.pop(key, None)
        self._next_check.pop(key, None)
        self._accepted.discard(key)
        self._polls.forget(key)
        self._check_backoff.forget(key)
        self._present_backoff.forget(key)
        self._next_present.pop(key, None)
        self._cap_waiters.pop(key, None)
        freed = [s for s, k in self._slots.items() if k == key]
        for slot in freed:
            del self._slots[slot]
        for waiter in list(self._cap_waiters)[: len(freed)]:
            del self._cap_waiters[waiter]
            if self._queue is not None:
                self._queue.add(waiter)

    def _target(self, challenge: Obj) -> SolverTarget:
        meta = challenge.get("metadata") or {}
        spec = challenge.get("spec") or {}
        http01 = (spec.get("solver") or {}).get("http01") or {}
        return SolverTarget(
            name=solver_name(meta.get("namespace", ""), meta.get("name", "")),
            namespace=meta.get("namespace", ""),
            dns_name=str(spec.get("dnsName") or ""),
            token=str(spec.get("token") or ""),
            key=str(spec.get("key") or ""),
            owner=owner_reference(challenge),
            ingress=http01.get("ingress") or {},
            route=http01.get("gatewayHTTPRoute"),
        )

    async def _write_waiting(self, challenge: Obj, *, reason: str = "") -> None:
        """The Challenge has to wait: say it is presented and being processed, and why."""
        status = challenge.get("status") or {}
        waiting = {
            **status,
            "processing": True,
            "presented": True,
            "state": status.get("state") or State.PENDING.value,
            "reason": reason,
        }
        await self._write(challenge, waiting)

    async def _write(self, challenge: Obj, status: dict[str, Any]) -> Obj | None:
        presented_at = self._presented_at.get(object_key(challenge))
        if presented_at is not None and not status.get("presentedAt"):
            status = {**status, "presentedAt": rfc3339(presented_at)}
        written = await patch_status(self._ctx.client, CHALLENGES, challenge, status)
        if written is not None:
            await self._challenges.wait_for_object(written, timeout=CACHE_WAIT_SECONDS)
        return written


def wait_instead_of_self_check(spec: dict[str, Any]) -> timedelta | None:
    """The solver's ``waitInsteadOfSelfCheck`` (None: self-check as usual)."""
    text = (spec.get("solver") or {}).get("waitInsteadOfSelfCheck")
    if not text:
        return None
    try:
        return max(parse_go_duration(str(text)), timedelta(0))
    except ValueError:
        return None  # the CRD admits only Go durations of at least 0


def _presented_at(status: dict[str, Any]) -> datetime | None:
    try:
        return parse_rfc3339(str(status["presentedAt"])) if status.get("presentedAt") else None
    except ValueError:
        return None


def _is_dns01(challenge: Obj) -> bool:
    return (challenge.get("spec") or {}).get("type") == DNS01_TYPE


def _mechanism(challenge: Obj) -> str:
    """cert-manager's name of the challenge type in messages: ``HTTP-01`` or ``DNS-01``."""
    return DNS01_TYPE if _is_dns01(challenge) else "HTTP-01"


def _queue_position(challenge: Obj) -> tuple[str, str, str]:
    """Oldest first (RFC 3339 UTC strings sort by time), then by namespace and name."""
    meta = challenge.get("metadata") or {}
    return (
        str(meta.get("creationTimestamp") or ""),
        str(meta.get("namespace") or ""),
        str(meta.get("name") or ""),
    )


def _refused(error: APIError) -> bool:
    """A 4xx the API server will answer again until something changes (not a 409
    Conflict on a stale read, nor a 429 it asks us to come back from)."""
    return 400 <= error.code < 500 and not isinstance(error, Conflict | TooManyRequests)


def _problem_text(problem: Problem) -> str:
    status = f"{problem.status} " if problem.status is not None else ""
    return f"{status}{problem.type}: {problem.detail}"
