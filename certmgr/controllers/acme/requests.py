"""CertificateRequests for ACME issuers: one Order per request, its chain copied back.

Owns the Ready condition of an approved CertificateRequest whose ``issuerRef`` is an
ACME Issuer or ClusterIssuer, ``status.certificate``/``ca``/``failureTime``, and the
Order it creates (deterministic name ``<request>-<hash of the order spec>``, owned by
the request), or adopts the one cert-manager made for it (found by owner uid in an
index, never by listing a namespace's Orders). It waits with Ready=False/Pending while
the issuer is missing or not Ready (issuers wake their requests through an index), and
ends in Issued, Failed or Denied, after which it never touches the request again.
While the Order works it writes nothing (one status write per request, the outcome; the
approver writes approval) unless the Order is stuck: then Ready=False/Pending says
cert-manager's "Waiting on certificate issuance from order <ns>/<name>: "<state>""
followed by why (the Order's status.reason, e.g. no solver for a name, or a Challenge's,
e.g. a route that does not answer), and once more when that cause is gone. The Order
inherits the request's ``cert-manager.io/`` annotations and its HTTP-01 override
annotations, and ``replaces`` (the ARI CertID of the certificate being renewed, from
its Certificate's status.acme.ari). It must not speak ACME: the order controller does.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import structlog

from certmgr.api import reasons
from certmgr.api.acme import State
from certmgr.api.codec import InvalidObject
from certmgr.api.conditions import READY, get_condition
from certmgr.api.durations import format_go_duration
from certmgr.api.issuers import ACMEIssuer, IssuerSpec
from certmgr.api.labels import CERTIFICATE_NAME
from certmgr.api.requests import CertificateRequestSpec, CertificateRequestStatus
from certmgr.controllers.acme.issuer_refs import (
    ISSUER_INDEX,
    referenced_issuer,
    referrers,
    request_issuer_ref_index,
)
from certmgr.controllers.acme.names import order_name
from certmgr.controllers.acme.order_steps import owned_by_order
from certmgr.controllers.acme.orders import OWNER_INDEX
from certmgr.controllers.acme.overrides import override_annotations
from certmgr.controllers.acme.placed_orders import created_here
from certmgr.controllers.acme.valid_orders import valid_as_written
from certmgr.controllers.acme.writes import owner_reference, progress_event
from certmgr.controllers.certificaterequests.ready import ReadyWriter
from certmgr.controllers.certificaterequests.unfinished import finished_key
from certmgr.controllers.context import Context
from certmgr.kube.errors import AlreadyExists
from certmgr.kube.objects import being_deleted
from certmgr.kube.resources import (
    CERTIFICATEREQUESTS,
    CERTIFICATES,
    CHALLENGES,
    CLUSTERISSUERS,
    ISSUERS,
    ORDERS,
)
from certmgr.memo import Generations
from certmgr.pki.certificates import encode_pem, parse_chain, root_of_chain, split_leaf_and_chain
from certmgr.pki.csr import ParsedCSR, parse_csr
from certmgr.pki.errors import PKIError
from certmgr.runtime.cache import Cache, Obj, split_key
from certmgr.runtime.controller import Result
from certmgr.runtime.informer_orders import chain_dropped, spec_is
from certmgr.runtime.informer_requests import trimmed
from certmgr.runtime.manager import Mapper, owner_keys

log = structlog.get_logger(__name__)

ISSUED_MESSAGE: Final = "Certificate fetched from issuer successfully"
WAITING_PREFIX: Final = "Waiting on certificate issuance from order "
DENIED_MESSAGE: Final = "The CertificateRequest was denied by an approval controller"
_FINAL_ORDER_STATES: Final = {State.INVALID.value, State.EXPIRED.value, State.ERRORED.value}
# Orders by the names of the CertificateRequests that own them (a lookup checks the uid):
# the index keeps the very string the cached Order holds (not pooled: one Order names
# it), where a uid would be a string of its own per Order (~85 B; the Order keeps its uids
# as integers).
ORDERS_BY_OWNER: Final = "acme-orders-by-owner-request"


def setup(ctx: Context) -> None:
    """Register the ACME CertificateRequest controller on ``ctx.manager``."""
    manager = ctx.manager
    requests = manager.informer(CERTIFICATEREQUESTS)
    requests.cache.add_index(ISSUER_INDEX, request_issuer_ref_index)
    orders = manager.informer(ORDERS)
    challenges = manager.informer(CHALLENGES)
    issuers = manager.informer(ISSUERS)
    cluster_issuers = manager.informer(CLUSTERISSUERS)
    reconciler = RequestReconciler(
        ctx,
        requests=requests.cache,
        orders=orders.cache,
        challenges=challenges.cache,
        issuers=issuers.cache,
        cluster_issuers=cluster_issuers.cache,
        certificates=manager.informer(CERTIFICATES).cache,
    )
    controller = manager.controller(
        "acme-certificaterequests", reconciler.reconcile, workers=ctx.settings.workers
    )
    # A finished request's reconcile stops at once: no event of it, its Order, its
    # Challenges or its issuer enqueues it (at start: one no-op reconcile per request).
    manager.watch(requests, controller, predicate=_unfinished_event)
    skip = finished_key(requests.cache, finished)
    manager.watch(orders, controller, owner_keys("CertificateRequest"), skip_key=skip)
    manager.watch(
        challenges,
        controller,
        _requests_of_challenge(orders.cache),
        predicate=_reason_changed,
        skip_key=skip,
    )
    manager.watch(issuers, controller, referrers(requests.cache), skip_key=skip)
    manager.watch(cluster_issuers, controller, referrers(requests.cache), skip_key=skip)


def build_order_spec(
    spec: CertificateRequestSpec, csr: ParsedCSR, raw_ref: dict[str, Any], acme: ACMEIssuer
) -> dict[str, Any]:
    """The Order's spec for a request (cert-manager's buildOrder)."""
    order: dict[str, Any] = {
        "request": base64.b64encode(spec.request).decode(),
        "issuerRef": dict(raw_ref),
    }
    if csr.common_name:
        order["commonName"] = csr.common_name
    if csr.dns_names:
        order["dnsNames"] = list(csr.dns_names)
    if csr.ip_addresses:
        order["ipAddresses"] = list(csr.ip_addresses)
    if acme.enable_duration_feature and spec.duration is not None:
        order["duration"] = format_go_duration(spec.duration)
    if acme.profile:
        order["profile"] = acme.profile
    return order


def order_annotations(request_annotations: Mapping[str, str]) -> dict[str, str]:
    """What an Order inherits from its request: ``cert-manager.io/`` annotations and the
    HTTP-01 overrides the Order controller applies to its solver."""
    inherited = {k: v for k, v in request_annotations.items() if k.startswith("cert-manager.io/")}
    inherited.update(override_annotations(request_annotations))
    return inherited


def order_body(request: dict[str, Any], *, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """The Order ``name`` a request's controller creates for it: its labels, the
    annotations it inherits, owned by the request."""
    meta = request["metadata"]
    return {
        "apiVersion": ORDERS.api_version,
        "kind": ORDERS.kind,
        "metadata": {
            "name": name,
            "namespace": meta["namespace"],
            "labels": dict(meta.get("labels") or {}),
            "annotations": order_annotations(meta.get("annotations") or {}),
            "ownerReferences": [owner_reference(request)],
        },
        "spec": spec,
    }


def split_issued_chain(pem: bytes) -> tuple[bytes, bytes]:
    """(certificate, ca): leaf + intermediates, and the root when the chain includes it."""
    try:
        chain = parse_chain(pem)
    except PKIError:
        return pem, b""
    leaf, intermediates = split_leaf_and_chain(chain)
    root = root_of_chain(chain)
    return encode_pem([leaf, *intermediates]), encode_pem([root]) if root is not None else b""


@dataclass(frozen=True, slots=True)
class _Plan:
    """The Order a request asks for, as derived from ``request`` (the cached object) and
    ``acme`` (its issuer's decoded ``spec.acme``): its name and its spec without
    ``replaces``."""

    request: Obj
    acme: ACMEIssuer
    name: str
    order_spec: dict[str, Any]


class RequestReconciler:
    def __init__(
        self,
        ctx: Context,
        *,
        requests: Cache,
        orders: Cache,
        issuers: Cache,
        cluster_issuers: Cache,
        challenges: Cache | None = None,
        certificates: Cache | None = None,
    ) -> None:
        self._ctx = ctx
        self._certificates = certificates
        self._requests = requests
        self._ready = ReadyWriter(ctx, requests)
        self._orders = orders
        # Registered before the informer fills the cache (setup builds the reconciler
        # first), so Orders are filed as they arrive.
        orders.add_index(ORDERS_BY_OWNER, owner_request_names, shared=False)
        self._challenges = challenges
        if challenges is not None:
            # The Order controller's index (a no-op when it registered it already).
            challenges.add_index(OWNER_INDEX, owned_by_order)
        self._issuers = issuers
        self._cluster_issuers = cluster_issuers
        # issuer uid -> (resourceVersion, its decoded spec.acme): every reconcile asks.
        self._acme_specs: dict[str, tuple[str, ACMEIssuer | None]] = {}
        # request key -> its Order's name and spec: each event of its Order and Challenges
        # reconciles the request, with the same request and issuer objects (the CSR is
        # decoded, the spec encoded and hashed once, not per event). Dropped when the
        # request finishes, or goes unread for a while (deleted unfinished).
        self._plans: Generations[str, _Plan] = Generations()

    async def reconcile(self, key: str) -> Result | None:
        namespace, name = split_key(key)
        request = self._requests.get(namespace, name)
        if request is None or being_deleted(request):
            self._plans.pop(key)
            return None  # no Order for a request being deleted
        found = referenced_issuer(
            request, issuers=self._issuers, cluster_issuers=self._cluster_issuers
        )
        if found is None:
            return None
        kind, issuer_name, issuer = found
        raw_status = request.get("status") or {}
        try:
            status = CertificateRequestStatus.from_dict(raw_status, path="status")
        except InvalidObject:
            return None
        if finished(request):
            self._plans.pop(key)
            return None  # final: Issued, Failed or Denied
        acme = self._acme_spec(issuer)
        if issuer is not None and acme is None:
            return None  # another issuer type's controller handles it
        if status.is_denied:
            await self._finish(request, reasons.REQUEST_DENIED, DENIED_MESSAGE, failed=True)
            return None
        if issuer is None:
            message = (
                f'Referenced "{kind}" not found: {kind.lower()}.cert-manager.io '
                f'"{issuer_name}" not found'
            )
            await self._pending(request, message)
            return None
        if acme is None or not status.is_approved:
            return None
        ready = get_condition((issuer.get("status") or {}).get("conditions"), READY)
        if ready is None or not ready.is_true:
            detail = f": {ready.message}" if ready is not None and ready.message else ""
            await self._pending(
                request, f'Waiting for {kind} "{issuer_name}" to become Ready{detail}'
            )
            return None
        return await self._sync_order(key, request, acme)

    def _acme_spec(self, issuer: dict[str, Any] | None) -> ACMEIssuer | None:
        """``_acme_spec(issuer)``, decoded once per (issuer uid, resourceVersion)."""
        meta = (issuer or {}).get("metadata") or {}
        uid, version = meta.get("uid"), meta.get("resourceVersion")
        if not (uid and version):
            return _acme_spec(issuer)
        cached = self._acme_specs.get(uid)
        if cached is not None and cached[0] == version:
            return cached[1]
        acme = _acme_spec(issuer)
        self._acme_specs[uid] = (version, acme)
        return acme

    async def _sync_order(
        self, key: str, request: dict[str, Any], acme: ACMEIssuer
    ) -> Result | None:
        meta = request["metadata"]
        plan = self._plans.get(key)
        if plan is None or plan.request is not request or plan.acme is not acme:
            try:
                spec = CertificateRequestSpec.from_dict(request.get("spec"), path="spec")
                csr = parse_csr(spec.request)
            except (InvalidObject, PKIError) as exc:
                await self._finish(
                    request,
                    reasons.REQUEST_FAILED,
                    f"Failed to decode CSR in spec.request: {exc}",
                    failed=True,
                )
                return None
            planned = build_order_spec(spec, csr, request["spec"]["issuerRef"], acme)
            # Named before ``replaces`` is added: the certificate status it comes from may
            # change while the Order works, and a new name would be a second Order.
            plan = _Plan(request, acme, order_name(meta["name"], planned), planned)
            self._plans.put(key, plan)
        name = plan.name
        order_spec = dict(plan.order_spec)
        replaces = self._replaces(request)
        if replaces:
            order_spec["replaces"] = replaces
        order = self._orders.get(meta["namespace"], name) or self._adoptable_order(
            request, order_spec
        )
        if order is None:
            await self._create_order(request, name, order_spec)
        else:
            name = order["metadata"]["name"]
        if order is not None and chain_dropped(order):
            order = await valid_as_written(order) or await self._live_order(order)
        order_status = (order or {}).get("status") or {}
        state = order_status.get("state") or ""
        if state == State.VALID.value and order_status.get("certificate"):
            certificate, ca = split_issued_chain(base64.b64decode(order_status["certificate"]))
            await self._finish(
                request, reasons.REQUEST_ISSUED, ISSUED_MESSAGE, certificate=certificate, ca=ca
            )
            log.info("certificate_request_issued", request=f"{meta['namespace']}/{meta['name']}")
            return None
        if state in _FINAL_ORDER_STATES:
            detail = order_status.get("reason") or ""
            message = f'Failed to wait for order resource "{name}" to become ready: '
            message += f'order is in "{state}" state' + (f": {detail}" if detail else "")
            await self._finish(request, reasons.REQUEST_FAILED, message, failed=True)
            return None
        # Nothing to write while the Order works: its own status tells its progress, and
        # a "Pending" condition here would be one more write per issuance that says
        # nothing new (approval is written by the approver, the outcome below, once).
        # A stuck Order is different: the request (and so the Certificate) says why.
        if order is not None:
            await self._report_waiting(request, order, state)
        return None

    async def _live_order(self, order: Obj) -> Obj:
        """The Order whole, chain included, from the API (the cache dropped the chain, and
        this process did not write it: a restart since it turned valid)."""
        meta = order["metadata"]
        return await self._ctx.client.get(ORDERS, meta["name"], namespace=meta["namespace"])

    def _replaces(self, request: dict[str, Any]) -> str | None:
        """The ARI CertID of the certificate this request renews (RFC 9773 section 5):
        its Certificate's status.acme.ari, written once the CA gave a window for it."""
        if self._certificates is None:
            return None
        meta = request.get("metadata") or {}
        owner = (meta.get("annotations") or {}).get(CERTIFICATE_NAME)
        certificate = self._certificates.get(meta.get("namespace"), owner) if owner else None
        ari = (((certificate or {}).get("status") or {}).get("acme") or {}).get("ari") or {}
        cert_id = ari.get("certID")
        return (
            cert_id if isinstance(cert_id, str) and cert_id and ari.get("suggestedWindow") else None
        )

    def _adoptable_order(self, request: dict[str, Any], order_spec: dict[str, Any]) -> Obj | None:
        """Taking over from cert-manager: the Order it made for this request (its own name
        scheme), kept when it orders exactly this and has not failed."""
        meta = request["metadata"]
        namespace, uid = meta["namespace"], meta.get("uid")
        if not (isinstance(uid, str) and uid):  # not filed (the API server sets one)
            orders = self._orders.list(namespace)
            return next((o for o in orders if _adoptable(o, request, order_spec)), None)
        # By the request's name; ``_adoptable`` keeps those its uid owns.
        adoptable = [
            order
            for key in self._orders.keys_by_index(ORDERS_BY_OWNER, meta["name"])
            if key[0] == namespace
            and (order := self._orders.get(*key)) is not None
            and _adoptable(order, request, order_spec)
        ]
        if len(adoptable) <= 1:
            return adoptable[0] if adoptable else None
        # Two or more (a third party's copies: cert-manager names one per spec): the one
        # a pass over the namespace's Orders meets first, as ever.
        names = {o["metadata"]["name"] for o in adoptable}
        return next(o for o in self._orders.list(namespace) if o["metadata"]["name"] in names)

    async def _report_waiting(self, request: dict[str, Any], order: Obj, state: str) -> None:
        meta = order["metadata"]
        waiting = (
            f"Waiting on certificate issuance from order {meta['namespace']}/{meta['name']}: "
            f'"{state or State.PENDING.value}"'
        )
        cause = self._stuck_cause(order)
        ready = get_condition((request.get("status") or {}).get("conditions"), READY)
        if cause:
            await self._pending(request, f"{waiting}: {cause}")
        elif ready is not None and ready.message.startswith(WAITING_PREFIX):
            await self._pending(request, waiting)  # the cause is gone: say so

    def _stuck_cause(self, order: Obj) -> str:
        """The Order's own reason, else the first of its Challenges' reasons (by name)."""
        reason = str((order.get("status") or {}).get("reason") or "")
        if reason or self._challenges is None:
            return reason
        meta = order["metadata"]
        causes = sorted(
            (str(c["metadata"]["name"]), str(c.get("spec", {}).get("dnsName", "")), why)
            for c in self._challenges.by_index(OWNER_INDEX, meta["name"])
            if c["metadata"].get("namespace") == meta["namespace"]
            and _owned_by(c, order)
            and (why := str((c.get("status") or {}).get("reason") or ""))
            and (c.get("status") or {}).get("state") != State.VALID.value
        )
        if not causes:
            return ""
        name, dns_name, why = causes[0]
        return f'challenge "{name}" for "{dns_name}": {why}'

    async def _create_order(self, request: dict[str, Any], name: str, spec: dict[str, Any]) -> None:
        meta = request["metadata"]
        order = order_body(request, name=name, spec=spec)
        try:
            created = await self._ctx.client.create(ORDERS, order, namespace=meta["namespace"])
        except AlreadyExists:
            return  # created by an earlier reconcile the cache has not shown yet
        created_here(str((created.get("metadata") or {}).get("uid") or ""))
        progress_event(
            self._ctx, request, reasons.EVENT_ORDER_CREATED, f"Created Order resource {name}"
        )

    async def _pending(self, request: dict[str, Any], message: str) -> None:
        await self._ready.pending(request, message)

    async def _finish(
        self,
        request: dict[str, Any],
        reason: str,
        message: str,
        *,
        failed: bool = False,
        certificate: bytes = b"",
        ca: bytes = b"",
    ) -> None:
        if failed:
            self._ctx.events.event(request, "Warning", reason, message)
            await self._ready.failed(request, reason, message)
        else:
            await self._ready.issued(request, message, certificate=certificate, ca=ca)


def owner_request_names(order: Obj) -> list[str]:
    """The index function of Orders: the names of the CertificateRequests their
    ownerReferences name."""
    refs = (order.get("metadata") or {}).get("ownerReferences") or ()
    return [
        name
        for ref in refs
        if isinstance(ref, dict)
        and ref.get("kind") == "CertificateRequest"
        and isinstance(name := ref.get("name"), str)
        and name
    ]


def _adoptable(order: Obj, request: Obj, order_spec: dict[str, Any]) -> bool:
    state = (order.get("status") or {}).get("state") or ""
    return (
        state not in _FINAL_ORDER_STATES
        and _owned_by(order, request)
        and spec_is(order, order_spec)  # by digest for a final Order as cached
    )


def _owned_by(child: Obj, owner: Obj) -> bool:
    uid = owner["metadata"].get("uid")
    return any(ref.get("uid") == uid for ref in child["metadata"].get("ownerReferences") or ())


def _reason_changed(old: Obj | None, new: Obj | None) -> bool:
    """A Challenge event that may change what a stuck request says: its reason changed,
    or it came or went with one."""

    def reason(obj: Obj | None) -> str:
        return str(((obj or {}).get("status") or {}).get("reason") or "")

    return reason(old) != reason(new)


def _requests_of_challenge(orders: Cache) -> Mapper:
    order_owners = owner_keys("Order")
    request_owners = owner_keys("CertificateRequest")

    def mapper(challenge: Obj) -> list[str]:
        keys: list[str] = []
        for key in order_owners(challenge):
            namespace, name = split_key(key)
            order = orders.get(namespace, name)
            if order is not None:
                keys += request_owners(order)
        return keys

    return mapper


def _acme_spec(issuer: dict[str, Any] | None) -> ACMEIssuer | None:
    if issuer is None:
        return None
    try:
        return IssuerSpec.from_dict(issuer.get("spec"), path="spec").acme
    except InvalidObject:
        return None


def finished(request: Obj) -> bool:
    """Whether this controller is done with ``request``: Ready=True (Issued), or
    Ready=False with a final reason (Failed, Denied). Its reconcile stops here and its
    watches enqueue no event of such a request. An undecodable condition reads as not
    finished (the reconcile decides)."""
    if trimmed(request):
        return True  # cached as issued: Ready=True, its conditions decode (informer_requests)
    try:
        ready = get_condition((request.get("status") or {}).get("conditions"), READY)
    except InvalidObject:
        return False
    if ready is None:
        return False
    return ready.is_true or (
        ready.is_false and ready.reason in (reasons.REQUEST_FAILED, reasons.REQUEST_DENIED)
    )


def _unfinished_event(old: Obj | None, new: Obj | None) -> bool:
    """A request event this controller's reconcile acts on: its new side unfinished (a
    deleted request's reconcile does nothing either)."""
    return new is not None and not finished(new)
