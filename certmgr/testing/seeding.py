"""Seeding the simulator with Certificates that are already issued, for benchmarks.

Owns ``IssuedSeeder``: for each Certificate, a real ECDSA leaf from a throwaway CA, the
Secret exactly as the issuing controller writes it (``secretdata.build_secret``: key in
the spec's encoding, every managed label and annotation, ``ca.crt``) and the Ready status
the readiness controller would write (revision 1, notBefore/notAfter, the jittered
renewal time computed by the product's own functions), so a controller starting over
them has nothing to issue or repair. With ``requests``, also the completed
CertificateRequest that issued each one, as the request manager created it and the
approver and the ACME issuer left it (``Approved``, ``Ready=True Issued``, the CSR, the
Secret's ``tls.crt`` and ``ca.crt`` as ``status.certificate`` and ``status.ca``): the one
request per Certificate the revision manager keeps. With ``orders`` (and ``requests``), also
each request's ACME Order as the Order controller leaves a valid one (owned by the request,
its authorization with the three challenge offers, the chain in ``status.certificate``):
cert-manager keeps it for as long as its request. Each Certificate has its own key, and
every object carries the ``managedFields`` a real API server would send (the creator's
Update, and the status writer's for a Certificate or a request): what the controller
decodes and drops is part of the cost measured. Objects go straight into the simulator's
store (through its admission), not over HTTP: seeding 100,000 must take minutes, not hours.
It must not be imported by product code.
"""

from __future__ import annotations

import base64
import copy
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certmgr.api.certificates import CertificateSpec
from certmgr.api.codec import rfc3339
from certmgr.api.conditions import APPROVED, Status, set_condition
from certmgr.api.conditions import READY as READY_CONDITION
from certmgr.api.reasons import (
    APPROVER_MESSAGE,
    APPROVER_REASON,
    READY,
    READY_MESSAGE,
    REQUEST_ISSUED,
)
from certmgr.controllers.acme.names import order_name
from certmgr.controllers.acme.requests import ISSUED_MESSAGE, order_body
from certmgr.controllers.certificates.gather import renewal_jitter_seconds
from certmgr.controllers.certificates.requestmanager import expected_request_name, request_body
from certmgr.controllers.certificates.secretdata import Issued, build_secret
from certmgr.controllers.certificates.spec import CertificateView, requirements_of
from certmgr.controllers.context import Settings
from certmgr.pki.csr import build_csr
from certmgr.pki.renewal import jittered_renewal_time, renewal_time
from certmgr.testing.apiserver import admission, managing
from certmgr.testing.throwaway_ca import ThrowawayCA

Obj = dict[str, Any]


