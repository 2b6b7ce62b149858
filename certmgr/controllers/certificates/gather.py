"""Reading one Certificate's world from the caches: the indexes, the lookups, and ``Input``.

Owns the cache indexes the certificate controllers share (Certificates by Secret name,
CertificateRequests by certificate name, next-private-key Secrets by Certificate;
registered once by ``register_indexes``), the lookup of the requests of one revision,
the renewal jitter (derived from the issued certificate, see ``renewal_jitter_seconds``),
which of the Certificates sharing a Secret owns it (``secret_owner``) and ``gather``,
which builds the policies' ``Input`` (the last one kept per Certificate while what it
was gathered from stays the same). Which events reach which controller is ``watches``'.
It must not write anything: controllers act on what it returns.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, Final

from certmgr.api import labels
from certmgr.api.certificates import CertificateStatus
from certmgr.controllers.certificates.spec import (
    CertificateView,
    owned_by,
    policy_issuer_ref,
    renewal_windows_of,
    requirements_of,
)
from certmgr.controllers.context import Context, Settings
from certmgr.frozen import quick_init, replacing
from certmgr.kube.resources import CERTIFICATEREQUESTS, CERTIFICATES
from certmgr.memo import Generations
from certmgr.pki.errors import PKIError
from certmgr.pki.renewal import renewal_jitter_bound_seconds
from certmgr.pki.summary import LeafSummary, summarise_leaf
from certmgr.policies.inputs import Input, RequestView, SecretView
from certmgr.runtime.cache import Obj
from certmgr.runtime.informer import Informer
from certmgr.runtime.informer_requests import cached_view, spec_view
from certmgr.runtime.informer_secrets import ManagedSecret, secret_summary, trimmed
from certmgr.runtime.manager import owner_keys

BY_SECRET: Final = "certificates-by-secret-name"
BY_CERTIFICATE: Final = "requests-by-certificate-name"
NEXT_KEYS: Final = "next-private-keys-by-certificate"
_owners = owner_keys("Certificate")
_NONE: Final[dict[str, str]] = {}


def _secret_name_index(obj: Obj) -> list[str]:
    namespace = obj.get("metadata", {}).get("namespace", "")
    secret = (obj.get("spec") or {}).get("secretName")
    return [f"{namespace}/{secret}"] if secret else []


def _certificate_name_index(obj: Obj) -> list[str]:
    metadata = obj.get("metadata", {})
    name = (metadata.get("annotations") or {}).get(labels.CERTIFICATE_NAME)
    return [f"{metadata.get('namespace', '')}/{name}"] if name else []


def _next_key_index(obj: Obj) -> list[str]:
    if (obj.get("metadata", {}).get("labels") or {}).get(labels.NEXT_PRIVATE_KEY) != "true":
        return []
    return list(_owners(obj))


def register_indexes(ctx: Context) -> None:
    """File Certificates by Secret name, requests by certificate name and next-key
    Secrets by Certificate: once, in setup (a repeat is a no-op), before the informers
    run; readers only look them up."""
    certificates(ctx).cache.add_index(BY_SECRET, _secret_name_index)
    requests(ctx).cache.add_index(BY_CERTIFICATE, _certificate_name_index)
    ctx.manager.secrets.managed.cache.add_index(NEXT_KEYS, _next_key_index)


def certificates(ctx: Context) -> Informer:
    """The shared Certificate informer (indexed by Secret name: ``register_indexes``)."""
    return ctx.manager.informer(CERTIFICATES)


def requests(ctx: Context) -> Informer:
    """The shared CertificateRequest informer (indexed by the certificate-name annotation)."""
    return ctx.manager.informer(CERTIFICATEREQUESTS)


def requests_for_revision(ctx: Context, certificate: CertificateView, revision: int) -> list[Obj]:
    """The CertificateRequests of ``certificate`` annotated with ``revision``, by name."""
    found = requests(ctx).cache.by_index(BY_CERTIFICATE, certificate.key)
    return _of_revision(found, certificate, revision)


def _of_revision(found: list[Obj], certificate: CertificateView, revision: int) -> list[Obj]:
    if not found:
        return []
    wanted = str(revision)
    return sorted(
        (
            r
            for r in found
            if (r["metadata"].get("annotations") or {}).get(labels.CERTIFICATE_REVISION) == wanted
            and owned_by(r, certificate)
        ),
        key=lambda r: str(r["metadata"]["name"]),
    )


def next_key_secrets(ctx: Context, certificate: CertificateView) -> list[Obj]:
    found = ctx.manager.secrets.managed.cache.by_index(NEXT_KEYS, certificate.key)
    return [s for s in found if owned_by(s, certificate)]


def secret_data(secret: Obj) -> dict[str, bytes]:
    """A Secret's data decoded; undecodable values read as empty (then: MissingData)."""
    out: dict[str, bytes] = {}
    for key, value in (secret.get("data") or {}).items():
        try:
            out[key] = base64.b64decode(value or "", validate=True)
        except (binascii.Error, ValueError):
            out[key] = b""
    return out


