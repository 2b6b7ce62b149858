"""The Challenge controller on fake time, for the DNS-01 integration tests.

Owns the doubles a DNS-01 Challenge needs around the real :class:`ChallengeReconciler`
(Secrets from a dict and status patches into the cache, a CA never reached, Events
recorded with the fake time) and :func:`drive`, which reconciles one Challenge as the
work queue would. Must not speak DNS or AWS itself: the tests bring BIND or the local
Route 53, so every provider is checked against the same controller loop.
"""

from __future__ import annotations

import base64
import copy
from dataclasses import dataclass, field
from typing import Any

from certmgr.controllers.acme.challenges import SLOT_INDEX, ChallengeReconciler, slot_of
from certmgr.controllers.context import Context, Settings
from certmgr.dns01.providers import ChallengeRequest
from certmgr.kube.errors import APIError, NotFound
from certmgr.kube.resources import CHALLENGES, SECRETS, Resource
from certmgr.runtime.cache import Cache
from certmgr.testing.clock import FakeClock

NS = "ns"
KEY = f"{NS}/c"
ISSUER = {
    "apiVersion": "cert-manager.io/v1",
    "kind": "Issuer",
    "metadata": {"name": "ca", "namespace": NS, "resourceVersion": "1"},
    "spec": {"acme": {"server": "https://ca/dir", "privateKeySecretRef": {"name": "k"}}},
}
CLUSTER_ISSUER = {
    "apiVersion": "cert-manager.io/v1",
    "kind": "ClusterIssuer",
    "metadata": {"name": "ca", "resourceVersion": "1"},
    "spec": ISSUER["spec"],
}


class FakeCA:
    pass


@dataclass
class FakeAccounts:
    ca: Any = field(default_factory=FakeCA)

    async def client_for(self, issuer: dict[str, Any]) -> Any:
        return self.ca


@dataclass
class RecordingEvents:
    """Events as (fake monotonic time, type, reason, message)."""

    clock: FakeClock
    events: list[tuple[float, str, str, str]] = field(default_factory=list)

    def event(self, obj: dict[str, Any], type_: str, reason: str, message: str) -> None:
        self.events.append((self.clock.monotonic(), type_, reason, message))

    def warnings(self) -> list[tuple[float, str, str, str]]:
        return [e for e in self.events if e[1] == "Warning"]


class FakeKube:
    """Secrets from a dict; status and finalizer patches applied to the Challenge cache;
    creates (a webhook's ChallengePayload) recorded and answered by ``answer``: the
    body to return, or an APIError to raise."""

    def __init__(
        self,
        challenges: Cache,
        secrets: dict[str, dict[str, Any]],
        *,
        answer: dict[str, Any] | APIError | None = None,
    ) -> None:
        self.challenges = challenges
        self.secrets = secrets
        self.answer = answer
        self.created: list[tuple[Resource, dict[str, Any]]] = []

    async def create(self, resource: Resource, obj: dict[str, Any], **kw: Any) -> dict[str, Any]:
        self.created.append((resource, obj))
        if self.answer is None:
            raise AssertionError(f"unexpected create of {resource.path()}")
        if isinstance(self.answer, APIError):
            raise self.answer
        return self.answer

    async def get(self, resource: Resource, name: str, **kw: Any) -> dict[str, Any]:
        if resource == SECRETS and name in self.secrets:
            return copy.deepcopy(self.secrets[name])
        raise NotFound({"reason": "NotFound", "message": f'secrets "{name}" not found'})

    async def patch(
        self, resource: Resource, name: str, patch: dict[str, Any], **kw: Any
    ) -> dict[str, Any]:
        assert resource == CHALLENGES
        obj = copy.deepcopy(self.challenges.get(NS, name))
        assert obj is not None
        if "status" in patch:
            obj["status"] = {**(obj.get("status") or {}), **patch["status"]}
        if "finalizers" in (patch.get("metadata") or {}):
            obj["metadata"]["finalizers"] = patch["metadata"]["finalizers"]
        rv = int(obj["metadata"]["resourceVersion"]) + 1
        obj["metadata"]["resourceVersion"] = str(rv)
        self.challenges.apply("MODIFIED", obj)
        return obj


def secret(name: str, **entries: str) -> dict[str, Any]:
    """A Secret whose ``data`` holds ``entries`` (base64-encoded, as the API returns it)."""
    data = {key: base64.b64encode(value.encode()).decode() for key, value in entries.items()}
    return {"metadata": {"name": name, "namespace": NS}, "data": data}


