"""A Challenge's writes and restarts: progress is re-derived from status and the CA, so
an answered challenge is not answered twice (into a 400); one status write when the
Challenge goes from presented to valid without waiting, one more only when it waits."""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from certmgr.acme import Authorization, Challenge, Identifier
from certmgr.api.codec import rfc3339
from certmgr.controllers.acme.challenges import SLOT_INDEX, ChallengeReconciler, slot_of
from certmgr.controllers.acme.selfcheck import CheckResult
from certmgr.controllers.acme.solver_objects import SHARED_SERVICE, shared_service
from certmgr.controllers.context import Context, Settings
from certmgr.kube.errors import AlreadyExists, NotFound
from certmgr.kube.resources import CHALLENGES, INGRESSES, SERVICES, Resource
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
SETTINGS = Settings(shared_solver_host="solver.svc")


@dataclass
class FakeCA:
    """The CA's view of the one challenge: ``status`` before anything we do."""

    status: str
    calls: list[str] = field(default_factory=list)

    def key_authorization(self, token: str) -> str:
        return f"{token}.thumb"

    def _challenge(self) -> Challenge:
        return Challenge("http-01", "https://ca/chall/1", "tok", self.status)

    async def get_challenge(self, url: str) -> Challenge:
        self.calls.append("get_challenge")
        return self._challenge()

    async def accept_challenge(self, url: str) -> Challenge:
        self.calls.append("accept_challenge")
        self.status = "valid"  # validated at once
        return self._challenge()

    async def get_authorization(self, url: str) -> Authorization:
        self.calls.append("get_authorization")
        if self.status == "processing":
            self.status = "valid"  # the validation under way ends
        authz_status = "valid" if self.status == "valid" else "pending"
        return Authorization(
            url, Identifier.dns("a.example.com"), authz_status, (self._challenge(),)
        )


@dataclass
class FakeAccounts:
    ca: FakeCA

    async def client_for(self, issuer: dict[str, Any]) -> FakeCA:
        return self.ca


class PassingSelfCheck:
    """Answers from ``script`` (True: the route serves the key), then passes."""

    def __init__(self, script: tuple[bool, ...] = ()) -> None:
        self.script = list(script)
        self.checks = 0

    async def check(self, dns_name: str, token: str, key: str) -> CheckResult:
        self.checks += 1
        ok = self.script.pop(0) if self.script else True
        return CheckResult(True) if ok else CheckResult(False, "connection refused")

    async def close(self) -> None:
        pass


class FakeKube:
    """The Challenge cache is the API; Ingresses and Services by name."""

    def __init__(self, challenges: Cache, *, ingress_exists: bool) -> None:
        self.challenges = challenges
        self.objects: dict[tuple[str, str], dict[str, Any]] = {
            ("services", SHARED_SERVICE): shared_service(NS, host="solver.svc", port=8089)
        }
        if ingress_exists:
            self.objects[("ingresses", "solver")] = {}
        self.writes: list[str] = []
        self.versions = itertools.count(10)

    async def get(self, resource: Resource, name: str, **_: Any) -> dict[str, Any]:
        if resource == SERVICES and (resource.plural, name) in self.objects:
            return copy.deepcopy(self.objects[(resource.plural, name)])
        raise NotFound({"reason": "NotFound"})

    async def create(self, resource: Resource, obj: dict[str, Any], **_: Any) -> dict[str, Any]:
        self.writes.append(f"create {resource.plural}")
        if resource == INGRESSES and ("ingresses", "solver") in self.objects:
            raise AlreadyExists({"reason": "AlreadyExists"})
        self.objects[(resource.plural, "solver")] = obj
        return obj

    async def delete(self, resource: Resource, name: str, **_: Any) -> None:
        self.writes.append(f"delete {resource.plural}")

    async def patch(
        self, resource: Resource, name: str, patch: dict[str, Any], **kw: Any
    ) -> dict[str, Any]:
        assert resource == CHALLENGES
        self.writes.append(f"patch {resource.plural}/{kw.get('subresource')}")
        obj = copy.deepcopy(self.challenges.get(NS, name))
        assert obj is not None
        obj["status"] = {**(obj.get("status") or {}), **patch["status"]}
        obj["metadata"]["resourceVersion"] = str(next(self.versions))
        self.challenges.apply("MODIFIED", obj)
        return obj


