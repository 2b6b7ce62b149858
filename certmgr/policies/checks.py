"""The named checks of the policy chains, one per violation, in cert-manager's vocabulary.

Owns: each check (`Input -> Violation | None`), named after what it detects, with
cert-manager's reason and message, and `request_violations` (RequestMatchesSpec).
A check may assume the checks before it in a chain passed (the Secret exists and has
`tls.crt`/`tls.key`) but never crashes when they did not.
Must not: do I/O, read the clock (`input.now` is the time) or log.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Final, TypeAlias

from certmgr.pki.errors import PKIError
from certmgr.pki.keys import key_size_violations
from certmgr.pki.match import certificate_alt_names_violations, csr_violations, same_multiset
from certmgr.pki.renewal import jittered_renewal_time, renewal_jitter_bound, renewal_time
from certmgr.pki.renewalinfo import time_at_draw
from certmgr.pki.requirements import CertificateRequirements
from certmgr.pki.summary import KeySummary, LeafSummary
from certmgr.policies import reasons
from certmgr.policies.inputs import (
    CERTIFICATE_NAME_ANNOTATION,
    DEFAULT_ISSUER_GROUP,
    DEFAULT_ISSUER_KIND,
    ISSUER_GROUP_ANNOTATION,
    ISSUER_KIND_ANNOTATION,
    ISSUER_NAME_ANNOTATION,
    TLS_CERT_KEY,
    TLS_PRIVATE_KEY_KEY,
    TLS_SECRET_TYPE,
    Input,
    IssuerRef,
    RequestView,
    Violation,
)
from certmgr.policies.renewal_windows import windowed_renewal_time

Check: TypeAlias = Callable[[Input], Violation | None]

# The checks marked ``@timeless``: they read nothing but the Input and not its ``now``, so
# a verdict holds for the Input and its copies at other times (``chains.evaluate`` keeps
# it in ``Input.judged``). Not the expiry, validity, renewal-time and window checks.
TIMELESS: Final[set[Check]] = set()


def timeless(check: Check) -> Check:
    """Mark ``check`` as reading neither ``now`` nor anything but the Input."""
    TIMELESS.add(check)
    return check


# A certificate whose notBefore is only slightly ahead of our clock is clock skew between us
# and the CA, not a broken certificate; reissuing for it would loop. Beyond this it is real.
NOT_YET_VALID_TOLERANCE: Final = timedelta(minutes=5)


@timeless
def manually_triggered(input: Input) -> Violation | None:
    """A renew request (`certmgr renew`, like `cmctl renew`) wins over everything else."""
    if input.manually_triggered:
        return Violation(reasons.MANUALLY_TRIGGERED, "Certificate re-issuance manually triggered")
    return None


@timeless
def secret_owned_by_another_certificate(input: Input) -> Violation | None:
    """Another Certificate names the same Secret and owns it (cert-manager's
    CertificateOwnsSecret): issuing both would overwrite each other for ever."""
    if input.secret_owner is None or input.secret_owner == input.certificate_name:
        return None
    return Violation(
        reasons.DUPLICATE_SECRET_NAME,
        f'Secret "{input.secret_name}" is also the secretName of Certificate '
        f'"{input.secret_owner}", which owns it; this Certificate is not issued until one '
        "of them names another Secret or is deleted",
    )


@timeless
def secret_has_foreign_type(input: Input) -> Violation | None:
    """The Secret is of another type (Opaque, dockerconfigjson, ...) and was not written
    for this Certificate: key material must not land in an unrelated Secret."""
    if input.secret is None or input.secret.type == TLS_SECRET_TYPE:
        return None
    if input.secret.annotations.get(CERTIFICATE_NAME_ANNOTATION) == input.certificate_name:
        return None  # written for this Certificate before (cert-manager keeps the type)
    return Violation(
        reasons.INCORRECT_SECRET_TYPE,
        f'Secret "{input.secret_name}" exists with type "{input.secret.type}", not '
        f'"{TLS_SECRET_TYPE}", and was not issued for this Certificate; it is left '
        "untouched: delete it or choose another secretName",
    )


@timeless
def secret_does_not_exist(input: Input) -> Violation | None:
    if input.secret is None:
        return Violation(reasons.DOES_NOT_EXIST, "Issuing certificate as Secret does not exist")
    return None


@timeless
def secret_is_missing_data(input: Input) -> Violation | None:
    if input.secret is None:
        return None
    filled = input.secret.filled or frozenset()
    if not input.secret.has_data:
        return Violation(
            reasons.MISSING_DATA, "Issuing certificate as Secret does not contain any data"
        )
    if TLS_PRIVATE_KEY_KEY not in filled:
        return Violation(
            reasons.MISSING_DATA, "Issuing certificate as Secret does not contain a private key"
        )
    if TLS_CERT_KEY not in filled:
        return Violation(
            reasons.MISSING_DATA, "Issuing certificate as Secret does not contain a certificate"
        )
    return None


@timeless
def secret_public_key_does_not_match(input: Input) -> Violation | None:
    """The private key in `tls.key` is not the key of the certificate in `tls.crt`."""
    key = _private_key(input)
    if isinstance(key, Violation):
        return key
    leaf = _leaf(input)
    if isinstance(leaf, Violation):
        return leaf
    if leaf.public_key is None:
        return _invalid_certificate(leaf.public_key_error)
    if leaf.public_key != key.public_key:
        return Violation(
            reasons.INVALID_KEY_PAIR,
            "Issuing certificate as Secret contains a private key that does not match the "
            "certificate",
        )
    return None


@timeless
def secret_holds_temporary_certificate(input: Input) -> Violation | None:
    """The Secret holds the placeholder written while an issuance runs: never Ready, and
    issued for real (after the backoff, if the attempt that wrote it failed)."""
    leaf = _leaf(input)
    if isinstance(leaf, Violation):
        return leaf
    if leaf.is_temporary(literal_subject=bool(input.requirements.literal_subject)):
        return Violation(
            reasons.TEMPORARY_CERTIFICATE,
            "Issuing certificate as Secret contains a temporary certificate",
        )
    return None


@timeless
def secret_issuer_annotations_mismatch(input: Input) -> Violation | None:
    """The Secret records a different issuer than `issuerRef` (only if it records one).

    cert-manager's Go expression also fires without annotations when issuerRef.kind is not
    "Issuer" (an operator-precedence slip); we check only when an annotation is present,
    which is what its comment says it means, so an adopted Secret is not reissued for it.
    """
    if input.secret is None:
        return None
    annotations = input.secret.annotations
    if (
        ISSUER_NAME_ANNOTATION not in annotations
        and ISSUER_KIND_ANNOTATION not in annotations
        and ISSUER_GROUP_ANNOTATION not in annotations
    ):
        return None
    name = annotations.get(ISSUER_NAME_ANNOTATION, "")
    kind = annotations.get(ISSUER_KIND_ANNOTATION, "")
    group = annotations.get(ISSUER_GROUP_ANNOTATION, "")
    # ``IssuerRef.normalised`` of the recorded reference, without building one unless it
    # differs (every reconcile of the trigger and the issuing controller asks).
    if (name, kind or DEFAULT_ISSUER_KIND, group or DEFAULT_ISSUER_GROUP) != (
        input.issuer_ref.normalised()
    ):
        recorded = IssuerRef(name=name, kind=kind, group=group)
        return Violation(
            reasons.INCORRECT_ISSUER,
            f'Issuing certificate as Secret was previously issued by "{recorded.describe()}"',
        )
    return None


@timeless
def secret_certificate_name_annotation_mismatch(input: Input) -> Violation | None:
    """The Secret was written for another Certificate (two Certificates share a Secret)."""
    if input.secret is None:
        return None
    name = input.secret.annotations.get(CERTIFICATE_NAME_ANNOTATION)
    if name is not None and name != input.certificate_name:
        return Violation(
            reasons.INCORRECT_CERTIFICATE,
            f'Secret was issued for "{name}". If this message is not transient, you might '
            "have two conflicting Certificates pointing to the same secret.",
        )
    return None


@timeless
def secret_private_key_mismatches_spec(input: Input) -> Violation | None:
    """The key's algorithm or size differs from `spec.privateKey`."""
    key = _private_key(input)
    if isinstance(key, Violation):
        return key
    violations = key_size_violations(key.algorithm, key.size, input.requirements.key_spec)
    if violations:
        return Violation(
            reasons.SECRET_MISMATCH,
            f"Existing private key is not up to date for spec: {_go_list(violations)}",
        )
    return None


