"""The trigger controller: decides that a Certificate needs (re)issuing, and when to look again.

Owns ``Issuing=True`` (reason and message of the first violated trigger policy, plus a
Normal ``Issuing`` Event) and the renewal scheduler: an up-to-date Certificate is
re-queued at its renewal time (a delayed add on the injected clock, no polling loop), a
failed one at the end of its backoff. A Certificate that is already issuing (including
a manual renew, ``Issuing=True`` reason ``ManuallyTriggered`` written by a user tool) is
left alone, and so is one that may not be issued at all (``BLOCKING_CHAIN``: its Secret
is owned by another Certificate or is of another type; readiness reports it). The one
status write that starts an issuance also carries what the other
controllers would write next, computed by their own code: ``Ready`` and the validity
fields (``ready.with_readiness``; the readiness controller leaves a Certificate this
controller is about to start to it, see ``starts_at_once``) and the next private key's
Secret name (``keymanager.next_key_secret_name``), so starting costs one write and one
round of watch events instead of three. It must not touch keys, requests or Secrets,
nor any other status field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

import structlog

from certmgr.api.conditions import ISSUING, Status, set_condition
from certmgr.api.reasons import EVENT_ISSUING
from certmgr.controllers.certificates.gather import certificates, gather
from certmgr.controllers.certificates.keymanager import next_key_secret_name
from certmgr.controllers.certificates.ready import ready_changed, with_readiness
from certmgr.controllers.certificates.spec import CertificateView
from certmgr.controllers.certificates.status import status_of, write_status
from certmgr.controllers.certificates.watches import (
    Interest,
    is_current_or_next_revision,
    issuing,
    not_issuing,
    watch_certificate_world,
    watch_secret_sharers,
)
from certmgr.controllers.context import Context, Settings
from certmgr.policies import reasons
from certmgr.policies.chains import BLOCKING_CHAIN, IssuanceGate, evaluate, issuance_allowed
from certmgr.policies.checks import issued_leaf, scheduled_renewal_time
from certmgr.policies.inputs import Input, Violation
from certmgr.runtime.cache import Obj, split_key
from certmgr.runtime.clock import Clock
from certmgr.runtime.controller import Result

log = structlog.get_logger(__name__)

NAME = "certificates-trigger"
# Reasons that come from the passing of time, not from a change someone made: these are
# paced, so a controller back from downtime does not start every overdue renewal at once.
TIME_DRIVEN: Final = frozenset({reasons.RENEWING, reasons.EXPIRED})
# cert-manager's trigger looks at a Certificate that does not own its Secret again after
# 3 minutes; the sharers' own events (``watch_secret_sharers``) usually come first.
BLOCKED_RECHECK_SECONDS: Final = 180.0
# A delayed add fires at or after its time; this only absorbs float rounding.
_SLOT_TOLERANCE: Final = 0.001


def setup(ctx: Context) -> None:
    trigger = Trigger(ctx)
    controller = ctx.manager.controller(NAME, trigger.reconcile, workers=ctx.settings.workers)
    watch_certificate_world(ctx, controller, INTEREST)
    watch_secret_sharers(ctx, controller, INTEREST)


def _not_issuing_on_one_side(old: Obj | None, new: Obj | None) -> bool:
    # Issuing before and after: the trigger leaves it alone (it forgot its pacing when
    # it saw the issuance start). A deletion passes: the pacing is forgotten then too.
    return old is None or new is None or not issuing(old) or not issuing(new)


# While a Certificate is issuing the trigger does nothing, so its requests' and Secrets'
# events (most of an issuance's) are not its business until the Issuing change ends it;
# next-private-key Secrets never are (the policies do not read them), nor requests of
# revisions older than the current one (pruned ones).
INTEREST: Final = Interest(
    certificate=_not_issuing_on_one_side,
    certificate_admits_arrivals=True,
    requests=lambda request, certificate: (
        not issuing(certificate) and is_current_or_next_revision(request, certificate)
    ),
    target_secrets=not_issuing,
    next_key_secrets=None,
)


class Trigger:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._certificates = certificates(ctx)
        self._renewals = Pace(
            qps=ctx.settings.renewal_rate_qps,
            burst=ctx.settings.renewal_rate_burst,
            clock=ctx.clock,
        )

    async def reconcile(self, key: str) -> Result | None:
        namespace, name = split_key(key)
        obj = self._certificates.cache.get(namespace, name)
        if obj is None:
            self._renewals.forget(key)
            return None
        certificate = CertificateView.of(obj)
        if certificate.deleting:
            self._renewals.forget(key)
            return None  # nothing starts for a Certificate being deleted
        if certificate.issuing is not None or certificate.problem() is not None:
            self._renewals.forget(key)
            # Issuing: the other controllers carry on. Invalid spec: readiness reports it,
            # and a spec fix is a Certificate event that brings us back.
            return None
        ctx = self._ctx
        now = ctx.clock.now()
        input = await gather(ctx, certificate, now=now)
        blocked = evaluate(input, BLOCKING_CHAIN)
        if blocked is not None:
            # Readiness reports it (Ready=False and a Warning Event); issuing would only
            # overwrite another Certificate's Secret or an unrelated one.
            self._renewals.forget(key)
            log.debug("issuance_blocked", reason=blocked.reason)
            return Result(requeue_after=BLOCKED_RECHECK_SECONDS)
        violation = evaluate(input)
        if violation is None or violation.reason not in TIME_DRIVEN:
            self._renewals.forget(key)
        if violation is None:
            return _recheck_at_renewal(input, now)
        gate = _gate(input, ctx.settings)
        if _backing_off(gate):
            assert gate.retry_at is not None
            log.info("issuance_backing_off", reason=violation.reason, retry_at=str(gate.retry_at))
            return Result(requeue_after=_seconds_until(gate.retry_at, now))
        if violation.reason in TIME_DRIVEN:
            wait = self._renewals.take_for(key)
            if wait > 0:
                log.debug("renewal_rate_limited", reason=violation.reason, wait=wait)
                return Result(requeue_after=wait)
        status = status_of(obj)
        status["conditions"] = set_condition(
            status.get("conditions"),
            type_=ISSUING,
            status=Status.TRUE,
            reason=violation.reason,
            message=violation.message,
            observed_generation=certificate.generation,
            now=now,
        )
        started = certificate.with_status(status)
        status["nextPrivateKeySecretName"] = next_key_secret_name(started)
        # Ready as readiness judges it now (DoesNotExist for a new Certificate, a
        # mismatch after a spec change): the input does not depend on Issuing.
        status, ready = with_readiness(certificate.with_status(status), input, now=now)
        updated = await write_status(ctx, self._certificates, obj, status)
        log.info("issuance_triggered", reason=violation.reason)
        if ready_changed(certificate, ready):
            log.info("readiness_updated", ready=ready.status, reason=ready.reason)
        ctx.events.event(updated, "Normal", EVENT_ISSUING, violation.message)
        return None


def starts_at_once(input: Input, settings: Settings) -> Violation | None:
    """The violation this controller starts an issuance for on its next reconcile of a
    Certificate that is not issuing and whose spec can be issued, without a backoff or
    renewal pacing wait; None when it will not start one at once.

    The readiness controller leaves such a Certificate to this controller's write,
    which carries Ready too (two writes racing on one resourceVersion cost a Conflict).
    Time-driven reasons are paced here, so readiness never waits for those.
    """
    if evaluate(input, BLOCKING_CHAIN) is not None:
        return None
    violation = evaluate(input)
    if violation is None or violation.reason in TIME_DRIVEN:
        return None
    if _backing_off(_gate(input, settings)):
        return None
    return violation


def _gate(input: Input, settings: Settings) -> IssuanceGate:
    return issuance_allowed(
        input, base=settings.issuance_backoff_base, cap=settings.issuance_backoff_cap
    )


def _backing_off(gate: IssuanceGate) -> bool:
    return not gate.allowed and gate.retry_at is not None


class Pace:
    """A token bucket. ``take`` only takes a token when one is there (no reservations).

    ``take_for(key)`` books the next free token for a key that finds none, and tells it to
    come back then: without a slot each, every waiting key came back whenever a token
    was due and all but one were sent away again, so N overdue certificates cost about
    N x qps reconciles a second for as long as they waited (10,000 after downtime kept a
    core busy for the ~17 minutes of their pacing).
    """

    def __init__(self, *, qps: float, burst: int, clock: Clock) -> None:
        self._qps = qps
        self._burst = float(max(burst, 1))
        self._tokens = self._burst
        self._clock = clock
        self._last = clock.monotonic()
        self._slots: dict[str, float] = {}  # key -> monotonic time its booked token is due

    def take_for(self, key: str) -> float:
        """0 when ``key`` may start now (a token, or its booked one is due), else the wait."""
        now = self._clock.monotonic()
        slot = self._slots.get(key)
        if slot is not None:
            if now >= slot - _SLOT_TOLERANCE:
                del self._slots[key]
                return 0.0
            return slot - now
        if self.take() == 0.0:
            return 0.0
        self._tokens -= 1.0  # booked: refills pay it back by the slot
        slot = now + (-self._tokens) / self._qps
        self._slots[key] = slot
        return slot - now

    def forget(self, key: str) -> None:
        """Drop ``key``'s booking (it no longer waits); its token is not given back."""
        self._slots.pop(key, None)

    def take(self) -> float:
        """0 when a token was taken, else the seconds until one will be there."""
        now = self._clock.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._qps)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self._qps


def _recheck_at_renewal(input: Input, now: datetime) -> Result | None:
    leaf = issued_leaf(input)
    if leaf is None:
        return None  # cannot happen after a clean policy pass; nothing to schedule
    due = scheduled_renewal_time(input, leaf)
    if due is None:
        return None  # renewal.policy Disabled: nothing to wake for
    return Result(requeue_after=_seconds_until(due, now))


def _seconds_until(moment: datetime, now: datetime) -> float:
    return max((moment - now).total_seconds(), 0.0)
