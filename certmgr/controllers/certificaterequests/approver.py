"""The built-in approver: approves every request, as cert-manager's does.

Owns the ``Approved`` condition of CertificateRequests that are neither approved nor
denied yet and have not already failed or been issued: ``Approved=True`` reason
``cert-manager.io``, whatever the issuer's group (external issuers, such as AWS PCA or
step-issuer, rely on it, as they do on cert-manager's; an approver such as
approver-policy takes over with ``--controllers=*,-certificaterequests-approver``). A
decision once made is never changed. It must not issue, deny, or write any other field.
"""

from __future__ import annotations

import contextlib
from typing import Final

import structlog

from certmgr.api.codec import InvalidObject
from certmgr.api.conditions import APPROVED, DENIED, READY, Status, get_condition, set_condition
from certmgr.api.meta import IssuerRef
from certmgr.api.reasons import (
    APPROVER_MESSAGE,
    APPROVER_REASON,
    REQUEST_FAILED,
    REQUEST_ISSUED,
)
from certmgr.controllers.context import Context
from certmgr.kube.resources import CERTIFICATEREQUESTS
from certmgr.runtime.cache import Obj, split_key
from certmgr.runtime.controller import Result
from certmgr.runtime.informer_requests import trimmed

log = structlog.get_logger(__name__)

NAME: Final = "certificaterequests-approver"


def setup(ctx: Context) -> None:
    if not ctx.settings.runs(NAME):
        return
    approver = Approver(ctx)
    informer = ctx.manager.informer(CERTIFICATEREQUESTS)
    controller = ctx.manager.controller(NAME, approver.reconcile, workers=ctx.settings.workers)
    ctx.manager.watch(informer, controller, predicate=undecided)


def undecided(old: Obj | None, new: Obj | None) -> bool:
    """Whether an event leaves a request this controller would approve: the reconcile
    reads the request as the event's new side has it, and does nothing otherwise (its
    own write, every issuer status update and a deletion are dropped here)."""
    return new is not None and needs_approval(new)


def needs_approval(request: Obj) -> bool:
    """Undecided, not failed nor issued (cert-manager's approver's skips), and naming an
    issuer (any group: cert-manager approves them all)."""
    if trimmed(request):
        return False  # cached as issued: Ready Issued, its conditions decode (informer_requests)
    conditions = (request.get("status") or {}).get("conditions")
    if get_condition(conditions, APPROVED) is not None or get_condition(conditions, DENIED):
        return False
    ready = get_condition(conditions, READY)
    if ready is not None and ready.reason in (REQUEST_FAILED, REQUEST_ISSUED):
        return False
    try:
        IssuerRef.from_dict((request.get("spec") or {}).get("issuerRef"), path="issuerRef")
    except InvalidObject:
        return False
    return True


class Approver:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._informer = ctx.manager.informer(CERTIFICATEREQUESTS)

    async def reconcile(self, key: str) -> Result | None:
        namespace, name = split_key(key)
        request = self._informer.cache.get(namespace, name)
        if request is None or not needs_approval(request):
            return None
        # Shallow copies: only the status is replaced, and set_condition returns a new
        # list; the body is serialized, never edited further (the cache's object stays).
        status = dict(request.get("status") or {})
        body = {**request, "status": status}
        status["conditions"] = set_condition(
            status.get("conditions"),
            type_=APPROVED,
            status=Status.TRUE,
            reason=APPROVER_REASON,
            message=APPROVER_MESSAGE,
            observed_generation=None,
            now=self._ctx.clock.now(),
        )
        # A Conflict (the issuer wrote first) is raised and retried on a fresher cache.
        updated = await self._ctx.client.update_status(CERTIFICATEREQUESTS, body)
        with contextlib.suppress(TimeoutError):
            await self._informer.cache.wait_for_object(updated, timeout=10.0)
        log.info("certificate_request_approved", request=name)
        return None
