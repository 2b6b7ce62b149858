"""The Order controller: one ACME order, from ``new_order`` to the downloaded chain.

Owns ``Order.status`` (url, finalizeURL, authorizations with their initial state,
state, reason, failureTime, certificate) and the Challenges of an Order (one per
authorization still pending, deterministic name ``<order>-<hash(authz url)>``, owned by
the Order, solver picked with ``select_solver`` and adjusted by the Order's HTTP-01
override annotations, :mod:`overrides`). Every ACME step's result is written to
status before the next step, and the next reconcile waits until the cache shows that
write, so a stale cache never creates a second ACME order; an order placed but not yet
recorded (a failed write, a crash) is found again by :mod:`placed_orders`. Polling of
``processing`` orders is ``requeue_after`` with intervals growing from
``acme_poll_base`` to ``acme_poll_cap``; it never sleeps. Once final the Order deletes
its Challenges, once each (the garbage collector removes their solver objects). Status
is written when the ACME order is created and when it is final; an intermediate state
only when the CA keeps the order waiting past the first poll.

Decisions (which step is next) and the JSON shapes are in :mod:`order_steps`; this
module must not present challenges or touch CertificateRequests.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
from collections.abc import Iterator, Sequence
from typing import Any, Final

import structlog

from certmgr.acme.errors import AcmeError, AcmeRateLimited, replaces_refused
from certmgr.acme.protocol import AcmeClient
from certmgr.acme.resources import CHALLENGE_DNS01, CHALLENGE_HTTP01, Identifier
from certmgr.acme.resources import Order as AcmeOrder
from certmgr.api import reasons
from certmgr.api.acme import State
from certmgr.api.codec import rfc3339
from certmgr.api.durations import parse_go_duration
from certmgr.controllers.acme.accounts import Accounts, IssuerNotReady
from certmgr.controllers.acme.issuer_refs import (
    ISSUER_INDEX,
    issuer_ref_index,
    referenced_issuer,
    referrers,
)
from certmgr.controllers.acme.names import challenge_name
from certmgr.controllers.acme.order_steps import (
    Step,
    authorization_status,
    challenge_manifest,
    csr_pem,
    identifiers_of,
    next_step,
    owned_by_order,
    pending_authorizations,
    solver_type,
    solver_view,
)
from certmgr.controllers.acme.overrides import (
    OverrideError,
    apply_ingress_overrides,
    apply_parent_ref_overrides,
)
from certmgr.controllers.acme.placed_orders import PlacedOrders, first_placement_here
from certmgr.controllers.acme.polling import PollIntervals, is_transient
from certmgr.controllers.acme.valid_orders import writing_valid, written_valid
from certmgr.controllers.acme.writes import patch_status, progress_event
from certmgr.controllers.context import Context
from certmgr.kube.errors import AlreadyExists, NotFound
from certmgr.kube.objects import being_deleted
from certmgr.kube.resources import CHALLENGES, CLUSTERISSUERS, ISSUERS, ORDERS
from certmgr.policies.solvers import select_solver
from certmgr.runtime.cache import Cache, Obj, split_key
from certmgr.runtime.controller import Result
from certmgr.runtime.informer_orders import has_chain, trimmed
from certmgr.runtime.manager import Predicate, owner_keys

log = structlog.get_logger(__name__)

OWNER_INDEX: Final = "acme-challenges-by-order"
CACHE_WAIT_SECONDS: Final = 5.0
_FINAL: Final = {s.value for s in State if s.is_final}


async def _new_order(
    client: AcmeClient,
    identifiers: Sequence[Identifier],
    *,
    profile: str | None,
    not_after: datetime.datetime | None,
    replaces: str | None,
) -> AcmeOrder:
    """new-order with ``replaces`` (RFC 9773 section 5); a CA refusing it (already
    replaced, an unknown CertID) gets the order again without it, as the RFC allows."""
    try:
        return await client.new_order(
            identifiers, profile=profile, not_after=not_after, replaces=replaces
        )
    except AcmeError as exc:
        if not replaces or not replaces_refused(exc):
            raise
        log.info("acme_order_replaces_refused", replaces=replaces, error=str(exc))
        return await client.new_order(identifiers, profile=profile, not_after=not_after)


def setup(ctx: Context, *, accounts: Accounts) -> None:
    """Register the Order controller on ``ctx.manager``."""
    manager = ctx.manager
    orders = manager.informer(ORDERS)
    orders.cache.add_index(ISSUER_INDEX, issuer_ref_index)
    challenges = manager.informer(CHALLENGES)
    challenges.cache.add_index(OWNER_INDEX, owned_by_order)
    issuers = manager.informer(ISSUERS)
    cluster_issuers = manager.informer(CLUSTERISSUERS)
    reconciler = OrderReconciler(
        ctx,
        accounts=accounts,
        orders=orders.cache,
        challenges=challenges.cache,
        issuers=issuers.cache,
        cluster_issuers=cluster_issuers.cache,
    )
    controller = manager.controller(
        "acme-orders", reconciler.reconcile, workers=ctx.settings.workers
    )
    manager.watch(orders, controller, predicate=_may_act(challenges.cache))
    manager.watch(challenges, controller, owner_keys(ORDERS.kind))
    manager.watch(issuers, controller, referrers(orders.cache))
    manager.watch(cluster_issuers, controller, referrers(orders.cache))


class OrderReconciler:
    def __init__(
        self,
        ctx: Context,
        *,
        accounts: Accounts,
        orders: Cache,
        challenges: Cache,
        issuers: Cache,
        cluster_issuers: Cache,
    ) -> None:
        self._ctx = ctx
        self._accounts = accounts
        self._orders = orders
        self._challenges = challenges
        self._issuers = issuers
        self._cluster_issuers = cluster_issuers
        self._polls = PollIntervals(
            base=ctx.settings.acme_poll_base, cap=ctx.settings.acme_poll_cap
        )
        self._placed = PlacedOrders(clock=ctx.clock)
        # Order key -> uids of the Challenges deleted (a cache: a restart deletes again).
        self._deleted: dict[str, set[str]] = {}

    async def reconcile(self, key: str) -> Result | None:
        self._placed.start()
        namespace, name = split_key(key)
        order = self._orders.get(namespace, name)
        if order is None:
            self._polls.forget(key)
            self._deleted.pop(key, None)
            return None
        if being_deleted(order):
            self._polls.forget(key)
            return None  # no ACME order, Challenge or finalization for an Order being deleted
        status = order.get("status") or {}
        owned = self._challenges.by_index(OWNER_INDEX, name)
        owned = [c for c in owned if (c.get("metadata") or {}).get("namespace") == namespace]
        states = {
            (c.get("metadata") or {}).get("name"): (c.get("status") or {}).get("state")
            for c in owned
        }
        step = next_step(
            status,
            [
                states.get(challenge_of(name, a["url"], owned))
                for a in pending_authorizations(status)
            ],
            has_chain=has_chain(order),
        )
        if step is Step.DONE:
            self._polls.forget(key)
            await self._delete_challenges(key, owned)
            return None
        found = referenced_issuer(
            order, issuers=self._issuers, cluster_issuers=self._cluster_issuers
        )
        if found is None or found[2] is None:
            return None  # the issuer's appearance wakes us (issuer -> orders index)
        issuer = found[2]
        try:
            client = await self._accounts.client_for(issuer)
        except IssuerNotReady:
            return None
        try:
            return await self._advance(key, order, step, client, issuer, owned)
        except AcmeRateLimited as exc:
            log.warning("acme_rate_limited", order=key, retry_after=exc.retry_after)
            return Result(requeue_after=exc.retry_after or self._ctx.settings.acme_poll_cap)
        except AcmeError as exc:
            if is_transient(exc):
                raise
            await self._fail(order, State.ERRORED, _failure_prefix(step) + str(exc))
            return None

    async def _advance(
        self,
        key: str,
        order: Obj,
        step: Step,
        client: AcmeClient,
        issuer: Obj,
        owned: list[Obj],
    ) -> Result | None:
        status = order.get("status") or {}
        if step is Step.CREATE:
            await self._create(order, client)
            return None
        if step is Step.CHALLENGES:
            await self._ensure_challenges(order, client, issuer, owned)
            return None
        if step is Step.CHECK:
            failed = [c for c in owned if (c.get("status") or {}).get("state") != State.VALID.value]
            if not failed:
                # Every authorization valid: the order is ready (RFC 8555 7.1.6), so the
                # CSR goes at once; a CA that has not caught up answers orderNotReady and
                # _finalize reads the order instead (also after a restart, finalized).
                acme_order = await self._finalize(client, order)
                return await self._after_check(key, order, client, acme_order, finalized=True)
            acme_order = await client.get_order(status["url"])
            if failed and acme_order.status not in (State.READY.value, State.VALID.value):
                reason = (failed[0].get("status") or {}).get("reason") or "challenge failed"
                await self._fail(order, State.INVALID, reason)
                return None
            return await self._after_check(key, order, client, acme_order)
        if step is Step.FINALIZE:
            acme_order = await self._finalize(client, order)
            return await self._after_check(key, order, client, acme_order, finalized=True)
        acme_order = await client.get_order(status["url"])
        return await self._after_check(key, order, client, acme_order, finalized=True)

    async def _after_check(
        self,
        key: str,
        order: Obj,
        client: AcmeClient,
        acme_order: AcmeOrder,
        *,
        finalized: bool = False,
    ) -> Result | None:
        """Act on the CA's view of the order: finalize, download, poll, or fail."""
        status = order.get("status") or {}
        if acme_order.status == State.READY.value and not finalized:
            acme_order = await self._finalize(client, order)
        if acme_order.status == State.VALID.value and acme_order.certificate_url:
            chain = await client.download_certificate(
                acme_order.certificate_url, preferred_chain=self._preferred_chain(order) or None
            )
            self._polls.forget(key)
            with writing_valid(str(order["metadata"].get("uid") or "")):
                await self._write(
                    order,
                    {
                        **status,
                        "state": State.VALID.value,
                        "reason": "",
                        "certificate": base64.b64encode(chain.encode()).decode(),
                    },
                )
            log.info("acme_order_valid", order=key)
            return None
        if acme_order.status in (State.INVALID.value, "deactivated", State.EXPIRED.value):
            problem = acme_order.error
            reason = (
                f"{problem.type}: {problem.detail}" if problem else f"order is {acme_order.status}"
            )
            state = State.EXPIRED if acme_order.status == State.EXPIRED.value else State.INVALID
            await self._fail(order, state, reason)
            return None
        # pending (authorizations not visible yet), ready after a failed finalize, processing.
        # The state is written only once the CA keeps us waiting (second poll on): a
        # restart re-reads it from the CA anyway (CHECK), and most orders go from
        # created to valid with no write in between.
        if self._polls.attempts(key) >= 1:
            await self._write(order, {**status, "state": acme_order.status})
        delay = acme_order.retry_after or self._polls.next(key)
        return Result(requeue_after=delay)

    async def _finalize(self, client: AcmeClient, order: Obj) -> AcmeOrder:
        status = order.get("status") or {}
        try:
            finalized = await client.finalize(status["url"], status["finalizeURL"], csr_pem(order))
        except AcmeError as exc:
            if exc.code != "orderNotReady":
                raise
            # Finalized already (a retry after a lost reply or a restart): read it.
            return await client.get_order(status["url"])
        if finalized.status == State.PROCESSING.value and finalized.retry_after is None:
            # Pebble (and most CAs for a small order) issue within milliseconds: one
            # immediate look often saves a status write and a polling round trip.
            return await client.get_order(status["url"])
        return finalized

    async def _create(self, order: Obj, client: AcmeClient) -> None:
        meta = order["metadata"]
        uid = str(meta.get("uid") or "")
        live = order
        if not first_placement_here(uid):
            # The one step that must never be repeated: confirm with the API, not only
            # the cache, that no earlier attempt recorded an ACME order.
            live = await self._ctx.client.get(ORDERS, meta["name"], namespace=meta["namespace"])
            if (live.get("status") or {}).get("url"):
                await self._orders.wait_for_object(live, timeout=CACHE_WAIT_SECONDS)
                return
        spec = order.get("spec") or {}
        identifiers = identifiers_of(spec)
        # An order placed by an earlier attempt whose URL could not be stored (a failed
        # write here, or a crash in an earlier process) is used, not placed again.
        acme_order = self._placed.pending_for(uid)
        reused = acme_order is not None
        if acme_order is None:
            acme_order = await self._placed.find_earlier(
                client, live, identifiers, recorded=_recorded_urls(self._orders)
            )
            reused = acme_order is not None
        if acme_order is None:
            not_after = None
            if spec.get("duration"):
                not_after = self._ctx.clock.now() + parse_go_duration(spec["duration"])
            acme_order = await _new_order(
                client,
                identifiers,
                profile=spec.get("profile") or None,
                not_after=not_after,
                replaces=spec.get("replaces") or None,
            )
        self._placed.placed(uid, acme_order)
        authorizations = [await client.get_authorization(url) for url in acme_order.authorizations]
        status = {
            "url": acme_order.url,
            "finalizeURL": acme_order.finalize_url,
            "state": acme_order.status,
            "authorizations": [authorization_status(a) for a in authorizations],
        }
        await self._write(live, status)
        self._placed.stored(uid)
        log.info(
            "acme_order_created",
            order=f"{meta['namespace']}/{meta['name']}",
            url=acme_order.url,
            placed_earlier=reused,
            reused=sum(a.status == State.VALID.value for a in authorizations),
        )

    async def _ensure_challenges(
        self, order: Obj, client: AcmeClient, issuer: Obj, owned: list[Obj]
    ) -> None:
        solvers = ((issuer.get("spec") or {}).get("acme") or {}).get("solvers") or []
        problems: list[str] = []
        await self._create_challenges(order, client, solvers, owned, problems)
        await self._record_stuck(order, problems)

    async def _record_stuck(self, order: Obj, problems: list[str]) -> None:
        """Why the Order cannot go on (no solver for a name), in status.reason, so the
        CertificateRequest and the Certificate can say it; a Warning Event per change."""
        status = order.get("status") or {}
        reason = "; ".join(problems)
        if reason == (status.get("reason") or "") or status.get("state") in _FINAL:
            return
        await self._write(order, {**status, "reason": reason or None})
        for message in problems:
            self._ctx.events.event(order, "Warning", reasons.EVENT_SOLVER_SELECTION, message)

    async def _create_challenges(
        self,
        order: Obj,
        client: AcmeClient,
        solvers: list[Any],
        owned: list[Obj],
        problems: list[str],
    ) -> None:
        meta = order["metadata"]
        existing = {(c.get("metadata") or {}).get("name") for c in owned}
        for authz in pending_authorizations(order.get("status") or {}):
            name = challenge_of(meta["name"], authz["url"], owned)
            if name in existing:
                continue
            dns_name = str(authz.get("identifier") or "")
            wildcard = bool(authz.get("wildcard"))
            offered = {c.get("type") for c in authz.get("challenges") or ()}
            index = select_solver(
                [solver_view(s) for s in solvers],
                dns_name=f"*.{dns_name}" if wildcard else dns_name,
                certificate_labels=meta.get("labels") or {},
                offered_challenge_types=offered & {CHALLENGE_HTTP01, CHALLENGE_DNS01},
            )
            if index is None:
                problems.append(
                    "Failed to determine a valid solver configuration for the set of domains "
                    f'on the Order: no configured challenge solvers can be used for "{dns_name}" '
                    f"(offered challenge types: {', '.join(sorted(t for t in offered if t))}; "
                    "certmgr solves http-01 through an Ingress or an HTTPRoute, and dns-01)"
                )
                log.warning("acme_no_matching_solver", order=meta["name"], dns_name=dns_name)
                continue
            try:
                solver = solvers[index]
                if solver_type(solver) == CHALLENGE_HTTP01:  # the overrides are HTTP-01's
                    annotations = meta.get("annotations") or {}
                    solver = apply_parent_ref_overrides(
                        apply_ingress_overrides(solver, annotations),
                        annotations,
                        namespace=meta["namespace"],
                    )
            except OverrideError as exc:
                problems.append(
                    "Failed to determine a valid solver configuration for the set of domains "
                    f'on the Order: solver for "{dns_name}": {exc}'
                )
                log.warning("acme_solver_override_invalid", order=meta["name"], error=str(exc))
                continue
            wanted = solver_type(solver)
            offer = next(c for c in authz["challenges"] if c.get("type") == wanted)
            key = (
                client.dns01_txt_value(offer["token"])
                if wanted == CHALLENGE_DNS01
                else client.key_authorization(offer["token"])
            )
            challenge = challenge_manifest(
                order,
                name=name,
                authorization=authz,
                offer=offer,
                key=key,
                solver=solver,
            )
            try:
                created = await self._ctx.client.create(
                    CHALLENGES, challenge, namespace=meta["namespace"]
                )
            except AlreadyExists:
                continue
            # Read-your-writes: a reconcile woken before the cache shows it (by another
            # Challenge of the order) would try to create it again.
            await self._challenges.wait_for_object(created, timeout=CACHE_WAIT_SECONDS)
            progress_event(
                self._ctx,
                order,
                reasons.EVENT_CHALLENGE_CREATED,
                f'Created Challenge resource "{name}" for domain "{dns_name}"',
            )

    async def _delete_challenges(self, key: str, owned: list[Obj]) -> None:
        # Each Challenge is deleted once: the reconciles that follow (woken by the
        # Challenges' own updates) may still see it in a cache that has not caught up.
        if not owned:
            self._deleted.pop(key, None)
            return
        deleted = self._deleted.setdefault(key, set())
        for challenge in owned:
            meta = challenge.get("metadata") or {}
            uid = str(meta.get("uid") or "")
            if meta.get("deletionTimestamp") or uid in deleted:
                continue
            with contextlib.suppress(NotFound):
                await self._ctx.client.delete(
                    CHALLENGES, meta["name"], namespace=meta.get("namespace")
                )
            deleted.add(uid)

    async def _fail(self, order: Obj, state: State, reason: str) -> None:
        status = {
            **(order.get("status") or {}),
            "state": state.value,
            "reason": reason,
            "failureTime": rfc3339(self._ctx.clock.now()),
        }
        if (order.get("status") or {}).get("state") in _FINAL:
            return
        await self._write(order, status)
        self._ctx.events.event(order, "Warning", "Failed", reason)
        log.warning(
            "acme_order_failed", order=order["metadata"]["name"], state=state, reason=reason
        )

    async def _write(self, order: Obj, status: dict[str, Any]) -> None:
        written = await patch_status(self._ctx.client, ORDERS, order, status)
        if written is not None:
            if has_chain(written):
                # For the request controller, which the cache's copy wakes (trimmed).
                written_valid(written)
            # Read-your-writes: the next reconcile must see this step (above all the
            # order URL), or it could repeat it.
            await self._orders.wait_for_object(written, timeout=CACHE_WAIT_SECONDS)

    def _preferred_chain(self, order: Obj) -> str:
        found = referenced_issuer(
            order, issuers=self._issuers, cluster_issuers=self._cluster_issuers
        )
        if found is None or found[2] is None:
            return ""
        return str(((found[2].get("spec") or {}).get("acme") or {}).get("preferredChain") or "")


