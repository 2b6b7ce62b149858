"""What ``Ready`` and the validity fields say for a given status: readiness's computation.

Owns ``with_readiness``: a status with ``Ready`` (the readiness policy chain; while not
ready, the failed attempt's reason and message, or what the pending request waits on;
``InvalidSpec`` for a spec that can never be issued), ``FieldsNotActedOn`` (while the
spec sets fields certmgr ignores) and ``notBefore``, ``notAfter`` and ``renewalTime``
(jitter included: the time the trigger acts on; none with renewal.policy Disabled)
exactly as the readiness controller writes them. The readiness controller writes the
result on its own; the trigger and the issuing controller apply it to the status they are
about to write, so one write carries both and readiness then finds nothing to change
(each write is also a watch event and a reconcile for every certificate controller);
whoever writes a changed Ready logs ``readiness_updated`` (``ready_changed``). Pure: no
I/O, no clock (``now`` is an argument).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from certmgr.api.codec import rfc3339
from certmgr.api.conditions import (
    FIELDS_NOT_ACTED_ON,
    ISSUING,
    READY,
    Status,
    remove_condition,
    set_condition,
)
from certmgr.api.reasons import NOT_ACTED_ON
from certmgr.controllers.certificates.spec import (
    INVALID_SPEC,
    CertificateView,
    fields_not_acted_on,
)
from certmgr.policies.chains import BLOCKING_REASONS, ReadyCondition, readiness
from certmgr.policies.checks import issued_leaf, scheduled_renewal_time
from certmgr.policies.inputs import Input

VALIDITY_FIELDS: Final = ("notBefore", "notAfter", "renewalTime")
# What the issuing controller appends to Issuing's message while the request waits, so
# that `kubectl get certificate -o wide` (Ready's message) and `describe` say why.
WAITING_ON_REQUEST: Final = " Waiting on CertificateRequest "


def waiting_message(issuing_message: str, *, request: str, request_message: str) -> str:
    """Issuing's message (the trigger's reason kept) saying what the request waits on."""
    trigger = issuing_message.split(WAITING_ON_REQUEST, 1)[0].rstrip(".")
    return f'{trigger}.{WAITING_ON_REQUEST}"{request}": {request_message}'


def _waiting_part(certificate: CertificateView) -> str:
    issuing = certificate.status.condition(ISSUING)
    if issuing is None or not issuing.is_true or WAITING_ON_REQUEST not in issuing.message:
        return ""
    return WAITING_ON_REQUEST + issuing.message.split(WAITING_ON_REQUEST, 1)[1]


def validity_fields(input: Input) -> dict[str, str]:
    """notBefore, notAfter and renewalTime of the certificate in the Secret (or none)."""
    leaf = issued_leaf(input)
    if leaf is None:
        return {}
    fields = {
        "notBefore": rfc3339(leaf.not_before),
        "notAfter": rfc3339(leaf.not_after),
    }
    due = scheduled_renewal_time(input, leaf)
    if due is not None:
        fields["renewalTime"] = rfc3339(due)
    return fields


def seconds_until_unrenewed_expiry(input: Input | None, now: datetime) -> float | None:
    """With renewal.policy Disabled nothing reissues the certificate, so readiness looks
    again just after it expires, to say so; None otherwise."""
    if input is None or not input.renewal_disabled:
        return None
    leaf = issued_leaf(input)
    if leaf is None:
        return None
    left = (leaf.not_after - now).total_seconds()
    return left + 1.0 if left >= 0 else None


def ready_condition(certificate: CertificateView, input: Input | None) -> ReadyCondition:
    """Ready for ``certificate`` as its status stands; ``input`` is None only when the
    spec does not decode."""
    problem = certificate.problem()
    if problem is not None:
        return ReadyCondition(False, INVALID_SPEC, f"Certificate spec cannot be issued: {problem}")
    assert input is not None
    ready = readiness(input)
    failed = certificate.status.condition(ISSUING)
    blocked = ready.reason in BLOCKING_REASONS
    if not ready.status and not blocked and failed is not None and failed.is_false:
        return ReadyCondition(False, failed.reason, failed.message)
    waiting = _waiting_part(certificate) if not ready.status and not blocked else ""
    if waiting:
        return ReadyCondition(False, ready.reason, ready.message.rstrip(".") + "." + waiting)
    return ready


def with_readiness(
    certificate: CertificateView, input: Input | None, *, now: datetime
) -> tuple[dict[str, Any], ReadyCondition]:
    """``certificate``'s status (a copy) with Ready and the validity fields set.

    ``certificate`` carries the status to be written (``CertificateView.with_status``),
    since Ready depends on it (a failed attempt, the generation); ``input`` is gathered
    for that status (its revision's request, the Secret as it will be).
    """
    ready = ready_condition(certificate, input)
    status = dict(certificate.obj.get("status") or {})
    status["conditions"] = set_condition(
        status.get("conditions"),
        type_=READY,
        status=Status.TRUE if ready.status else Status.FALSE,
        reason=ready.reason,
        message=ready.message,
        observed_generation=certificate.generation,
        now=now,
    )
    ignored = fields_not_acted_on(certificate.spec) if certificate.spec is not None else ""
    if ignored:
        status["conditions"] = set_condition(
            status["conditions"],
            type_=FIELDS_NOT_ACTED_ON,
            status=Status.TRUE,
            reason=NOT_ACTED_ON,
            message=ignored,
            observed_generation=certificate.generation,
            now=now,
        )
    else:
        status["conditions"] = remove_condition(status["conditions"], FIELDS_NOT_ACTED_ON)
    for field in VALIDITY_FIELDS:
        status.pop(field, None)
    if input is not None:
        status.update(validity_fields(input))
    return status, ready


def ready_changed(certificate: CertificateView, ready: ReadyCondition) -> bool:
    """Whether ``ready`` differs from ``certificate``'s Ready condition as stored."""
    was = certificate.status.condition(READY)
    return (
        was is None
        or was.is_true != ready.status
        or (was.reason, was.message) != (ready.reason, ready.message)
    )
