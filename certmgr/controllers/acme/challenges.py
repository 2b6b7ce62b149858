"""The Challenge controller: schedule, present, self-check, accept, poll, clean up.

Owns ``Challenge.status`` (processing, presented, reason, state), the challenge
finalizer (set by the order controller at creation, removed here after clean up), the
solver objects (through :class:`Presenter`) and scheduling: cert-manager's rule that
two Challenges for the same name and type are never processed at once, and at most
``max_concurrent_challenges`` in flight. Every wait is a ``requeue_after`` (self-check
spacing, CA polling with growing intervals); nothing sleeps in a reconcile. The solver
objects go as soon as the Challenge is final, or when it is deleted.

Self-check defaults (Settings): two consecutive successes 0.2 s apart. One success can
come from an ingress controller that has only partly loaded the new route (some of its
replicas or, in nginx, some workers); a second success a little later shows the route
is stable, and costs 0.2 s once per challenge instead of a failed validation, which in
cert-manager terms costs a whole new order with backoff.

In-memory state (success counts, accepted flags, poll attempts, scheduling slots) is a
cache of progress only: after a restart it starts over from status and is correct.
It must not create Challenges or talk to CertificateRequests.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Final

import structlog

from certmgr.acme.errors import AcmeError, AcmeRateLimited
from certmgr.acme.protocol import AcmeClient
from certmgr.acme.resources import Problem
from certmgr.api import labels, reasons
from certmgr.api.acme import State
from certmgr.controllers.acme.accounts import Accounts, IssuerNotReady
from certmgr.controllers.acme.issuer_refs import referenced_issuer
from certmgr.controllers.acme.names import solver_name
from certmgr.controllers.acme.polling import PollIntervals, is_transient
from certmgr.controllers.acme.presenting import Presenter, PresentError
from certmgr.controllers.acme.selfcheck import SelfCheck
from certmgr.controllers.acme.solver_objects import SolverTarget
from certmgr.controllers.acme.writes import owner_reference, patch_status
from certmgr.controllers.context import Context
from certmgr.kube.errors import NotFound
from certmgr.kube.resources import CHALLENGES, CLUSTERISSUERS, ISSUERS
from certmgr.runtime.cache import Cache, Obj, object_key, split_key
from certmgr.runtime.controller import Result

log = structlog.get_logger(__name__)

SLOT_INDEX: Final = "acme-challenges-by-name-and-type"
FINALIZERS: Final = (labels.ACME_FINALIZER, labels.LEGACY_ACME_FINALIZER)
PROPAGATION_PREFIX: Final = "Waiting for HTTP-01 challenge propagation: "
CACHE_WAIT_SECONDS: Final = 5.0
# How soon a Challenge waiting for a free slot under the global cap looks again.
CAP_RETRY_SECONDS: Final = 1.0
_FINAL: Final = frozenset(s.value for s in State if s.is_final)


def slot_of(challenge: Obj) -> list[str]:
    """The index function: ``<dnsName>|<type>``, the unit scheduling serialises on."""
    spec = challenge.get("spec") or {}
    name = str(spec.get("dnsName") or "").lower()
    return [f"{name}|{spec.get('type')}"] if name else []


def setup(ctx: Context, *, accounts: Accounts) -> ChallengeReconciler:
    """Register the Challenge controller on ``ctx.manager``; returns the reconciler
    (its ``close()`` releases the self-check's HTTP session)."""
    manager = ctx.manager
    challenges = manager.informer(CHALLENGES)
    challenges.cache.add_index(SLOT_INDEX, slot_of)
    reconciler = ChallengeReconciler(
        ctx,
        accounts=accounts,
        challenges=challenges.cache,
        issuers=manager.informer(ISSUERS).cache,
        cluster_issuers=manager.informer(CLUSTERISSUERS).cache,
    )
    controller = manager.controller(
        "acme-challenges", reconciler.reconcile, workers=ctx.settings.workers
    )
    manager.watch(challenges, controller)

    def same_slot(challenge: Obj) -> list[str]:
        # A Challenge finishing frees its slot: wake the ones waiting for it.
        return [
            object_key(other)
            for value in slot_of(challenge)
            for other in challenges.cache.by_index(SLOT_INDEX, value)
        ]

    manager.watch(challenges, controller, same_slot)
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
    ) -> None:
        settings = ctx.settings
        self._ctx = ctx
        self._accounts = accounts
        self._challenges = challenges
        self._issuers = issuers
        self._cluster_issuers = cluster_issuers
        self._presenter = Presenter(
            ctx.client,
            solver_mode=settings.solver_mode,
            solver_image=settings.solver_image,
            shared_host=settings.shared_solver_host,
            shared_port=settings.shared_solver_port,
        )
        self._self_check = SelfCheck(
            port=settings.self_check_port, nameserver=settings.self_check_nameserver
        )
        self._checks = asyncio.Semaphore(settings.max_concurrent_challenges)
        self._polls = PollIntervals(base=settings.acme_poll_base, cap=settings.acme_poll_cap)
        self._successes: dict[str, int] = {}
        self._misses: dict[str, int] = {}
        self._accepted: set[str] = set()
        self._slots: dict[str, str] = {}  # slot -> key of the Challenge holding it

    async def close(self) -> None:
        await self._self_check.close()

    async def reconcile(self, key: str) -> Result | None:
        namespace, name = split_key(key)
        challenge = self._challenges.get(namespace, name)
        if challenge is None:
            self._forget(key)
            return None
        meta = challenge.get("metadata") or {}
        status = challenge.get("status") or {}
        if meta.get("deletionTimestamp"):
            await self._finish(challenge, None)
            return None
        if status.get("state") in _FINAL:
            await self._finish(challenge, None)
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
        if not status.get("presented"):
            try:
                await self._presenter.present(self._target(challenge))
            except PresentError as exc:
                message = f"Error presenting challenge: {exc}"
                self._ctx.events.event(challenge, "Warning", reasons.EVENT_PRESENT_ERROR, message)
                await self._write(challenge, {**status, "processing": True, "reason": message})
                raise
            self._ctx.events.event(
                challenge,
                "Normal",
                reasons.EVENT_PRESENTED,
                "Presented challenge using HTTP-01 challenge mechanism",
            )
            status = {
                **status,
                "processing": True,
                "presented": True,
                "state": status.get("state") or State.PENDING.value,
            }
        if key not in self._accepted and status.get("state") in (None, "", State.PENDING.value):
            async with self._checks:
                result = await self._self_check.check(spec["dnsName"], spec["token"], spec["key"])
            if not result.ok:
                self._successes.pop(key, None)
                self._misses[key] = self._misses.get(key, 0) + 1
                # The check right after presenting usually races the ingress controller
                # loading the route; say why we wait only when it fails again.
                reason = status.get("reason") or ""
                if self._misses[key] > 1:
                    reason = PROPAGATION_PREFIX + result.detail
                await self._write(challenge, {**status, "reason": reason})
                return Result(requeue_after=self._ctx.settings.self_check_interval)
            self._successes[key] = self._successes.get(key, 0) + 1
            if self._successes[key] < self._ctx.settings.self_check_successes:
                await self._write(challenge, status)
                return Result(requeue_after=self._ctx.settings.self_check_interval)
            await self._accept(client, spec["url"])
            # Remembered in memory only: the CA's answer is read when polling, and after a
            # restart a second accept is refused and read back (see _accept). Status is
            # written only to clear a propagation message.
            self._accepted.add(key)
            await self._write(challenge, {**status, "reason": ""})
            return Result(requeue_after=self._polls.next(key))
        return await self._poll(key, challenge, client)

    async def _accept(self, client: AcmeClient, url: str) -> str:
        try:
            return (await client.accept_challenge(url)).status
        except AcmeError as exc:
            if is_transient(exc):
                raise
            # Accepted before a restart: the CA refuses a second answer; read it instead.
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
        return Result(requeue_after=authz.retry_after or self._polls.next(key))

    async def _finish(self, challenge: Obj, outcome: tuple[State, str] | None) -> None:
        """Final (``outcome``) or deleted (None): clean up, record, drop the finalizer."""
        key = object_key(challenge)
        status = dict(challenge.get("status") or {})
        target = self._target(challenge)
        # Objects may exist whenever the Challenge is not final yet (a crash between
        # presenting and recording it); a final state is only written after clean up.
        if (
            status.get("presented")
            or status.get("processing")
            or outcome is not None
            or status.get("state") not in _FINAL
        ):
            try:
                await self._presenter.clean_up(target)
            except Exception as exc:
                self._ctx.events.event(
                    challenge, "Warning", reasons.EVENT_CLEANUP_ERROR, f"Error cleaning up: {exc}"
                )
                raise
        if outcome is not None:
            state, reason = outcome
            status.update(state=state.value, reason=reason)
            event = reasons.EVENT_DOMAIN_VERIFIED if state is State.VALID else "Failed"
            self._ctx.events.event(
                challenge, "Normal" if state is State.VALID else "Warning", event, reason
            )
            log.info("acme_challenge_final", challenge=key, state=state.value)
        status.update(processing=False, presented=False)
        meta = challenge.get("metadata") or {}
        if not meta.get("deletionTimestamp"):
            challenge = await self._write(challenge, status) or challenge
        await self._remove_finalizer(challenge)
        self._forget(key)

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
        """Take the challenge's slot if free and the global cap allows (no awaits: atomic)."""
        (slot,) = slot_of(challenge) or ("",)
        holder = self._slots.get(slot)
        if holder is not None and holder != key and self._active(holder):
            return False
        for other in self._challenges.by_index(SLOT_INDEX, slot):
            other_key = object_key(other)
            other_status = other.get("status") or {}
            if other_key != key and other_status.get("processing") and self._active(other_key):
                return False
        in_flight = {k for k in self._slots.values() if self._active(k)}
        in_flight |= {
            object_key(c)
            for c in self._challenges.list()
            if (c.get("status") or {}).get("processing") and self._active(object_key(c))
        }
        in_flight.discard(key)
        if len(in_flight) >= self._ctx.settings.max_concurrent_challenges:
            return False
        self._slots[slot] = key
        return True

    def _active(self, key: str) -> bool:
        namespace, name = split_key(key)
        challenge = self._challenges.get(namespace, name)
        if challenge is None or (challenge.get("metadata") or {}).get("deletionTimestamp"):
            return False
        return (challenge.get("status") or {}).get("state") not in _FINAL

    def _forget(self, key: str) -> None:
        self._successes.pop(key, None)
        self._misses.pop(key, None)
        self._accepted.discard(key)
        self._polls.forget(key)
        for slot in [s for s, k in self._slots.items() if k == key]:
            del self._slots[slot]

    def _target(self, challenge: Obj) -> SolverTarget:
        meta = challenge.get("metadata") or {}
        spec = challenge.get("spec") or {}
        ingress = ((spec.get("solver") or {}).get("http01") or {}).get("ingress") or {}
        return SolverTarget(
            name=solver_name(meta.get("namespace", ""), meta.get("name", "")),
            namespace=meta.get("namespace", ""),
            dns_name=str(spec.get("dnsName") or ""),
            token=str(spec.get("token") or ""),
            key=str(spec.get("key") or ""),
            owner=owner_reference(challenge),
            ingress=ingress,
        )

    async def _write(self, challenge: Obj, status: dict[str, Any]) -> Obj | None:
        written = await patch_status(self._ctx.client, CHALLENGES, challenge, status)
        if written is not None:
            await self._challenges.wait_for_object(written, timeout=CACHE_WAIT_SECONDS)
        return written


def _problem_text(problem: Problem) -> str:
    status = f"{problem.status} " if problem.status is not None else ""
    return f"{status}{problem.type}: {problem.detail}"