# ``gather`` decodes the current and next revisions' requests on every reconcile of
# every controller. An issued request is cached with its view (``cached_view``); any
# other's is kept per (uid, resourceVersion) beside the spec dict it came from, shared
# with the cache (cached objects are read-only: no private copy); a hit must be that dict
# or an equal one, so a different dict under a reused or missing resourceVersion is
# decoded afresh. Callers must not change a dict they passed in. Views are frozen.
# Bounded: the oldest entry goes first.
_REQUEST_VIEWS_MAX: Final = 16384
_request_views: dict[tuple[str, str], tuple[Any, RequestView | None]] = {}


def request_view(request: Obj) -> RequestView | None:
    """The fields of a CertificateRequest the policies compare; None if it does not decode."""
    cached = cached_view(request)
    if cached is not None:
        return cached
    metadata = request.get("metadata") or {}
    key = (str(metadata.get("uid") or ""), str(metadata.get("resourceVersion") or ""))
    raw_spec = request.get("spec")
    hit = _request_views.get(key)
    if hit is not None and (hit[0] is raw_spec or hit[0] == raw_spec):
        return hit[1]
    view = spec_view(raw_spec)
    if len(_request_views) >= _REQUEST_VIEWS_MAX:
        del _request_views[next(iter(_request_views))]
    _request_views[key] = (raw_spec, view)
    return view


def renewal_jitter_seconds(certificate_pem: bytes, *, cap: timedelta) -> int:
    """How much earlier than its RenewalTime this certificate renews, in whole seconds.

    Chosen once per issued certificate without storing anything: a hash of the
    certificate's bytes, uniform in [0, min(1 % of the lifetime, 10 min, ``cap``)]. Every
    reconcile and every restart derives the same value (the CRD has no status field for
    it, and ``status.renewalTime`` carries the result), while certificates issued in the
    same second get different serials and so spread out.
    """
    try:
        leaf = summarise_leaf(certificate_pem)
    except PKIError:
        return 0
    return leaf_jitter_seconds(leaf, cap=cap)


def leaf_jitter_seconds(leaf: LeafSummary | None, *, cap: timedelta) -> int:
    """``renewal_jitter_seconds`` of a certificate known by its summary (0 without one)."""
    if leaf is None:
        return 0
    bound = renewal_jitter_bound_seconds(not_before=leaf.not_before, not_after=leaf.not_after)
    # The bound is whole seconds: the same as int(min(bound, cap).total_seconds()).
    limit = min(bound, int(cap.total_seconds()))
    if limit <= 0:
        return 0
    return int.from_bytes(leaf.pem_sha256[:8], "big") % (limit + 1)


def ari_window(
    status: CertificateStatus, leaf: LeafSummary | None
) -> tuple[datetime, datetime] | None:
    """The ACME CA's suggested renewal window in status.acme.ari, when it is about the
    certificate in the Secret (``leaf``, by its certID) and not one the Secret held before."""
    ari = status.acme.ari if status.acme is not None else None
    if ari is None or ari.suggested_window is None or not ari.cert_id:
        return None
    if leaf is None or leaf.ari_cert_id != ari.cert_id:
        return None
    window = ari.suggested_window
    return (window.start, window.end) if window.start <= window.end else None


async def target_secret(ctx: Context, certificate: CertificateView) -> Obj | None:
    """The target Secret as the decisions read it: cached (without its PEM, see
    ``ManagedSecret``) when we manage it, else fetched from the API."""
    assert certificate.spec is not None
    return await ctx.manager.secrets.view(certificate.namespace, certificate.spec.secret_name)


def secret_view(secret: Obj | None) -> SecretView | None:
    if secret is None:
        return None
    metadata: dict[str, Any] = secret.get("metadata") or {}
    summary = secret_summary(secret)
    cut = trimmed(secret)
    # Read-only views, not copies: a cached Secret is never changed in place, and one
    # fetched from the API is copied before it is changed (``build_secret``).
    return SecretView(
        data=None if cut is not None else secret_data(secret) if secret.get("data") else None,
        labels=MappingProxyType(metadata.get("labels") or _NONE),
        annotations=MappingProxyType(metadata.get("annotations") or _NONE),
        type=str(secret.get("type") or "Opaque"),  # the API server's default
        summary=summary,
        has_data=cut.has_data if cut is not None else None,
        filled=cut.filled if cut is not None else None,
    )


def secret_sharers(ctx: Context, certificate: CertificateView) -> list[Obj]:
    """The cached Certificates whose spec.secretName is ``certificate``'s (itself included),
    oldest first, then by name: cert-manager's order for picking the Secret's owner."""
    assert certificate.spec is not None
    key = f"{certificate.namespace}/{certificate.spec.secret_name}"
    found = certificates(ctx).cache.by_index(BY_SECRET, key)
    if len(found) < 2:
        return found  # nearly every Secret: nothing to order
    return sorted(
        found,
        key=lambda c: (
            str(c["metadata"].get("creationTimestamp") or ""),
            str(c["metadata"]["name"]),
        ),
    )


