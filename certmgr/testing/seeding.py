"""Seeding the simulator with Certificates that are already issued, for benchmarks.

Owns ``IssuedSeeder``: for each Certificate, a real ECDSA leaf from a throwaway CA, the
Secret exactly as the issuing controller writes it (``secretdata.build_secret``: key in
the spec's encoding, every managed label and annotation, ``ca.crt``) and the Ready status
the readiness controller would write (revision 1, notBefore/notAfter, the jittered
renewal time computed by the product's own functions), so a controller starting over
them has nothing to issue or repair. Each Certificate has its own key, and every object
carries the ``managedFields`` a real API server would send (the creator's Update, and the
status writer's for a Certificate): what the controller decodes and drops is part of the
cost measured. Objects go straight into the simulator's store (through its admission),
not over HTTP: seeding 100,000 must take minutes, not hours.
It must not be imported by product code.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certmgr.api.certificates import CertificateSpec
from certmgr.api.codec import rfc3339
from certmgr.api.reasons import READY, READY_MESSAGE
from certmgr.controllers.certificates.gather import renewal_jitter_seconds
from certmgr.controllers.certificates.secretdata import Issued, build_secret
from certmgr.controllers.context import Settings
from certmgr.pki.renewal import jittered_renewal_time, renewal_time
from certmgr.testing.apiserver import admission, managing
from certmgr.testing.throwaway_ca import ThrowawayCA

Obj = dict[str, Any]


class IssuedSeeder:
    """Stores issued Certificates (and their Secrets) in a ``Simulator``'s store."""

    def __init__(self, sim: Any, *, issuer_ref: dict[str, str]) -> None:
        self.sim = sim
        self.issuer_ref = issuer_ref
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
        # Certificates whose Secret is stored and who wait for ``release``.
        self.held: list[Obj] = []

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
            self.held.append(certificate)
        else:
            self.sim.store.create(self._rtype(certificate), certificate)

    def release(self) -> None:
        for certificate in self.held:
            self.sim.store.create(self._rtype(certificate), certificate)
        self.held.clear()

    def create(self, obj: Obj) -> None:
        """Any object, through the simulator's admission, straight into its store."""
        rtype = self._rtype(obj)
        namespace = obj["metadata"].get("namespace", "")
        prepared = admission.prepare_create(self.sim.store, rtype, namespace, obj)
        prepared["metadata"]["managedFields"] = self._managed_fields(prepared, status=False)
        self.sim.store.create(rtype, prepared)

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