def _may_act(challenges: Cache) -> Predicate:
    """An Order event its reconcile may act on. Of a final Order as cached (``trimmed``)
    it only deletes the Challenges: needed when the Order turns final, or while one of
    them is cached (a start or a relist brings ~one final Order per request, and no
    Challenge). A Challenge cached later wakes its Order by its own watch."""

    def predicate(old: Obj | None, new: Obj | None) -> bool:
        if new is None or not trimmed(new) or (old is not None and not trimmed(old)):
            return True
        meta = new["metadata"]
        namespace = meta.get("namespace") or ""
        return any(
            key[0] == namespace for key in challenges.keys_by_index(OWNER_INDEX, meta["name"])
        )

    return predicate


def challenge_of(order: str, authorization_url: str, owned: list[Obj]) -> str:
    """The Challenge of one authorization: the owned one made for it (cert-manager names
    its Challenges differently, so a takeover finds its own by authorizationURL), else
    ours by name."""
    for challenge in owned:
        if (challenge.get("spec") or {}).get("authorizationURL") == authorization_url:
            return str(challenge["metadata"]["name"])
    return challenge_name(order, authorization_url)


def _failure_prefix(step: Step) -> str:
    return {
        Step.CREATE: "Failed to create Order: ",
        Step.FINALIZE: "Failed to finalize Order: ",
    }.get(step, "Failed to sync Order: ")


def _recorded_urls(orders: Cache) -> Iterator[str]:
    """The ACME order URL every cached Order records. Lazy (a generator function, not a
    generator expression, whose first iterable is evaluated at once): a pass over every
    Order, taken only when an earlier order may be reused."""
    for order in orders:
        yield str((order.get("status") or {}).get("url") or "")