@timeless
def secret_public_key_differs_from_current_request(input: Input) -> Violation | None:
    """`tls.key` was replaced behind our back: it no longer signs the current request's CSR."""
    if input.current_request is None:
        return None
    key = _private_key(input)
    if isinstance(key, Violation):
        return key
    try:
        csr = input.current_request.csr()
    except PKIError as exc:
        return Violation(
            reasons.INVALID_CERTIFICATE_REQUEST,
            f"Failed to decode current CertificateRequest: {exc}",
        )
    if csr.public_key_fingerprint != key.public_key:
        return Violation(
            reasons.SECRET_MISMATCH,
            "Secret contains a private key that does not match the current CertificateRequest",
        )
    return None


@timeless
def current_certificate_request_mismatches_spec(input: Input) -> Violation | None:
    """The spec changed since the current request; without a request, compare the names."""
    if input.current_request is None:
        # The request that issued this certificate is gone (revision history pruned or
        # deleted): fall back to the looser comparison with the certificate itself.
        leaf = _leaf(input)
        if isinstance(leaf, Violation):
            return leaf
        if leaf.names is None:
            return _invalid_certificate(leaf.names_error)
        violations = certificate_alt_names_violations(leaf.names, input.requirements)
        if violations:
            return Violation(
                reasons.SECRET_MISMATCH,
                "Issuing certificate as Existing issued Secret is not up to date for spec: "
                f"{_go_list(violations)}",
            )
        return None
    found = request_violations(
        input.current_request, input.requirements, issuer_ref=input.issuer_ref
    )
    if found:  # None (undecodable request) does not trigger: the certificate may be fine
        return Violation(
            reasons.REQUEST_CHANGED,
            f"Fields on existing CertificateRequest resource not up to date: {_go_list(found)}",
        )
    return None


