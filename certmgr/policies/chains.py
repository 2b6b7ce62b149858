"""The ordered policy chains and the decisions built on them.

Owns: `BLOCKING_CHAIN` (may this Certificate be issued at all?),
`DEFAULT_TRIGGER_CHAIN` (does this Certificate need issuing, and why?),
`READINESS_CHAIN` and `readiness` (Ready=True/False with which reason),
`TEMPORARY_CERTIFICATE_CHAIN` (does the Secret lack a usable key pair?), `evaluate`
(first violation wins), and `issuance_allowed` (the failed-issuance backoff gate).
Order matters: the cheap existence checks run first and the later checks rely on them,
exactly as in cert-manager's NewTriggerPolicyChain / NewReadinessPolicyChain.
Must not: do I/O, read the clock or log; a controller acts on the returned values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from certmgr.pki.renewal import DEFAULT_BACKOFF_BASE, DEFAULT_BACKOFF_CAP, next_attempt_time
from certmgr.policies import checks, reasons
from certmgr.policies.checks import TIMELESS, Check, request_violations
from certmgr.policies.inputs import Input, Violation

# Violations no issuance can cure: the trigger starts none (and looks again later), and
# readiness reports them first. Not in cert-manager's chains (see each check).
BLOCKING_CHAIN: Final[tuple[Check, ...]] = (
    checks.secret_owned_by_another_certificate,
    checks.secret_has_foreign_type,
)
BLOCKING_REASONS: Final = frozenset({reasons.DUPLICATE_SECRET_NAME, reasons.INCORRECT_SECRET_TYPE})

DEFAULT_TRIGGER_CHAIN: Final[tuple[Check, ...]] = (
    checks.manually_triggered,
    checks.secret_does_not_exist,
    checks.secret_is_missing_data,
    checks.secret_public_key_does_not_match,
    # Not in cert-manager's chain: a failed attempt would leave its placeholder in place
    # until it neared expiry. Only ever violated when Issuing=False, so backed off.
    checks.secret_holds_temporary_certificate,
    checks.secret_issuer_annotations_mismatch,
    checks.secret_certificate_name_annotation_mismatch,
    checks.secret_private_key_mismatches_spec,
    checks.secret_public_key_differs_from_current_request,
    checks.current_certificate_request_mismatches_spec,
    # cert-manager lets an expired certificate fall through to "Renewing"; naming it
    # "Expired" tells the user more and changes nothing else (both trigger issuance).
    checks.expired_certificate_is_renewed,
    checks.certificate_not_yet_valid,
    checks.current_certificate_nearing_expiry,
)

READINESS_CHAIN: Final[tuple[Check, ...]] = (
    *BLOCKING_CHAIN,
    checks.secret_does_not_exist,
    checks.secret_is_missing_data,
    checks.secret_public_key_does_not_match,
    # Not in cert-manager's chain (there the placeholder counts as Ready): a Certificate
    # is not Ready on a certificate nobody trusts.
    checks.secret_holds_temporary_certificate,
    checks.secret_issuer_annotations_mismatch,
    checks.secret_certificate_name_annotation_mismatch,
    checks.secret_private_key_mismatches_spec,
    checks.secret_public_key_differs_from_current_request,
    checks.current_certificate_request_mismatches_spec,
    checks.certificate_has_expired,
    # cert-manager's readiness sets Ready=False WindowError when no window fits.
    checks.renewal_window_not_found,
)

# cert-manager's NewTemporaryCertificatePolicyChain: a violation means the Secret holds
# no usable certificate and key pair, so (when asked for) a temporary one is written.
TEMPORARY_CERTIFICATE_CHAIN: Final[tuple[Check, ...]] = (
    checks.secret_does_not_exist,
    checks.secret_is_missing_data,
    checks.secret_public_key_does_not_match,
)

READY_MESSAGE: Final = reasons.READY_MESSAGE


@dataclass(frozen=True, slots=True)
class ReadyCondition:
    """The Ready condition readiness computes: status, reason and message."""

    status: bool
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class IssuanceGate:
    """Whether issuance may start now; if not, when to look again and why."""

    allowed: bool
    retry_at: datetime | None = None
    message: str = ""


_UNJUDGED: Final = Violation("", "")


def evaluate(input: Input, chain: Sequence[Check] = DEFAULT_TRIGGER_CHAIN) -> Violation | None:
    """The first violation in `chain`, or None when every check passes."""
    judged = input.judged
    for check in chain:
        if check in TIMELESS:
            violation = judged.get(check, _UNJUDGED)
            if violation is _UNJUDGED:
                violation = judged[check] = check(input)
        else:
            violation = check(input)
        if violation is not None:
            return violation
    return None


def readiness(input: Input, chain: Sequence[Check] = READINESS_CHAIN) -> ReadyCondition:
    """Ready=False with the first readiness violation's reason, else Ready=True/"Ready"."""
    violation = evaluate(input, chain)
    if violation is None:
        return ReadyCondition(status=True, reason=reasons.READY, message=READY_MESSAGE)
    return ReadyCondition(status=False, reason=violation.reason, message=violation.message)


def issuance_allowed(
    input: Input,
    *,
    base: timedelta = DEFAULT_BACKOFF_BASE,
    cap: timedelta = DEFAULT_BACKOFF_CAP,
) -> IssuanceGate:
    """cert-manager's shouldBackoffReissuingOnFailure, plus the manual-renew bypass.

    No recorded failure, a manual renew, or a spec that no longer matches the last
    (failed) request all allow issuance at once; otherwise wait until
    `last_failure_time + base * 2**(attempts-1)` (capped).
    """
    if input.manually_triggered or input.last_failure_time is None:
        return IssuanceGate(allowed=True)
    if input.next_request is not None:
        changed = request_violations(
            input.next_request, input.requirements, issuer_ref=input.issuer_ref
        )
        # An undecodable request is no reason to wait, and a changed spec retries at once.
        if changed is None or changed:
            return IssuanceGate(allowed=True)
    retry_at = next_attempt_time(
        input.last_failure_time, input.failed_issuance_attempts or 0, base=base, cap=cap
    )
    if input.now >= retry_at:
        return IssuanceGate(allowed=True)
    return IssuanceGate(
        allowed=False,
        retry_at=retry_at,
        message="Backing off from issuance due to previously failed issuance(s). "
        f"Issuance will next be attempted at {retry_at.isoformat()}",
    )
