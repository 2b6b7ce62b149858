"""The Order reconciler against a fake CA and an in-memory API: restart safety, rate
limits, CA rejections, solver selection and failed challenges, as tables where they vary."""

from __future__ import annotations

import asyncio
import base64
import copy
import itertools
from dataclasses import dataclass, field
from typing import Any

import pytest

from certmgr.acme import (
    AcmeError,
    AcmeRateLimited,
    Authorization,
    Challenge,
    Identifier,
    Order,
    Problem,
)
from certmgr.controllers.acme.order_steps import owned_by_order
from certmgr.controllers.acme.orders import OWNER_INDEX, OrderReconciler
from certmgr.controllers.acme.placed_orders import created_here
from certmgr.controllers.context import Context, Settings
from certmgr.kube.resources import CHALLENGES, ORDERS, Resource
from certmgr.runtime.cache import Cache
from certmgr.runtime.controller import Result
from certmgr.testing.clock import FakeClock

NS = "default"
PREFIX = "urn:ietf:params:acme:error:"
CERT_URL = "https://ca/cert/1"
ISSUER = {
    "apiVersion": "cert-manager.io/v1",
    "kind": "Issuer",
    "metadata": {"name": "ca", "namespace": NS, "uid": "issuer-uid", "resourceVersion": "1"},
    "spec": {
        "acme": {
            "server": "https://ca/dir",
            "privateKeySecretRef": {"name": "k"},
            "solvers": [
                {
                    "selector": {"dnsNames": ["a.example.com"]},
                    "http01": {"ingress": {"ingressClassName": "nginx"}},
                }
            ],
        }
    },
}


def _rate_limited() -> AcmeRateLimited:
    problem = Problem("urn:ietf:params:acme:error:rateLimited", "slow down", 429)
    return AcmeRateLimited(problem, retry_after=7.0)


def _rejected() -> AcmeError:
    return AcmeError(Problem("urn:ietf:params:acme:error:rejectedIdentifier", "blocked name", 400))


@dataclass
class FakeCA:
    """Answers like Pebble for one order with one authorization per identifier."""

    new_order_error: Exception | None = None
    reused: set[str] = field(default_factory=set)
    order_status: str = "pending"
    calls: list[str] = field(default_factory=list)
    account_uri: str | None = "https://ca/acct/1"
    order_options: list[dict[str, Any]] = field(default_factory=list)

    def key_authorization(self, token: str) -> str:
        return f"{token}.thumb"

    async def new_order(self, identifiers: Any, **options: Any) -> Order:
        self.calls.append("new_order")
        self.order_options.append(options)
        if self.new_order_error is not None:
            raise self.new_order_error
        return Order(
            url="https://ca/order/1",
            status="pending",
            identifiers=tuple(identifiers),
            authorizations=tuple(f"https://ca/authz/{i.value}" for i in identifiers),
            finalize_url="https://ca/order/1/finalize",
        )

    async def get_authorization(self, url: str) -> Authorization:
        self.calls.append("get_authorization")
        name = url.rsplit("/", 1)[1]
        return Authorization(
            url=url,
            identifier=Identifier.dns(name),
            status="valid" if name in self.reused else "pending",
            challenges=(
                Challenge("http-01", f"https://ca/chall/{name}", f"tok-{name}", "pending"),
            ),
        )

    async def get_order(self, url: str) -> Order:
        self.calls.append("get_order")
        return Order(url, self.order_status, (), (), "https://ca/order/1/finalize")

    async def finalize(self, order_url: str, finalize_url: str, csr_pem: bytes) -> Order:
        self.calls.append("finalize")
        if self.order_status != "ready":
            raise AcmeError(Problem(PREFIX + "orderNotReady", "order is not ready", 403))
        self.order_status = "valid"
        return Order(order_url, "valid", (), (), finalize_url, certificate_url=CERT_URL)

    async def download_certificate(self, url: str, *, preferred_chain: str | None) -> str:
        self.calls.append("download_certificate")
        return "-----BEGIN CERTIFICATE-----\n"


@dataclass
class FakeAccounts:
    ca: FakeCA

    async def client_for(self, issuer: dict[str, Any]) -> FakeCA:
        return self.ca


