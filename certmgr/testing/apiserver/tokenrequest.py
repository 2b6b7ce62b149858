"""The TokenRequest API: ``POST .../serviceaccounts/<name>/token``.

Owns the request's validation and the answer's shape (``authentication.k8s.io/v1``
``TokenRequest`` with ``status.token``), as kube-apiserver gives them, so tests get a
ServiceAccount's credentials the same way on the simulator and on a real server. It
must not authorize (the handler does, as ``create`` on ``serviceaccounts/token``) nor
store anything: tokens live in the authenticator and never expire here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from certmgr.testing.apiserver import errors
from certmgr.testing.apiserver.auth import Authenticator

API_VERSION = "authentication.k8s.io/v1"
# kube-apiserver's --api-audiences default (its --service-account-issuer).
DEFAULT_AUDIENCES = ("https://kubernetes.default.svc.cluster.local",)
DEFAULT_EXPIRATION_SECONDS = 3600
_MIN_EXPIRATION_SECONDS = 600
_MAX_EXPIRATION_SECONDS = 1 << 32


def issue(
    authn: Authenticator, *, namespace: str, name: str, body: Any, now: datetime | None = None
) -> dict[str, Any]:
    """A TokenRequest answered for ServiceAccount ``namespace/name`` (which exists)."""
    if not isinstance(body, dict):
        raise errors.bad_request("error decoding request body: not a TokenRequest object")
    if body.get("kind") not in (None, "TokenRequest"):
        raise errors.bad_request(f"expected TokenRequest, got {body.get('kind')!r}")
    spec = dict(body.get("spec") or {})
    expiration = spec.get("expirationSeconds") or DEFAULT_EXPIRATION_SECONDS
    causes = []
    if not isinstance(expiration, int) or expiration < _MIN_EXPIRATION_SECONDS:
        causes.append(_invalid(expiration, "may not specify a duration less than 10 minutes"))
    elif expiration > _MAX_EXPIRATION_SECONDS:
        causes.append(_invalid(expiration, "may not specify a duration larger than 2^32 seconds"))
    if causes:
        raise errors.invalid("TokenRequest", "authentication.k8s.io", name, causes)
    issued = now or datetime.now(UTC)
    expires = issued + timedelta(seconds=expiration)
    return {
        "kind": "TokenRequest",
        "apiVersion": API_VERSION,
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": None},
        "spec": {
            "audiences": list(spec.get("audiences") or DEFAULT_AUDIENCES),
            "expirationSeconds": expiration,
            "boundObjectRef": spec.get("boundObjectRef"),
        },
        "status": {
            "token": authn.service_account_token(namespace, name),
            "expirationTimestamp": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    }


def _invalid(value: Any, message: str) -> dict[str, Any]:
    return {
        "reason": "FieldValueInvalid",
        "message": f"Invalid value: {value}: {message}",
        "field": "spec.expirationSeconds",
    }