def certificate_has_expired(input: Input) -> Violation | None:
    leaf = _leaf(input)
    if isinstance(leaf, Violation):
        return leaf
    not_after = leaf.not_after
    if input.now > not_after:
        return Violation(reasons.EXPIRED, f"Certificate expired on {_rfc1123(not_after)}")
    return None


def certificate_not_yet_valid(input: Input) -> Violation | None:
    """notBefore is further in the future than clock skew explains (`Expired`, per #6)."""
    leaf = _leaf(input)
    if isinstance(leaf, Violation):
        return leaf
    not_before = leaf.not_before
    if not_before - input.now > NOT_YET_VALID_TOLERANCE:
        return Violation(reasons.EXPIRED, f"Certificate is not valid before {_rfc1123(not_before)}")
    return None


def current_certificate_nearing_expiry(input: Input) -> Violation | None:
    """The (jittered) renewal time has come (never with renewal.policy Disabled)."""
    leaf = _leaf(input)
    if isinstance(leaf, Violation):
        return leaf
    due = scheduled_renewal_time(input, leaf)
    if due is None or due > input.now:
        return None
    return Violation(
        reasons.RENEWING, f"Renewing certificate as renewal was scheduled at {_go_time(due)}"
    )


def expired_certificate_is_renewed(input: Input) -> Violation | None:
    """`certificate_has_expired`, unless renewal.policy is Disabled: cert-manager renews an
    expired certificate only as one nearing expiry, which Disabled turns off."""
    return None if input.renewal_disabled else certificate_has_expired(input)


def renewal_window_not_found(input: Input) -> Violation | None:
    """No renewal window in reach of the desired renewal time (cert-manager's WindowError):
    the certificate renews at that time all the same."""
    if not input.renewal_windows or input.renewal_disabled:
        return None
    leaf = _leaf(input)
    if isinstance(leaf, Violation):
        return leaf
    not_before, not_after = leaf.not_before, leaf.not_after
    desired = renewal_time(
        not_before=not_before,
        not_after=not_after,
        renew_before=input.renew_before,
        renew_before_percentage=input.renew_before_percentage,
    )
    found = windowed_renewal_time(
        not_before=not_before, not_after=not_after, desired=desired, windows=input.renewal_windows
    )
    if not found.error:
        return None
    return Violation(reasons.WINDOW_ERROR, f"Could not calculate renewal time: {found.error}")


