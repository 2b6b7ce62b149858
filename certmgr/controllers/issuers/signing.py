"""CertificateRequests for SelfSigned and CA issuers, and for types certmgr does not run.

Owns, for an approved request whose ``issuerRef`` names such an issuer (group
``cert-manager.io``), its Ready condition, ``status.certificate``/``ca`` and
``failureTime``, as cert-manager's certificaterequests-issuer-selfsigned and -ca do:
``Pending`` while the issuer is not Ready or a Secret is missing or unreadable,
``Failed`` (with a Warning Event) when the request cannot be signed, ``Issued`` once
signed, ``Denied`` when denied. SelfSigned signs with the private key of the Secret
named by the request's ``cert-manager.io/private-key-secret-name`` annotation (``ca`` is
the certificate itself); CA signs with ``spec.ca.secretName``'s keypair. A request for a
type certmgr does not run (Vault, Venafi) is Pending with a message saying so and one
Warning Event. Signing runs in a thread. A request for a missing issuer is left to the
ACME request controller (it says "not found"). It must not create Secrets.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final

import structlog

from certmgr.api import labels, reasons
from certmgr.api.codec import InvalidObject
from certmgr.api.conditions import DENIED, INVALID_REQUEST, READY, get_condition
from certmgr.api.requests import CertificateRequestSpec, CertificateRequestStatus
from certmgr.controllers.acme.issuer_refs import (
    ISSUER_INDEX,
    referenced_issuer,
    referrers,
    request_issuer_ref_index,
)
from certmgr.controllers.acme.writes import progress_event
from certmgr.controllers.certificaterequests.ready import ReadyWriter
from certmgr.controllers.certificaterequests.unfinished import finished_key
from certmgr.controllers.context import Context
from certmgr.controllers.issuers.keypairs import (
    SIGNING_TYPES,
    SecretNotFound,
    ca_keypair,
    issuer_type,
    issuer_urls,
    read_secret,
    resource_namespace,
)
from certmgr.controllers.issuers.status import unsupported_message
from certmgr.kube.objects import being_deleted
from certmgr.kube.resources import CERTIFICATEREQUESTS, CLUSTERISSUERS, ISSUERS
from certmgr.pki.errors import PKIError
from certmgr.pki.keys import PrivateKey, parse_private_key
from certmgr.pki.signing import (
    TLS_KEY,
    CAKeyPair,
    Issued,
    SigningRequest,
    has_empty_subject,
    sign_self_signed,
    sign_with_ca,
)
from certmgr.runtime.cache import Cache, Obj, object_key, split_key
from certmgr.runtime.controller import Result
from certmgr.runtime.informer_requests import trimmed

log = structlog.get_logger(__name__)

# cert-manager's controller names: --controllers turns them off.
SELFSIGNED_CONTROLLER: Final = "certificaterequests-issuer-selfsigned"
CA_CONTROLLER: Final = "certificaterequests-issuer-ca"
CONTROLLER_OF_TYPE: Final = {
    "selfSigned": SELFSIGNED_CONTROLLER,
    "ca": CA_CONTROLLER,
    "vault": "certificaterequests-issuer-vault",
    "venafi": "certificaterequests-issuer-venafi",
}
ISSUED_MESSAGE: Final = "Certificate fetched from issuer successfully"
DENIED_MESSAGE: Final = "The CertificateRequest was denied by an approval controller"
NOT_READY_MESSAGE: Final = "Referenced issuer does not have a Ready status condition"
EMPTY_DN_MESSAGE: Final = (
    "Certificate will be issued with an empty Issuer DN, which contravenes RFC 5280 and "
    "could break some strict clients"
)
# The Warning Event on a request for an issuer type certmgr does not run.
NOT_SUPPORTED_EVENT: Final = "IssuerNotSupported"


class Outcome(Exception):
    """How a sign attempt ended when it did not issue: a status to write."""

    def __init__(self, reason: str, message: str, *, failed: bool) -> None:
        super().__init__(message)
        self.event_reason = reason
        self.message = message
        self.failed = failed


def setup(ctx: Context) -> None:
    """Register the signer on ``ctx.manager`` (unless every type it serves is off)."""
    enabled = frozenset(t for t, name in CONTROLLER_OF_TYPE.items() if ctx.settings.runs(name))
    if not enabled:
        return
    manager = ctx.manager
    requests = manager.informer(CERTIFICATEREQUESTS)
    requests.cache.add_index(ISSUER_INDEX, request_issuer_ref_index)
    requests.cache.add_index(KEY_SECRET_INDEX, key_secret_index)
    issuers = manager.informer(ISSUERS)
    cluster_issuers = manager.informer(CLUSTERISSUERS)
    signer = Signer(
        ctx,
        requests=requests.cache,
        issuers=issuers.cache,
        cluster_issuers=cluster_issuers.cache,
        types=enabled,
    )
    controller = manager.controller(
        "certificaterequests-issuer-signing", signer.reconcile, workers=ctx.settings.workers
    )
    # A finished request's reconcile stops at once: no event of it or its issuer
    # enqueues it (at start: one no-op reconcile per request). Nor does a request whose
    # issuer is not one this signer serves (an ACME one: two no-op reconciles per
    # issuance); its issuer's events still enqueue it, should the issuer change type.
    manager.watch(
        requests,
        controller,
        predicate=lambda old, new: _unfinished_event(old, new) and signer.serves(new),
    )
    skip = finished_key(requests.cache, finished)
    manager.watch(issuers, controller, referrers(requests.cache), skip_key=skip)
    manager.watch(cluster_issuers, controller, referrers(requests.cache), skip_key=skip)
    # A SelfSigned request's key Secret that appears (or is fixed) later. The mapper
    # names only cached unfinished requests, whose every arrival (or change to their
    # cached state) the first watch enqueues: a start's list of Secrets is not mapped
    # until the first key.
    manager.watch(
        manager.secrets,
        controller,
        requests_of_key_secret(requests.cache),
        queued_on_arrival=True,
    )


KEY_SECRET_INDEX: Final = "by-private-key-secret"


def key_secret_index(request: Obj) -> list[str]:
    """The index function: ``namespace/name`` of the Secret a request's
    ``cert-manager.io/private-key-secret-name`` annotation names; none for an issued
    request (cached ``trimmed``), which is ``finished`` and so never mapped."""
    if trimmed(request):
        return []
    meta = request.get("metadata") or {}
    name = (meta.get("annotations") or {}).get(labels.PRIVATE_KEY_SECRET_NAME)
    return [f"{meta.get('namespace', '')}/{name}"] if name else []


def requests_of_key_secret(requests: Cache) -> Callable[[Obj], list[str]]:
    """A watch mapper: Secret -> the unfinished requests naming it as their private key."""

    def mapper(secret: Obj) -> list[str]:
        meta = secret.get("metadata") or {}
        value = f"{meta.get('namespace', '')}/{meta.get('name', '')}"
        return [
            object_key(request)
            for request in requests.by_index(KEY_SECRET_INDEX, value)
            if not finished(request)
        ]

    return mapper


class Signer:
    def __init__(
        self,
        ctx: Context,
        *,
        requests: Cache,
        issuers: Cache,
        cluster_issuers: Cache,
        types: frozenset[str] = frozenset(CONTROLLER_OF_TYPE),
    ) -> None:
        self._ctx = ctx
        self._requests = requests
        self._ready = ReadyWriter(ctx, requests)
        self._issuers = issuers
        self._cluster_issuers = cluster_issuers
        self._types = types

    def serves(self, request: Obj | None) -> bool:
        """Whether ``request``'s issuer, as cached, is one this signer answers for."""
        return request is not None and self._served_issuer(request) is not None

    def _served_issuer(self, request: Obj) -> tuple[str, Obj, str] | None:
        """(kind, issuer, type) of ``request``'s issuer if this signer answers for it."""
        found = referenced_issuer(
            request, issuers=self._issuers, cluster_issuers=self._cluster_issuers
        )
        if found is None:
            return None  # another group's: its own issuer signs it
        kind, _, issuer = found
        if issuer is None:
            return None  # the ACME request controller says "not found"
        type_ = issuer_type(issuer)
        if type_ in ("", "acme") or (type_ in CONTROLLER_OF_TYPE and type_ not in self._types):
            return None
        return kind, issuer, type_

    async def reconcile(self, key: str) -> Result | None:
        namespace, name = split_key(key)
        request = self._requests.get(namespace, name)
        if request is None or being_deleted(request):
            return None
        served = self._served_issuer(request)
        if served is None:
            return None
        kind, issuer, type_ = served
        raw_status = request.get("status") or {}
        try:
            status = CertificateRequestStatus.from_dict(raw_status, path="status")
        except InvalidObject:
            return None
        if finished(request):
            return None
        if status.is_denied:
            await self._fail(request, reasons.REQUEST_DENIED, DENIED_MESSAGE, event_reason="")
            return None
        if not status.is_approved or status.certificate:
            return None
        if type_ not in SIGNING_TYPES:
            await self._not_supported(request, kind, type_)
            return None
        ready = get_condition((issuer.get("status") or {}).get("conditions"), READY)
        if ready is None or not ready.is_true:
            await self._pending(request, "IssuerNotReady", NOT_READY_MESSAGE)
            return None
        try:
            issued = await self._sign(request, issuer, type_)
        except Outcome as outcome:
            if outcome.failed:
                await self._fail(
                    request,
                    reasons.REQUEST_FAILED,
                    outcome.message,
                    event_reason=outcome.event_reason,
                )
            else:
                await self._pending(request, outcome.event_reason, outcome.message)
            return None
        await self._ready.issued(
            request, ISSUED_MESSAGE, certificate=issued.certificate, ca=issued.ca
        )
        progress_event(self._ctx, request, "CertificateIssued", ISSUED_MESSAGE)
        log.info("certificate_request_signed", request=key, issuer_type=type_)
        return None

    async def _sign(self, request: Obj, issuer: Obj, type_: str) -> Issued:
        try:
            spec = CertificateRequestSpec.from_dict(request.get("spec"), path="spec")
        except InvalidObject as exc:
            raise Outcome(
                "ErrorGenerating" if type_ == "selfSigned" else "SigningError",
                f"Error generating certificate template: {exc}",
                failed=True,
            ) from None
        signing = SigningRequest(
            csr_pem=spec.request, is_ca=spec.is_ca, usages=spec.usages, duration=spec.duration
        )
        urls = issuer_urls(issuer, type_)
        now = self._ctx.clock.now()
        if type_ == "selfSigned":
            key = await self._request_key(request)
            try:
                issued = await asyncio.to_thread(
                    sign_self_signed, signing, key=key, urls=urls, now=now
                )
            except PKIError as exc:
                reason = (
                    "ErrorKeyMatch" if "not signed by referenced" in str(exc) else "ErrorGenerating"
                )
                raise Outcome(
                    reason, f"Error generating certificate template: {exc}", failed=True
                ) from None
            if has_empty_subject(issued.certificate):
                self._ctx.events.event(request, "Warning", "BadConfig", EMPTY_DN_MESSAGE)
            return issued
        keypair = await self._ca_keypair(issuer)
        try:
            return await asyncio.to_thread(
                sign_with_ca, signing, keypair=keypair, urls=urls, now=now
            )
        except PKIError as exc:
            raise Outcome(
                "SigningError", f"Error generating certificate template: {exc}", failed=True
            ) from None

    async def _request_key(self, request: Obj) -> PrivateKey:
        meta = request.get("metadata") or {}
        annotation = labels.PRIVATE_KEY_SECRET_NAME
        secret_name = (meta.get("annotations") or {}).get(annotation) or ""
        if not secret_name:
            raise Outcome(
                "MissingAnnotation",
                f'Annotation "{annotation}" missing or reference empty: secret name missing',
                failed=True,
            )
        namespace = meta.get("namespace") or ""
        try:
            data = await read_secret(self._ctx, namespace, secret_name)
        except SecretNotFound as exc:
            raise Outcome(
                "MissingSecret",
                f"Referenced secret {namespace}/{secret_name} not found: {exc}",
                failed=False,
            ) from None
        try:
            if TLS_KEY not in data:
                raise PKIError(f"no data for \"{TLS_KEY}\" in secret '{namespace}/{secret_name}'")
            return parse_private_key(data[TLS_KEY])
        except PKIError as exc:
            raise Outcome(
                "ErrorParsingKey",
                f'Failed to get key "{secret_name}" referenced in annotation "{annotation}": {exc}',
                failed=False,
            ) from None

    async def _ca_keypair(self, issuer: Obj) -> CAKeyPair:
        namespace = resource_namespace(self._ctx, issuer)
        name = ((issuer.get("spec") or {}).get("ca") or {}).get("secretName") or ""
        try:
            return await ca_keypair(self._ctx, issuer)
        except SecretNotFound as exc:
            raise Outcome(
                "SecretMissing",
                f"Referenced secret {namespace}/{name} not found: {exc}",
                failed=False,
            ) from None
        except PKIError as exc:
            raise Outcome(
                "SecretInvalidData",
                f"Failed to parse signing CA keypair from secret {namespace}/{name}: {exc}",
                failed=False,
            ) from None

    async def _not_supported(self, request: Obj, kind: str, type_: str) -> None:
        message = unsupported_message(kind, type_)
        ready = get_condition((request.get("status") or {}).get("conditions"), READY)
        if ready is not None and ready.message == message:
            return
        await self._ready.pending(request, message)
        self._ctx.events.event(request, "Warning", NOT_SUPPORTED_EVENT, message)

    async def _pending(self, request: Obj, event_reason: str, message: str) -> None:
        ready = get_condition((request.get("status") or {}).get("conditions"), READY)
        if ready is None or ready.reason != reasons.REQUEST_PENDING:
            progress_event(self._ctx, request, event_reason, message)
        await self._ready.pending(request, message)

    async def _fail(self, request: Obj, reason: str, message: str, *, event_reason: str) -> None:
        if event_reason:
            self._ctx.events.event(request, "Warning", event_reason, message)
        await self._ready.failed(request, reason, message)


def finished(request: Obj) -> bool:
    """Whether this controller is done with ``request``: Ready with a final reason
    (Issued, Failed, Denied), or an ``InvalidRequest`` condition on a request not denied
    (a denied one still gets its Denied outcome). Its reconcile stops here and its
    watches enqueue no event of such a request. An undecodable condition reads as not
    finished (the reconcile decides)."""
    if trimmed(request):
        return True  # cached as issued: Ready Issued, its conditions decode (informer_requests)
    conditions = (request.get("status") or {}).get("conditions")
    try:
        ready = get_condition(conditions, READY)
        if ready is not None and ready.reason in _FINAL_REASONS:
            return True
        if get_condition(conditions, INVALID_REQUEST) is None:
            return False
        denied = get_condition(conditions, DENIED)
    except InvalidObject:
        return False
    return denied is None or not denied.is_true


_FINAL_REASONS: Final = frozenset(
    (reasons.REQUEST_ISSUED, reasons.REQUEST_FAILED, reasons.REQUEST_DENIED)
)


def _unfinished_event(old: Obj | None, new: Obj | None) -> bool:
    """A request event this controller's reconcile acts on: its new side unfinished (a
    deleted request's reconcile does nothing either)."""
    return new is not None and not finished(new)
