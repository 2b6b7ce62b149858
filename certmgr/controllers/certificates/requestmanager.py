"""The request manager: exactly one CertificateRequest for the issuance in progress.

Owns the CertificateRequests of revision ``status.revision + 1``. While ``Issuing=True``
and the next private key exists, it ensures the one request whose deterministic name
(``expected_request_name``: a hash of the revision, the issuance attempt, the spec
fields the request carries and the public key) says it was made for exactly this
attempt, and deletes every other request of that revision (stale spec, old key, or a
failed earlier attempt). A retry or a restart computes the same name and finds the
request instead of creating a second one. Without one, a request cert-manager made for
this attempt (``adoption``) is kept instead, so a takeover carries its issuance on. It
must not write any status, and must not touch requests of issued revisions (the revision
manager prunes those).
"""

from __future__ import annotations

import base64
import copy
import hashlib
from typing import Any, Final

import structlog
from cryptography.hazmat.primitives import serialization

from certmgr.api import labels
from certmgr.api.durations import format_go_duration
from certmgr.api.reasons import EVENT_REQUESTED
from certmgr.controllers.certificates.adoption import attempt_request
from certmgr.controllers.certificates.gather import certificates, requests_for_revision
from certmgr.controllers.certificates.keymanager import TLS_KEY, next_private_key
from certmgr.controllers.certificates.spec import (
    CertificateView,
    owner_reference,
    requirements_of,
    shorten_name,
)
from certmgr.controllers.certificates.watches import (
    Interest,
    is_next_revision,
    issuing,
    stored_may_name_next_private_key,
    watch_certificate_world,
)
from certmgr.controllers.context import Context
from certmgr.kube.errors import AlreadyExists, NotFound
from certmgr.kube.resources import CERTIFICATEREQUESTS
from certmgr.pki.csr import build_csr
from certmgr.pki.errors import PKIError
from certmgr.pki.keys import PrivateKey, public_key_of
from certmgr.runtime.cache import Obj, split_key
from certmgr.runtime.controller import Result, TerminalError

log = structlog.get_logger(__name__)

NAME = "certificates-requestmanager"
# Annotations a Certificate never passes on to its requests (cert-manager's default
# --copied-annotation-prefixes excludes these tools' bookkeeping).
NOT_COPIED: Final = (
    "kubectl.kubernetes.io/",
    "fluxcd.io/",
    "kustomize.toolkit.fluxcd.io/",
    "argocd.argoproj.io/",
)


def setup(ctx: Context) -> None:
    manager = RequestManager(ctx)
    controller = ctx.manager.controller(NAME, manager.reconcile, workers=ctx.settings.workers)
    watch_certificate_world(ctx, controller, INTEREST)


def _may_request(certificate: Obj) -> bool:
    # The stored status first (``watches``): a start's list decodes nothing here.
    if not stored_may_name_next_private_key(certificate) or not issuing(certificate):
        return False
    return bool(CertificateView.of(certificate).status.next_private_key_secret_name)


def _requesting(old: Obj | None, new: Obj | None) -> bool:
    # Only the new side: a Certificate leaving the state finds nothing to do here.
    return new is not None and _may_request(new)


def _request_identity_changed(old: Obj | None, new: Obj | None) -> bool:
    """Created, deleted, or re-annotated or re-owned: what ``requests_for_revision`` and
    the name comparison read. A request's status is never read here."""
    if old is None or new is None:
        return True
    before, after = old.get("metadata") or {}, new.get("metadata") or {}
    return any(before.get(field) != after.get(field) for field in _REQUEST_IDENTITY)


_REQUEST_IDENTITY: Final = ("name", "uid", "annotations", "ownerReferences")

# Only while issuing with a next key named (else the reconcile returns at once), and then
# the next revision's requests coming and going and the named key's Secret.
INTEREST: Final = Interest(
    certificate=_requesting,
    requests=lambda request, certificate: (
        _may_request(certificate) and is_next_revision(request, certificate)
    ),
    requests_event=_request_identity_changed,
    target_secrets=None,
    next_key_secrets=lambda secret, certificate: (
        _may_request(certificate)
        and secret["metadata"].get("name")
        == CertificateView.of(certificate).status.next_private_key_secret_name
    ),
)


def request_spec(certificate: CertificateView, csr_pem: bytes) -> dict[str, Any]:
    """The request's spec, copied from the Certificate as cert-manager copies it."""
    spec = certificate.spec
    assert spec is not None
    body: dict[str, Any] = {
        "request": base64.b64encode(csr_pem).decode("ascii"),
        "issuerRef": spec.issuer_ref.to_dict(),
    }
    if spec.duration is not None:
        body["duration"] = format_go_duration(spec.duration)
    if spec.usages:
        body["usages"] = list(spec.usages)
    if spec.is_ca:
        body["isCA"] = True
    return body


def expected_request_name(certificate: CertificateView, key: PrivateKey) -> str:
    """``<cert>-<hash>``: the same inputs always name the same request."""
    spec = certificate.spec
    assert spec is not None
    public = public_key_of(key).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = hashlib.sha256()
    for part in (
        str(certificate.revision + 1),
        certificate.issuing_since,
        repr(requirements_of(spec)),
        repr(request_spec_without_csr(certificate)),
    ):
        digest.update(part.encode())
        digest.update(b"\0")
    digest.update(public)
    return f"{shorten_name(certificate.name)}-{digest.hexdigest()[:10]}"


