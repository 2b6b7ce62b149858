"""No second ACME order after a single fault or crash between new-order and the status
write that records it: the order placed is retried until stored, and a process that
starts leading finds an earlier process's order in the account's ``orders`` list."""

from __future__ import annotations

import base64
import copy
import itertools
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from certmgr.acme import Authorization, Challenge, Identifier, Order
from certmgr.api.codec import rfc3339
from certmgr.controllers.acme.order_steps import owned_by_order
from certmgr.controllers.acme.orders import OWNER_INDEX, OrderReconciler
from certmgr.controllers.acme.placed_orders import created_here
from certmgr.controllers.context import Context, Settings
from certmgr.kube.errors import APIError, Conflict
from certmgr.kube.resources import Resource
from certmgr.runtime.cache import Cache
from certmgr.testing.clock import FakeClock

NS = "default"
ISSUER = {
    "apiVersion": "cert-manager.io/v1",
    "kind": "Issuer",
    "metadata": {"name": "ca", "namespace": NS, "uid": "issuer-uid", "resourceVersion": "1"},
    "spec": {"acme": {"server": "https://ca/dir", "privateKeySecretRef": {"name": "k"}}},
    "status": {"conditions": [{"type": "Ready", "status": "True"}]},
}


@dataclass
class CountingCA:
    """Pebble's view of one account: every order placed, listed in ``orders``."""

    offers_orders_list: bool = True
    account_uri: str | None = "https://ca/acct/1"
    orders: dict[str, Order] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def key_authorization(self, token: str) -> str:
        return f"{token}.thumb"

    async def new_order(self, identifiers: Any, **_: Any) -> Order:
        self.calls.append("new_order")
        number = len(self.orders) + 1
        order = Order(
            url=f"https://ca/order/{number}",
            status="pending",
            identifiers=tuple(identifiers),
            authorizations=tuple(f"https://ca/authz/{number}/{i.value}" for i in identifiers),
            finalize_url=f"https://ca/order/{number}/finalize",
        )
        self.orders[order.url] = order
        return order

    async def account_orders(self) -> tuple[str, ...]:
        self.calls.append("account_orders")
        return tuple(self.orders) if self.offers_orders_list else ()

    async def get_order(self, url: str) -> Order:
        self.calls.append("get_order")
        return self.orders[url]

    async def get_authorization(self, url: str) -> Authorization:
        self.calls.append("get_authorization")
        name = url.rsplit("/", 1)[1]
        return Authorization(
            url=url,
            identifier=Identifier.dns(name),
            status="pending",
            challenges=(Challenge("http-01", f"{url}/http", f"tok-{name}", "pending"),),
        )


@dataclass
class FakeAccounts:
    ca: CountingCA

    async def client_for(self, issuer: dict[str, Any]) -> CountingCA:
        return self.ca


class Crash(BaseException):
    """The process dies here (nothing in it catches this)."""


class FaultyKube:
    """The API: Orders in ``cache``; the status writes fail as ``faults`` say, in turn."""

    def __init__(self, cache: Cache, faults: list[BaseException]) -> None:
        self.cache = cache
        self.faults = faults
        self.versions = itertools.count(100)

    async def get(self, resource: Resource, name: str, **kw: Any) -> Any:
        return copy.deepcopy(self.cache.get(kw.get("namespace"), name))

    async def patch(self, resource: Resource, name: str, patch: dict[str, Any], **kw: Any) -> Any:
        if self.faults:
            raise self.faults.pop(0)
        obj = copy.deepcopy(self.cache.get(kw.get("namespace"), name))
        assert obj is not None
        obj["status"] = {**(obj.get("status") or {}), **patch["status"]}
        obj["metadata"]["resourceVersion"] = str(next(self.versions))
        self.cache.apply("MODIFIED", obj)
        return obj


def the_order(name: str, created: str) -> dict[str, Any]:
    return {
        "apiVersion": "acme.cert-manager.io/v1",
        "kind": "Order",
        "metadata": {
            "name": name,
            "namespace": NS,
            "uid": f"{name}-uid",
            "resourceVersion": "5",
            "creationTimestamp": created,
        },
        "spec": {
            "request": base64.b64encode(b"-----BEGIN CERTIFICATE REQUEST-----").decode(),
            "issuerRef": {"name": "ca", "kind": "Issuer"},
            "dnsNames": ["a.example.com"],
        },
        "status": {},
    }


