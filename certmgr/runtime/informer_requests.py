"""CertificateRequests as cached: a ready request without the chain it carries.

A cluster keeps at least one completed CertificateRequest per Certificate, and most of
such a request is ``status.certificate`` and ``status.ca``: the issued chain and its CA,
base64, which the cache held once more beside the Secret that received them. Of an
issued request (``Ready=True``, reason ``Issued``) the decisions read only whether it
carries a certificate and that certificate's SHA-256; the issuing controller, the one
reader of the bytes, fetches the request whole (``trimmed`` tells it to). The transform
``cached_request`` keeps those two facts on the cached object (``IssuedRequest``) and
drops the two fields; the spec (the CSR the policies parse) and the rest stay.

This module must not decide anything about a request: it only says what was dropped.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any, Final

from certmgr.api.conditions import READY
from certmgr.api.reasons import REQUEST_ISSUED
from certmgr.runtime.cache import Obj
from certmgr.runtime.informer import compact
from certmgr.runtime.shapes import shaped

TRIMMED_STATUS: Final = ("certificate", "ca")


class IssuedRequest(dict[str, Any]):
    """A ready CertificateRequest as cached: the object as decoded, without
    ``status.certificate`` and ``status.ca``, and what the decisions read of the
    certificate: whether it was there (a non-empty value) and its SHA-256 (None when it
    did not decode as base64)."""

    __slots__ = ("certificate_sha256", "has_certificate")
    certificate_sha256: bytes | None
    has_certificate: bool


def cached_request(obj: Obj) -> Obj:
    """The CertificateRequest cache's transform: ``compact``, and an issued request
    (``Ready=True``, reason ``Issued``, a ``status.certificate`` and any ``status.ca``
    that decode as base64) without its chain and CA (``IssuedRequest``). Any other
    request is cached whole, so every reader of an odd one reads what it always read."""
    request = compact(obj)
    status = request.get("status")
    if type(status) is not dict or not _is_issued(status):
        return request
    certificate = _decoded(status.get("certificate"))
    if not certificate or ("ca" in status and _decoded(status["ca"]) is None):
        return request
    trimmed = IssuedRequest(request)
    trimmed.has_certificate = True
    trimmed.certificate_sha256 = hashlib.sha256(certificate).digest()
    trimmed["status"] = shaped({k: v for k, v in status.items() if k not in TRIMMED_STATUS})
    return trimmed


def trimmed(request: object) -> bool:
    """Whether the cached ``request`` lacks ``status.certificate``/``status.ca`` (fetch it
    from the API to read them)."""
    return isinstance(request, IssuedRequest)


def has_issued_certificate(request: Obj) -> bool:
    """Whether ``status.certificate`` holds something (kept when trimmed)."""
    if isinstance(request, IssuedRequest):
        return request.has_certificate
    return bool((request.get("status") or {}).get("certificate"))


def issued_certificate_sha256(request: Obj) -> bytes | None:
    """SHA-256 of the certificate in the request's status (None: none, or undecodable)."""
    if isinstance(request, IssuedRequest):
        return request.certificate_sha256
    raw: Any = (request.get("status") or {}).get("certificate")
    return _sha256_of(raw) if raw else None


def _sha256_of(raw: Any) -> bytes | None:
    try:
        return hashlib.sha256(base64.b64decode(raw, validate=True)).digest()
    except (binascii.Error, ValueError):
        return None


def _decoded(raw: object) -> bytes | None:
    """``raw`` decoded as the API codec decodes a ``format: byte`` field; None if it
    would not be."""
    if type(raw) is not str:
        return None
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        return None


def _is_issued(status: dict[str, Any]) -> bool:
    """The first Ready condition says True, reason Issued."""
    for condition in status.get("conditions") or ():
        if type(condition) is dict and condition.get("type") == READY:
            return condition.get("status") == "True" and condition.get("reason") == REQUEST_ISSUED
    return False