def challenge(dns_name: str, provider: dict[str, Any], *, kind: str = "Issuer") -> dict[str, Any]:
    """A DNS-01 Challenge ``ns/c`` for ``dns_name`` whose solver's ``dns01`` is ``provider``."""
    return {
        "apiVersion": "acme.cert-manager.io/v1",
        "kind": "Challenge",
        "metadata": {"name": "c", "namespace": NS, "uid": "u", "resourceVersion": "1"},
        "spec": {
            "url": "https://ca/chall/1",
            "authorizationURL": "https://ca/authz/1",
            "dnsName": dns_name,
            "type": "DNS-01",
            "token": "tok",
            "key": "txt-value",
            "solver": {"dns01": provider},
            "issuerRef": {"name": "ca", "kind": kind},
        },
        "status": {},
    }


def txt_request(
    fqdn: str, key: str, *, uid: str = "u", zone: str = "example.test."
) -> ChallengeRequest:
    """What the controller hands a provider for TXT value ``key`` at ``fqdn`` (an Issuer's
    Challenge in ``ns``, no ambient credentials)."""
    return ChallengeRequest(
        uid=uid,
        dns_name=fqdn.removeprefix("_acme-challenge.").removesuffix("."),
        key=key,
        resolved_fqdn=fqdn,
        resolved_zone=zone,
        resource_namespace=NS,
    )


@dataclass
class Harness:
    clock: FakeClock
    challenges: Cache
    events: RecordingEvents
    reconciler: ChallengeReconciler
    kube: Any

    def status(self) -> dict[str, Any]:
        obj = self.challenges.get(NS, "c")
        assert obj is not None
        return dict(obj.get("status") or {})


def harness(
    obj: dict[str, Any],
    *,
    settings: Settings,
    secrets: dict[str, dict[str, Any]] | None = None,
    answer: dict[str, Any] | APIError | None = None,
    ca: Any = None,
) -> Harness:
    """The reconciler over one Challenge (``obj``), its Issuer and ClusterIssuer ``ca``,
    with a :class:`FakeKube` holding ``secrets`` and answering creates with ``answer``."""
    clock = FakeClock()
    challenges = Cache(indexes={SLOT_INDEX: slot_of})
    challenges.apply("ADDED", obj)
    issuers, cluster_issuers = Cache(), Cache()
    issuers.apply("ADDED", ISSUER)
    cluster_issuers.apply("ADDED", CLUSTER_ISSUER)
    kube = FakeKube(challenges, secrets or {}, answer=answer)
    events = RecordingEvents(clock=clock)
    ctx = Context(kube, None, clock, events, None, settings)  # type: ignore[arg-type]
    reconciler = ChallengeReconciler(
        ctx,
        accounts=FakeAccounts(ca if ca is not None else FakeCA()),  # type: ignore[arg-type]
        challenges=challenges,
        issuers=issuers,
        cluster_issuers=cluster_issuers,
    )
    return Harness(
        clock=clock, challenges=challenges, events=events, reconciler=reconciler, kube=kube
    )


async def drive(run: Harness, *, minutes: float) -> None:
    """Reconcile ``ns/c`` for ``minutes`` of fake time as the work queue would: at each
    requeue_after, and once more at once after each (our own status write wakes it early,
    which must not cost an extra attempt). The reconciler is closed afterwards."""
    start = run.clock.monotonic()
    try:
        while run.clock.monotonic() - start < minutes * 60:
            result = await run.reconciler.reconcile(KEY)
            assert result is not None and result.requeue_after is not None
            await run.reconciler.reconcile(KEY)
            run.clock.advance(result.requeue_after)
    finally:
        await run.reconciler.close()


async def refused_for_ten_minutes(
    run: Harness, *, reason: str
) -> list[tuple[float, str, str, str]]:
    """Drive a Challenge that cannot be presented for ten fake minutes; assert it says why
    (``reason`` in its status and in a PresentError Warning per attempt), stays pending
    and backed off (from 5 s towards 5 min: 4-10 attempts, not hundreds). The Warnings."""
    start = run.clock.monotonic()
    await drive(run, minutes=10)
    status = run.status()
    assert status["reason"].startswith("Error presenting challenge: "), status
    assert reason in status["reason"], status["reason"]
    assert status["processing"] is True
    assert not status.get("state") or status["state"] == "pending"
    warnings = run.events.warnings()
    assert warnings and all(e[2] == "PresentError" and reason in e[3] for e in warnings)
    assert 4 <= len(warnings) <= 10, [round(e[0] - start) for e in warnings]
    return warnings