class IssuedSeeder:
    """Stores issued Certificates (and their Secrets) in a ``Simulator``'s store."""

    def __init__(
        self,
        sim: Any,
        *,
        issuer_ref: dict[str, str],
        requests: bool = False,
        orders: bool = False,
    ) -> None:
        self.sim = sim
        self.issuer_ref = issuer_ref
        self.requests = requests
        self.orders = orders and requests
        ca = ThrowawayCA.create(
            "seeded root",
            validity=timedelta(days=3650),
            not_before=datetime.now(UTC) - timedelta(days=1),
        )
        self.ca_key, self.ca_name, self.ca_pem = ca.key, ca.certificate.subject, ca.pem
        self._admitted: Obj | None = None
        # managedFields by (kind, whether status was written): computed once per shape.
        self._managed: dict[tuple[Any, ...], list[Obj]] = {}
        self.mark = 0  # the store's resourceVersion when ``census`` starts counting
        # Certificates whose Secret is stored and who wait for ``release`` (with their key
        # and chain, for the request that issued them).
        self.held: list[tuple[Obj, ec.EllipticCurvePrivateKey, bytes]] = []

    def namespace(self, name: str) -> None:
        self.sim.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})

    def certificate(
        self,
        namespace: str,
        name: str,
        *,
        not_before: datetime,
        not_after: datetime,
        dns_name: str | None = None,
        hold: bool = False,
    ) -> None:
        """One issued Certificate. With ``hold`` only its Secret is stored now, the
        Certificate on ``release`` (a Certificate seen before its Secret is rightly issued
        again, which a benchmark of renewals must not count)."""
        dns_name = dns_name or f"{name}.example.com"
        key = ec.generate_private_key(ec.SECP256R1())  # ~50 us: cheap beside signing
        pem = self._leaf(key, dns_name, not_before, not_after)
        certificate = self._admit_certificate(
            {
                "apiVersion": "cert-manager.io/v1",
                "kind": "Certificate",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {
                    "secretName": f"{name}-tls",
                    "issuerRef": dict(self.issuer_ref),
                    "dnsNames": [dns_name],
                    "privateKey": {"algorithm": "ECDSA", "size": 256},
                },
            }
        )
        self.create(
            build_secret(
                None,
                namespace=namespace,
                certificate_name=name,
                spec=CertificateSpec.from_dict(certificate["spec"], path="spec"),
                issued=Issued(key, pem, self.ca_pem),
            )
        )
        base = renewal_time(
            not_before=not_before,
            not_after=not_after,
            renew_before=None,
            renew_before_percentage=None,
        )
        jitter = renewal_jitter_seconds(pem, cap=Settings().renewal_jitter_max)
        due = jittered_renewal_time(base, jitter_seconds=jitter, not_before=not_before)
        certificate["status"] = {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": READY,
                    "message": READY_MESSAGE,
                    "lastTransitionTime": rfc3339(not_before),
                    "observedGeneration": 1,
                }
            ],
            "notBefore": rfc3339(not_before),
            "notAfter": rfc3339(not_after),
            "renewalTime": rfc3339(due),
            "revision": 1,
        }
        certificate["metadata"]["managedFields"] = self._managed_fields(certificate, status=True)
        if hold:
            self.held.append((certificate, key, pem))
        else:
            self._store_certificate(certificate, key, pem)

    def release(self) -> None:
        for certificate, key, pem in self.held:
            self._store_certificate(certificate, key, pem)
        self.held.clear()

    def _store_certificate(
        self, certificate: Obj, key: ec.EllipticCurvePrivateKey, pem: bytes
    ) -> None:
        self.sim.store.create(self._rtype(certificate), certificate)
        if self.requests:
            request = self._issued_request(certificate, key, pem)
            stored = self.create(request, status=request.pop("status"))
            if self.orders:
                order = self._valid_order(stored, certificate["spec"]["dnsNames"], pem)
                self.create(order, status=order.pop("status"))

    def _issued_request(self, certificate: Obj, key: ec.EllipticCurvePrivateKey, pem: bytes) -> Obj:
        """Revision 1's request, completed: made by the request manager's own functions
        (named as it names it, before the Certificate had a revision), then approved and
        issued as the approver and the ACME issuer write their conditions."""
        before = {k: v for k, v in certificate.items() if k != "status"}
        view = CertificateView.of(before)
        assert view.spec is not None
        name = certificate["metadata"]["name"]
        suffix = hashlib.sha256(name.encode()).hexdigest()[:5]
        request = request_body(
            view,
            name=expected_request_name(view, key),
            csr_pem=build_csr(key, requirements_of(view.spec)),
            key_secret_name=f"{name}-{suffix}",
        )
        issued_at = datetime.fromisoformat(certificate["status"]["notBefore"])
        conditions = set_condition(
            None,
            type_=APPROVED,
            status=Status.TRUE,
            reason=APPROVER_REASON,
            message=APPROVER_MESSAGE,
            observed_generation=None,
            now=issued_at,
        )
        conditions = set_condition(
            conditions,
            type_=READY_CONDITION,
            status=Status.TRUE,
            reason=REQUEST_ISSUED,
            message=ISSUED_MESSAGE,
            observed_generation=None,
            now=issued_at,
        )
        request["status"] = {
            "conditions": conditions,
            "certificate": base64.b64encode(pem).decode(),
            "ca": base64.b64encode(self.ca_pem).decode(),
        }
        return request

    def _valid_order(self, request: Obj, dns_names: list[str], pem: bytes) -> Obj:
        """The request's Order as the Order controller leaves a valid one: named, labelled
        and owned as the ACME request controller creates it, its status as an ACME server
        reports the order and an authorization per name (all three challenge types offered)."""
        meta = request["metadata"]
        spec = {
            "request": request["spec"]["request"],
            "issuerRef": dict(request["spec"]["issuerRef"]),
            "dnsNames": list(dns_names),
        }
        name = order_name(meta["name"], spec)
        base = f"https://acme.example.com/{meta['namespace']}/{name}"
        return {
            **order_body(request, name=name, spec=spec),
            "status": {
                "url": f"{base}/order",
                "finalizeURL": f"{base}/finalize",
                "certificate": base64.b64encode(pem).decode(),
                "state": "valid",
                "authorizations": [
                    {
                        "url": f"{base}/authz/{identifier}",
                        "identifier": identifier,
                        "wildcard": False,
                        "initialState": "pending",
                        "challenges": [
                            {
                                "url": f"{base}/chall/{identifier}/{kind}",
                                "token": f"{name}-{identifier}-{kind}",
                                "type": kind,
                            }
                            for kind in ("http-01", "dns-01", "tls-alpn-01")
                        ],
                    }
                    for identifier in dns_names
                ],
            },
        }

    def create(self, obj: Obj, *, status: Obj | None = None) -> Obj:
        """Any object, through the simulator's admission, straight into its store (what was
        stored); with ``status`` as its status subresource's writer then sets it."""
        rtype = self._rtype(obj)
        namespace = obj["metadata"].get("namespace", "")
        prepared = admission.prepare_create(self.sim.store, rtype, namespace, obj)
        if status is not None:
            prepared["status"] = status
        prepared["metadata"]["managedFields"] = self._managed_fields(
            prepared, status=status is not None
        )
        self.sim.store.create(rtype, prepared)
        return prepared

    def census(self, *, skip: frozenset[str] = frozenset()) -> dict[str, int]:
        """Objects written since ``mark``, by plural resource, those in ``skip`` apart."""
        counts: dict[str, int] = {}
        for (_, plural), table in self.sim.store._tables.items():
            if plural in skip:
                continue
            changed = sum(
                1
                for o in table.objects.values()
                if int(o["metadata"]["resourceVersion"]) > self.mark
            )
            if changed:
                counts[plural] = changed
        return counts

    def _managed_fields(self, obj: Obj, *, status: bool) -> list[Obj]:
        """What the simulator's HTTP path records for ``obj`` created by its writer (and,
        with ``status``, its status written by certmgr), as a real server sends them."""
        metadata = obj["metadata"]
        cache_key = (
            obj["kind"],
            status,
            *(tuple(sorted(part or ())) for part in (obj.get("data"), obj.get("spec"))),
            *(tuple(sorted(metadata.get(part) or ())) for part in ("labels", "annotations")),
        )
        if cache_key not in self._managed:
            rtype = self._rtype(obj)
            shape = managing.Shape(
                api_version=rtype.api_version,
                kind=rtype.kind,
                schema=rtype.schema if rtype.is_custom else None,
                status_subresource=rtype.status_subresource,
            )
            writer = "kubectl-client-side-apply" if obj["kind"] == "Certificate" else "certmgr"
            bare = {k: v for k, v in obj.items() if k != "status"}
            fields = managing.record_update(None, bare, shape=shape, manager=writer)
            if status and "status" in obj:
                fields = managing.record_update(
                    bare, obj, shape=shape, manager="certmgr", subresource="status", given=fields
                )
            self._managed[cache_key] = fields
        return copy.deepcopy(self._managed[cache_key])

    def _leaf(
        self,
        key: ec.EllipticCurvePrivateKey,
        dns_name: str,
        not_before: datetime,
        not_after: datetime,
    ) -> bytes:
        certificate = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self.ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns_name)]), critical=True)
            .sign(self.ca_key, hashes.SHA256())
        )
        return certificate.public_bytes(serialization.Encoding.PEM)

    def _rtype(self, obj: Obj) -> Any:
        return self.sim.store.catalogue.by_kind(obj["apiVersion"], obj["kind"])

    def _admit_certificate(self, obj: Obj) -> Obj:
        # The CRD's CEL rules cost ~30 ms a Certificate: admit the first one and give the
        # rest its shape (they differ only in names).
        if self._admitted is None:
            self._admitted = admission.prepare_create(
                self.sim.store, self._rtype(obj), obj["metadata"]["namespace"], obj
            )
        prepared: Obj = copy.deepcopy(self._admitted)
        prepared["metadata"].update(obj["metadata"])
        prepared["spec"].update(obj["spec"])
        return prepared
