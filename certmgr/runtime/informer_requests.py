"""CertificateRequests as cached: an issued request without its chain and its CSR's text.

A cluster keeps at least one completed CertificateRequest per Certificate. Of an issued
request (``Ready=True``, reason ``Issued``) the decisions read whether it carries a
certificate, that certificate's SHA-256, and its spec as the policies compare it
(``RequestView``: the CSR parsed, issuer, usages, isCA, duration); the issuing
controller, the one reader of the chain's bytes, fetches the request whole (``trimmed``
tells it to). The transform ``cached_request`` keeps those facts on the cached object
(``IssuedRequest``) and drops ``status.certificate``, ``status.ca`` and, when the spec
decodes and its CSR parses, ``spec.request``; the rest stays. The cache keeps an
issued request packed (``packed_request``: its values in one tuple, the layout of its
dicts once per layout), and each read gets an equal ``IssuedRequest`` made afresh.
``spec_view`` is the spec's view for any other request.

This module must not decide anything about a request: it only says what was dropped.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import sys
from collections.abc import Collection, Hashable
from dataclasses import dataclass
from sys import intern
from typing import Any, Final, TypeVar

from certmgr.api.codec import InvalidObject
from certmgr.api.conditions import READY, Condition
from certmgr.api.reasons import REQUEST_ISSUED
from certmgr.api.requests import CertificateRequestSpec
from certmgr.pki.csr import ParsedCSR, read_csr
from certmgr.pki.errors import PKIError
from certmgr.policies.inputs import IssuerRef, RequestView
from certmgr.runtime.cache import Obj, Packed, PackedTuple
from certmgr.runtime.informer import OWNER_FIELDS, compact, share_keys, share_values
from certmgr.runtime.packing import pack
from certmgr.runtime.shapes import shaped

TRIMMED_STATUS: Final = ("certificate", "ca")


class IssuedRequest(dict[str, Any]):
    """A ready CertificateRequest as cached: the object as decoded, without
    ``status.certificate`` and ``status.ca``, and what the decisions read of the
    certificate: whether it was there (a non-empty value) and its SHA-256 (None when it
    did not decode as base64). ``view`` is its spec as the policies read it, the CSR
    parsed, when ``spec.request`` was dropped (None: the spec is whole)."""

    __slots__ = ("certificate_sha256", "has_certificate", "view")
    certificate_sha256: bytes | None
    has_certificate: bool
    view: RequestView | None


def cached_request(obj: Obj) -> Obj:
    """The CertificateRequest cache's transform: ``compact``, and an issued request
    (``Ready=True``, reason ``Issued``, a ``status.certificate`` and any ``status.ca``
    that decode as base64) without its chain and CA (``IssuedRequest``). Any other
    request is cached whole, so every reader of an odd one reads what it always read."""
    status = obj.get("status")
    if type(status) is not dict or not _is_issued(status):
        return compact(obj)
    certificate = _decoded(status.get("certificate"))
    if not certificate or ("ca" in status and _decoded(status["ca"]) is None):
        return compact(obj)
    spec = obj.get("spec")
    rest = _spec_rest(spec)
    view = _parsed_view(spec, rest)
    if view is not None and rest is not None:
        trimmed = _issued(obj, status, rest)
    else:
        trimmed = IssuedRequest(compact(obj))
        trimmed["status"] = shaped(_without(trimmed["status"], TRIMMED_STATUS))
    trimmed.has_certificate = True
    trimmed.certificate_sha256 = hashlib.sha256(certificate).digest()
    trimmed.view = view
    return trimmed


def _issued(obj: Obj, status: dict[str, Any], rest: _SpecRest) -> IssuedRequest:
    """An issued request whose CSR parsed, as ``compact`` would leave it but with plain
    dicts (``packed_request`` keeps its values, not its dicts), its spec ``rest`` (without
    ``spec.request``), without ``status.certificate`` and ``status.ca``, and its strings
    shared as ``share_strings`` shares them but for two it would pool for nothing: the
    request's name (only the cache's key repeats it, and that is this very string) and
    each condition's ``lastTransitionTime`` (kept as an integer)."""
    trimmed = IssuedRequest()
    for key, value in obj.items():
        if key == "metadata" and type(value) is dict:
            value = _metadata(value)
        elif key == "spec":
            value = _shared_spec(rest)
        elif key == "status":
            value = {
                # The conditions are a list of dicts (``_is_issued``).
                name: [_condition(c) for c in item] if name == "conditions" else share_keys(item)
                for name, item in status.items()
                if name not in TRIMMED_STATUS
            }
        elif key in _VOCABULARY_TOP and type(value) is str:
            value = intern(value)
        else:
            value = share_keys(value) if type(value) in _CONTAINERS else value
        trimmed[key] = value
    return trimmed


