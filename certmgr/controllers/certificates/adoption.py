"""Taking over an issuance cert-manager left in flight: which existing CertificateRequest
of the next revision the request manager keeps as this attempt's, whatever its name
(cert-manager names requests ``<certificate>-<revision>``, ours are hashes).

A request is adopted as cert-manager's own request manager would keep it: its spec
matches the Certificate (``RequestMatchesSpec``), its CSR holds the next private key's
public key, and it has not failed, been denied or been found invalid. It must not write.
"""

from __future__ import annotations

from collections.abc import Iterable

from certmgr.controllers.certificates.gather import request_view
from certmgr.controllers.certificates.spec import (
    CertificateView,
    policy_issuer_ref,
    requirements_of,
)
from certmgr.pki.errors import PKIError
from certmgr.pki.keys import PrivateKey, public_key_fingerprint
from certmgr.policies.checks import request_violations
from certmgr.runtime.cache import Obj

_FINAL_FAILURES = frozenset({"Failed", "InvalidRequest", "Denied"})


def attempt_request(
    found: Iterable[Obj], *, wanted: str, certificate: CertificateView, private_key: PrivateKey
) -> Obj | None:
    """The request of this attempt among ``found`` (the next revision's): ours by its
    name, else one cert-manager made that is fit to adopt."""
    requests = list(found)
    by_name = next((r for r in requests if r["metadata"]["name"] == wanted), None)
    if by_name is not None:
        return by_name
    return next((r for r in requests if adoptable(r, certificate, private_key)), None)


def adoptable(request: Obj, certificate: CertificateView, private_key: PrivateKey) -> bool:
    spec = certificate.spec
    view = request_view(request)
    if spec is None or view is None or _failed(request):
        return False
    if request_violations(view, requirements_of(spec), issuer_ref=policy_issuer_ref(spec)):
        return False
    try:
        csr = view.csr()
    except PKIError:
        return False
    return csr.public_key_fingerprint == public_key_fingerprint(private_key)


def _failed(request: Obj) -> bool:
    for condition in (request.get("status") or {}).get("conditions") or ():
        kind, status, reason = (
            condition.get("type"),
            condition.get("status"),
            condition.get("reason"),
        )
        if kind in ("Denied", "InvalidRequest") and status == "True":
            return True
        if kind == "Ready" and status == "False" and reason in _FINAL_FAILURES:
            return True
    return False