# Both the request manager and the issuing controller name the request on most of their
# reconciles while issuing, which serialised the public key and repr'd the requirements
# each time. The name is a pure function of the Certificate's name, spec, revision and
# attempt and of the key Secret's tls.key, so it is kept per (Certificate uid, Secret
# uid) beside a private copy of exactly those inputs; a hit must still equal them.
# Bounded: the oldest entry goes first.
_REQUEST_NAMES_MAX: Final = 16384
_request_names: dict[tuple[str, str], tuple[tuple[Any, ...], str | None]] = {}


def request_name_for(certificate: CertificateView, key_secret: Obj | None) -> str | None:
    """``expected_request_name`` for the key in ``key_secret`` (a next-private-key Secret);
    None when there is no Secret or it holds no readable key."""
    if key_secret is None:
        return None
    secret_uid = str((key_secret.get("metadata") or {}).get("uid") or "")
    memo_key = (certificate.uid, secret_uid)
    inputs = (
        certificate.name,
        certificate.revision,
        certificate.issuing_since,
        certificate.obj.get("spec"),
        (key_secret.get("data") or {}).get(TLS_KEY),
    )
    hit = _request_names.get(memo_key)
    if hit is not None and hit[0] == inputs:
        return hit[1]
    private_key = next_private_key(key_secret)
    name = expected_request_name(certificate, private_key) if private_key is not None else None
    if len(_request_names) >= _REQUEST_NAMES_MAX:
        del _request_names[next(iter(_request_names))]
    _request_names.pop(memo_key, None)
    _request_names[memo_key] = (copy.deepcopy(inputs), name)
    return name


def request_spec_without_csr(certificate: CertificateView) -> dict[str, Any]:
    spec = request_spec(certificate, b"")
    spec.pop("request")
    return dict(sorted(spec.items()))


def request_body(
    certificate: CertificateView, *, name: str, csr_pem: bytes, key_secret_name: str
) -> dict[str, Any]:
    metadata = certificate.obj["metadata"]
    annotations = {
        k: v for k, v in (metadata.get("annotations") or {}).items() if not k.startswith(NOT_COPIED)
    }
    annotations.update(
        {
            labels.CERTIFICATE_NAME: certificate.name,
            labels.CERTIFICATE_REVISION: str(certificate.revision + 1),
            labels.PRIVATE_KEY_SECRET_NAME: key_secret_name,
        }
    )
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "CertificateRequest",
        "metadata": {
            "name": name,
            "namespace": certificate.namespace,
            "labels": dict(metadata.get("labels") or {}),
            "annotations": annotations,
            "ownerReferences": [owner_reference(certificate)],
        },
        "spec": request_spec(certificate, csr_pem),
    }


class RequestManager:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._certificates = certificates(ctx)

    async def reconcile(self, key: str) -> Result | None:
        namespace, name = split_key(key)
        obj = self._certificates.cache.get(namespace, name)
        if obj is None:
            return None
        certificate = CertificateView.of(obj)
        key_secret_name = certificate.status.next_private_key_secret_name
        if certificate.deleting or certificate.issuing is None or not key_secret_name:
            return None
        problem = certificate.problem()
        if problem is not None:
            raise TerminalError(f"certificate spec cannot be issued: {problem}")
        secret = self._ctx.manager.secrets.managed.cache.get(namespace, key_secret_name)
        wanted = request_name_for(certificate, secret)
        if wanted is None:
            return None  # the key manager is on it; its Secret's event brings us back
        found = requests_for_revision(self._ctx, certificate, certificate.revision + 1)
        spec = certificate.spec
        private_key = next_private_key(secret)
        assert spec is not None and private_key is not None
        # Ours by name, else (taking over from cert-manager) its request, if one is fit.
        keep = attempt_request(
            found, wanted=wanted, certificate=certificate, private_key=private_key
        )
        for request in found:
            if request is not keep:
                await self._delete(request)
        if keep is not None:
            return None
        try:
            csr = build_csr(private_key, requirements_of(spec))
        except PKIError as exc:  # spec_problem passed, so this is not expected
            raise TerminalError(f"failed to build CSR: {exc}") from None
        body = request_body(certificate, name=wanted, csr_pem=csr, key_secret_name=key_secret_name)
        try:
            await self._ctx.client.create(CERTIFICATEREQUESTS, body, namespace=namespace)
        except AlreadyExists:
            return None  # created by us a moment ago; the cache is behind
        log.info("certificate_request_created", request=wanted, revision=certificate.revision + 1)
        self._ctx.events.event(
            obj, "Normal", EVENT_REQUESTED, f'Created new CertificateRequest resource "{wanted}"'
        )
        return None

    async def _delete(self, request: Obj) -> None:
        metadata = request["metadata"]
        try:
            await self._ctx.client.delete(
                CERTIFICATEREQUESTS,
                metadata["name"],
                namespace=metadata.get("namespace"),
                preconditions={"uid": metadata.get("uid")},
            )
        except NotFound:
            return
        log.info("stale_certificate_request_deleted", request=metadata["name"])
