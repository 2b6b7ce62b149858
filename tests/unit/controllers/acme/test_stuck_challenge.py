"""A challenge whose route never works backs off: self-checks, API requests and CA polls
per minute fall to a handful after the first minute, with jitter, and nothing is read
from the API that a cache holds (the shared solver Service)."""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest

from certmgr.controllers.acme.challenges import SLOT_INDEX, ChallengeReconciler, slot_of
from certmgr.controllers.acme.polling import PollIntervals
from certmgr.controllers.acme.selfcheck import CheckResult
from certmgr.controllers.acme.solver_objects import shared_service
from certmgr.controllers.context import Context, Settings
from certmgr.kube.errors import NotFound
from certmgr.kube.resources import CHALLENGES, SERVICES, Resource
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


class FakeCA:
    """A CA whose challenge stays pending: only key authorizations are asked of it."""

    def key_authorization(self, token: str) -> str:
        return f"{token}.thumb"


class FakeAccounts:
    async def client_for(self, issuer: dict[str, Any]) -> FakeCA:
        return FakeCA()


def the_challenge() -> dict[str, Any]:
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
        "status": {},
    }


class FailingSelfCheck:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.at: list[float] = []

    async def check(self, dns_name: str, token: str, key: str) -> CheckResult:
        self.at.append(self.clock.monotonic())
        return CheckResult(False, "wrong status code '502', expected '200'")

    async def close(self) -> None:
        pass


class CountingKube:
    """Every request is counted with the fake time it was made at."""

    def __init__(self, challenges: Cache, services: Cache, clock: FakeClock) -> None:
        self.challenges = challenges
        self.services = services
        self.clock = clock
        self.requests: list[tuple[float, str]] = []

    def _count(self, verb: str, resource: Resource) -> None:
        self.requests.append((self.clock.monotonic(), f"{verb} {resource.plural}"))

    async def get(self, resource: Resource, name: str, **kw: Any) -> dict[str, Any]:
        self._count("get", resource)
        found = self.services.get(kw.get("namespace") or "", name)
        if resource == SERVICES and found is not None:
            return copy.deepcopy(found)
        raise NotFound({"reason": "NotFound"})

    async def create(self, resource: Resource, obj: dict[str, Any], **_: Any) -> dict[str, Any]:
        self._count("create", resource)
        if resource == SERVICES:
            self.services.apply("ADDED", {**obj, "metadata": {**obj["metadata"], "uid": "s"}})
        return obj

    async def update(self, resource: Resource, obj: dict[str, Any], **_: Any) -> dict[str, Any]:
        self._count("update", resource)
        return obj

    async def delete(self, resource: Resource, name: str, **_: Any) -> None:
        self._count("delete", resource)

    async def patch(
        self, resource: Resource, name: str, patch: dict[str, Any], **kw: Any
    ) -> dict[str, Any]:
        assert resource == CHALLENGES
        self._count("patch", resource)
        obj = copy.deepcopy(self.challenges.get(NS, name))
        assert obj is not None
        obj["status"] = {**(obj.get("status") or {}), **patch["status"]}
        obj["metadata"]["resourceVersion"] = str(len(self.requests) + 10)
        self.challenges.apply("MODIFIED", obj)
        return obj


async def test_an_unroutable_challenge_backs_off_to_a_few_requests_a_minute() -> None:
    clock = FakeClock()
    challenges = Cache(indexes={SLOT_INDEX: slot_of})
    challenges.apply("ADDED", the_challenge())
    services = Cache()
    service = shared_service(NS, host="solver.svc", port=8089)
    services.apply("ADDED", {**service, "metadata": {**service["metadata"], "uid": "s"}})
    issuers = Cache()
    issuers.apply("ADDED", ISSUER)
    kube = CountingKube(challenges, services, clock)
    ctx = Context(kube, None, clock, None, None, SETTINGS)  # type: ignore[arg-type]
    reconciler = ChallengeReconciler(
        ctx,
        accounts=FakeAccounts(),  # type: ignore[arg-type]
        challenges=challenges,
        issuers=issuers,
        cluster_issuers=Cache(),
        services=services,
    )
    self_check = FailingSelfCheck(clock)
    reconciler._self_check = self_check  # type: ignore[assignment]
    start = clock.monotonic()
    while clock.monotonic() - start < 10 * 60:
        result = await reconciler.reconcile(KEY)
        assert result is not None and result.requeue_after is not None
        # Woken early now and then (our own status write, another Challenge): no extra work.
        await reconciler.reconcile(KEY)
        clock.advance(result.requeue_after)
    first_minute = sum(1 for t in self_check.at if t < start + 60)
    print(f"stuck challenge: {first_minute} self-checks in minute 1, then per minute:")
    for minute in range(1, 10):
        lo, hi = start + 60 * minute, start + 60 * (minute + 1)
        checks = [t for t in self_check.at if lo <= t < hi]
        requests = [r for t, r in kube.requests if lo <= t < hi]
        print(f"  minute {minute + 1}: {len(checks)} self-checks, {len(requests)} API requests")
        assert len(checks) <= 10, (minute, len(checks))
        assert len(requests) <= 10, (minute, requests)
    # The Service is in the cache: never read from the API.
    assert not [r for _, r in kube.requests if r.startswith("get ")]
    # ... and still waited on: it keeps being checked, a few times a minute at the cap.
    assert any(t >= start + 8 * 60 for t in self_check.at)


@pytest.mark.parametrize(("seed"), [pytest.param(s, id=f"seed-{s}") for s in (1, 2, 3)])
def test_poll_intervals_double_to_the_cap_with_jitter(seed: int) -> None:
    polls = PollIntervals(base=1.0, cap=60.0, jitter=0.2, rng=random.Random(seed))
    delays = [polls.next("k") for _ in range(12)]
    for attempt, delay in enumerate(delays):
        plain = min(60.0, 2.0**attempt)
        assert plain * 0.8 <= delay <= plain
    other = PollIntervals(base=1.0, cap=60.0, jitter=0.2, rng=random.Random(seed + 100))
    assert delays != [other.next("k") for _ in range(12)]  # spread, not in lockstep
