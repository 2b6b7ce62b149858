"""The shim reconciler: one annotated Ingress (or Gateway) -> its Certificates.

Owns the writes, level-triggered, for any :class:`~.desired.Source` (gateway-shim
reuses :class:`Shim` with the Gateway's): create the Certificates an object wants,
update the shim's parts of those it controls, delete those it controls but no longer
names, and the Events (``CreateCertificate``, ``UpdateCertificate``,
``DeleteCertificate``, Warning ``BadConfig``). Keys are the object's keys; Certificate
events come back to their owning object. A stale cache is expected: a create that meets
an existing object, a delete that finds nothing, or an update with a stale
resourceVersion (Conflict, retried by the controller) all resolve on the next look. Bad
configuration is reported, never retried: the object's next change brings it back.

The object watch lets through only objects the shim acts on (:func:`concerns_shim`):
the ACME solver's temporary Ingresses, and every other unannotated one, would
otherwise cost a reconcile per event that plans nothing.

It must not decide what is desired (``desired``) or which fields are the shim's
(``merging``), and never writes a Certificate the object does not control.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping
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
from certmgr.controllers.ingressshim.desired import (
    INGRESS,
    Obj,
    Source,
    Verdict,
    plan_certificates,
)
from certmgr.controllers.ingressshim.merging import (
    certificates_to_delete,
    is_controlled_by,
    updated_certificate,
)
from certmgr.kube.errors import AlreadyExists, Conflict, NotFound
from certmgr.kube.resources import CERTIFICATES, INGRESSES, Resource
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
    setup_shim(
        ctx, name=NAME, resource=INGRESSES, source=INGRESS, index=(OWNER_INDEX, ingress_owners)
    )


def setup_shim(
    ctx: Context,
    *,
    name: str,
    resource: Resource,
    source: Source,
    index: tuple[str, Callable[[Obj], Iterable[str]]],
) -> None:
    """Register the informers of ``resource`` and Certificates (indexed by owner with
    ``index``) and a shim controller ``name`` for ``source``."""
    owner_index, owners = index
    shim = Shim(ctx, resource=resource, source=source, index=index)
    controller = ctx.manager.controller(name, shim.reconcile, workers=ctx.settings.workers)
    certificates = ctx.manager.informer(CERTIFICATES)

    def concerned(old: Obj | None, new: Obj | None) -> bool:
        return concerns_shim(
            old, new, certificates=certificates.cache, source=source, index=owner_index
        )

    ctx.manager.watch(ctx.manager.informer(resource), controller, predicate=concerned)
    ctx.manager.watch(certificates, controller, owners)


def concerns_shim(
    old: Obj | None,
    new: Obj | None,
    *,
    certificates: Cache,
    source: Source = INGRESS,
    index: str = OWNER_INDEX,
) -> bool:
    """Whether an object's event is worth a reconcile: either side carries a shim
    annotation, or the object owns a Certificate (``certificates`` indexed by ``index``).

    The old side counts so that removing the annotations still reaches the reconciler
    once; an object that is neither annotated nor an owner plans nothing
    (``Verdict.IGNORED``) and has nothing of ours to clean up.
    """
    for obj in (old, new):
        if obj is None:
            continue
        metadata = obj.get("metadata") or {}
        annotations: Mapping[str, str] = metadata.get("annotations") or {}
        if has_shim_annotation(annotations, source.auto_annotations):
            return True
        if certificates.by_index(index, object_key(obj)):
            return True
    return False


def default_issuer(settings: Settings) -> DefaultIssuer:
    return DefaultIssuer(
        name=settings.default_issuer_name,
        kind=settings.default_issuer_kind,
        group=settings.default_issuer_group,
    )


class Shim:
    def __init__(
        self,
        ctx: Context,
        *,
        resource: Resource = INGRESSES,
        source: Source = INGRESS,
        index: tuple[str, Callable[[Obj], Iterable[str]]] = (OWNER_INDEX, ingress_owners),
    ) -> None:
        self._ctx = ctx
        self._resource = resource
        self._source = source
        self._objects = ctx.manager.informer(resource)
        self._certificates = ctx.manager.informer(CERTIFICATES)
        # The Certificates naming an object as owner, by its ``namespace/name``.
        self._owner_index, owners = index
        self._certificates.cache.add_index(self._owner_index, owners)
        self._default_issuer = default_issuer(ctx.settings)

    async def reconcile(self, key: str) -> Result | None:
        namespace, name = split_key(key)
        owner = self._objects.cache.get(namespace, name)
        if owner is None:
            return None  # its Certificates go with it: the garbage collector follows owners
        plan = plan_certificates(owner, default_issuer=self._default_issuer, source=self._source)
        for problem in plan.problems:
            self._ctx.events.event(owner, "Warning", EVENT_BAD_CONFIG, problem)
        if plan.verdict is not Verdict.SYNC:
            if plan.verdict is Verdict.REJECTED:
                log.info(
                    "shim_source_rejected",
                    kind=self._source.kind,
                    resource=key,
                    problems=list(plan.problems),
                )
            return None
        existing = self._existing(key, namespace, plan.certificates)
        missing = [c for c in plan.certificates if c["metadata"]["name"] not in existing]
        if missing and not await self._still_exists(owner):
            # Deleted, and the garbage collector just removed its Certificates: the
            # object cache is behind the Certificate cache. Creating now would start an
            # issuance for an object that is gone.
            log.debug("shim_source_gone", kind=self._source.kind, resource=key)
            return None
        for desired in plan.certificates:
            current = existing.get(desired["metadata"]["name"])
            if current is None:
                await self._create(owner, desired)
            elif is_controlled_by(current, owner):
                await self._update(owner, current, desired)
            else:
                log.info(
                    "certificate_not_owned",
                    resource=key,
                    certificate=current["metadata"]["name"],
                )
        stale = certificates_to_delete(existing.values(), owner, secret_names=plan.secret_names)
        for certificate in stale:
            await self._delete(owner, certificate)
        return None

    def _existing(self, key: str, namespace: str, desired: Iterable[Obj]) -> dict[str, Obj]:
        """The cached Certificates that name the object as owner, and those of the names
        it wants, by name: looked up, not a scan of the namespace (whose thousands of
        Certificates a cache that packs them makes afresh on each read)."""
        cache = self._certificates.cache
        existing = {c["metadata"]["name"]: c for c in cache.by_index(self._owner_index, key)}
        for certificate in desired:
            name = certificate["metadata"]["name"]
            if name not in existing and (found := cache.get(namespace, name)) is not None:
                existing[name] = found
        return existing

    async def _still_exists(self, owner: Obj) -> bool:
        """A live read (creates are rare): the same object (uid), not being deleted."""
        metadata = owner["metadata"]
        try:
            live = await self._ctx.client.get(
                self._resource, metadata["name"], namespace=metadata["namespace"]
            )
        except NotFound:
            return False
        live_metadata = live["metadata"]
        return live_metadata.get("uid") == metadata.get("uid") and not live_metadata.get(
            "deletionTimestamp"
        )

    async def _create(self, owner: Obj, desired: Obj) -> None:
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
            owner,
            "Normal",
            EVENT_CREATE_CERTIFICATE,
            f'Successfully created Certificate "{name}"',
        )
        log.info("certificate_created", certificate=name)

    async def _update(self, owner: Obj, current: Obj, desired: Obj) -> None:
        body = updated_certificate(current, desired)
        if body is None:
            return
        name = body["metadata"]["name"]
        updated = await self._ctx.client.update(CERTIFICATES, body)
        await self._wait_for(updated)
        self._ctx.events.event(
            owner,
            "Normal",
            EVENT_UPDATE_CERTIFICATE,
            f'Successfully updated Certificate "{name}"',
        )
        log.info("certificate_updated", certificate=name)

    async def _delete(self, owner: Obj, certificate: Obj) -> None:
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
            owner,
            "Normal",
            EVENT_DELETE_CERTIFICATE,
            f'Successfully deleted unrequired Certificate "{metadata["name"]}"',
        )
        log.info("certificate_deleted", certificate=metadata["name"])

    async def _wait_for(self, written: Obj) -> None:
        with contextlib.suppress(TimeoutError):
            await self._certificates.cache.wait_for_object(written, timeout=CACHE_WAIT_SECONDS)


# The name owner-shim's callers know it by.
IngressShim = Shim
