"""The revision manager: prunes the CertificateRequests of old revisions.

Owns deleting a Certificate's issued CertificateRequests beyond
``spec.revisionHistoryLimit``. The default is 1, as issue 6 asks (cert-manager keeps all
when the field is unset): the request of the current revision is kept, because the
policies compare the spec with it. Requests of revisions above ``status.revision`` are
the issuance in progress (the request manager's) and never counted or touched, and
nothing is pruned until the Certificate is Ready. It must not write any status.
"""

from __future__ import annotations

import structlog

from certmgr.api import labels
from certmgr.api.conditions import READY
from certmgr.controllers.certificates.gather import BY_CERTIFICATE, certificates, requests
from certmgr.controllers.certificates.spec import CertificateView, owned_by
from certmgr.controllers.certificates.watches import (
    Interest,
    either_side,
    is_ready,
    watch_certificate_world,
)
from certmgr.controllers.context import Context
from certmgr.kube.errors import NotFound
from certmgr.kube.resources import CERTIFICATEREQUESTS
from certmgr.runtime.cache import Obj, object_key, split_key
from certmgr.runtime.controller import Result

log = structlog.get_logger(__name__)

NAME = "certificates-revisionmanager"


def setup(ctx: Context) -> None:
    manager = RevisionManager(ctx)
    controller = ctx.manager.controller(NAME, manager.reconcile, workers=ctx.settings.workers)
    watch_certificate_world(ctx, controller, interest(ctx))


def interest(ctx: Context) -> Interest:
    """Only a Ready Certificate with more than one request filed under it can have one to
    prune (at least one is always kept), and a deletion never makes one more to prune;
    Secrets never matter here. A first issuance costs this controller no reconcile."""
    filed = requests(ctx).cache

    def may_prune(certificate: Obj) -> bool:
        # The index's keys first: they read no request (a packed one is rebuilt on every
        # read) and decode nothing (no Certificate of a start's list has two).
        filed_keys = filed.keys_by_index(BY_CERTIFICATE, object_key(certificate))
        return len(filed_keys) > 1 and is_ready(certificate)

    return Interest(
        certificate=either_side(may_prune),
        requests=lambda _request, certificate: may_prune(certificate),
        requests_event=lambda _old, new: new is not None,
        target_secrets=None,
        next_key_secrets=None,
    )


def requests_to_prune(revisions: list[tuple[int, Obj]], *, current: int, limit: int) -> list[Obj]:
    """The requests to delete: issued revisions (<= ``current``) beyond the newest ``limit``."""
    issued = sorted((r for r in revisions if r[0] <= current), key=lambda r: r[0])
    keep = max(limit, 1)
    return [obj for _, obj in issued[: max(len(issued) - keep, 0)]]


def revision_of(request: Obj) -> int | None:
    raw = (request["metadata"].get("annotations") or {}).get(labels.CERTIFICATE_REVISION)
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


class RevisionManager:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._certificates = certificates(ctx)
        self._requests = requests(ctx)

    async def reconcile(self, key: str) -> Result | None:
        namespace, name = split_key(key)
        obj = self._certificates.cache.get(namespace, name)
        if obj is None:
            return None
        certificate = CertificateView.of(obj)
        ready = certificate.status.condition(READY)
        if certificate.spec is None or ready is None or not ready.is_true:
            return None
        revisions = []
        for request in self._requests.cache.by_index(BY_CERTIFICATE, certificate.key):
            revision = revision_of(request)
            if revision is not None and owned_by(request, certificate):
                revisions.append((revision, request))
        limit = certificate.spec.effective_revision_history_limit
        for request in requests_to_prune(revisions, current=certificate.revision, limit=limit):
            metadata = request["metadata"]
            try:
                await self._ctx.client.delete(
                    CERTIFICATEREQUESTS,
                    metadata["name"],
                    namespace=namespace,
                    preconditions={"uid": metadata.get("uid")},
                )
            except NotFound:
                continue
            log.info("old_certificate_request_deleted", request=metadata["name"])
        return None
