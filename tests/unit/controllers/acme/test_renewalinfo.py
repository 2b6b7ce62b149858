"""The renewal-information controller on a fake clock, fake CA and fake API: when it asks
the CA (never before nextCheck, again once the certificate changes), what it writes, and
what it leaves alone (opt-out, a CA without ARI)."""

from __future__ import annotations

import base64
import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certmgr.acme import AcmeError, Problem, RenewalInfo
from certmgr.controllers.acme.renewalinfo import RenewalInfoReconciler
from certmgr.controllers.context import Context, Settings
from certmgr.pki.renewalinfo import ari_cert_id
from certmgr.runtime.cache import Cache
from certmgr.runtime.controller import Result
from certmgr.testing.clock import FakeClock

NS = "default"
NOW = datetime(2026, 3, 1, tzinfo=UTC)
_KEY = ec.generate_private_key(ec.SECP256R1())
READY = {"conditions": [{"type": "Ready", "status": "True", "reason": "ACMEAccountRegistered"}]}


def _leaf(serial: int) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "a.example")])
    aki = x509.AuthorityKeyIdentifier(b"\x01" * 20, None, None)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(_KEY.public_key())
        .serial_number(serial)
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=89))
        .add_extension(aki, critical=False)
        .sign(_KEY, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


@dataclass
class FakeCA:
    answers: list[RenewalInfo | AcmeError] = field(default_factory=list)
    url: str | None = "https://ca/renewal-info"
    asked: list[str] = field(default_factory=list)

    def renewal_info_url(self) -> str | None:
        return self.url

    async def renewal_info(self, cert_id: str) -> RenewalInfo:
        self.asked.append(cert_id)
        answer = self.answers[min(len(self.asked), len(self.answers)) - 1]
        if isinstance(answer, AcmeError):
            raise answer
        return answer


@dataclass
class FakeAccounts:
    ca: FakeCA

    async def client_for(self, issuer: dict[str, Any]) -> FakeCA:
        return self.ca


@dataclass
class FakeSecrets:
    data: dict[str, bytes] = field(default_factory=dict)

    async def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        pem = self.data.get(name)
        return {"data": {"tls.crt": base64.b64encode(pem).decode()}} if pem else None

    async def view(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self.get(namespace, name)


@dataclass
class FakeManager:
    secrets: FakeSecrets


class FakeKube:
    """Status patches merged (RFC 7386, nulls delete) into the cached Certificate."""

    def __init__(self, certificates: Cache) -> None:
        self.certificates = certificates
        self.writes = 0

    async def patch(self, resource: Any, name: str, patch: dict[str, Any], **kw: Any) -> Any:
        obj = copy.deepcopy(self.certificates.get(kw.get("namespace"), name))
        assert obj is not None
        _merge(obj, patch)
        self.certificates.apply("MODIFIED", obj)
        self.writes += 1
        return obj


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)
            if isinstance(value, dict):
                _merge(target[key], {})
                _drop_nulls(target[key])


def _drop_nulls(obj: dict[str, Any]) -> None:
    for key in [k for k, v in obj.items() if v is None]:
        del obj[key]
    for value in obj.values():
        if isinstance(value, dict):
            _drop_nulls(value)


@dataclass
class Events:
    seen: list[tuple[str, str, str]] = field(default_factory=list)

    def event(self, obj: dict[str, Any], type_: str, reason: str, message: str) -> None:
        self.seen.append((type_, reason, message))


@dataclass
class World:
    reconciler: RenewalInfoReconciler
    certificates: Cache
    issuers: Cache
    secrets: FakeSecrets
    ca: FakeCA
    clock: FakeClock
    kube: FakeKube
    events: Events

    def ari(self, name: str = "web") -> dict[str, Any]:
        certificate = self.certificates.get(NS, name) or {}
        return dict(((certificate.get("status") or {}).get("acme") or {}).get("ari") or {})

    async def reconcile(self, name: str = "web") -> Result | None:
        return await self.reconciler.reconcile(f"{NS}/{name}")


def make(ca: FakeCA, *, names: tuple[str, ...] = ("web",), source: str | None = None) -> World:
    certificates, issuers = Cache(), Cache()
    acme: dict[str, Any] = {"server": "https://ca/dir"}
    if source is not None:
        acme["renewalInformationSource"] = source
    issuers.apply(
        "ADDED",
        {
            "kind": "Issuer",
            "metadata": {"name": "ca", "namespace": NS, "uid": "i"},
            "spec": {"acme": acme},
            "status": READY,
        },
    )
    secrets = FakeSecrets()
    for serial, name in enumerate(names, start=1):
        certificates.apply(
            "ADDED",
            {
                "kind": "Certificate",
                "metadata": {"name": name, "namespace": NS, "uid": name},
                "spec": {"secretName": f"{name}-tls", "issuerRef": {"name": "ca"}},
            },
        )
        secrets.data[f"{name}-tls"] = _leaf(serial)
    clock = FakeClock(NOW)
    kube = FakeKube(certificates)
    events = Events()
    ctx = Context(
        client=kube,  # type: ignore[arg-type]
        manager=FakeManager(secrets),  # type: ignore[arg-type]
        clock=clock,
        events=events,
        acme=None,  # type: ignore[arg-type]
        settings=Settings(renewal_info_fetch_qps=10.0),
    )
    reconciler = RenewalInfoReconciler(
        ctx,
        accounts=FakeAccounts(ca),  # type: ignore[arg-type]
        certificates=certificates,
        issuers=issuers,
        cluster_issuers=Cache(),
    )
    return World(reconciler, certificates, issuers, secrets, ca, clock, kube, events)


def _window(days: int, **kwargs: Any) -> RenewalInfo:
    return RenewalInfo(NOW + timedelta(days=days), NOW + timedelta(days=days + 1), **kwargs)


async def test_retry_after_is_respected_and_nothing_is_asked_before_it() -> None:
    ca = FakeCA([_window(30, retry_after=7200.0, explanation_url="https://ca/why")])
    world = make(ca)
    assert await world.reconcile() == Result(requeue_after=7200.0)
    ari = world.ari()
    assert ari["suggestedWindow"] == {
        "start": "2026-03-31T00:00:00Z",
        "end": "2026-04-01T00:00:00Z",
    }
    assert (ari["lastChecked"], ari["nextCheck"]) == (
        "2026-03-01T00:00:00Z",
        "2026-03-01T02:00:00Z",
    )
    assert ari["certID"] == ari_cert_id(x509.load_pem_x509_certificate(_leaf(1)))
    assert world.events.seen == [
        (
            "Normal",
            "RenewalInfo",
            "The ACME server suggests renewing between 2026-03-31T00:00:00Z and "
            "2026-04-01T00:00:00Z: https://ca/why",
        )
    ]
    # The write's own event, and a restart an hour later: no fetch, no write.
    world.clock.advance(3600)
    assert await world.reconcile() == Result(requeue_after=3600.0)
    assert (len(ca.asked), world.kube.writes) == (1, 1)
    world.clock.advance(3600)
    await world.reconcile()
    assert len(ca.asked) == 2
    assert len(world.events.seen) == 1  # the same explanation is not repeated


async def test_a_new_certificate_is_asked_about_at_once() -> None:
    ca = FakeCA([_window(30)])
    world = make(ca)
    await world.reconcile()
    world.secrets.data["web-tls"] = _leaf(99)
    world.clock.advance(1)  # past the pacer's next slot; hours before nextCheck
    await world.reconcile()
    assert ca.asked[0] != ca.asked[1]
    assert world.ari()["certID"] == ca.asked[1]


@pytest.mark.parametrize(
    ("error", "next_check"),
    [
        pytest.param(
            AcmeError(Problem("about:blank", "HTTP 503", 503), retry_after=120.0),
            "2026-03-01T00:02:00Z",
            id="5xx-retry-after",
        ),
        pytest.param(
            AcmeError(Problem("urn:certmgr:acme:malformedResponse", "bad window")),
            "2026-03-01T01:00:00Z",
            id="malformed",
        ),
    ],
)
async def test_errors_are_recorded_with_one_warning(error: AcmeError, next_check: str) -> None:
    world = make(FakeCA([error]))
    await world.reconcile()
    ari = world.ari()
    assert ari["nextCheck"] == next_check
    assert ari["lastError"] == str(error)
    assert "suggestedWindow" not in ari
    world.clock.advance(86400)
    await world.reconcile()
    assert [e[:2] for e in world.events.seen] == [("Warning", "RenewalInfoFailed")]


async def test_a_failure_after_a_window_keeps_the_window() -> None:
    ca = FakeCA([_window(30), AcmeError(Problem("about:blank", "down", 500))])
    world = make(ca)
    await world.reconcile()
    world.clock.advance(6 * 3600)
    await world.reconcile()
    ari = world.ari()
    assert ari["lastError"] and ari["suggestedWindow"]["start"] == "2026-03-31T00:00:00Z"


async def test_the_opt_out_and_a_ca_without_ari_write_nothing() -> None:
    opted_out = make(FakeCA([_window(1)]), source="None")
    assert await opted_out.reconcile() is None
    no_ari = make(FakeCA([_window(1)], url=None))
    assert await no_ari.reconcile() is None
    for world in (opted_out, no_ari):
        assert (world.ca.asked, world.kube.writes, world.events.seen) == ([], 0, [])


async def test_turning_ari_off_removes_the_status() -> None:
    world = make(FakeCA([_window(1)]))
    await world.reconcile()
    issuer = copy.deepcopy(world.issuers.get(NS, "ca"))
    assert issuer is not None
    issuer["spec"]["acme"]["renewalInformationSource"] = "None"
    world.issuers.apply("MODIFIED", issuer)
    await world.reconcile()
    assert "acme" not in world.certificates.get(NS, "web")["status"]  # type: ignore[index]


async def test_due_fetches_after_a_restart_are_paced() -> None:
    names = tuple(f"c{i}" for i in range(5))
    world = make(FakeCA([_window(1)]), names=names)
    results = [await world.reconcile(name) for name in names]
    assert len(world.ca.asked) == 1
    assert [r.requeue_after if r else None for r in results[1:]] == pytest.approx(
        [0.1, 0.2, 0.3, 0.4]
    )
    world.clock.advance(0.5)
    for name in names[1:]:
        await world.reconcile(name)
    assert len(world.ca.asked) == 5