class FakeKube:
    """Writes land in the given caches at once, with a fresh resourceVersion."""

    def __init__(self, caches: dict[Resource, Cache]) -> None:
        self.caches = caches
        self.versions = itertools.count(100)
        # What the API holds when it is ahead of the cache (a stale cache).
        self.live: dict[tuple[str, str], dict[str, Any]] = {}
        self.gets: list[str] = []

    def _store(self, resource: Resource, obj: dict[str, Any]) -> dict[str, Any]:
        obj = copy.deepcopy(obj)
        obj["metadata"]["resourceVersion"] = str(next(self.versions))
        self.caches[resource].apply("MODIFIED", obj)
        return obj

    async def patch(self, resource: Resource, name: str, patch: dict[str, Any], **kw: Any) -> Any:
        obj = copy.deepcopy(self.caches[resource].get(kw.get("namespace"), name))
        assert obj is not None
        for key, value in patch.items():
            obj[key] = {**(obj.get(key) or {}), **value}
        return self._store(resource, obj)

    async def get(self, resource: Resource, name: str, **kw: Any) -> Any:
        self.gets.append(name)
        return copy.deepcopy(self.live.get((resource.plural, name))) or copy.deepcopy(
            self.caches[resource].get(kw.get("namespace"), name)
        )

    async def create(self, resource: Resource, obj: dict[str, Any], **_: Any) -> Any:
        return self._store(resource, obj)


@dataclass
class Events:
    seen: list[tuple[str, str, str]] = field(default_factory=list)

    def event(self, obj: dict[str, Any], type_: str, reason: str, message: str) -> None:
        self.seen.append((type_, reason, message))


def make_with_kube(*args: Any, **kwargs: Any) -> tuple[OrderReconciler, Cache, FakeKube]:
    reconciler, orders, _, _ = make(*args, **kwargs)
    return reconciler, orders, reconciler._ctx.client  # type: ignore[return-value]


def make(
    ca: FakeCA,
    status: dict[str, Any] | None = None,
    dns: tuple[str, ...] = ("a.example.com",),
    spec: dict[str, Any] | None = None,
) -> tuple[OrderReconciler, Cache, Cache, Events]:
    orders, challenges, issuers, cluster_issuers = Cache(), Cache(), Cache(), Cache()
    challenges.add_index(OWNER_INDEX, owned_by_order)
    ready = {"type": "Ready", "status": "True", "reason": "ACMEAccountRegistered"}
    issuers.apply("ADDED", {**ISSUER, "status": {"conditions": [ready]}})
    order = {
        "apiVersion": "acme.cert-manager.io/v1",
        "kind": "Order",
        "metadata": {"name": "o", "namespace": NS, "uid": "order-uid", "resourceVersion": "5"},
        "spec": {
            "request": base64.b64encode(b"-----BEGIN CERTIFICATE REQUEST-----").decode(),
            "issuerRef": {"name": "ca", "kind": "Issuer"},
            "dnsNames": list(dns),
            **(spec or {}),
        },
        "status": status or {},
    }
    orders.apply("ADDED", order)
    events = Events()
    ctx = Context(
        client=FakeKube({ORDERS: orders, CHALLENGES: challenges}),  # type: ignore[arg-type]
        manager=None,  # type: ignore[arg-type]
        clock=FakeClock(),
        events=events,
        acme=None,  # type: ignore[arg-type]
        settings=Settings(acme_poll_base=0.05, acme_poll_cap=1.0),
    )
    reconciler = OrderReconciler(
        ctx,
        accounts=FakeAccounts(ca),  # type: ignore[arg-type]
        orders=orders,
        challenges=challenges,
        issuers=issuers,
        cluster_issuers=cluster_issuers,
    )
    return reconciler, orders, challenges, events


async def test_new_order_is_recorded_and_a_second_reconcile_never_orders_again() -> None:
    ca = FakeCA()
    reconciler, orders, challenges, _ = make(ca)
    assert await reconciler.reconcile(f"{NS}/o") is None
    status = orders.get(NS, "o")["status"]  # type: ignore[index]
    assert status["url"] == "https://ca/order/1"
    assert status["authorizations"][0]["initialState"] == "pending"
    # The restart: a fresh reconciler over the same (persisted) state.
    assert await reconciler.reconcile(f"{NS}/o") is None
    assert ca.calls.count("new_order") == 1
    (challenge,) = challenges.list()
    assert challenge["spec"]["key"] == "tok-a.example.com.thumb"
    assert challenge["spec"]["solver"] == ISSUER["spec"]["acme"]["solvers"][0]  # type: ignore[index]
    # No finalizer: every solver object of a plain http01.ingress solver is owned by the
    # Challenge (only an edit-in-place path needs one).
    assert "finalizers" not in challenge["metadata"]


