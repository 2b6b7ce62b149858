"""ACME Renewal Information (RFC 9773): the CA's suggested renewal window, per Certificate.

Owns ``status.acme.ari`` of Certificates of ACME issuers whose directory has
``renewalInfo``: asks the CA about the certificate in the Secret (its CertID), records the
window, ``explanationURL`` (and a Normal Event), ``lastChecked``, ``nextCheck`` (bounded
Retry-After) and ``lastError`` (one Warning per new error), paced so a restart never fetches
in a burst; removes it when ARI is off (flag or ``renewalInformationSource: None``).
It must not decide when to renew (the certificate policies read the window) nor order.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

import structlog

from certmgr.acme.errors import AcmeError
from certmgr.api.codec import rfc3339
from certmgr.controllers.acme.accounts import Accounts, IssuerNotReady
from certmgr.controllers.acme.issuer_refs import (
    ISSUER_INDEX,
    issuer_ref_index,
    referenced_issuer,
    referrers,
)
from certmgr.controllers.context import Context
from certmgr.kube.objects import being_deleted
from certmgr.kube.resources import CERTIFICATES, CLUSTERISSUERS, ISSUERS
from certmgr.pki.renewalinfo import next_check_delay
from certmgr.runtime.cache import Cache, Obj, object_key, split_key
from certmgr.runtime.controller import Result
from certmgr.runtime.informer_secrets import secret_summary

log = structlog.get_logger(__name__)

ARI_DISABLED: Final = "None"
EVENT_RENEWAL_INFO: Final = "RenewalInfo"
EVENT_RENEWAL_INFO_FAILED: Final = "RenewalInfoFailed"
_WORKERS: Final = 4


def setup(ctx: Context, *, accounts: Accounts) -> None:
    """Register the renewal-information controller (unless ``acme_renewal_info`` is off)."""
    if not ctx.settings.acme_renewal_info:
        return
    manager = ctx.manager
    certificates = manager.informer(CERTIFICATES)
    certificates.cache.add_index(ISSUER_INDEX, issuer_ref_index)
    issuers = manager.informer(ISSUERS)
    cluster_issuers = manager.informer(CLUSTERISSUERS)
    reconciler = RenewalInfoReconciler(
        ctx,
        accounts=accounts,
        certificates=certificates.cache,
        issuers=issuers.cache,
        cluster_issuers=cluster_issuers.cache,
    )
    controller = manager.controller("acme-renewal-info", reconciler.reconcile, workers=_WORKERS)
    manager.watch(certificates, controller)
    manager.watch(issuers, controller, referrers(certificates.cache))
    manager.watch(cluster_issuers, controller, referrers(certificates.cache))


class FetchPacer:
    """Hands out fetch slots ``interval`` seconds apart (a reconcile whose slot is later
    requeues until then): never more than 1/interval fetches per second, never a burst."""

    def __init__(self, *, interval: float) -> None:
        self._interval = interval
        self._last: float | None = None
        self._slots: dict[str, float] = {}

    def wait(self, key: str, now: float) -> float:
        """Seconds ``key`` must wait before fetching (0: fetch now, slot used)."""
        slot = self._slots.get(key)
        if slot is None:
            slot = now if self._last is None else max(now, self._last + self._interval)
            self._last = slot
        if slot > now:
            self._slots[key] = slot
            return slot - now
        self._slots.pop(key, None)
        return 0.0

    def forget(self, key: str) -> None:
        self._slots.pop(key, None)


class RenewalInfoReconciler:
    def __init__(
        self,
        ctx: Context,
        *,
        accounts: Accounts,
        certificates: Cache,
        issuers: Cache,
        cluster_issuers: Cache,
    ) -> None:
        self._ctx = ctx
        self._accounts = accounts
        self._certificates = certificates
        self._issuers = issuers
        self._cluster_issuers = cluster_issuers
        qps = ctx.settings.renewal_info_fetch_qps
        self._pacer = FetchPacer(interval=1.0 / qps if qps > 0 else 0.0)

    async def reconcile(self, key: str) -> Result | None:
        namespace, name = split_key(key)
        certificate = self._certificates.get(namespace, name)
        if certificate is None or being_deleted(certificate):
            self._pacer.forget(key)
            return None
        status = certificate.get("status") or {}
        stored: dict[str, Any] = dict((status.get("acme") or {}).get("ari") or {})
        found = referenced_issuer(
            certificate, issuers=self._issuers, cluster_issuers=self._cluster_issuers
        )
        issuer = found[2] if found is not None else None
        acme = ((issuer or {}).get("spec") or {}).get("acme")
        if issuer is None or not isinstance(acme, dict):
            return None  # not (yet) an ACME issuer of ours: the issuer's change wakes us
        if acme.get("renewalInformationSource") == ARI_DISABLED:
            await self._clear(certificate, stored)
            return None
        cert_id, not_after = await self._current(certificate)
        now = self._ctx.clock.now()
        if cert_id is None or not_after is None or not_after <= now:
            # RFC 9773 4.3: never ask about an expired certificate; without an AKI there
            # is no CertID. A window of an earlier certificate must not stay behind.
            await self._clear(certificate, stored)
            return None
        next_check = _time(stored.get("nextCheck"))
        if stored.get("certID") == cert_id and next_check is not None and next_check > now:
            return Result(requeue_after=(next_check - now).total_seconds())
        try:
            client = await self._accounts.client_for(issuer)
        except IssuerNotReady:
            return None
        if client.renewal_info_url() is None:
            await self._clear(certificate, stored)
            return None  # the CA offers no ARI: the normal schedule, nothing written
        wait = self._pacer.wait(key, self._ctx.clock.monotonic())
        if wait > 0:
            return Result(requeue_after=wait)
        try:
            info = await client.renewal_info(cert_id)
        except AcmeError as exc:
            delay = next_check_delay(exc.retry_after, failed=True)
            await self._failed(certificate, stored, cert_id, str(exc), now=now, delay=delay)
            return Result(requeue_after=delay.total_seconds())
        delay = next_check_delay(info.retry_after)
        ari: dict[str, Any] = {
            "certID": cert_id,
            "suggestedWindow": {"start": rfc3339(info.start), "end": rfc3339(info.end)},
            "explanationURL": info.explanation_url,
            "lastChecked": rfc3339(now),
            "nextCheck": rfc3339(now + delay),
            "lastError": None,
        }
        await self._write(certificate, ari)
        log.info(
            "renewal_info_fetched",
            certificate=key,
            start=ari["suggestedWindow"]["start"],
            end=ari["suggestedWindow"]["end"],
            next_check_seconds=delay.total_seconds(),
        )
        if info.explanation_url and info.explanation_url != stored.get("explanationURL"):
            self._ctx.events.event(
                certificate,
                "Normal",
                EVENT_RENEWAL_INFO,
                f"The ACME server suggests renewing between {ari['suggestedWindow']['start']} "
                f"and {ari['suggestedWindow']['end']}: {info.explanation_url}",
            )
        return Result(requeue_after=delay.total_seconds())

    async def _current(self, certificate: Obj) -> tuple[str | None, datetime | None]:
        """The CertID and notAfter of the certificate in the Secret (None, None: none)."""
        meta = certificate.get("metadata") or {}
        secret_name = (certificate.get("spec") or {}).get("secretName")
        if not secret_name:
            return None, None
        secret = await self._ctx.manager.secrets.view(str(meta.get("namespace")), secret_name)
        leaf = secret_summary(secret).leaf if secret is not None else None
        if leaf is None:
            return None, None
        return leaf.ari_cert_id, leaf.not_after

    async def _failed(
        self,
        certificate: Obj,
        stored: dict[str, Any],
        cert_id: str,
        error: str,
        *,
        now: datetime,
        delay: timedelta,
    ) -> None:
        same = stored.get("certID") == cert_id
        ari: dict[str, Any] = {
            "certID": cert_id,
            # A window already fetched for this certificate still holds (RFC 9773 4.3.3);
            # none yet: the normal schedule.
            "suggestedWindow": stored.get("suggestedWindow") if same else None,
            "explanationURL": stored.get("explanationURL") if same else None,
            "lastChecked": rfc3339(now),
            "nextCheck": rfc3339(now + delay),
            "lastError": error,
        }
        await self._write(certificate, ari)
        log.warning("renewal_info_failed", certificate=object_key(certificate), error=error)
        if not same or stored.get("lastError") != error:
            self._ctx.events.event(
                certificate,
                "Warning",
                EVENT_RENEWAL_INFO_FAILED,
                f"Fetching ACME renewal information failed, renewing on the normal schedule: "
                f"{error}",
            )

    async def _write(self, certificate: Obj, ari: dict[str, Any]) -> None:
        meta = certificate.get("metadata") or {}
        await self._ctx.client.patch(
            CERTIFICATES,
            str(meta.get("name")),
            {"status": {"acme": {"ari": ari}}},
            namespace=meta.get("namespace"),
            subresource="status",
        )

    async def _clear(self, certificate: Obj, stored: dict[str, Any]) -> None:
        if not stored:
            return
        meta = certificate.get("metadata") or {}
        await self._ctx.client.patch(
            CERTIFICATES,
            str(meta.get("name")),
            {"status": {"acme": None}},
            namespace=meta.get("namespace"),
            subresource="status",
        )


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