def the_challenge(status: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "acme.cert-manager.io/v1",
        "kind": "Challenge",
        "metadata": {"name": "c", "namespace": NS, "uid": "u", "resourceVersion": "1"},
        "spec": {
            "url": "https://ca/chall/1",
            "authorizationURL": "https://ca/authz/1",
            "dnsName": "a.example.com",
            "type": "HTTP-01",
            "token": "tok",
            "key": "tok.thumb",
            "solver": {"http01": {"ingress": {}}},
            "issuerRef": {"name": "ca", "kind": "Issuer"},
        },
        "status": status,
    }


@pytest.mark.parametrize(
    ("status", "ingress_exists", "ca_status", "accepts"),
    [
        pytest.param({}, False, "pending", 1, id="fresh"),
        pytest.param({}, True, "pending", 1, id="restart-before-accept"),
        pytest.param({}, True, "processing", 0, id="restart-after-accept"),
        pytest.param({}, True, "valid", 0, id="restart-after-validation"),
        pytest.param(
            {"presented": True, "processing": True, "state": "pending"},
            False,
            "valid",
            0,
            id="waited-before-restart",
        ),
    ],
)
async def test_a_challenge_is_answered_at_most_once_and_ends_valid(
    status: dict[str, Any], ingress_exists: bool, ca_status: str, accepts: int
) -> None:
    challenges = Cache(indexes={SLOT_INDEX: slot_of})
    challenges.apply("ADDED", the_challenge(status))
    issuers = Cache()
    issuers.apply("ADDED", ISSUER)
    kube = FakeKube(challenges, ingress_exists=ingress_exists)
    ca = FakeCA(ca_status)
    ctx = Context(kube, None, FakeClock(), None, None, SETTINGS)  # type: ignore[arg-type]
    reconciler = ChallengeReconciler(
        ctx,
        accounts=FakeAccounts(ca),  # type: ignore[arg-type]
        challenges=challenges,
        issuers=issuers,
        cluster_issuers=Cache(),
    )
    reconciler._self_check = PassingSelfCheck()  # type: ignore[assignment]
    for _ in range(5):
        result = await reconciler.reconcile(KEY)
        if result is None:
            break
    final = challenges.get(NS, "c")
    assert final is not None
    assert final["status"]["state"] == "valid"
    assert not final["status"].get("presented")
    assert ca.calls.count("accept_challenge") == accepts
    # Presented to valid without waiting: one status write, the final one; no event
    # without detailed_events (ctx.events is None: recording one would raise).
    assert kube.writes.count("patch challenges/status") == 1
    assert kube.writes[-1] == "delete ingresses"  # the route stops once final


@pytest.mark.parametrize(
    ("script", "status_writes", "checks"),
    [
        pytest.param((), 1, 1, id="passes-at-once"),
        pytest.param((False,), 1, 2, id="one-miss-is-not-worth-a-write"),
        pytest.param((False, False), 2, 3, id="two-misses-say-why"),
        pytest.param((False, False, False), 2, 4, id="same-reason-not-rewritten"),
    ],
)
async def test_a_challenge_writes_status_only_when_it_has_to_wait(
    script: tuple[bool, ...], status_writes: int, checks: int
) -> None:
    challenges = Cache(indexes={SLOT_INDEX: slot_of})
    challenges.apply("ADDED", the_challenge({}))
    issuers = Cache()
    issuers.apply("ADDED", ISSUER)
    kube = FakeKube(challenges, ingress_exists=False)
    clock = FakeClock()
    ctx = Context(kube, None, clock, None, None, SETTINGS)  # type: ignore[arg-type]
    reconciler = ChallengeReconciler(
        ctx,
        accounts=FakeAccounts(FakeCA("pending")),  # type: ignore[arg-type]
        challenges=challenges,
        issuers=issuers,
        cluster_issuers=Cache(),
    )
    self_check = PassingSelfCheck(script)
    reconciler._self_check = self_check  # type: ignore[assignment]
    for _ in range(20):
        # Woken at once (as by our own status write): the interval still holds.
        early = await reconciler.reconcile(KEY)
        if early is None:
            break
        clock.advance(early.requeue_after)
    final = challenges.get(NS, "c")
    assert final is not None and final["status"]["state"] == "valid"
    assert self_check.checks == checks
    assert kube.writes.count("patch challenges/status") == status_writes