def scheduled_renewal_time(input: Input, leaf: LeafSummary) -> datetime | None:
    """The time the scheduler acts on: a time inside the ACME CA's suggested window
    (RFC 9773; in the past: now), else RenewalTime moved earlier by the stored jitter;
    None with renewal.policy Disabled (cert-manager then writes no renewalTime).

    ``now`` does not enter it, so it is kept on ``input`` for ``leaf`` (the trigger's
    chain, its requeue and readiness's validity fields all ask for the same one)."""
    kept = input.renewal_kept
    if kept is not None and kept[0] is leaf:
        return kept[1]
    due = _scheduled_renewal_time(input, leaf)
    object.__setattr__(input, "renewal_kept", (leaf, due))
    return due


def _scheduled_renewal_time(input: Input, leaf: LeafSummary) -> datetime | None:
    if input.renewal_disabled:
        return None
    if input.ari_window is not None:
        start, end = input.ari_window
        return time_at_draw(start, end, draw=leaf.window_draw)
    not_before = leaf.not_before
    base = renewal_time(
        not_before=not_before,
        not_after=leaf.not_after,
        renew_before=input.renew_before,
        renew_before_percentage=input.renew_before_percentage,
    )
    if input.renewal_windows:
        # The user's windows decide; no jitter, which could move it out of them.
        return windowed_renewal_time(
            not_before=not_before,
            not_after=leaf.not_after,
            desired=base,
            windows=input.renewal_windows,
        ).time
    recorded = input.recorded_renewal_time
    if recorded is not None:
        # A renewalTime already stored within the window our jitter allows (cert-manager's
        # own, unjittered, included) is kept: moving it would rewrite every status.
        earliest = max(
            base - renewal_jitter_bound(not_before=not_before, not_after=leaf.not_after),
            min(base, not_before),
        )
        if earliest <= recorded <= base:
            return recorded
    return jittered_renewal_time(
        base, jitter_seconds=max(input.renewal_jitter_seconds, 0), not_before=not_before
    )


def request_violations(
    request: RequestView, requirements: CertificateRequirements, *, issuer_ref: IssuerRef
) -> tuple[str, ...] | None:
    """cert-manager's RequestMatchesSpec: spec fields that differ; None if the CSR is garbage."""
    try:
        csr = request.csr()
    except PKIError:
        return None
    found = list(csr_violations(csr, requirements))
    if request.is_ca != requirements.is_ca:
        found.append("spec.isCA")
    if not same_multiset(request.usages, requirements.usages):
        found.append("spec.usages")
    if (
        request.duration is not None
        and requirements.duration is not None
        and request.duration != requirements.duration
    ):
        found.append("spec.duration")
    if request.issuer_ref.normalised() != issuer_ref.normalised():
        found.append("spec.issuerRef")
    return tuple(found)


def issued_leaf(input: Input) -> LeafSummary | None:
    """The certificate in the Secret's ``tls.crt`` (None: none that parses)."""
    return input.secret_summary.leaf


def _private_key(input: Input) -> KeySummary | Violation:
    summary = input.secret_summary
    if summary.key is None:
        return Violation(
            reasons.INVALID_KEY_PAIR,
            f"Issuing certificate as Secret contains invalid private key data: {summary.key_error}",
        )
    return summary.key


def _leaf(input: Input) -> LeafSummary | Violation:
    summary = input.secret_summary
    if summary.leaf is None:
        return _invalid_certificate(summary.leaf_error)
    return summary.leaf


def _invalid_certificate(error: str) -> Violation:
    return Violation(
        reasons.INVALID_CERTIFICATE,
        f"Issuing certificate as Secret contains an invalid certificate: {error}",
    )


def _go_list(items: tuple[str, ...]) -> str:
    """Go's `%v` of a []string, which cert-manager's messages use: `[a b]`."""
    return "[" + " ".join(items) + "]"


def _go_time(moment: datetime) -> str:
    """Go's time.Time.String() for a UTC instant: `2006-01-02 15:04:05 +0000 UTC`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S +0000 UTC")


def _rfc1123(moment: datetime) -> str:
    """Go's time.RFC1123 for a UTC instant: `Mon, 02 Jan 2006 15:04:05 UTC`."""
    moment = moment.astimezone(UTC)
    days = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    months = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    return (
        f"{days[moment.weekday()]}, {moment.day:02d} {months[moment.month - 1]} "
        f"{moment.year} {moment:%H:%M:%S} UTC"
    )