def secret_owner(sharers: list[Obj], secret: Obj | None) -> str | None:
    """cert-manager's CertificateOwnsSecret: the sharer the Secret's certificate-name
    annotation names, else the oldest sharer (None without sharers)."""
    if len(sharers) == 1:
        return str(sharers[0]["metadata"]["name"])  # the only one: whatever is annotated
    names = [str(c["metadata"]["name"]) for c in sharers]
    if not names:
        return None
    annotations = ((secret or {}).get("metadata") or {}).get("annotations") or {}
    named = annotations.get(labels.CERTIFICATE_NAME)
    return named if named in names else names[0]


def _first_view(found: list[Obj]) -> RequestView | None:
    return request_view(found[0]) if found else None


# The certificate controllers each gather the same unchanged Certificate and Secret (a
# start: trigger, issuing and readiness one after the other, ~16 us each), so the last
# ``Input`` is kept per Certificate with what it was gathered from: the decoded view
# (the same object for the same cached Certificate, ``CertificateView.of``), the cached
# Secret, the revision, the settings, and the ``state`` of the two caches whose indexes
# it read (requests, and the Certificates sharing the Secret). Cached objects are never
# changed in place, so when all of these are the very same, the Input is too but for
# ``now``. A Secret fetched from the API (not ours, or about to be rewritten) is not
# kept. Entries live in two generations (``GATHERED_SECONDS``): while reconciles read
# them, then one to two periods, whatever their number.
@quick_init
@dataclass(frozen=True, slots=True)
class _Gathered:
    certificate: CertificateView
    secret: Obj | None
    revision: int
    settings: Settings
    requests_state: int
    certificates_state: int
    input: Input


# The controllers take a start's keys in the same order, turn by turn, so the three
# gathers of one Certificate come within a fraction of a second: a short life keeps as
# many hits as a long one with a fraction of the entries alive.
GATHERED_SECONDS: Final = 0.25
_gathered: Generations[str, _Gathered] = Generations(idle_seconds=GATHERED_SECONDS)


async def gather(
    ctx: Context,
    certificate: CertificateView,
    *,
    now: datetime,
    secret: Obj | None = None,
    revision: int | None = None,
) -> Input:
    """The policies' ``Input`` for ``certificate`` (whose spec must have decoded).

    ``revision`` overrides which revision's request counts as the current one.
    """
    spec = certificate.spec
    assert spec is not None
    if secret is None:
        secret = await target_secret(ctx, certificate)
    revision = certificate.revision if revision is None else revision
    request_cache = requests(ctx).cache
    certificate_cache = certificates(ctx).cache
    key = certificate.key
    hit = _gathered.get(key)
    if (
        hit is not None
        and hit.certificate is certificate
        and hit.secret is secret
        and hit.revision == revision
        and hit.requests_state == request_cache.state
        and hit.certificates_state == certificate_cache.state
        and hit.settings is ctx.settings
    ):
        return at(hit.input, now)
    view = secret_view(secret)
    # One index lookup for both revisions' requests.
    found = request_cache.by_index(BY_CERTIFICATE, key)
    current = _first_view(_of_revision(found, certificate, revision)) if revision else None
    next_request = _first_view(_of_revision(found, certificate, revision + 1))
    leaf = view.issued.leaf if view is not None else None
    status = certificate.status
    input = Input(
        certificate_name=certificate.name,
        secret_name=spec.secret_name,
        secret_owner=secret_owner(secret_sharers(ctx, certificate), secret),
        requirements=requirements_of(spec),
        issuer_ref=policy_issuer_ref(spec),
        secret=view,
        now=now,
        current_request=current,
        next_request=next_request,
        renew_before=spec.renew_before,
        renew_before_percentage=spec.renew_before_percentage,
        renewal_disabled=spec.renewal_disabled,
        renewal_windows=renewal_windows_of(spec),
        renewal_jitter_seconds=leaf_jitter_seconds(leaf, cap=ctx.settings.renewal_jitter_max),
        recorded_renewal_time=status.renewal_time,
        ari_window=ari_window(status, leaf),
        last_failure_time=status.last_failure_time,
        failed_issuance_attempts=status.failed_issuance_attempts,
    )
    if secret is None or isinstance(secret, ManagedSecret):
        _gathered.put(
            key,
            _Gathered(
                certificate,
                secret,
                revision,
                ctx.settings,
                request_cache.state,
                certificate_cache.state,
                input,
            ),
        )
    return input


def forget(key: str) -> None:
    """Drop the Input kept for a deleted Certificate."""
    _gathered.pop(key)


_at_now = replacing(Input, "now")


def at(input: Input, now: datetime) -> Input:
    """``input`` as gathered at ``now`` (``dataclasses.replace`` costs four times as
    much), with what it keeps that ``now`` does not enter: the Secret's data and
    summary, its scheduled renewal time and the verdicts of the timeless checks."""
    return _at_now(input, now)
