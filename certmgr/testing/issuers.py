"""A tiny in-process issuer for tests: a local CA that signs approved CertificateRequests.

Owns ``LocalCAIssuer``: a controller on a ``Manager`` that watches CertificateRequests for
one Issuer (``kind: Issuer``, group ``cert-manager.io``, name ``test-ca`` by default),
and once a request is approved signs its CSR with its own CA (validity from the
injected clock and ``spec.duration``) and sets ``status.certificate``, ``status.ca``
and ``Ready=True`` reason ``Issued``, as an issuer does. ``fail_with`` makes it fail
requests instead (``Ready=False`` reason ``Failed``, ``failureTime``); ``held`` makes it
leave approved requests pending (as a slow CA or an ACME order does) until ``release``. It lets the
Certificate controllers be tested end to end without ACME. Test code only: it must
not be imported by the product.
"""

from __future__ import annotations

import base64
import copy
from datetime import timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from certmgr.api.codec import rfc3339
from certmgr.api.conditions import APPROVED, DENIED, READY, Status, get_condition, set_condition
from certmgr.api.durations import parse_go_duration
from certmgr.kube.resources import CERTIFICATEREQUESTS
from certmgr.runtime.cache import Obj, object_key, split_key
from certmgr.runtime.clock import Clock
from certmgr.runtime.controller import Controller, Result
from certmgr.runtime.manager import Manager
from certmgr.testing.throwaway_ca import ThrowawayCA

DEFAULT_DURATION = timedelta(days=90)
ISSUED_MESSAGE = "Certificate fetched from issuer successfully"


class LocalCAIssuer:
    def __init__(self, *, clock: Clock, name: str = "test-ca", kind: str = "Issuer") -> None:
        self.clock = clock
        self.name = name
        self.kind = kind
        self.fail_with: str | None = None
        self.held = False
        self.signed: list[str] = []  # names of the requests signed, in order
        ca = ThrowawayCA.create(
            f"{name} root",
            validity=timedelta(days=3650),
            not_before=clock.now() - timedelta(days=1),
        )
        self.ca_key = ca.key
        self.ca_certificate = ca.certificate
        self.ca_pem = ca.pem
        self._manager: Manager | None = None
        self._controller: Controller[str] | None = None

    def setup(self, manager: Manager) -> None:
        """Register the signing controller on ``manager`` (before ``manager.run``)."""
        self._manager = manager
        informer = manager.informer(CERTIFICATEREQUESTS)
        controller = manager.controller(f"test-issuer-{self.name}", self.reconcile, workers=2)
        manager.watch(informer, controller)
        self._controller = controller

    def release(self) -> None:
        """Stop holding requests back and look at every known request again."""
        self.held = False
        assert self._manager is not None and self._controller is not None
        for request in self._manager.informer(CERTIFICATEREQUESTS).cache:
            self._controller.queue.add(object_key(request))

    def is_for_us(self, request: Obj) -> bool:
        ref = (request.get("spec") or {}).get("issuerRef") or {}
        return (
            ref.get("name") == self.name
            and (ref.get("kind") or "Issuer") == self.kind
            and (ref.get("group") or "cert-manager.io") == "cert-manager.io"
        )

    async def reconcile(self, key: str) -> Result | None:
        assert self._manager is not None
        informer = self._manager.informer(CERTIFICATEREQUESTS)
        namespace, name = split_key(key)
        request = informer.cache.get(namespace, name)
        if request is None or not self.is_for_us(request):
            return None
        conditions = (request.get("status") or {}).get("conditions")
        ready = get_condition(conditions, READY)
        if ready is not None and ready.reason in ("Issued", "Failed", "Denied"):
            return None
        denied = get_condition(conditions, DENIED)
        approved = get_condition(conditions, APPROVED)
        if denied is not None and denied.is_true:
            await self._finish(request, ok=False, reason="Denied", message="denied")
            return None
        if approved is None or not approved.is_true or self.held:
            return None
        if self.fail_with is not None:
            await self._finish(request, ok=False, reason="Failed", message=self.fail_with)
            return None
        leaf = self.sign(request)
        await self._finish(request, ok=True, reason="Issued", message=ISSUED_MESSAGE, leaf=leaf)
        self.signed.append(name)
        return None

    def sign(self, request: Obj) -> bytes:
        """A leaf certificate for the request's CSR, with the CSR's extensions."""
        spec = request["spec"]
        csr = x509.load_pem_x509_csr(base64.b64decode(spec["request"]))
        now = self.clock.now().replace(microsecond=0)
        duration = _duration(spec.get("duration"))
        builder = (
            x509.CertificateBuilder()
            .subject_name(csr.subject)
            .issuer_name(self.ca_certificate.subject)
            .public_key(csr.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + duration)
        )
        for extension in csr.extensions:
            builder = builder.add_extension(extension.value, critical=extension.critical)
        leaf = builder.sign(self.ca_key, hashes.SHA256())
        return leaf.public_bytes(serialization.Encoding.PEM)

    async def _finish(
        self, request: Obj, *, ok: bool, reason: str, message: str, leaf: bytes = b""
    ) -> None:
        assert self._manager is not None
        body: dict[str, Any] = copy.deepcopy(request)
        status = body.setdefault("status", {})
        now = self.clock.now()
        status["conditions"] = set_condition(
            status.get("conditions"),
            type_=READY,
            status=Status.TRUE if ok else Status.FALSE,
            reason=reason,
            message=message,
            observed_generation=None,
            now=now,
        )
        if ok:
            status["certificate"] = base64.b64encode(leaf).decode()
            status["ca"] = base64.b64encode(self.ca_pem).decode()
        else:
            status["failureTime"] = rfc3339(now)
        await self._manager.client.update_status(CERTIFICATEREQUESTS, body)


def _duration(text: str | None) -> timedelta:
    return parse_go_duration(text) if text else DEFAULT_DURATION
