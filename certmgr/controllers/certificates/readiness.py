"""The readiness controller: is the certificate in the Secret good, and until when?

Owns ``Ready`` (the readiness policy chain: ``Ready``, or ``DoesNotExist``, ``Expired``,
... with cert-manager's messages) and ``notBefore``, ``notAfter`` and ``renewalTime``
(the time the trigger acts on, jitter included: the same computation). When Ready is
False and the last issuance attempt failed, Ready carries that failure's reason and
message (the CA's problem detail), so ``kubectl get cert`` says why. A spec that can
never be issued is ``Ready=False`` reason ``InvalidSpec`` with a Warning Event.
The computation lives in ``ready.with_readiness``: the trigger's write that starts an
issuance and the issuing controller's write that ends one carry its result, so after
those this controller finds nothing to change; it still writes every other change
(the Secret deleted or edited, expiry, a spec change while not issuing, ...), and
leaves to the trigger only a Certificate the trigger starts at once (``starts_at_once``).
It must not write any other status field, nor anything but the Certificate's status.
"""

from __future__ import annotations

from typing import Final

import structlog

from certmgr.api.conditions import READY
from certmgr.controllers.certificates.gather import (
    certificates,
    gather,
    requests_for_revision,
    target_secret,
)
from certmgr.controllers.certificates.ready import seconds_until_unrenewed_expiry, with_readiness
from certmgr.controllers.certificates.spec import INVALID_SPEC, CertificateView
from certmgr.controllers.certificates.status import write_status
from certmgr.controllers.certificates.trigger import starts_at_once
from certmgr.controllers.certificates.watches import (
    Interest,
    always,
    request_has_certificate,
    revision_of,
    watch_certificate_world,
    watch_secret_sharers,
)
from certmgr.controllers.context import Context
from certmgr.policies.chains import BLOCKING_REASONS
from certmgr.policies.inputs import Input
from certmgr.runtime.cache import Obj, split_key
from certmgr.runtime.controller import Result
from certmgr.runtime.informer_requests import issued_certificate_sha256
from certmgr.runtime.informer_secrets import SecretInformers, certificate_digest

log = structlog.get_logger(__name__)

NAME = "certificates-readiness"
# Ready=False reasons that need a user to act, so they are also a Warning Event (once).
WARNED: Final = frozenset({INVALID_SPEC, *BLOCKING_REASONS})


def setup(ctx: Context) -> None:
    readiness_ = Readiness(ctx)
    controller = ctx.manager.controller(NAME, readiness_.reconcile, workers=ctx.settings.workers)
    interest_ = interest(ctx)
    watch_certificate_world(ctx, controller, interest_)
    watch_secret_sharers(ctx, controller, interest_)


def interest(ctx: Context) -> Interest:
    """Every Certificate event and target Secret event; the requests it reads (below);
    next-private-key Secrets are never read here."""
    secrets = ctx.manager.secrets

    def request_may_matter(request: Obj, certificate: Obj) -> bool:
        """The current revision's request is judged; the next one's is read by the
        failure backoff gate (asked only when not issuing) and, while issuing, only
        through the certificate it carries, which ``_issuance_finishing`` compares with
        the target Secret's: an event of it matters then only when the Secret already
        serves that certificate (else the Secret's own event, when it does, is the one
        that matters). Older requests are never read."""
        view = CertificateView.of(certificate)
        revision = revision_of(request)
        if revision == str(view.revision):
            return True
        if revision != str(view.revision + 1):
            return False
        if view.issuing is None:
            return True
        return request_has_certificate(request) and _may_serve(secrets, view, request)

    return Interest(requests=request_may_matter, target_secrets=always, next_key_secrets=None)


def _may_serve(secrets: SecretInformers, certificate: CertificateView, request: Obj) -> bool:
    """False when the cached target Secret surely does not hold ``request``'s certificate
    (an unmanaged Secret is read from the API by the reconcile: it may)."""
    if certificate.spec is None:
        return True
    namespace, name = certificate.namespace, certificate.spec.secret_name
    cached = secrets.managed.cache.get(namespace, name)
    if cached is None:
        return secrets.exists(namespace, name)
    served = certificate_digest(cached)
    return served is not None and served == _issued_digest(request)


class Readiness:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._certificates = certificates(ctx)

    async def reconcile(self, key: str) -> Result | None:
        namespace, name = split_key(key)
        obj = self._certificates.cache.get(namespace, name)
        if obj is None:
            return None
        certificate = CertificateView.of(obj)
        now = self._ctx.clock.now()
        input: Input | None = None
        if certificate.problem() is not None:
            if certificate.spec is not None:
                input = await gather(self._ctx, certificate, now=now)
        else:
            secret = await target_secret(self._ctx, certificate)
            if self._issuance_finishing(certificate, secret):
                return None  # the issuing controller's status write brings us back
            input = await gather(self._ctx, certificate, now=now, secret=secret)
        status, ready = with_readiness(certificate, input, now=now)
        expiry = seconds_until_unrenewed_expiry(input, now)
        at_expiry = Result(requeue_after=expiry) if expiry is not None else None
        if status == (obj.get("status") or {}):
            return at_expiry
        if (
            input is not None
            and certificate.issuing is None
            and certificate.problem() is None
            and starts_at_once(input, self._ctx.settings)
        ):
            # The trigger's write that starts the issuance carries Ready as computed
            # here; writing it first would only make that write conflict.
            return None
        was = certificate.status.condition(READY)
        updated = await write_status(self._ctx, self._certificates, obj, status)
        log.info("readiness_updated", ready=ready.status, reason=ready.reason)
        if ready.reason in WARNED and (was is None or was.reason != ready.reason):
            self._ctx.events.event(updated, "Warning", ready.reason, ready.message)
        return at_expiry

    def _issuance_finishing(self, certificate: CertificateView, secret: Obj | None) -> bool:
        """Whether the Secret already holds the next revision's certificate.

        Between the issuing controller's Secret write and its status write, judging the
        new certificate against the old revision's request would flap Ready to False
        for a moment during every renewal (and cost a conflicting write).
        """
        if certificate.issuing is None or secret is None:
            return False
        served = certificate_digest(secret)
        if served is None:
            return False
        requests = requests_for_revision(self._ctx, certificate, certificate.revision + 1)
        return any(_issued_digest(r) == served for r in requests)


def _issued_digest(request: Obj) -> bytes | None:
    """SHA-256 of the certificate in the request's status (None: none, or undecodable);
    kept by the cache of an issued request that no longer holds the bytes."""
    return issued_certificate_sha256(request)
