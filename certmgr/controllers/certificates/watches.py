"""Which watch events can change a certificate controller's decision, and their keys.

Owns ``watch_certificate_world`` (a Certificate's own events, its CertificateRequests',
its target Secret's and its next-private-key Secrets', mapped to the Certificate's key),
``watch_secret_sharers`` (a Certificate's arrival or departure, mapped to the others that
name the same Secret)
and each controller's ``Interest``: the events it is told about. Every certificate
controller watches the same world, and most events concern one or two of them (a
request's status updates matter to the issuing controller, not to the key manager),
so each drops, at the watch, an event after which its reconcile could only find
nothing to do. That is safe only when the filter is a superset of "might act": the
filters read the event's objects and the cached Certificate, and every change of the
Certificate state they read is itself an event that passes (the transition into or out
of the state a filter asks about is seen on the side where it holds), so the
reconcile that matters still happens, on the state of the world as it then is.
It must not decide anything a reconciler decides, nor write anything.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from certmgr.api import labels
from certmgr.api.conditions import DENIED, INVALID_REQUEST, ISSUING, READY
from certmgr.api.reasons import REQUEST_FAILED
from certmgr.controllers.certificates.gather import (
    BY_SECRET,
    certificates,
    register_indexes,
    requests,
)
from certmgr.controllers.certificates.spec import CertificateView
from certmgr.controllers.context import Context
from certmgr.runtime.cache import Cache, Obj, object_key
from certmgr.runtime.controller import Controller
from certmgr.runtime.informer_requests import has_issued_certificate
from certmgr.runtime.manager import Predicate, owner_keys

# (child object, the cached Certificate it maps to) -> whether the event may matter.
ChildFilter = Callable[[Obj, Obj], bool]
_owners = owner_keys("Certificate")


def always(_child: Obj, _certificate: Obj) -> bool:
    return True


@dataclass(frozen=True, slots=True)
class Interest:
    """The events one controller is told about. ``None`` for a child kind: none of it.

    ``certificate`` filters the Certificate's own events (both sides, as
    ``Manager.watch`` passes them; None: all); the child filters see one side of a child
    event at a time (an update is enqueued when either side passes) with the
    Certificate as cached; ``requests_event`` filters request events on both sides
    before that (None: all). ``certificate_admits_arrivals``: ``certificate`` holds for
    every event without an old side (a Certificate's ADDED).
    """

    certificate: Predicate | None = None
    certificate_admits_arrivals: bool = False
    requests: ChildFilter | None = always
    requests_event: Predicate | None = None
    target_secrets: ChildFilter | None = always
    next_key_secrets: ChildFilter | None = always

    @property
    def queues_arrivals(self) -> bool:
        """Every cached Certificate's ADDED event queues it: its children's events add
        nothing until the controller takes its first key (``Manager.watch``)."""
        return self.certificate is None or self.certificate_admits_arrivals


def watch_certificate_world(ctx: Context, controller: Controller[str], interest: Interest) -> None:
    """Reconcile a Certificate on the events of it, its requests and its Secrets that
    ``interest`` lets through."""
    register_indexes(ctx)
    certs = certificates(ctx)
    manager = ctx.manager
    manager.watch(certs, controller, predicate=interest.certificate)
    # The mappers below only name cached Certificates.
    arrivals = interest.queues_arrivals
    if interest.requests is not None:
        manager.watch(
            requests(ctx),
            controller,
            _owned_by_certificates(certs.cache, interest.requests),
            predicate=interest.requests_event,
            queued_on_arrival=arrivals,
        )
    if interest.target_secrets is None and interest.next_key_secrets is None:
        return
    manager.watch(
        manager.secrets,
        controller,
        _secret_to_certificates(
            certs.cache, target=interest.target_secrets, next_key=interest.next_key_secrets
        ),
        queued_on_arrival=arrivals,
    )


def watch_secret_sharers(ctx: Context, controller: Controller[str], interest: Interest) -> None:
    """Reconcile the other Certificates naming a Secret when one that names it appears,
    goes or moves to another secretName: which of them owns the Secret may change.
    ``interest`` is the one ``controller``'s ``watch_certificate_world`` was given."""
    register_indexes(ctx)
    certs = certificates(ctx)

    def secret_name(obj: Obj | None) -> Any:
        return ((obj or {}).get("spec") or {}).get("secretName")

    def sharers(obj: Obj) -> list[str]:
        namespace = obj.get("metadata", {}).get("namespace", "")
        name = secret_name(obj)
        if not name:
            return []
        own = object_key(obj)
        return [
            key
            for c in certs.cache.by_index(BY_SECRET, f"{namespace}/{name}")
            if (key := object_key(c)) != own
        ]

    ctx.manager.watch(
        certs,
        controller,
        sharers,
        predicate=lambda old, new: (
            old is None or new is None or secret_name(old) != secret_name(new)
        ),
        queued_on_arrival=interest.queues_arrivals,
    )


def is_next_key_secret(secret: Obj) -> bool:
    return (secret.get("metadata", {}).get("labels") or {}).get(labels.NEXT_PRIVATE_KEY) == "true"


def _owned_by_certificates(certs: Cache, wanted: ChildFilter) -> Callable[[Obj], list[str]]:
    def mapper(child: Obj) -> list[str]:
        keys = []
        for key in _owners(child):
            namespace, _, name = key.rpartition("/")
            cached = certs.get(namespace, name)
            # No cached Certificate: every controller finds nothing to do, and the
            # Certificate's own ADDED event brings it back.
            if cached is not None and wanted(child, cached):
                keys.append(key)
        return keys

    return mapper


def _secret_to_certificates(
    certs: Cache, *, target: ChildFilter | None, next_key: ChildFilter | None
) -> Callable[[Obj], list[str]]:
    owned = _owned_by_certificates(certs, next_key) if next_key is not None else None

    def mapper(secret: Obj) -> list[str]:
        keys: list[str] = []
        if target is not None:
            named = certs.by_index(BY_SECRET, object_key(secret))
            keys += [object_key(c) for c in named if target(secret, c)]
        if owned is not None and is_next_key_secret(secret):
            keys += owned(secret)
        return keys

    return mapper


# -- the state of a Certificate the filters ask about ------------------------------------


# The filters run for each event as it is dispatched: every Certificate of a start's
# list, seconds before any reconcile. Each first reads the stored status, which decodes
# nothing, for what it can rule out: the decoded status is read from the same fields (or
# is empty when they do not decode), so what the stored one does not say, the decoded one
# does not either. Only otherwise, or when the stored form is not the one expected, is
# the Certificate decoded to answer. So a start's list makes no view that the
# reconciles are not about to make anyway.


def stored_condition_may_be_true(certificate: Obj, type_: str) -> bool:
    """False when the stored status surely has no ``type_`` condition that says "True"
    (then neither has the decoded one)."""
    status = certificate.get("status")
    if status is None:
        return False
    if not isinstance(status, Mapping):
        return True
    conditions = status.get("conditions")
    if conditions is None:
        return False
    if not isinstance(conditions, Sequence) or isinstance(conditions, str | bytes):
        return True
    for condition in conditions:
        if not isinstance(condition, Mapping):
            return True
        if condition.get("type") == type_:
            return condition.get("status") == "True"
    return False


def stored_may_name_next_private_key(certificate: Obj) -> bool:
    """False when the stored status surely names no next private key Secret."""
    status = certificate.get("status")
    if status is None:
        return False
    return not isinstance(status, Mapping) or bool(status.get("nextPrivateKeySecretName"))


def issuing(certificate: Obj) -> bool:
    if not stored_condition_may_be_true(certificate, ISSUING):
        return False
    return CertificateView.of(certificate).issuing is not None


def wants_temporary_certificate(certificate: Obj) -> bool:
    return CertificateView.of(certificate).wants_temporary_certificate


def not_issuing(_child: Obj, certificate: Obj) -> bool:
    return not issuing(certificate)


def while_issuing(_child: Obj, certificate: Obj) -> bool:
    return issuing(certificate)


def is_ready(certificate: Obj) -> bool:
    if not stored_condition_may_be_true(certificate, READY):
        return False
    ready = CertificateView.of(certificate).status.condition(READY)
    return ready is not None and ready.is_true


def revision_of(request: Obj) -> str | None:
    return ((request.get("metadata") or {}).get("annotations") or {}).get(
        labels.CERTIFICATE_REVISION
    )


def is_next_revision(request: Obj, certificate: Obj) -> bool:
    """Whether ``request`` is annotated with the revision being issued for ``certificate``."""
    return revision_of(request) == str(CertificateView.of(certificate).revision + 1)


def is_current_or_next_revision(request: Obj, certificate: Obj) -> bool:
    """Whether ``request`` is annotated with the Certificate's revision or the next one:
    the two ``gather`` reads (older ones are only the revision manager's to prune)."""
    revision = CertificateView.of(certificate).revision
    return revision_of(request) in (str(revision), str(revision + 1))


def _conditions(request: Obj) -> list[dict[str, Any]]:
    return list((request.get("status") or {}).get("conditions") or ())


def request_finished(request: Obj) -> bool:
    """Ready, Denied, InvalidRequest or Failed: a request the issuing controller acts on.

    Raw and conservative: any Ready=True, or a Ready=False with reason Failed, or a
    Denied or InvalidRequest condition that is True (whether or not the rest decodes).
    """
    for condition in _conditions(request):
        type_, status = condition.get("type"), condition.get("status")
        if type_ in (DENIED, INVALID_REQUEST) and status == "True":
            return True
        if type_ == READY and (status == "True" or condition.get("reason") == REQUEST_FAILED):
            return True
    return False


def request_pending(request: Obj) -> bool:
    """Ready=False with reason Pending: the issuer says what the request waits on."""
    return any(
        c.get("type") == READY and c.get("status") == "False" and c.get("reason") == "Pending"
        for c in _conditions(request)
    )


def request_has_certificate(request: Obj) -> bool:
    return has_issued_certificate(request)


def either_side(side: Callable[[Obj], bool]) -> Predicate:
    """A Certificate event predicate: ``side`` holds for the old or the new object."""

    def predicate(old: Obj | None, new: Obj | None) -> bool:
        return any(obj is not None and side(obj) for obj in (old, new))

    return predicate
