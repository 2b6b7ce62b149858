"""The ACME issuer controller: one ACME account per Issuer and ClusterIssuer.

Owns the account side of ``spec.acme``: the account key Secret (generated when missing
unless ``disableAccountKeyGeneration``; ClusterIssuer Secrets in the cluster resource
namespace), the external account binding, registering (or finding) the account,
updating its contact when ``email`` changes, checking ``profile`` against the
directory, and ``status.acme`` plus the Ready condition with cert-manager's reasons.
Failures are a Ready=False condition and a Warning Event, retried with a growing
``requeue_after`` (an unreachable CA included). It must not order
certificates; other controllers get the connected client through ``Accounts``.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import urlsplit

import structlog

from certmgr.acme.errors import AcmeError, InvalidAccountKey
from certmgr.acme.keys import AcmeAccountKey, generate_account_key
from certmgr.acme.protocol import AcmeClient
from certmgr.acme.resources import ExternalAccountBinding
from certmgr.api import reasons
from certmgr.api.codec import InvalidObject
from certmgr.api.conditions import READY, Status, set_condition
from certmgr.api.issuers import ACMEIssuer, IssuerSpec
from certmgr.controllers.acme.accounts import (
    Accounts,
    key_hash,
    read_secret_entry,
)
from certmgr.controllers.acme.polling import PollIntervals
from certmgr.controllers.acme.writes import patch_status
from certmgr.controllers.context import Context
from certmgr.dns01.registry import unsupported_solvers
from certmgr.kube.errors import AlreadyExists
from certmgr.kube.objects import being_deleted
from certmgr.kube.resources import CLUSTERISSUERS, ISSUERS, SECRETS, Resource
from certmgr.runtime.cache import Cache, Obj, split_key
from certmgr.runtime.controller import Result

log = structlog.get_logger(__name__)

# Appended to the Ready message of an issuer with dns01 solvers certmgr cannot use.
UNSUPPORTED_SOLVERS_NOTE: Final = ". Solvers certmgr cannot use: "
UNSUPPORTED_SOLVER_EVENT: Final = "UnsupportedSolver"
ACME_ISSUERS_BY_SECRET: Final = "acme-issuers-by-secret"

# A failing issuer is retried after 1 s, doubling to 5 min: quick enough to notice a
# fixed Secret or a CA back online, slow enough not to hammer a CA that refuses us.
RETRY_BASE_SECONDS = 1.0
RETRY_CAP_SECONDS = 300.0


class IssuerFailed(Exception):
    """Recorded on the issuer as Ready=False, then retried with backoff."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def setup(ctx: Context, *, accounts: Accounts) -> None:
    """Register the Issuer and ClusterIssuer controllers on ``ctx.manager``."""
    for resource, name in ((ISSUERS, "acme-issuers"), (CLUSTERISSUERS, "acme-clusterissuers")):
        if not ctx.settings.runs(resource.plural):  # cert-manager's names: --controllers
            continue
        informer = ctx.manager.informer(resource)
        reconciler = IssuerReconciler(
            ctx, accounts=accounts, resource=resource, cache=informer.cache
        )
        controller = ctx.manager.controller(
            name, reconciler.reconcile, workers=ctx.settings.workers
        )
        ctx.manager.watch(informer, controller)
        # A created, rotated or deleted account key or EAB Secret: look again at once. The
        # mapper names only cached issuers, whose every arrival the watch above enqueues:
        # a start's list of Secrets (50,000 at once) is not mapped until the first key.
        ctx.manager.watch(
            ctx.manager.secrets,
            controller,
            _referring_issuers(informer.cache, ctx),
            queued_on_arrival=True,
        )
        namespaced = resource.namespaced

        def reregistered(key: str, queue: Any = controller.queue, ns: bool = namespaced) -> None:
            if ("/" in key) == ns:
                queue.add(key)

        accounts.on_reregistered(reregistered)


def _referring_issuers(issuers: Cache, ctx: Context) -> Callable[[Obj], list[str]]:
    """A watch mapper: Secret -> the ACME issuers whose account or EAB key it holds.

    Looked up in an index of ``issuers`` (registered here) by the Secret's namespace and
    name: every Secret event (50,000 listed at start) costs one lookup, not a pass over
    every issuer."""
    cluster_namespace = ctx.settings.cluster_resource_namespace

    def referred_secrets(issuer: Obj) -> list[str]:
        namespace = (issuer.get("metadata") or {}).get("namespace") or cluster_namespace
        acme = (issuer.get("spec") or {}).get("acme") or {}
        eab = acme.get("externalAccountBinding") or {}
        names = (
            (acme.get("privateKeySecretRef") or {}).get("name"),
            (eab.get("keySecretRef") or {}).get("name"),
        )
        return [f"{namespace}/{name}" for name in names if isinstance(name, str)]

    issuers.add_index(ACME_ISSUERS_BY_SECRET, referred_secrets)

    def mapper(secret: Obj) -> list[str]:
        meta = secret.get("metadata") or {}
        found = issuers.keys_by_index(
            ACME_ISSUERS_BY_SECRET, f"{meta.get('namespace')}/{meta.get('name')}"
        )
        return [f"{namespace}/{name}" if namespace else name for namespace, name in found]

    return mapper