def _waiting_setup(
    status: dict[str, Any], wait: str, clock: FakeClock
) -> tuple[Cache, FakeKube, FakeCA, ChallengeReconciler, PassingSelfCheck]:
    challenges = Cache(indexes={SLOT_INDEX: slot_of})
    challenge = the_challenge(status)
    challenge["spec"]["solver"]["waitInsteadOfSelfCheck"] = wait
    challenges.apply("ADDED", challenge)
    issuers = Cache()
    issuers.apply("ADDED", ISSUER)
    kube = FakeKube(challenges, ingress_exists=False)
    ca = FakeCA("pending")
    ctx = Context(kube, None, clock, None, None, SETTINGS)  # type: ignore[arg-type]
    reconciler = ChallengeReconciler(
        ctx,
        accounts=FakeAccounts(ca),  # type: ignore[arg-type]
        challenges=challenges,
        issuers=issuers,
        cluster_issuers=Cache(),
    )
    # The self-check would never pass (split-horizon DNS): it must not be asked.
    self_check = PassingSelfCheck((False,) * 50)
    reconciler._self_check = self_check  # type: ignore[assignment]
    return challenges, kube, ca, reconciler, self_check


@pytest.mark.parametrize(
    ("wait", "status", "waited", "status_writes"),
    [
        pytest.param("30s", {}, 30.0, 2, id="waits-from-presentation"),
        pytest.param("0s", {}, 0.0, 1, id="zero-asks-at-once"),
        pytest.param(
            "30s",
            {
                "presented": True,
                "processing": True,
                "state": "pending",
                "presentedAt": "2025-12-31T23:59:40Z",
                "reason": "Waiting 30s before accepting HTTP-01 challenge without self-check",
            },
            10.0,
            1,
            id="restart-keeps-presentedAt",
        ),
    ],
)
async def test_wait_instead_of_self_check(
    wait: str, status: dict[str, Any], waited: float, status_writes: int
) -> None:
    """cert-manager's waitInsteadOfSelfCheck: no self-check; the CA is asked once the wait
    has passed since status.presentedAt (recorded with the reason while waiting)."""
    clock = FakeClock(datetime(2026, 1, 1, tzinfo=UTC))
    challenges, kube, ca, reconciler, self_check = _waiting_setup(status, wait, clock)
    start = clock.now()
    asked_at = None
    for _ in range(10):
        result = await reconciler.reconcile(KEY)
        if "accept_challenge" in ca.calls and asked_at is None:
            asked_at = (clock.now() - start).total_seconds()
        current = challenges.get(NS, "c")
        assert current is not None
        if asked_at is None and current["status"].get("reason"):
            assert current["status"]["reason"] == (
                "Waiting 30s before accepting HTTP-01 challenge without self-check"
            )
            assert current["status"]["presentedAt"] == (status.get("presentedAt") or rfc3339(start))
        if result is None:
            break
        clock.advance(result.requeue_after)
    final = challenges.get(NS, "c")
    assert final is not None and final["status"]["state"] == "valid"
    assert asked_at == waited
    assert self_check.checks == 0
    assert final["status"]["presentedAt"] == (status.get("presentedAt") or rfc3339(start))
    assert kube.writes.count("patch challenges/status") == status_writes