def _metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for key, value in metadata.items():
        if key == "managedFields":
            continue
        if key in _SHARED_METADATA and type(value) is dict:
            value = share_keys(value)
            share_values(value)
        elif key == "ownerReferences" and type(value) is list:
            value = [_owner(owner) for owner in value]
        elif key == "namespace" and type(value) is str:
            value = intern(value)
        elif type(value) in _CONTAINERS:
            value = share_keys(value)
        kept[key] = value
    return kept


def _owner(owner: Any) -> Any:
    if type(owner) is not dict:
        return share_keys(owner)
    owner = share_keys(owner)
    share_values(owner, OWNER_FIELDS)
    return owner


def _condition(condition: dict[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = share_keys(condition)
    share_values(kept, _CONDITION_SHARED)
    return kept


def _without(mapping: dict[str, Any], keys: Collection[str]) -> dict[str, Any]:
    return {key: value for key, value in mapping.items() if key not in keys}


_CSR: Final = frozenset(("request",))
_VOCABULARY_TOP: Final = frozenset(("apiVersion", "kind"))
_SHARED_METADATA: Final = frozenset(("labels", "annotations"))
_CONDITION_SHARED: Final = ("type", "status", "reason", "message")
_CONTAINERS: Final = frozenset((dict, list))


def packed_request(request: Obj) -> Obj | Packed:
    """The CertificateRequest cache's ``pack``: an issued request (``IssuedRequest``) as
    ``PackedRequest`` (past ``LAYOUTS_MAX`` layouts, as ``compact`` leaves it); any other
    request as it is."""
    if not isinstance(request, IssuedRequest):
        return request
    # Without its CSR the spec is one dict shared by every request alike: kept whole.
    packed = pack(request, whole=_SHARED if request.view is not None else _NONE, find=_VERSION)
    if packed is None:
        kept = IssuedRequest(
            {key: value if key == "spec" else share_keys(value) for key, value in request.items()}
        )
        kept.has_certificate = request.has_certificate
        kept.certificate_sha256 = request.certificate_sha256
        kept.view = request.view
        return kept
    layout, values = packed
    return PackedRequest((layout, request.certificate_sha256, request.view, *values))


_SHARED: Final = frozenset(("spec",))
_NONE: Final[frozenset[str]] = frozenset()
_VERSION: Final = ("metadata", "resourceVersion")


class PackedRequest(PackedTuple):
    """An issued request as cached (``runtime/packing.py``): its layout, the certificate's
    SHA-256, the spec's view, then its values. Read back, it is an ``IssuedRequest``
    equal to the one packed, made afresh."""

    __slots__ = ()
    EXTRA = 2

    def unpack(self) -> Obj:
        request = IssuedRequest(self.unpacked_values())
        request.has_certificate = True
        request.certificate_sha256 = self[1]
        request.view = self[2]
        return request


def cached_view(request: Obj) -> RequestView | None:
    """The spec's view kept when the cache dropped ``spec.request`` (None: it did not)."""
    return request.view if isinstance(request, IssuedRequest) else None


def spec_view(raw_spec: Any) -> RequestView | None:
    """The fields of a CertificateRequest's spec the policies compare, the CSR as PEM;
    None if the spec does not decode."""
    try:
        spec = CertificateRequestSpec.from_dict(raw_spec, path="spec")
    except InvalidObject:
        return None
    return _view(spec, csr_pem=spec.request)


def _parsed_view(raw_spec: Any, rest: _SpecRest | None) -> RequestView | None:
    """``spec_view`` with the CSR parsed instead of its PEM; None if either fails. The
    fields besides the CSR are decoded once per distinct ``rest`` (``_spec_fields``)."""
    if rest is None:
        try:
            spec = CertificateRequestSpec.from_dict(raw_spec, path="spec")
            parsed = read_csr(spec.request)
        except (InvalidObject, PKIError):
            return None
        return _view(spec, csr_pem=b"", parsed=parsed)
    # ``rest`` comes with a string ``request``: decoded as the codec decodes a required
    # ``format: byte`` field.
    try:
        csr_pem = base64.b64decode(raw_spec["request"], validate=True)
    except (binascii.Error, ValueError):
        return None
    fields = _spec_fields(raw_spec, rest)
    if fields is None:
        return None
    try:
        parsed = read_csr(csr_pem)
    except PKIError:
        return None
    return RequestView(
        csr_pem=b"",
        issuer_ref=fields.issuer_ref,
        usages=fields.usages,
        is_ca=fields.is_ca,
        duration=fields.duration,
        parsed_csr=parsed,
    )


# The view's fields besides the CSR, by the spec without its CSR (``_SpecRest.key``): a
# controller's requests differ by their CSR, so a start decodes their issuer reference,
# usages, isCA and duration once, not once a request (~8 us each). None: the rest does
# not decode. Bounded as ``_shared_values``; past it each request is decoded whole.
_fields_by_rest: dict[Hashable, RequestView | None] = {}


def _spec_fields(raw_spec: dict[str, Any], rest: _SpecRest) -> RequestView | None:
    """The view of ``raw_spec`` (whose ``request`` decodes) without its CSR, decoded once
    per ``rest``; None if the spec does not decode."""
    try:
        return _fields_by_rest[rest.key]
    except KeyError:
        pass
    try:
        fields: RequestView | None = _view(
            CertificateRequestSpec.from_dict(raw_spec, path="spec"), csr_pem=b""
        )
    except InvalidObject:
        # ``request`` decodes (the caller's check): the rest of the spec does not.
        fields = None
    if len(_fields_by_rest) < SHARED_VALUES_MAX:
        _fields_by_rest[rest.key] = fields
    return fields


def _view(
    spec: CertificateRequestSpec, *, csr_pem: bytes, parsed: ParsedCSR | None = None
) -> RequestView:
    ref = spec.issuer_ref
    return RequestView(
        csr_pem=csr_pem,
        issuer_ref=_shared(IssuerRef(name=ref.name, kind=ref.kind, group=ref.group)),
        usages=_shared(tuple(map(sys.intern, spec.usages))),
        is_ca=spec.is_ca,
        duration=spec.duration,
        parsed_csr=parsed,
    )


# One of each equal issuer reference, usage list and spec without its CSR for every
# issued request: there are as many as issuers and usage sets, not requests. Past the
# bound a new value stays the request's own.
SHARED_VALUES_MAX: Final = 4096
_H = TypeVar("_H", bound=Hashable)
_shared_values: dict[Any, Any] = {}


@dataclass(frozen=True, slots=True)
class _SpecRest:
    """A spec without its CSR (``request``) and that as a hashable ``key`` (``_frozen``)."""

    spec: dict[str, Any]
    key: Hashable


def _spec_rest(raw_spec: Any) -> _SpecRest | None:
    """``raw_spec`` without its ``request``, when it is an object with a string
    ``request`` and JSON values (None: anything else, decoded whole)."""
    if type(raw_spec) is not dict or type(raw_spec.get("request")) is not str:
        return None
    spec = _without(raw_spec, _CSR)
    try:
        return _SpecRest(spec, _frozen(spec))
    except TypeError:  # not JSON
        return None


def _shared_spec(rest: _SpecRest) -> dict[str, Any]:
    """One dict for every equal spec without its CSR, as ``compact`` leaves a spec: a
    controller's requests differ by their CSR, not by their issuer, usages, duration or
    requester. Cached objects are read-only (``runtime/cache.py``): no reader can tell
    it from a copy."""
    found = _shared_specs.get(rest.key)
    if found is None:
        found = _compact_spec(rest.spec)
        if len(_shared_specs) < SHARED_VALUES_MAX:
            _shared_specs[rest.key] = found
    return found


def _compact_spec(spec: dict[str, Any]) -> dict[str, Any]:
    compacted: dict[str, Any] = compact({"spec": spec})["spec"]
    return compacted


def _frozen(value: Any) -> Hashable:
    """A JSON value as a hashable key, equal only for values of the same types (so
    ``True`` and ``1`` differ)."""
    kind = type(value)
    if kind is dict:
        return dict, tuple((key, _frozen(item)) for key, item in value.items())
    if kind is list:
        return list, tuple(_frozen(item) for item in value)
    return kind, value


_shared_specs: dict[Hashable, dict[str, Any]] = {}


def _shared(value: _H) -> _H:
    found: _H | None = _shared_values.get(value)
    if found is not None:
        return found
    if len(_shared_values) < SHARED_VALUES_MAX:
        _shared_values[value] = value
    return value


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
    """The first Ready condition says True, reason Issued, and every condition decodes
    (a ``Condition``), so each reader that decodes them (``get_condition``) finds the
    request issued: the issuer controllers' ``finished`` holds, and the approver's
    ``needs_approval`` does not (they answer ``trimmed`` requests without decoding)."""
    conditions = status.get("conditions") or ()
    if type(conditions) is not list:
        return False
    ready = None
    for condition in conditions:
        if type(condition) is not dict:
            return False
        if ready is None and condition.get("type") == READY:
            ready = condition
    if ready is None or ready.get("status") != "True" or ready.get("reason") != REQUEST_ISSUED:
        return False
    try:
        for condition in conditions:
            Condition.from_dict(condition, path="status.conditions")
    except InvalidObject:
        return False
    return True