class IssuerReconciler:
    def __init__(
        self, ctx: Context, *, accounts: Accounts, resource: Resource, cache: Cache
    ) -> None:
        self._ctx = ctx
        self._accounts = accounts
        self._resource = resource
        self._cache = cache
        self._backoff = PollIntervals(base=RETRY_BASE_SECONDS, cap=RETRY_CAP_SECONDS)

    async def reconcile(self, key: str) -> Result | None:
        namespace, name = split_key(key)
        issuer = self._cache.get(namespace or None, name)
        if issuer is None or being_deleted(issuer):
            return None  # no ACME account registered, no key Secret, for one being deleted
        try:
            spec = IssuerSpec.from_dict(issuer.get("spec"), path="spec")
        except InvalidObject as exc:
            await self._fail(issuer, IssuerFailed(reasons.INVALID_CONFIG, str(exc)))
            return None
        if spec.acme is None:
            return None  # controllers.issuers owns the status of every other type
        try:
            acme_status = await self._ensure_account(issuer, spec.acme)
        except IssuerFailed as failure:
            # An expected failure (config, CA answer, CA unreachable): recorded on the
            # issuer; retried on our own backoff without a traceback in the log.
            await self._fail(issuer, failure)
            return Result(requeue_after=self._backoff.next(key))
        self._backoff.forget(key)
        status = dict(issuer.get("status") or {})
        previous = status.get("acme") or {}
        status["acme"] = acme_status
        message = (
            reasons.ACCOUNT_REGISTERED_MESSAGE
            if previous.get("uri") != acme_status["uri"]
            else _ready_message(issuer)
        )
        # Ready as in cert-manager (other solvers work), and says which cannot.
        message = message.split(UNSUPPORTED_SOLVERS_NOTE)[0]
        unusable = unsupported_solvers(
            list((issuer.get("spec") or {}).get("acme", {}).get("solvers") or ())
        )
        if unusable:
            message += UNSUPPORTED_SOLVERS_NOTE + "; ".join(unusable)
            if _ready_message(issuer) != message:
                self._ctx.events.event(
                    issuer, "Warning", UNSUPPORTED_SOLVER_EVENT, "; ".join(unusable)
                )
        status["conditions"] = self._condition(
            issuer, Status.TRUE, reasons.ACME_ACCOUNT_REGISTERED, message
        )
        if await patch_status(self._ctx.client, self._resource, issuer, status) is not None:
            if previous.get("uri") != acme_status["uri"]:
                self._ctx.events.event(issuer, "Normal", reasons.ACME_ACCOUNT_REGISTERED, message)
            log.info("acme_issuer_ready", issuer=key, account=acme_status["uri"])
        return None

    async def _ensure_account(self, issuer: dict[str, Any], acme: ACMEIssuer) -> dict[str, Any]:
        key_pem = await self._account_key(issuer, acme)
        eab = await self._eab(issuer, acme)
        hashed = key_hash(key_pem)
        current = dict((issuer.get("status") or {}).get("acme") or {})
        if not _same_origin(current.get("uri") or "", acme.server):
            current = {}  # the server changed: the stored account belongs to another CA
        try:
            client = await self._accounts.connect(
                issuer, acme, key_pem=key_pem, eab=eab, account_uri=current.get("uri") or None
            )
            self._check_profile(client, acme)
            unchanged = (
                current.get("uri")
                and current.get("lastRegisteredEmail", "") == acme.email
                and current.get("lastPrivateKeyHash") == hashed
            )
            if unchanged and client.account_uri:
                # Registered before with this key and email; a client that re-registered
                # after the CA forgot the account carries the new URI.
                uri = client.account_uri
            else:
                uri = await self._register(client, acme, eab)
        except AcmeError as exc:
            raise IssuerFailed(
                reasons.ERR_REGISTER_ACME_ACCOUNT, reasons.REGISTRATION_FAILED_PREFIX + str(exc)
            ) from exc
        return {"uri": uri, "lastRegisteredEmail": acme.email, "lastPrivateKeyHash": hashed}

    async def _register(
        self, client: AcmeClient, acme: ACMEIssuer, eab: ExternalAccountBinding | None
    ) -> str:
        account = await client.register(email=acme.email or None, eab=eab)
        wanted = (f"mailto:{acme.email}",) if acme.email else ()
        if tuple(account.contact) != wanted:
            # An existing account found by its key keeps its old contact: update it.
            account = await client.update_contact(acme.email or None)
        return account.uri

    def _check_profile(self, client: AcmeClient, acme: ACMEIssuer) -> None:
        if not acme.profile:
            return
        offered = client.directory_meta().profiles
        if acme.profile not in offered:
            listed = ", ".join(sorted(offered)) if offered else "none"
            raise IssuerFailed(
                reasons.INVALID_CONFIG,
                f'the ACME server does not offer profile "{acme.profile}" '
                f"(profiles offered: {listed})",
            )

    async def _account_key(self, issuer: dict[str, Any], acme: ACMEIssuer) -> bytes:
        namespace = self._accounts.secret_namespace(issuer)
        ref = acme.private_key_secret_ref
        entry = acme.account_key_entry
        key_pem = await read_secret_entry(self._ctx.client, namespace, ref.name, entry)
        if key_pem is None:
            if acme.disable_account_key_generation:
                raise IssuerFailed(
                    reasons.ERR_INIT_ISSUER,
                    reasons.INIT_ISSUER_FAILED_PREFIX
                    + f'account key Secret "{namespace}/{ref.name}" (key "{entry}") not found '
                    "and disableAccountKeyGeneration is set",
                )
            key_pem = await self._store_new_key(namespace, ref.name, entry)
        try:
            AcmeAccountKey.from_pem(key_pem)
        except InvalidAccountKey as exc:
            raise IssuerFailed(
                reasons.ERR_INIT_ISSUER,
                reasons.INIT_ISSUER_FAILED_PREFIX + f'Secret "{namespace}/{ref.name}": {exc}',
            ) from None
        return key_pem

    async def _store_new_key(self, namespace: str, name: str, entry: str) -> bytes:
        key_pem = generate_account_key()
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {"name": name, "namespace": namespace},
            "data": {entry: base64.b64encode(key_pem).decode()},
        }
        try:
            await self._ctx.client.create(SECRETS, secret, namespace=namespace)
        except AlreadyExists:
            # Created by someone else since we looked (or it lacks our entry): use theirs.
            existing = await read_secret_entry(self._ctx.client, namespace, name, entry)
            if existing is None:
                raise IssuerFailed(
                    reasons.ERR_INIT_ISSUER,
                    reasons.INIT_ISSUER_FAILED_PREFIX
                    + f'Secret "{namespace}/{name}" exists without entry "{entry}"',
                ) from None
            return existing
        log.info("acme_account_key_generated", secret=f"{namespace}/{name}")
        return key_pem

    async def _eab(self, issuer: dict[str, Any], acme: ACMEIssuer) -> ExternalAccountBinding | None:
        binding = acme.external_account_binding
        if binding is None:
            return None
        namespace = self._accounts.secret_namespace(issuer)
        ref = binding.key_secret_ref
        entry = ref.key_or("secret")
        hmac = await read_secret_entry(self._ctx.client, namespace, ref.name, entry)
        if hmac is None:
            raise IssuerFailed(
                reasons.ERR_INIT_ISSUER,
                reasons.INIT_ISSUER_FAILED_PREFIX
                + f'external account binding Secret "{namespace}/{ref.name}" '
                f'(key "{entry}") not found',
            )
        return ExternalAccountBinding(key_id=binding.key_id, hmac_key=hmac.decode().strip())

    async def _fail(self, issuer: dict[str, Any], failure: IssuerFailed) -> None:
        status = dict(issuer.get("status") or {})
        status["conditions"] = self._condition(
            issuer, Status.FALSE, failure.reason, failure.message
        )
        if await patch_status(self._ctx.client, self._resource, issuer, status) is not None:
            self._ctx.events.event(issuer, "Warning", failure.reason, failure.message)
        log.warning("acme_issuer_failed", reason=failure.reason, error=failure.message)

    def _condition(
        self, issuer: dict[str, Any], status: Status, reason: str, message: str
    ) -> list[dict[str, Any]]:
        meta = issuer.get("metadata") or {}
        return set_condition(
            (issuer.get("status") or {}).get("conditions"),
            type_=READY,
            status=status,
            reason=reason,
            message=message,
            observed_generation=meta.get("generation"),
            now=self._ctx.clock.now(),
        )


def _same_origin(uri: str, server: str) -> bool:
    a, b = urlsplit(uri), urlsplit(server)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc)


def _ready_message(issuer: dict[str, Any]) -> str:
    for condition in (issuer.get("status") or {}).get("conditions") or ():
        if condition.get("type") == READY and condition.get("status") == "True":
            return str(condition.get("message") or reasons.ACCOUNT_REGISTERED_MESSAGE)
    return reasons.ACCOUNT_REGISTERED_MESSAGE