@pytest.mark.parametrize(
    ("drain_after", "accepts", "in_flight"),
    [
        pytest.param(0, 0, 0, id="draining-answers-no-new-challenge"),
        pytest.param(1, 1, 1, id="an-accepted-one-is-polled-to-the-end"),
    ],
)
async def test_a_draining_process_accepts_nothing_new(
    drain_after: int, accepts: int, in_flight: int
) -> None:
    challenges = Cache(indexes={SLOT_INDEX: slot_of})
    challenges.apply("ADDED", the_challenge({}))
    issuers = Cache()
    issuers.apply("ADDED", ISSUER)
    ca = FakeCA("pending")
    ca.accept_challenge = _accept_into_processing(ca)  # type: ignore[method-assign]
    ctx = Context(
        FakeKube(challenges, ingress_exists=False), None, FakeClock(), None, None, SETTINGS
    )  # type: ignore[arg-type]
    reconciler = ChallengeReconciler(
        ctx,
        accounts=FakeAccounts(ca),  # type: ignore[arg-type]
        challenges=challenges,
        issuers=issuers,
        cluster_issuers=Cache(),
    )
    reconciler._self_check = PassingSelfCheck()  # type: ignore[assignment]
    for _ in range(drain_after):
        await reconciler.reconcile(KEY)
    reconciler.drain()
    assert reconciler.accepted_in_flight() == in_flight
    await reconciler.reconcile(KEY)
    assert ca.calls.count("accept_challenge") == accepts
    final = challenges.get(NS, "c")
    assert final is not None
    # Accepted before the drain: polled to valid; not yet: left for the next leader.
    assert final["status"].get("state") == ("valid" if accepts else None)
    assert reconciler.accepted_in_flight() == 0


def _accept_into_processing(ca: FakeCA) -> Any:
    async def accept(url: str) -> Challenge:
        ca.calls.append("accept_challenge")
        ca.status = "processing"
        return ca._challenge()

    return accept


@dataclass
class FakeRoute:
    """The shared solver route: a replica behind it late with its heartbeat for the first
    ``late_answers`` questions (frozen, then its endpoint removed)."""

    late_answers: int
    asked: list[str] = field(default_factory=list)

    async def unanswered(self, namespace: str) -> list[str]:
        self.asked.append(namespace)
        return ["certmgr-0"] if len(self.asked) <= self.late_answers else []


@pytest.mark.parametrize(
    ("solver", "late_answers", "asked_at", "checks", "questions"),
    [
        pytest.param({}, 0, 0.0, 1, 1, id="every-replica-answers"),
        # A self-check through the route passed (it reached the live replica); the CA,
        # routed the same way, could reach the frozen one: wait, then check again.
        pytest.param({}, 2, 2.0, 3, 3, id="late-replica-waited-for-then-checked-again"),
        pytest.param(
            {"waitInsteadOfSelfCheck": "0s"}, 1, 1.0, 0, 2, id="no-self-check-still-waits"
        ),
        pytest.param(
            {"http01": {"ingress": {"podTemplate": {}}}}, 5, 0.0, 1, 0, id="pod-mode-not-routed"
        ),
    ],
)
async def test_the_ca_is_asked_only_while_every_replica_behind_the_route_answers(
    solver: dict[str, Any], late_answers: int, asked_at: float, checks: int, questions: int
) -> None:
    clock = FakeClock()
    challenges = Cache(indexes={SLOT_INDEX: slot_of})
    challenge = the_challenge({})
    challenge["spec"]["solver"] = {**challenge["spec"]["solver"], **solver}
    challenges.apply("ADDED", challenge)
    issuers = Cache()
    issuers.apply("ADDED", ISSUER)
    ca = FakeCA("pending")
    ctx = Context(FakeKube(challenges, ingress_exists=False), None, clock, None, None, SETTINGS)  # type: ignore[arg-type]
    reconciler = ChallengeReconciler(
        ctx,
        accounts=FakeAccounts(ca),  # type: ignore[arg-type]
        challenges=challenges,
        issuers=issuers,
        cluster_issuers=Cache(),
    )
    self_check = PassingSelfCheck()
    reconciler._self_check = self_check  # type: ignore[assignment]
    route = FakeRoute(late_answers)
    reconciler.route_through(route)
    start, accepted = clock.monotonic(), None
    for _ in range(20):
        result = await reconciler.reconcile(KEY)
        if accepted is None and "accept_challenge" in ca.calls:
            accepted = clock.monotonic() - start
        if result is None:
            break
        clock.advance(result.requeue_after)
    final = challenges.get(NS, "c")
    assert final is not None and final["status"]["state"] == "valid"
    assert ca.calls.count("accept_challenge") == 1
    assert accepted == asked_at
    assert self_check.checks == checks
    assert route.asked == [NS] * questions
