"""The issuing controller: the end of an issuance, successful or not.

Owns the target Secret's content and the end of ``Issuing``. While ``Issuing=True`` it
waits for the request of this attempt (``expected_request_name``); when it is Ready it
writes the whole Secret in one update (so a workload never sees it empty or half
written: the old certificate stays until then), then in one status write increments
``revision``, removes ``Issuing``, clears ``failedIssuanceAttempts``,
``lastFailureTime`` and ``nextPrivateKeySecretName``, and records a Normal ``Issuing``
Event. While the request is pending, a Certificate annotated
``cert-manager.io/issue-temporary-certificate: "true"`` whose Secret has no usable key
pair gets a temporary certificate for the next private key there (``pki.temporary``),
and a Normal ``Issuing`` Event "Issued temporary certificate"; the readiness and trigger
chains never take it for an issued one. A Denied, InvalidRequest or Failed request sets
``Issuing=False`` with the request's reason, counts the failure for the trigger's
backoff and records a Warning Event. A spec that can never be issued ends the attempt
the same way, uncounted. The write that ends an attempt (but for an invalid spec, whose
Warning Event is the readiness controller's) also carries Ready and the validity fields
as the readiness controller computes them for the new status and Secret
(``ready.with_readiness``), so readiness then finds nothing to change; the Secret is
awaited in the cache first, so readiness never judges the new status against the old
Secret.
It must not create keys or requests, nor decide Ready or the validity fields itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

import structlog

from certmgr.api.certificates import JKSKeystore, PKCS12Keystore
from certmgr.api.codec import InvalidObject, rfc3339
from certmgr.api.conditions import (
    DENIED,
    INVALID_REQUEST,
    ISSUING,
    READY,
    Condition,
    Status,
    remove_condition,
    set_condition,
)
from certmgr.api.reasons import (
    EVENT_ISSUING,
    FAILED_MESSAGE_PREFIX,
    REQUEST_FAILED,
    REQUEST_PENDING,
    TEMPORARY_ISSUED_MESSAGE,
)
from certmgr.api.requests import CertificateRequestStatus
from certmgr.controllers.certificaterequests.ready import issued_as_written
from certmgr.controllers.certificates.adoption import attempt_request
from certmgr.controllers.certificates.gather import (
    certificates,
    gather,
    requests,
    requests_for_revision,
    secret_data,
)
from certmgr.controllers.certificates.keymanager import next_private_key
from certmgr.controllers.certificates.ready import (
    ready_changed,
    waiting_message,
    with_readiness,
)
from certmgr.controllers.certificates.requestmanager import request_name_for
from certmgr.controllers.certificates.secretdata import (
    KEYSTORE_PASSWORD_DEFAULT_KEY,
    Issued,
    build_secret,
    in_sync,
)
from certmgr.controllers.certificates.spec import (
    INVALID_SPEC,
    CertificateView,
    owned_by,
    requirements_of,
)
from certmgr.controllers.certificates.status import (
    CACHE_WAIT_SECONDS,
    status_of,
    write_status,
)
from certmgr.controllers.certificates.watches import (
    Interest,
    issuing,
    request_finished,
    request_pending,
    wants_temporary_certificate,
    watch_certificate_world,
    while_issuing,
)
from certmgr.controllers.context import Context
from certmgr.kube.errors import NotFound
from certmgr.kube.resources import CERTIFICATEREQUESTS, SECRETS
from certmgr.pki.errors import PKIError
from certmgr.pki.keys import PrivateKey, key_spec_violations, parse_private_key
from certmgr.pki.temporary import temporary_certificate
from certmgr.policies import checks
from certmgr.policies.chains import TEMPORARY_CERTIFICATE_CHAIN, evaluate
from certmgr.policies.inputs import Violation
from certmgr.runtime.cache import Obj, split_key
from certmgr.runtime.controller import Result, TerminalError
from certmgr.runtime.informer_requests import trimmed as trimmed_request
from certmgr.runtime.informer_secrets import trimmed

log = structlog.get_logger(__name__)

# The Secret must hold a usable certificate of ours before we touch it in place.
RESYNC_PRECONDITIONS: Final = (
    checks.secret_owned_by_another_certificate,
    checks.secret_has_foreign_type,
    checks.secret_does_not_exist,
    checks.secret_is_missing_data,
    checks.secret_public_key_does_not_match,
    checks.secret_holds_temporary_certificate,
    checks.secret_issuer_annotations_mismatch,
    checks.secret_certificate_name_annotation_mismatch,
)

NAME = "certificates-issuing"
ISSUED_MESSAGE = "The certificate has been successfully issued"


def setup(ctx: Context) -> None:
    issuing = Issuing(ctx)
    controller = ctx.manager.controller(NAME, issuing.reconcile, workers=ctx.settings.workers)
    watch_certificate_world(ctx, controller, INTEREST)


# While issuing, the controller waits for a request that is Ready, Denied, InvalidRequest
# or Failed (any other finds it waiting) and for the key's Secret; when not, it keeps the
# target Secret in shape. Each child event matters only in its half, but for a
# Certificate that wants a temporary certificate: a pending request, or its target Secret
# being deleted, then calls for one.
INTEREST: Final = Interest(
    requests=lambda request, certificate: (
        issuing(certificate)
        and (
            request_finished(request)
            or request_pending(request)
            or wants_temporary_certificate(certificate)
        )
    ),
    target_secrets=lambda _secret, certificate: (
        not issuing(certificate) or wants_temporary_certificate(certificate)
    ),
    next_key_secrets=while_issuing,
)


def request_failure(status: CertificateRequestStatus) -> Condition | None:
    """The condition that ends an attempt: Denied, InvalidRequest, or Ready=False Failed."""
    for type_ in (DENIED, INVALID_REQUEST):
        condition = status.condition(type_)
        if condition is not None and condition.is_true:
            return condition
    ready = status.condition(READY)
    if ready is not None and ready.is_false and ready.reason == REQUEST_FAILED:
        return ready
    return None


class Issuing:
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
        if certificate.deleting:
            return None  # no Secret written, no attempt ended, for a Certificate being deleted
        if certificate.issuing is None:
            await self._sync_secret(certificate)
            return None
        problem = certificate.problem()
        if problem is not None:
            await self._end_attempt(certificate, reason=INVALID_SPEC, message=problem, count=False)
            return None
        key_secret_name = certificate.status.next_private_key_secret_name
        if not key_secret_name:
            return None
        key_secret = self._ctx.manager.secrets.managed.cache.get(namespace, key_secret_name)
        request_name = request_name_for(certificate, key_secret)
        if request_name is None:
            return None
        request = self._requests.cache.get(namespace, request_name)
        private_key = next_private_key(key_secret)
        if request is None and private_key is not None:
            request = attempt_request(  # cert-manager's, when taking over its issuance
                requests_for_revision(self._ctx, certificate, certificate.revision + 1),
                wanted=request_name,
                certificate=certificate,
                private_key=private_key,
            )
        if request is None or not owned_by(request, certificate):
            return None
        request_name = request["metadata"]["name"]
        if trimmed_request(request):
            # Issued: the cache keeps no chain, and the Secret is about to be written with
            # it; as this process's issuer wrote it, else from the API.
            written = issued_as_written(request)
            if written is not None:
                request = written
            else:
                try:
                    request = await self._ctx.client.get(
                        CERTIFICATEREQUESTS, request_name, namespace=namespace
                    )
                except NotFound:
                    return None  # deleted; its event brings us back
                if not owned_by(request, certificate):
                    return None  # replaced since it was cached; its event brings us back
        try:
            status = CertificateRequestStatus.from_dict(request.get("status"), path="status")
        except InvalidObject:
            return None  # the issuer is mid-write or wrong; its next write brings us back
        failure = request_failure(status)
        if failure is not None:
            await self._end_attempt(
                certificate,
                reason=failure.reason,
                message=FAILED_MESSAGE_PREFIX + failure.message,
                count=True,
            )
            return None
        if private_key is None:
            return None
        if status.is_ready:
            await self._issue(certificate, Issued(private_key, status.certificate, status.ca))
            return None
        if certificate.wants_temporary_certificate:
            await self._ensure_temporary_certificate(certificate, private_key)
        ready = status.condition(READY)
        if ready is not None and ready.reason == REQUEST_PENDING and ready.message:
            await self._report_waiting(certificate, request_name, ready.message)
        return None

    async def _report_waiting(
        self, certificate: CertificateView, request_name: str, request_message: str
    ) -> None:
        """Issuing (and so Ready, while not ready) says what the pending request waits on:
        one hop for `kubectl get certificate -o wide` instead of request, Order, Challenge."""
        issuing = certificate.status.condition(ISSUING)
        assert issuing is not None
        message = waiting_message(
            issuing.message, request=request_name, request_message=request_message
        )
        if message == issuing.message:
            return
        ctx = self._ctx
        now = ctx.clock.now()
        status = status_of(certificate.obj)
        status["conditions"] = set_condition(
            status.get("conditions"),
            type_=ISSUING,
            status=Status.TRUE,
            reason=issuing.reason,
            message=message,
            observed_generation=certificate.generation,
            now=now,
        )
        waiting = certificate.with_status(status)
        status, ready = with_readiness(waiting, await gather(ctx, waiting, now=now), now=now)
        await write_status(ctx, self._certificates, certificate.obj, status)
        log.info("issuance_waiting", request=request_name, message=request_message)
        if ready_changed(certificate, ready):
            log.info("readiness_updated", ready=ready.status, reason=ready.reason)

    async def _issue(self, certificate: CertificateView, issued: Issued) -> None:
        ctx = self._ctx
        spec = certificate.spec
        assert spec is not None
        existing = await ctx.manager.secrets.get(certificate.namespace, spec.secret_name)
        refused = await self._foreign_secret(certificate, existing)
        if refused is not None:
            # Created between the trigger's look and now: this attempt ends unwritten.
            await self._end_attempt(
                certificate, reason=refused.reason, message=refused.message, count=False
            )
            return
        try:
            secret = build_secret(
                existing,
                namespace=certificate.namespace,
                certificate_name=certificate.name,
                spec=spec,
                issued=issued,
                pkcs12_password=await self._pkcs12_password(certificate),
                jks_password=await self._jks_password(certificate),
                certificate_uid=certificate.uid,
                owned=self._ctx.settings.enable_certificate_owner_ref,
            )
        except PKIError as exc:
            await self._end_attempt(
                certificate,
                reason=REQUEST_FAILED,
                message=FAILED_MESSAGE_PREFIX + f"issued certificate is unusable: {exc}",
                count=True,
            )
            return
        written = existing
        if existing is None:
            written = await ctx.client.create(SECRETS, secret, namespace=certificate.namespace)
        elif secret != existing:  # a retry after a failed status write finds it written
            written = await ctx.client.update(SECRETS, secret)
        assert written is not None
        # Judged on the cached Secret, as every later reconcile judges it: its summary was
        # made as it arrived, so the certificate and key just written are not parsed again.
        cached = await self._wait_secret_cached(written)
        status = status_of(certificate.obj)
        status["revision"] = certificate.revision + 1
        status["conditions"] = remove_condition(status.get("conditions"), ISSUING)
        for field in ("failedIssuanceAttempts", "lastFailureTime", "nextPrivateKeySecretName"):
            status.pop(field, None)
        issued_view = certificate.with_status(status)
        now = ctx.clock.now()
        input = await gather(ctx, issued_view, now=now, secret=cached or written)
        status, ready = with_readiness(issued_view, input, now=now)
        updated = await write_status(ctx, self._certificates, certificate.obj, status)
        log.info("certificate_issued", revision=status["revision"], secret=spec.secret_name)
        if ready_changed(certificate, ready):
            log.info("readiness_updated", ready=ready.status, reason=ready.reason)
        ctx.events.event(updated, "Normal", EVENT_ISSUING, ISSUED_MESSAGE)

    async def _ensure_temporary_certificate(
        self, certificate: CertificateView, private_key: PrivateKey
    ) -> None:
        """cert-manager's ensureTemporaryCertificate: while the request is pending, a
        Secret without a usable key pair gets a placeholder for the next private key.

        A Secret that holds a certificate and its key (the one being renewed, or a
        placeholder already written) is left alone, so a workload keeps what it has.
        """
        ctx = self._ctx
        spec = certificate.spec
        assert spec is not None
        requirements = requirements_of(spec)
        if key_spec_violations(private_key, requirements.key_spec):
            return  # a stale key: the key manager replaces it, and the request with it
        existing = await ctx.manager.secrets.view(certificate.namespace, spec.secret_name)
        now = ctx.clock.now()
        if existing is not None:
            input = await gather(ctx, certificate, now=now, secret=existing)
            if (
                checks.secret_has_foreign_type(input) is not None
                or evaluate(input, TEMPORARY_CERTIFICATE_CHAIN) is None
            ):
                return  # a Secret not ours to write, or one with a usable key pair
            if trimmed(existing) is not None:  # to be written: keep what we do not manage
                existing = await ctx.manager.secrets.get(certificate.namespace, spec.secret_name)
        try:
            placeholder = temporary_certificate(private_key, requirements, now=now)
            secret = build_secret(
                existing,
                namespace=certificate.namespace,
                certificate_name=certificate.name,
                spec=spec,
                issued=Issued(private_key, placeholder, b""),
                pkcs12_password=await self._pkcs12_password(certificate),
                jks_password=await self._jks_password(certificate),
                certificate_uid=certificate.uid,
                owned=ctx.settings.enable_certificate_owner_ref,
            )
        except PKIError as exc:
            # The real issuance reports what is wrong with the spec; this is a courtesy.
            log.warning("temporary_certificate_failed", error=str(exc))
            return
        if existing is None:
            written = await ctx.client.create(SECRETS, secret, namespace=certificate.namespace)
        else:
            written = await ctx.client.update(SECRETS, secret)
        await self._wait_secret_cached(written)  # the next reconcile must not write it again
        log.info("temporary_certificate_issued", secret=spec.secret_name)
        ctx.events.event(certificate.obj, "Normal", EVENT_ISSUING, TEMPORARY_ISSUED_MESSAGE)

    async def _foreign_secret(
        self, certificate: CertificateView, existing: Obj | None
    ) -> Violation | None:
        """The violation when ``existing`` is a Secret of another type not written for
        ``certificate``: key material never lands in an unrelated Secret."""
        if existing is None:
            return None
        now = self._ctx.clock.now()
        input = await gather(self._ctx, certificate, now=now, secret=existing)
        return checks.secret_has_foreign_type(input)

    async def _wait_secret_cached(self, secret: Obj) -> Obj | None:
        """Read-your-writes for the Secret: Ready in the status write that follows is
        judged on it, and so will the readiness controller judge it, from the cache.
        Returns the cached Secret (this write or a later state), None when the cache did
        not catch up in time or no longer holds it."""
        cache = self._ctx.manager.secrets.managed.cache
        try:
            await cache.wait_for_object(secret, timeout=CACHE_WAIT_SECONDS)
        except TimeoutError:
            log.debug("cache_wait_timeout", secret=secret["metadata"].get("name"))
            return None
        meta = secret["metadata"]
        return cache.get(meta.get("namespace"), meta["name"])

    async def _sync_secret(self, certificate: CertificateView) -> None:
        """Bring a good Secret's metadata and derived keys up to date without reissuing.

        cert-manager's post-issuance policies: a changed ``secretTemplate``, output
        format, keystore or key encoding, or a lost label, is repaired in place; a
        Secret whose certificate is not ours or not usable is the trigger's business.
        """
        spec = certificate.spec
        if spec is None or certificate.problem() is not None:
            return
        ctx = self._ctx
        existing = await ctx.manager.secrets.view(certificate.namespace, spec.secret_name)
        if existing is None:
            return
        input = await gather(ctx, certificate, now=ctx.clock.now(), secret=existing)
        if evaluate(input, RESYNC_PRECONDITIONS) is not None:
            return
        if in_sync(
            existing,
            input.secret_summary,
            namespace=certificate.namespace,
            certificate_name=certificate.name,
            spec=spec,
            certificate_uid=certificate.uid,
            owned=ctx.settings.enable_certificate_owner_ref,
        ):
            return  # what build_secret would write is what is there: nothing to parse
        if trimmed(existing) is not None:
            # Something to repair: the whole Secret, from the API, judged as it stands.
            existing = await ctx.manager.secrets.get(certificate.namespace, spec.secret_name)
            if existing is None:
                return
            input = await gather(ctx, certificate, now=ctx.clock.now(), secret=existing)
            if evaluate(input, RESYNC_PRECONDITIONS) is not None:
                return
        values = input.secret_data
        try:
            issued = Issued(
                parse_private_key(values["tls.key"]), values["tls.crt"], values.get("ca.crt", b"")
            )
            desired = build_secret(
                existing,
                namespace=certificate.namespace,
                certificate_name=certificate.name,
                spec=spec,
                issued=issued,
                pkcs12_password=await self._pkcs12_password(certificate),
                jks_password=await self._jks_password(certificate),
                certificate_uid=certificate.uid,
                owned=self._ctx.settings.enable_certificate_owner_ref,
            )
        except PKIError:
            return
        if desired != existing:
            await ctx.client.update(SECRETS, desired)
            log.info("secret_resynced", secret=spec.secret_name)

    async def _pkcs12_password(self, certificate: CertificateView) -> bytes | None:
        spec = certificate.spec
        assert spec is not None
        keystore = spec.keystores.pkcs12 if spec.keystores is not None else None
        return await self._keystore_password(certificate, keystore, field="pkcs12")

    async def _jks_password(self, certificate: CertificateView) -> bytes | None:
        spec = certificate.spec
        assert spec is not None
        keystore = spec.keystores.jks if spec.keystores is not None else None
        return await self._keystore_password(certificate, keystore, field="jks")

    async def _keystore_password(
        self,
        certificate: CertificateView,
        keystore: PKCS12Keystore | JKSKeystore | None,
        *,
        field: str,
    ) -> bytes | None:
        if keystore is None or not keystore.create:
            return None
        if keystore.password is not None:
            return keystore.password.encode()
        ref = keystore.password_secret_ref
        if ref is None:
            raise TerminalError(f"keystores.{field} needs passwordSecretRef or password")
        secret = await self._ctx.manager.secrets.get(certificate.namespace, ref.name)
        password = (
            secret_data(secret).get(ref.key_or(KEYSTORE_PASSWORD_DEFAULT_KEY)) if secret else None
        )
        if password is None:
            # Retried with backoff: the Secret may simply not exist yet.
            raise LookupError(
                f"keystores.{field} password Secret {ref.name!r} or its key is missing"
            )
        return password

    async def _end_attempt(
        self, certificate: CertificateView, *, reason: str, message: str, count: bool
    ) -> None:
        ctx = self._ctx
        now: datetime = ctx.clock.now()
        status = status_of(certificate.obj)
        status["conditions"] = set_condition(
            status.get("conditions"),
            type_=ISSUING,
            status=Status.FALSE,
            reason=reason,
            message=message,
            observed_generation=certificate.generation,
            now=now,
        )
        if count:
            status["lastFailureTime"] = rfc3339(now)
            status["failedIssuanceAttempts"] = (
                certificate.status.failed_issuance_attempts or 0
            ) + 1
            ended = certificate.with_status(status)
            status, ready = with_readiness(ended, await gather(ctx, ended, now=now), now=now)
            if ready_changed(certificate, ready):
                log.info("readiness_updated", ready=ready.status, reason=ready.reason)
        updated = await write_status(ctx, self._certificates, certificate.obj, status)
        log.warning("issuance_failed", reason=reason, attempts=status.get("failedIssuanceAttempts"))
        ctx.events.event(updated, "Warning", reason, message)