async def test_placing_an_order_lists_the_orders_only_when_an_earlier_one_may_be_reused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The URLs every Order records are read only to choose among orders an earlier
    # process placed: a pass over the whole cache per placement otherwise.
    ca = FakeCA()
    reconciler, orders, _, _ = make(ca)
    listed = []
    real_list = orders.list
    monkeypatch.setattr(orders, "list", lambda *a, **kw: listed.append(a) or real_list(*a, **kw))
    await reconciler.reconcile(f"{NS}/o")
    assert ca.calls.count("new_order") == 1
    assert listed == []


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({}, {"profile": None, "not_after": None}),
        # enableDurationFeature put the duration into the Order: the CA is asked for it.
        ({"duration": "48h0m0s"}, {"profile": None, "not_after": 48 * 3600}),
        (
            {"duration": "1h30m", "profile": "shortlived"},
            {"profile": "shortlived", "not_after": 5400},
        ),
    ],
)
async def test_the_order_asks_the_ca_for_its_duration_and_profile(
    spec: dict[str, Any], expected: dict[str, Any]
) -> None:
    ca = FakeCA()
    reconciler, _, _, _ = make(ca, spec=spec)
    now = reconciler._ctx.clock.now()
    await reconciler.reconcile(f"{NS}/o")
    (options,) = ca.order_options
    assert options["profile"] == expected["profile"]
    not_after = options.get("not_after")
    if expected["not_after"] is None:
        assert not_after is None
    else:
        assert (not_after - now).total_seconds() == expected["not_after"]


@pytest.mark.parametrize(
    ("error", "expected_result", "state", "reason"),
    [
        pytest.param(_rate_limited(), Result(requeue_after=7.0), None, "", id="rate-limited"),
        pytest.param(
            _rejected(),
            None,
            "errored",
            "Failed to create Order: 400 urn:ietf:params:acme:error:rejectedIdentifier: "
            "blocked name",
            id="rejected",
        ),
    ],
)
async def test_new_order_errors(
    error: Exception, expected_result: Result | None, state: str | None, reason: str
) -> None:
    reconciler, orders, _, _ = make(FakeCA(new_order_error=error))
    assert await reconciler.reconcile(f"{NS}/o") == expected_result
    status = orders.get(NS, "o")["status"]  # type: ignore[index]
    assert status.get("state") == state
    assert status.get("reason", "") == reason
    assert ("failureTime" in status) is (state is not None)


async def test_reused_authorizations_get_no_challenge_and_the_order_moves_on() -> None:
    ca = FakeCA(reused={"a.example.com"}, order_status="processing")
    reconciler, orders, challenges, _ = make(ca)
    await reconciler.reconcile(f"{NS}/o")
    result = await reconciler.reconcile(f"{NS}/o")
    assert challenges.list() == []
    # One look at a processing order is not worth a write (it is usually valid at the
    # next); the second is: the CA is keeping us waiting, and status says so.
    assert orders.get(NS, "o")["status"]["state"] == "pending"  # type: ignore[index]
    # Waits grow from acme_poll_base, each shortened by up to 20 % (jitter).
    assert result is not None and 0.04 <= (result.requeue_after or 0) <= 0.05
    grown = await reconciler.reconcile(f"{NS}/o")
    assert grown is not None and 0.08 <= (grown.requeue_after or 0) <= 0.1
    assert orders.get(NS, "o")["status"]["state"] == "processing"  # type: ignore[index]


async def test_no_matching_solver_warns_and_waits() -> None:
    reconciler, _, challenges, events = make(FakeCA(), dns=("b.example.com",))
    await reconciler.reconcile(f"{NS}/o")
    assert await reconciler.reconcile(f"{NS}/o") is None
    assert challenges.list() == []
    ((type_, reason, message),) = events.seen
    assert (type_, reason) == ("Warning", "NoMatchingSolver")
    assert '"b.example.com"' in message


async def test_an_invalid_challenge_makes_the_order_invalid_with_its_reason() -> None:
    ca = FakeCA(order_status="invalid")
    reconciler, orders, challenges, _ = make(ca)
    await reconciler.reconcile(f"{NS}/o")
    await reconciler.reconcile(f"{NS}/o")
    (challenge,) = challenges.list()
    failed = copy.deepcopy(challenge)
    failed["status"] = {"state": "invalid", "reason": "Error accepting authorization: nope"}
    challenges.apply("MODIFIED", failed)
    await reconciler.reconcile(f"{NS}/o")
    status = orders.get(NS, "o")["status"]  # type: ignore[index]
    assert status["state"] == "invalid"
    assert status["reason"] == "Error accepting authorization: nope"


