"""API writes per issuance on the ACME side (issue 5), counted by the API simulator.

The ACME controllers run against the simulator over HTTP with a CA that validates at
once; the shared solver answers the self-check on loopback (an IP identifier, so no
DNS). One issuance must cost: Order create + 2 status writes (created, final),
Challenge create + 1 status write (final) + delete, solver Ingress create + delete,
the namespace's shared Service once, and the CertificateRequest's final status: no
finalizer patches, no intermediate statuses, no Normal Events on the intermediate
objects.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import ipaddress
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certmgr.acme import Authorization, Challenge, Identifier, Order
from certmgr.controllers.acme import challenges, orders, requests
from certmgr.controllers.acme.shared_solver import serve_shared_solver
from certmgr.controllers.context import Context, Settings
from certmgr.kube.client import KubeClient
from certmgr.kube.resources import CERTIFICATEREQUESTS, CHALLENGES, INGRESSES, ISSUERS
from certmgr.runtime.clock import SystemClock
from certmgr.runtime.manager import Manager
from certmgr.testing.apiserver.server import Simulator
from certmgr.testing.dataplane.waiting import eventually
from certmgr.testing.idle import until_idle

CRD_DIR = Path(__file__).resolve().parents[4] / "crds"
NS = "default"
ADDRESS = "127.0.0.1"
SOLVER = {"http01": {"ingress": {"ingressClassName": "nginx"}}}


def _key_and_certificate() -> tuple[ec.EllipticCurvePrivateKey, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ADDRESS))]), False
        )
        .sign(key, hashes.SHA256())
    )
    return key, certificate.public_bytes(serialization.Encoding.PEM).decode()


@dataclass
class InstantCA:
    """Validates a challenge as soon as it is answered, issues as soon as finalized."""

    chain: str
    accepted: bool = False
    finalized: bool = False
    calls: Counter[str] = field(default_factory=Counter)
    account_uri: str = "https://ca/acct/1"

    def key_authorization(self, token: str) -> str:
        return f"{token}.thumb"

    async def account_orders(self) -> tuple[str, ...]:
        self.calls["account_orders"] += 1
        return ()

    def _challenge(self) -> Challenge:
        status = "valid" if self.accepted else "pending"
        return Challenge("http-01", "https://ca/chall/1", "tok", status)

    async def new_order(self, identifiers: Any, **_: Any) -> Order:
        self.calls["new_order"] += 1
        self.accepted = self.finalized = False  # a new authorization to validate
        return Order(
            "https://ca/order/1", "pending", tuple(identifiers), ("https://ca/authz/1",), "f"
        )

    async def get_authorization(self, url: str) -> Authorization:
        self.calls["get_authorization"] += 1
        status = "valid" if self.accepted else "pending"
        return Authorization(url, Identifier.ip(ADDRESS), status, (self._challenge(),))

    async def get_challenge(self, url: str) -> Challenge:
        self.calls["get_challenge"] += 1
        return self._challenge()

    async def accept_challenge(self, url: str) -> Challenge:
        self.calls["accept_challenge"] += 1
        self.accepted = True
        return Challenge("http-01", url, "tok", "processing")

    async def get_order(self, url: str) -> Order:
        status = "valid" if self.finalized else "ready" if self.accepted else "pending"
        cert = "https://ca/cert/1" if self.finalized else None
        return Order(url, status, (), ("https://ca/authz/1",), "f", certificate_url=cert)

    async def finalize(self, order_url: str, finalize_url: str, csr_pem: bytes) -> Order:
        self.calls["finalize"] += 1
        self.finalized = True
        return await self.get_order(order_url)

    async def download_certificate(self, url: str, *, preferred_chain: str | None = None) -> str:
        return self.chain


@dataclass
class Accounts:
    ca: InstantCA

    async def client_for(self, issuer: dict[str, Any]) -> InstantCA:
        return self.ca


@dataclass
class Events:
    seen: list[tuple[str, str, str]] = field(default_factory=list)

    def event(self, obj: dict[str, Any], type_: str, reason: str, message: str) -> None:
        self.seen.append((str(obj.get("kind")), type_, reason))


def _csr(key: ec.EllipticCurvePrivateKey) -> str:
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ADDRESS))]), False
        )
        .sign(key, hashes.SHA256())
    )
    return base64.b64encode(csr.public_bytes(serialization.Encoding.PEM)).decode()


@dataclass
class World:
    kube: KubeClient
    sim: Simulator
    ca: InstantCA
    events: Events
    manager: Manager
    csr: str

    async def issue(self, name: str) -> dict[str, Any]:
        request = {
            "apiVersion": "cert-manager.io/v1",
            "kind": "CertificateRequest",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"request": self.csr, "issuerRef": {"name": "ca", "kind": "Issuer"}},
        }
        created = await self.kube.create(CERTIFICATEREQUESTS, request, namespace=NS)
        approved = {"type": "Approved", "status": "True", "reason": "test", "message": "ok"}
        created["status"] = {"conditions": [approved]}
        await self.kube.update_status(CERTIFICATEREQUESTS, created)

        async def ready() -> dict[str, Any]:
            got: dict[str, Any] = await self.kube.get(CERTIFICATEREQUESTS, name, namespace=NS)
            return got

        def issued(cr: dict[str, Any]) -> bool:
            conditions = (cr.get("status") or {}).get("conditions") or ()
            return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

        cr = await eventually(ready, issued, deadline=30)

        async def leftovers() -> int:
            left = (await self.kube.list(CHALLENGES, namespace=NS)).items
            return len(left) + len((await self.kube.list(INGRESSES, namespace=NS)).items)

        await eventually(leftovers, lambda n: n == 0, deadline=30)
        await self.quiesce()
        return cr

    async def quiesce(self) -> None:
        await until_idle(self.manager)

    def writes(self) -> dict[str, int]:
        """Writes by "verb resource", the test's own two (create, approve) left out."""
        counts: Counter[str] = Counter()
        for (verb, resource, _), n in self.sim.requests.snapshot().items():
            if verb in ("create", "update", "patch", "delete"):
                counts[f"{verb} {resource}"] += n
        counts["create certificaterequests"] -= 1
        counts["update certificaterequests/status"] -= 1
        return {k: v for k, v in counts.items() if v}


