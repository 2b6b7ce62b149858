"""The Ready condition of Issuers and ClusterIssuers that are not ACME.

Owns, with cert-manager's reasons and messages: SelfSigned ``Ready=True IsReady``; CA
``Ready=True KeyPairVerified`` once ``spec.ca.secretName`` holds a CA certificate and its
key, else ``Ready=False`` ``ErrGetKeyPair`` (Secret missing, data missing or malformed)
or ``ErrInvalidKeyPair`` (not a CA, key not the certificate's), with a Warning Event; the
CA Secret is watched, so one that appears or is fixed later makes the issuer Ready.
Every other type (Vault, Venafi) gets ``Ready=False NotActedOn`` saying certmgr does not
support it, and one Warning Event. It must not touch ACME issuers or sign anything.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import structlog

from certmgr.api import reasons
from certmgr.api.conditions import READY, Status, get_condition, set_condition
from certmgr.controllers.acme.writes import patch_status
from certmgr.controllers.context import Context
from certmgr.controllers.issuers.keypairs import (
    SUPPORTED_TYPES,
    SecretNotFound,
    ca_keypair,
    ca_secret_name,
    issuer_namespace,
    issuer_type,
)
from certmgr.kube.objects import being_deleted
from certmgr.kube.resources import CLUSTERISSUERS, ISSUERS, Resource
from certmgr.pki.errors import PKIError
from certmgr.pki.signing import InvalidKeyPair, check_signing_ca
from certmgr.runtime.cache import Cache, Obj, object_key, split_key
from certmgr.runtime.controller import Result

log = structlog.get_logger(__name__)

# cert-manager's controller names: --controllers turns them off.
ISSUERS_CONTROLLER: Final = "issuers"
CLUSTERISSUERS_CONTROLLER: Final = "clusterissuers"
CA_ISSUERS_BY_SECRET: Final = "ca-issuers-by-secret"


def setup(ctx: Context) -> None:
    for resource, name in (
        (ISSUERS, ISSUERS_CONTROLLER),
        (CLUSTERISSUERS, CLUSTERISSUERS_CONTROLLER),
    ):
        if not ctx.settings.runs(name):
            continue
        informer = ctx.manager.informer(resource)
        reconciler = IssuerStatus(ctx, resource=resource, cache=informer.cache)
        controller = ctx.manager.controller(
            f"{name}-status", reconciler.reconcile, workers=ctx.settings.workers
        )
        ctx.manager.watch(informer, controller)
        # The mapper names only cached issuers, whose every arrival the watch above
        # enqueues: a start's list of Secrets is not mapped until the first key.
        ctx.manager.watch(
            ctx.manager.secrets,
            controller,
            ca_issuers_of_secret(informer.cache, ctx),
            queued_on_arrival=True,
        )


def ca_issuers_of_secret(issuers: Cache, ctx: Context) -> Callable[[Obj], list[str]]:
    """A watch mapper: Secret -> the CA issuers whose ``spec.ca.secretName`` it is.

    Looked up in an index of ``issuers`` (registered here) by the Secret's namespace and
    name: every Secret event (50,000 listed at start) costs one lookup, not a pass over
    every issuer."""

    # An index function must be a pure function of the object (``runtime/cache.py``):
    # the cluster resource namespace is taken once, here.
    cluster_namespace = ctx.settings.cluster_resource_namespace

    def ca_secret(issuer: Obj) -> list[str]:
        name = ca_secret_name(issuer)
        return [f"{issuer_namespace(issuer, cluster_namespace)}/{name}"] if name else []

    issuers.add_index(CA_ISSUERS_BY_SECRET, ca_secret)

    def mapper(secret: Obj) -> list[str]:
        meta = secret.get("metadata") or {}
        found = issuers.keys_by_index(
            CA_ISSUERS_BY_SECRET, f"{meta.get('namespace')}/{meta.get('name')}"
        )
        return [f"{namespace}/{name}" if namespace else name for namespace, name in found]

    return mapper


def unsupported_message(kind: str, type_: str) -> str:
    supported = ", ".join(SUPPORTED_TYPES)
    return (
        f"certmgr does not support {type_} issuers (it runs {supported}): Certificates and "
        f"CertificateRequests naming this {kind} are not signed"
    )


class IssuerStatus:
    def __init__(self, ctx: Context, *, resource: Resource, cache: Cache) -> None:
        self._ctx = ctx
        self._resource = resource
        self._cache = cache

    async def reconcile(self, key: str) -> Result | None:
        namespace, name = split_key(key)
        issuer = self._cache.get(namespace or None, name)
        if issuer is None or being_deleted(issuer):
            return None
        type_ = issuer_type(issuer)
        if type_ in ("", "acme"):
            return None  # the ACME issuer controller's
        if type_ == "selfSigned":
            await self._set(issuer, Status.TRUE, reasons.ISSUER_IS_READY, "")
        elif type_ == "ca":
            await self._check_ca(issuer)
        else:
            message = unsupported_message(self._resource.kind, type_)
            await self._set(issuer, Status.FALSE, reasons.NOT_ACTED_ON, message, event="Warning")
        return None

    async def _check_ca(self, issuer: Obj) -> None:
        try:
            keypair = await ca_keypair(self._ctx, issuer)
        except (SecretNotFound, PKIError) as exc:
            message = reasons.CA_GET_KEYPAIR_PREFIX + str(exc)
            await self._set(
                issuer, Status.FALSE, reasons.CA_ERR_GET_KEYPAIR, message, event="Warning"
            )
            return
        try:
            check_signing_ca(keypair)
        except InvalidKeyPair as exc:
            message = reasons.CA_GET_KEYPAIR_PREFIX + str(exc)
            await self._set(
                issuer, Status.FALSE, reasons.CA_ERR_INVALID_KEYPAIR, message, event="Warning"
            )
            return
        await self._set(
            issuer,
            Status.TRUE,
            reasons.CA_KEYPAIR_VERIFIED,
            reasons.CA_KEYPAIR_VERIFIED_MESSAGE,
            event="Normal",
        )

    async def _set(
        self, issuer: Obj, status: Status, reason: str, message: str, *, event: str = ""
    ) -> None:
        current = dict(issuer.get("status") or {})
        before = get_condition(current.get("conditions"), READY)
        meta = issuer.get("metadata") or {}
        current["conditions"] = set_condition(
            current.get("conditions"),
            type_=READY,
            status=status,
            reason=reason,
            message=message,
            observed_generation=meta.get("generation"),
            now=self._ctx.clock.now(),
        )
        written: Any = await patch_status(self._ctx.client, self._resource, issuer, current)
        if written is None:
            return
        changed = before is None or (before.reason, before.message) != (reason, message)
        if event and changed:
            self._ctx.events.event(issuer, event, reason, message)  # type: ignore[arg-type]
        log.info(
            "issuer_status",
            issuer=object_key(issuer),
            kind=self._resource.kind,
            ready=status.value,
            reason=reason,
        )