async def test_a_stale_cache_never_creates_a_second_acme_order() -> None:
    ca = FakeCA()
    reconciler, orders, kube = make_with_kube(ca)
    live = copy.deepcopy(orders.get(NS, "o"))
    assert live is not None
    live["status"] = {"url": "https://ca/order/0", "state": "pending"}
    live["metadata"]["resourceVersion"] = "50"
    kube.live[("orders", "o")] = live

    async def catch_up() -> None:
        orders.apply("MODIFIED", live)

    pending = asyncio.ensure_future(reconciler.reconcile(f"{NS}/o"))
    await asyncio.sleep(0)
    await catch_up()
    assert await pending is None
    assert ca.calls == []


@pytest.mark.parametrize(
    ("created_by_us", "new_order_fails", "live_reads"),
    [
        pytest.param(False, False, 1, id="found-read-live"),
        pytest.param(True, False, 0, id="created-here-cache-suffices"),
        pytest.param(True, True, 1, id="created-here-retry-read-live"),
    ],
)
async def test_placing_an_order_reads_it_live_unless_this_process_just_created_it(
    created_by_us: bool, new_order_fails: bool, live_reads: int
) -> None:
    ca = FakeCA(new_order_error=AcmeError(Problem(PREFIX + "serverInternal", "x", 500)))
    reconciler, orders, kube = make_with_kube(ca)
    uid = orders.get(NS, "o")["metadata"]["uid"]  # type: ignore[index]
    if created_by_us:
        created_here(uid)
    if new_order_fails:
        with pytest.raises(AcmeError):
            await reconciler.reconcile(f"{NS}/o")
        kube.gets.clear()
    ca.new_order_error = None
    await reconciler.reconcile(f"{NS}/o")
    assert len(kube.gets) == live_reads
    assert ca.calls.count("new_order") == 1 + new_order_fails
    assert orders.get(NS, "o")["status"]["url"] == "https://ca/order/1"  # type: ignore[index]


@pytest.mark.parametrize(
    "placed",
    [
        pytest.param(False, id="before-the-ca-order"),
        pytest.param(True, id="after-the-ca-order-its-challenges-gone"),
    ],
)
async def test_an_order_being_deleted_asks_the_ca_for_nothing_and_creates_no_challenge(
    placed: bool,
) -> None:
    ca = FakeCA()
    reconciler, orders, challenges, _ = make(ca)
    if placed:
        await reconciler.reconcile(f"{NS}/o")
        for challenge in challenges.list():
            challenges.apply("DELETED", challenge)
        ca.calls.clear()
    order = copy.deepcopy(orders.get(NS, "o"))
    assert order is not None
    order["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    order["metadata"]["finalizers"] = ["foregroundDeletion"]
    orders.apply("MODIFIED", order)
    assert await reconciler.reconcile(f"{NS}/o") is None
    assert ca.calls == []
    assert challenges.list() == []


@pytest.mark.parametrize(
    ("ca_status", "calls", "state"),
    [
        # Every Challenge valid: the order is ready (RFC 8555 7.1.6), so the CSR goes at
        # once, without reading the order first.
        pytest.param("ready", ["finalize", "download_certificate"], "valid", id="ready"),
        # A CA that has not caught up answers orderNotReady: the order is read, and asked
        # again after a poll interval.
        pytest.param("pending", ["finalize", "get_order"], "pending", id="not-ready-yet"),
    ],
)
async def test_valid_challenges_finalize_the_order_at_once(
    ca_status: str, calls: list[str], state: str
) -> None:
    ca = FakeCA()
    reconciler, orders, challenges, _ = make(ca)
    await reconciler.reconcile(f"{NS}/o")
    await reconciler.reconcile(f"{NS}/o")
    (challenge,) = challenges.list()
    valid = copy.deepcopy(challenge)
    valid["status"] = {"state": "valid", "reason": "Successfully authorized domain"}
    challenges.apply("MODIFIED", valid)
    ca.calls.clear()
    ca.order_status = ca_status
    result = await reconciler.reconcile(f"{NS}/o")
    assert ca.calls == calls
    assert orders.get(NS, "o")["status"]["state"] == state  # type: ignore[index]
    assert (result is None) == (state == "valid")