@contextlib.asynccontextmanager
async def world_of(
    apiserver: Simulator, kubeconfig: Path, settings: Settings
) -> AsyncIterator[World]:
    apiserver.install_crds([CRD_DIR])
    key, chain = _key_and_certificate()
    ca = InstantCA(chain)
    events = Events()
    async with await KubeClient.connect(kubeconfig=str(kubeconfig), qps=1000, burst=1000) as kube:
        issuer = {
            "apiVersion": "cert-manager.io/v1",
            "kind": "Issuer",
            "metadata": {"name": "ca", "namespace": NS},
            "spec": {
                "acme": {
                    "server": "https://ca/dir",
                    "privateKeySecretRef": {"name": "k"},
                    "solvers": [SOLVER],
                }
            },
        }
        created = await kube.create(ISSUERS, issuer, namespace=NS)
        ready = {"type": "Ready", "status": "True", "reason": "ACMEAccountRegistered"}
        created["status"] = {"conditions": [ready]}
        await kube.update_status(ISSUERS, created)
        manager = Manager(kube, clock=SystemClock(), backoff_base=0.05, backoff_cap=1.0)
        runner = await serve_shared_solver(manager, host=ADDRESS, port=0)
        port = int(runner.addresses[0][1])
        settings = Settings(
            **{**_fields(settings), "self_check_port": port, "self_check_interval": 0.05}
        )
        ctx = Context(kube, manager, SystemClock(), events, None, settings)  # type: ignore[arg-type]
        requests.setup(ctx)
        orders.setup(ctx, accounts=Accounts(ca))  # type: ignore[arg-type]
        reconciler = challenges.setup(ctx, accounts=Accounts(ca))  # type: ignore[arg-type]
        task = asyncio.create_task(manager.run())
        try:
            await asyncio.wait_for(manager.wait_synced(), 10)
            apiserver.requests.reset()
            yield World(kube, apiserver, ca, events, manager, _csr(key))
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await reconciler.close()
            await runner.cleanup()


def _fields(settings: Settings) -> dict[str, Any]:
    return {name: getattr(settings, name) for name in Settings.__dataclass_fields__}


# One issuance, one identifier, shared mode, the namespace's first Challenge.
EXPECTED = {
    "create orders": 1,
    "patch orders/status": 2,  # ACME order created; valid with the chain
    "create challenges": 1,
    "patch challenges/status": 1,  # final only: it never had to wait
    "delete challenges": 1,
    "create ingresses": 1,
    "delete ingresses": 1,  # as soon as the Challenge is final
    "create services": 1,  # the namespace's shared Service, once
    "patch certificaterequests/status": 1,  # the outcome
}


async def test_one_issuance_writes_each_object_once(apiserver: Simulator, kubeconfig: Path) -> None:
    async with world_of(apiserver, kubeconfig, Settings()) as world:
        await world.issue("first")
        assert world.writes() == EXPECTED
        assert world.ca.calls["accept_challenge"] == 1
        # No Normal Event on a CertificateRequest, Order or Challenge by default.
        assert [e for e in world.events.seen if e[1] == "Normal"] == []

        # The next issuance in the namespace reuses the shared Service.
        apiserver.requests.reset()
        await world.issue("second")
        assert world.writes() == {k: v for k, v in EXPECTED.items() if k != "create services"}


async def test_detailed_events_restore_cert_managers_normal_events(
    apiserver: Simulator, kubeconfig: Path
) -> None:
    async with world_of(apiserver, kubeconfig, Settings(detailed_events=True)) as world:
        await world.issue("first")
        assert sorted(e for e in world.events.seen if e[1] == "Normal") == [
            ("CertificateRequest", "Normal", "OrderCreated"),
            ("Challenge", "Normal", "DomainVerified"),
            ("Challenge", "Normal", "Presented"),
            ("Order", "Normal", "Created"),
        ]


@pytest.mark.parametrize(
    ("successes", "waiting_writes"),
    [
        pytest.param(1, 0, id="one-success-no-wait"),
        pytest.param(2, 1, id="two-successes-wait-once"),
    ],
)
async def test_a_challenge_writes_a_waiting_status_only_when_it_waits(
    apiserver: Simulator, kubeconfig: Path, successes: int, waiting_writes: int
) -> None:
    settings = Settings(self_check_successes=successes)
    async with world_of(apiserver, kubeconfig, settings) as world:
        await world.issue("first")
        assert world.writes()["patch challenges/status"] == 1 + waiting_writes