def a_process(ca: CountingCA, orders: Cache, kube: FaultyKube, clock: FakeClock) -> OrderReconciler:
    issuers, challenges = Cache(), Cache()
    challenges.add_index(OWNER_INDEX, owned_by_order)
    issuers.apply("ADDED", ISSUER)
    ctx = Context(kube, None, clock, None, None, Settings())  # type: ignore[arg-type]
    return OrderReconciler(
        ctx,
        accounts=FakeAccounts(ca),  # type: ignore[arg-type]
        orders=orders,
        challenges=challenges,
        issuers=issuers,
        cluster_issuers=Cache(),
    )


def _server_error() -> APIError:
    return APIError({"reason": "InternalError", "code": 500})


@pytest.mark.parametrize(
    ("faults", "crash"),
    [
        pytest.param([], False, id="no-fault"),
        pytest.param([Conflict({"reason": "Conflict", "code": 409})], False, id="status-409"),
        pytest.param([_server_error(), _server_error()], False, id="status-5xx-twice"),
        pytest.param([Crash()], True, id="crash-after-new-order"),
    ],
)
@pytest.mark.parametrize("orders_list", [True, False], ids=["ca-lists-orders", "no-list"])
@pytest.mark.parametrize("ours", [False, True], ids=["order-found", "order-created-here"])
async def test_one_fault_after_new_order_leaves_no_orphan(
    faults: list[BaseException], crash: bool, orders_list: bool, ours: bool
) -> None:
    clock = FakeClock()
    ca = CountingCA(offers_orders_list=orders_list)
    orders = Cache()
    orders.apply("ADDED", the_order("o", rfc3339(clock.now())))
    if ours:  # the first placement skips the live read, the retries do not
        created_here("o-uid")
    kube = FaultyKube(orders, list(faults))
    process = a_process(ca, orders, kube, clock)
    for _ in range(5):
        try:
            await process.reconcile(f"{NS}/o")
        except Crash:
            clock.advance(30)
            process = a_process(ca, orders, kube, clock)  # the restarted process
        except APIError:
            pass  # the work queue retries
        if (orders.get(NS, "o") or {}).get("status", {}).get("url"):
            break
    # A CA with no orders list and no reuse of pending orders (Let's Encrypt reuses them)
    # is the one case where a crash costs an order.
    expected = 2 if crash and not orders_list else 1
    status = (orders.get(NS, "o") or {})["status"]
    assert status["url"] == f"https://ca/order/{expected}"
    assert ca.calls.count("new_order") == expected
    if crash and orders_list:
        assert status["authorizations"][0]["url"] == "https://ca/authz/1/a.example.com"


async def test_an_order_created_while_we_lead_costs_no_orders_list() -> None:
    clock = FakeClock()
    ca = CountingCA()
    orders = Cache()
    kube = FaultyKube(orders, [])
    process = a_process(ca, orders, kube, clock)
    orders.apply("ADDED", the_order("early", rfc3339(clock.now())))
    await process.reconcile(f"{NS}/early")  # before the margin: looks once
    clock.advance(3600)
    orders.apply("ADDED", the_order("later", rfc3339(clock.now() - timedelta(seconds=1))))
    await process.reconcile(f"{NS}/later")
    assert ca.calls.count("account_orders") == 1
    assert ca.calls.count("new_order") == 2


async def test_an_earlier_order_recorded_by_another_order_is_not_taken() -> None:
    clock = FakeClock()
    ca = CountingCA()
    placed = await ca.new_order([Identifier.dns("a.example.com")])
    orders = Cache()
    taken = the_order("other", rfc3339(clock.now()))
    taken["status"] = {"url": placed.url, "state": "pending"}
    orders.apply("ADDED", taken)
    orders.apply("ADDED", the_order("o", rfc3339(clock.now())))
    process = a_process(ca, orders, FaultyKube(orders, []), clock)
    await process.reconcile(f"{NS}/o")
    assert (orders.get(NS, "o") or {})["status"]["url"] == "https://ca/order/2"
