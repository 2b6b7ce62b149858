"""A Certificate as the certificate controllers read it: typed spec and status, the PKI
requirements derived from the spec, and whether the spec can produce a CSR at all.

Owns ``CertificateView`` (one cached Certificate dict, decoded once while it is being
read), ``requirements_of`` (spec -> ``pki.CertificateRequirements``), ``spec_problem``
(invalid input that the CRD schema let through: a bad IP address, an unknown usage, an
unsupported key size), whether it asks for a temporary certificate, the owner reference
children carry, and cert-manager's 52-character name shortening.
Pure: no I/O, no clock; it must not decide whether to issue (``policies/`` does).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, Final

from certmgr.api import labels
from certmgr.api.certificates import CertificateSpec, CertificateStatus, RenewalPolicy
from certmgr.api.codec import InvalidObject, parse_rfc3339
from certmgr.api.conditions import ISSUING, Condition
from certmgr.frozen import quick_init
from certmgr.kube.objects import being_deleted
from certmgr.memo import Generations
from certmgr.pki.keys import KeyAlgorithm, KeyEncoding, KeySpec
from certmgr.pki.probe import csr_problem
from certmgr.pki.requirements import CertificateRequirements, X509Subject
from certmgr.policies.inputs import IssuerRef as PolicyIssuerRef
from certmgr.policies.renewal_windows import RenewalWindow, window_problem

# Ready=False reason for a spec that parses but cannot be issued. cert-manager has no
# such reason because its webhook rejects these specs; we have no webhook.
INVALID_SPEC: Final = "InvalidSpec"
CERTIFICATE_API_VERSION: Final = "cert-manager.io/v1"
CERTIFICATE_KIND: Final = "Certificate"
# How long a decoded Certificate outlives its last read: one to two of these. During a
# start the controllers reconcile a Certificate within a fraction of a second of each
# other (10,000 deployed: 10,000 decodes with 0.3 s as with 10 s), and the event filters
# decode none (``watches``), so only the views of the last second or two are alive, not
# all of them: 126 -> 119 MB of RSS at 10,000 Certificates (a view is ~1 KB).
_VIEW_SECONDS: Final = 1.0


@quick_init
@dataclass(frozen=True, slots=True)
class CertificateView:
    """A cached Certificate dict with its spec and status decoded.

    ``spec`` is None when the stored spec does not decode (``spec_error`` says why);
    such a Certificate is reported, never issued.
    """

    obj: dict[str, Any]
    spec: CertificateSpec | None
    status: CertificateStatus
    spec_error: str = ""

    @classmethod
    def of(cls, obj: dict[str, Any]) -> CertificateView:
        uid = str((obj.get("metadata") or {}).get("uid") or "")
        hit = _decoded_cache.get(uid) if uid else None
        if hit is not None and hit.obj is obj:
            return hit
        view = _decoded(obj, hit)
        if uid:
            _decoded_cache.put(uid, view)
        return view

    def with_status(self, status: dict[str, Any]) -> CertificateView:
        """This Certificate as it will read once ``status`` is written (a controller
        deciding the rest of the one write it is about to make). Not cached."""
        try:
            decoded = CertificateStatus.from_dict(status, path="status")
        except InvalidObject:
            decoded = CertificateStatus()
        return CertificateView(
            {**self.obj, "status": status}, self.spec, decoded, spec_error=self.spec_error
        )

    @property
    def name(self) -> str:
        return str(self.obj["metadata"]["name"])

    @property
    def namespace(self) -> str:
        return str(self.obj["metadata"].get("namespace") or "")

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def uid(self) -> str:
        return str(self.obj["metadata"].get("uid") or "")

    @property
    def deleting(self) -> bool:
        """Being deleted: nothing is issued for it (see ``being_deleted``)."""
        return being_deleted(self.obj)

    @property
    def generation(self) -> int | None:
        generation = self.obj["metadata"].get("generation")
        return int(generation) if generation is not None else None

    @property
    def revision(self) -> int:
        return self.status.revision or 0

    @property
    def issuing(self) -> Condition | None:
        """The Issuing condition when it is True (an issuance is in progress)."""
        condition = self.status.condition(ISSUING)
        return condition if condition is not None and condition.is_true else None

    @property
    def issuing_since(self) -> str:
        """When the current issuance started, as stored (names one issuance attempt)."""
        raw: dict[str, Any] = next(
            (
                c
                for c in (self.obj.get("status") or {}).get("conditions") or ()
                if c.get("type") == ISSUING
            ),
            {},
        )
        return str(raw.get("lastTransitionTime") or "")

    @property
    def wants_temporary_certificate(self) -> bool:
        """``cert-manager.io/issue-temporary-certificate: "true"`` (exactly "true", as
        cert-manager reads it): a placeholder goes into the Secret while issuing."""
        annotations = self.obj["metadata"].get("annotations") or {}
        return annotations.get(labels.ISSUE_TEMPORARY_CERTIFICATE) == "true"

    def problem(self) -> str | None:
        """Why this Certificate can never be issued as written, or None."""
        if self.spec is None:
            return self.spec_error
        return spec_problem(self.spec)


# Every certificate controller decodes the same cached Certificate on every reconcile
# (six controllers: ~35 % of their CPU on start). Decoding is a pure function of the
# spec and status dicts, so the view is kept per Certificate uid; it holds the very
# object it was decoded from, shared with the cache (cached objects are read-only:
# ``runtime/cache.py``), instead of deep copies of its spec and status (~700 bytes and
# seven tracked containers a Certificate). The same object gets the same view; another
# object whose spec (and status) is the same dict or an equal one keeps the decoded
# spec (and status), so a status write keeps the spec object and what is memoised on it,
# and a different dict under a reused or missing resourceVersion is decoded afresh.
# Callers must not change a dict they passed in. The typed results are frozen. Views
# live in two generations (``memo.Generations``, turned every ``_VIEW_SECONDS``): kept
# while reconciles read them, however many, and dropped one to two periods after the
# last one did, so a controller at rest keeps no decoded Certificate (~1 KB each with
# its requirements); ``forget`` drops one at once on deletion.
_decoded_cache: Generations[str, CertificateView] = Generations(idle_seconds=_VIEW_SECONDS)


def _decoded(obj: dict[str, Any], hit: CertificateView | None) -> CertificateView:
    raw_spec, raw_status = obj.get("spec"), obj.get("status")
    if hit is not None:
        kept_spec, kept_status = hit.obj.get("spec"), hit.obj.get("status")
        if kept_spec is raw_spec or kept_spec == raw_spec:
            status = (
                hit.status
                if kept_status is raw_status or kept_status == raw_status
                else _decode_status(raw_status)
            )
            return CertificateView(obj, hit.spec, status, spec_error=hit.spec_error)
    status = _decode_status(raw_status)
    try:
        spec = CertificateSpec.from_dict(raw_spec, path="spec")
    except InvalidObject as exc:
        return CertificateView(obj, None, status, spec_error=str(exc))
    return CertificateView(obj, spec, status)


def forget(uid: str) -> None:
    """Drop what is memoised for a deleted Certificate."""
    entry = _decoded_cache.pop(uid)
    if entry is not None and entry.spec is not None:
        _requirements.pop(id(entry.spec))


def _decode_status(raw_status: Any) -> CertificateStatus:
    try:
        return CertificateStatus.from_dict(raw_status, path="status")
    except InvalidObject:
        # A status we cannot read is rebuilt by the controllers that own its fields.
        return CertificateStatus()


# Asked on nearly every reconcile (``problem``, ``gather``, the key and request managers)
# of the spec object ``CertificateView`` keeps, so the requirements and the spec's problem
# verdict (a probe CSR signed once) are kept per spec object: the entry holds the spec, so
# its id cannot be reused while cached, and specs are frozen. Kept in generations like the
# views, so an entry lives as long as its spec is read, past any fixed bound.
_UNJUDGED: Final = object()


@dataclass(slots=True)
class _SpecMemo:
    spec: CertificateSpec
    requirements: CertificateRequirements
    problem: object = _UNJUDGED


_requirements: Generations[int, _SpecMemo] = Generations(idle_seconds=_VIEW_SECONDS)


def _spec_memo(spec: CertificateSpec) -> _SpecMemo:
    hit = _requirements.get(id(spec))
    if hit is not None and hit.spec is spec:
        return hit
    memo = _SpecMemo(spec, _requirements_from(spec))
    _requirements.put(id(spec), memo)
    return memo


def requirements_of(spec: CertificateSpec) -> CertificateRequirements:
    """The spec as the CSR builder and the policies see it (usages as written)."""
    return _spec_memo(spec).requirements


# Frozen, and the same for nearly every Certificate: one object each instead of one per
# Certificate's requirements.
_NO_SUBJECT: Final = X509Subject()


@cache
def _key_spec(algorithm: KeyAlgorithm, size: int | None, encoding: KeyEncoding) -> KeySpec:
    return KeySpec(algorithm=algorithm, size=size, encoding=encoding)


def _requirements_from(spec: CertificateSpec) -> CertificateRequirements:
    key = spec.effective_private_key
    subject = spec.subject
    return CertificateRequirements(
        common_name=spec.common_name,
        dns_names=spec.dns_names,
        ip_addresses=spec.ip_addresses,
        uris=spec.uris,
        emails=spec.email_addresses,
        subject=X509Subject(
            organizations=subject.organizations,
            countries=subject.countries,
            organizational_units=subject.organizational_units,
            localities=subject.localities,
            provinces=subject.provinces,
            street_addresses=subject.street_addresses,
            postal_codes=subject.postal_codes,
            serial_number=subject.serial_number,
        )
        if subject is not None
        else _NO_SUBJECT,
        usages=spec.usages,
        is_ca=spec.is_ca,
        key_spec=_key_spec(
            key.effective_algorithm.value, key.size or None, key.effective_encoding.value
        ),
        duration=spec.duration,
        encode_usages_in_request=spec.encode_usages_in_request,
        literal_subject=spec.literal_subject,
        signature_algorithm=spec.signature_algorithm,
    )


def fields_not_acted_on(spec: CertificateSpec) -> str:
    """The spec fields set that certmgr accepts but does not act on, and what that means
    (``""``: none); the FieldsNotActedOn condition says it, never silence."""
    found = []
    if spec.other_names:
        found.append("spec.otherNames (the CSR carries no otherName SANs)")
    if spec.name_constraints is not None:
        found.append("spec.nameConstraints (the CSR carries no name constraints)")
    return "certmgr does not act on " + "; ".join(found) if found else ""


def policy_issuer_ref(spec: CertificateSpec) -> PolicyIssuerRef:
    ref = spec.issuer_ref
    return PolicyIssuerRef(name=ref.name, kind=ref.kind, group=ref.group)


def spec_problem(spec: CertificateSpec) -> str | None:
    """Why ``spec`` cannot produce a CSR or be renewed (stable text, no secrets), or None."""
    # Every controller asks on every reconcile and signing the probe costs ~0.3 ms, so
    # the verdict is kept with the spec's memo: judged once per spec object.
    memo = _spec_memo(spec)
    if memo.problem is _UNJUDGED:
        windows = renewal_windows_of(spec)
        # cert-manager's webhook refuses these; our CRD cannot parse cron.
        problem = window_problem(windows) if windows else None
        memo.problem = problem if problem is not None else csr_problem(memo.requirements)
    return memo.problem  # type: ignore[return-value]


def renewal_windows_of(spec: CertificateSpec) -> tuple[RenewalWindow, ...]:
    """spec.renewal.windows for the renewal arithmetic (none unless policy RenewBefore)."""
    renewal = spec.renewal
    if renewal is None or renewal.policy is not RenewalPolicy.RENEW_BEFORE:
        return ()
    return tuple(
        RenewalWindow(cron=w.cron, duration=w.window_duration, timezone=w.timezone)
        for w in renewal.windows
    )


def owner_reference(certificate: CertificateView) -> dict[str, Any]:
    return {
        "apiVersion": CERTIFICATE_API_VERSION,
        "kind": CERTIFICATE_KIND,
        "name": certificate.name,
        "uid": certificate.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def owned_by(obj: dict[str, Any], certificate: CertificateView) -> bool:
    """Whether ``obj`` names ``certificate`` (this incarnation: same uid) as its controller."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or ():
        if ref.get("kind") == CERTIFICATE_KIND and ref.get("name") == certificate.name:
            return not certificate.uid or ref.get("uid") == certificate.uid
    return False


def shorten_name(name: str, limit: int = 52) -> str:
    """cert-manager's DNSSafeShortenTo52Characters: cut, and never end on a dot or dash."""
    return name[:limit].rstrip("-.")


def parse_time(text: str | None) -> datetime | None:
    return parse_rfc3339(text) if text else None
