"""The ingress-shim reconciler: one annotated Ingress -> its Certificates, level-triggered.

Owns the writes: create the Certificates an Ingress wants, update the shim's parts of
those it controls, delete those it controls but no longer names, and the Events
(``CreateCertificate``, ``UpdateCertificate``, ``DeleteCertificate``, Warning
``BadConfig``). Keys are Ingress keys; Certificate events come back to their owning
Ingress. A stale cache is expected: a create that meets an existing object, a delete
that finds nothing, or an update with a stale resourceVersion (Conflict, retried by the
controller) all resolve on the next look. Bad configuration is reported, never retried:
the Ingress's next change brings it back.

The Ingress watch lets through only Ingresses the shim acts on (:func:`concerns_shim`):
the ACME solver's temporary Ingresses, and every other unannotated one, would
otherwise cost a reconcile per event that plans nothing.

It must not decide what is desired (``desired``) or which fields are the shim's
(``merging``), and never writes a Certificate the Ingress does not control.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Final

import structlog

from certmgr.api.reasons import (
    EVENT_BAD_CONFIG,
    EVENT_CREATE_CERTIFICATE,
    EVENT_DELETE_CERTIFICATE,
    EVENT_UPDATE_CERTIFICATE,
)
from certmgr.controllers.context import Context, Settings
from certmgr.controllers.ingressshim.annotations import DefaultIssuer, has_shim_annotation
from certmgr.controllers.ingressshim.desired import Obj, Verdict, plan_certificates
from certmgr.controllers.ingressshim.merging import (
    certificates_to_delete,
    is_controlled_by,
    updated_certificate,
)
from certmgr.kube.errors import AlreadyExists, Conflict, NotFound
from certmgr.kube.resources import CERTIFICATES, INGRESSES
from certmgr.runtime.cache import Cache, object_key, split_key
from certmgr.runtime.controller import Result
from certmgr.runtime.manager import owner_keys

log = structlog.get_logger(__name__)

NAME: Final = "ingress-shim"
# How long a write waits for the cache to show it, so the next reconcile sees it.
CACHE_WAIT_SECONDS: Final = 10.0
# Certificates by the ``namespace/name`` of the Ingresses named in their ownerReferences.
OWNER_INDEX: Final = "ingress-shim-certificates-by-owner-ingress"
# One function object, so registering the index again is a no-op (Cache.add_index).
ingress_owners: Final = owner_keys("Ingress")


def setup(ctx: Context) -> None:
    """Register the Ingress and Certificate informers and the ingress-shim controller."""
    shim = IngressShim(ctx)
    controller = ctx.manager.controller(NAME, shim.reconcile, workers=ctx.settings.workers)
    certificates = ctx.manager.informer(CERTIFICATES)
    certificates.cache.add_index(OWNER_INDEX, ingress_owners)

    def concerned(old: Obj | None, new: Obj | None) -> bool:
        return concerns_shim(old, new, certificates=certificates.cache)

    ctx.manager.watch(ctx.manager.informer(INGRESSES), controller, predicate=concerned)
    ctx.manager.watch(certificates, controller, ingress_owners)


def concerns_shim(old: Obj | None, new: Obj | None, *, certificates: Cache) -> bool:
    """Whether an Ingress event is worth a reconcile: either side carries a shim
    annotation, or the Ingress owns a Certificate (``certificates`` indexed by
    ``OWNER_INDEX``).

    The old side counts so that removing the annotations still reaches the reconciler
    once; an Ingress that is neither annotated nor an owner plans nothing
    (``Verdict.IGNORED``) and has nothing of ours to clean up.
    """
    for ingress in (old, new):
        if ingress is None:
            continue
        metadata = ingress.get("metadata") or {}
        annotations: Mapping[str, str] = metadata.get("annotations") or {}
        if has_shim_annotation(annotations):
            return True
        if certificates.by_index(OWNER_INDEX, object_key(ingress)):
            return True
    return False


def default_issuer(settings: Settings) -> DefaultIssuer:
    return DefaultIssuer(
        name=settings.default_issuer_name,
        kind=settings.default_issuer_kind,
        group=settings.default_issuer_group,
    )


class IngressShim:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._ingresses = ctx.manager.informer(INGRESSES)
        self._certificates = ctx.manager.informer(CERTIFICATES)
        self._default_issuer = default_issuer(ctx.settings)

    async def reconcile(self, key: str) -> Result | None:
        namespace, name = split_key(key)
        ingress = self._ingresses.cache.get(namespace, name)
        if ingress is None:
            return None  # its Certificates go with it: the garbage collector follows owners
        plan = plan_certificates(ingress, default_issuer=self._default_issuer)
        for problem in plan.problems:
            self._ctx.events.event(ingress, "Warning", EVENT_BAD_CONFIG, problem)
        if plan.verdict is not Verdict.SYNC:
            if plan.verdict is Verdict.REJECTED:
                log.info("ingress_rejected", ingress=key, problems=list(plan.problems))
            return None
        existing = {c["metadata"]["name"]: c for c in self._certificates.cache.list(namespace)}
        missing = [c for c in plan.certificates if c["metadata"]["name"] not in existing]
        if missing and not await self._still_exists(ingress):
            # Deleted, and the garbage collector just removed its Certificates: the
            # Ingress cache is behind the Certificate cache. Creating now would start an
            # issuance for an Ingress that is gone.
            log.debug("ingress_gone", ingress=key)
            return None
        for desired in plan.certificates:
            current = existing.get(desired["metadata"]["name"])
            if current is None:
                await self._create(ingress, desired)
            elif is_controlled_by(current, ingress):
                await self._update(ingress, current, desired)
            else:
                log.info(
                    "certificate_not_owned",
                    ingress=key,
                    certificate=current["metadata"]["name"],
                )
        stale = certificates_to_delete(existing.values(), ingress, secret_names=plan.secret_names)
        for certificate in stale:
            await self._delete(ingress, certificate)
        return None

    async def _still_exists(self, ingress: Obj) -> bool:
        """A live read (creates are rare): the same Ingress (uid), not being deleted."""
        metadata = ingress["metadata"]
        try:
            live = await self._ctx.client.get(
                INGRESSES, metadata["name"], namespace=metadata["namespace"]
            )
        except NotFound:
            return False
        live_metadata = live["metadata"]
        return live_metadata.get("uid") == metadata.get("uid") and not live_metadata.get(
            "deletionTimestamp"
        )

    async def _create(self, ingress: Obj, desired: Obj) -> None:
        name = desired["metadata"]["name"]
        try:
            created = await self._ctx.client.create(CERTIFICATES, desired)
        except AlreadyExists:
            # Our cache is behind: its watch event requeues this Ingress, and the next
            # look decides whether it is ours to update.
            log.debug("certificate_exists", certificate=name)
            return
        await self._wait_for(created)
        self._ctx.events.event(
            ingress,
            "Normal",
            EVENT_CREATE_CERTIFICATE,
            f'Successfully created Certificate "{name}"',
        )
        log.info("certificate_created", certificate=name)

    async def _update(self, ingress: Obj, current: Obj, desired: Obj) -> None:
        body = updated_certificate(current, desired)
        if body is None:
            return
        name = body["metadata"]["name"]
        updated = await self._ctx.client.update(CERTIFICATES, body)
        await self._wait_for(updated)
        self._ctx.events.event(
            ingress,
            "Normal",
            EVENT_UPDATE_CERTIFICATE,
            f'Successfully updated Certificate "{name}"',
        )
        log.info("certificate_updated", certificate=name)

    async def _delete(self, ingress: Obj, certificate: Obj) -> None:
        metadata = certificate["metadata"]
        try:
            # The uid precondition: never delete a newer object of that name we have not
            # judged (it may not be ours).
            await self._ctx.client.delete(
                CERTIFICATES,
                metadata["name"],
                namespace=metadata["namespace"],
                preconditions={"uid": metadata["uid"]},
            )
        except NotFound:
            return
        except Conflict:
            log.debug("certificate_replaced", certificate=metadata["name"])
            return
        self._ctx.events.event(
            ingress,
            "Normal",
            EVENT_DELETE_CERTIFICATE,
            f'Successfully deleted unrequired Certificate "{metadata["name"]}"',
        )
        log.info("certificate_deleted", certificate=metadata["name"])

    async def _wait_for(self, written: Obj) -> None:
        with contextlib.suppress(TimeoutError):
            await self._certificates.cache.wait_for_object(written, timeout=CACHE_WAIT_SECONDS)
