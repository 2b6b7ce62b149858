"""Final Orders as cached (``runtime/informer_orders``): the Order controller is woken by
one only when it may act (it turned final, or a Challenge of it is left), a request
adopts one by its spec's digest and reads its chain live, and fails with its reason."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest

from certmgr.controllers.acme.names import order_name
from certmgr.controllers.acme.order_steps import owned_by_order
from certmgr.controllers.acme.orders import OWNER_INDEX, OrderReconciler, _may_act
from certmgr.controllers.acme.requests import RequestReconciler
from certmgr.controllers.context import Context, Settings
from certmgr.kube.resources import CHALLENGES
from certmgr.runtime.cache import Cache
from certmgr.runtime.informer_orders import cached_order, packed_order, trimmed
from certmgr.testing.clock import FakeClock

from .helpers import csr_pem, owned_order, request_reconciler

NS = "default"
CHAIN = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nleaf\n-----END CERTIFICATE-----\n").decode()
CREATED = {"url": "https://ca/o/1", "finalizeURL": "https://ca/f/1", "authorizations": []}
VALID = {**CREATED, "state": "valid", "certificate": CHAIN}
INVALID = {**CREATED, "state": "invalid", "reason": "urn:ietf:params:acme:error:dns: NXDOMAIN"}


def _order(
    status: dict[str, Any],
    *,
    name: str = "web-1-1",
    namespace: str = NS,
    spec: dict[str, Any] | None = None,
    version: str = "5",
) -> dict[str, Any]:
    spec = spec or {"request": "Q1NS", "issuerRef": {"name": "ca"}}
    return owned_order(name, spec, copy.deepcopy(status), namespace=namespace, version=version)


def _challenge(order: str, *, namespace: str = NS) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"{order}-c",
            "namespace": namespace,
            "uid": f"c-{order}-{namespace}",
            "resourceVersion": "3",
            "ownerReferences": [{"kind": "Order", "name": order, "uid": f"o-{order}"}],
        },
        "spec": {"authorizationURL": "https://ca/authz/1"},
        "status": {"state": "valid"},
    }


def _cached(status: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    return cached_order(_order(status, **kwargs))


PROCESSING = {**CREATED, "state": "processing"}


@pytest.mark.parametrize(
    ("old", "new", "challenge", "wakes"),
    [
        pytest.param(None, VALID, None, False, id="valid-listed-nothing-to-clean"),
        pytest.param(None, INVALID, None, False, id="invalid-listed-nothing-to-clean"),
        pytest.param(None, VALID, NS, True, id="valid-listed-with-its-challenge"),
        pytest.param(None, VALID, "other", False, id="a-namesake-elsewhere"),
        pytest.param(VALID, VALID, None, False, id="valid-updated"),
        pytest.param(VALID, VALID, NS, True, id="valid-updated-challenge-left"),
        pytest.param(PROCESSING, VALID, None, True, id="turned-valid"),
        pytest.param(PROCESSING, INVALID, None, True, id="turned-invalid"),
        pytest.param(None, PROCESSING, None, True, id="working"),
        pytest.param(VALID, None, None, True, id="deleted"),
    ],
)
def test_the_order_controller_is_woken_by_a_final_order_only_when_it_may_act(
    old: dict[str, Any] | None,
    new: dict[str, Any] | None,
    challenge: str | None,
    wakes: bool,
) -> None:
    challenges = Cache()
    challenges.add_index(OWNER_INDEX, owned_by_order)
    if challenge is not None:
        challenges.apply("ADDED", _challenge("web-1-1", namespace=challenge))
    may_act = _may_act(challenges)
    assert (
        may_act(None if old is None else _cached(old), None if new is None else _cached(new))
        is wakes
    )


class Kube:
    """Reads, creates and deletes; every call recorded."""

    def __init__(self, objects: dict[str, dict[str, Any]] | None = None) -> None:
        self.calls: list[str] = []
        self.objects = objects or {}

    async def create(self, resource: Any, obj: dict[str, Any], **_: Any) -> dict[str, Any]:
        self.calls.append(f"create {resource.plural}")
        return obj

    async def get(self, resource: Any, name: str, **_: Any) -> dict[str, Any]:
        self.calls.append(f"get {resource.plural} {name}")
        return copy.deepcopy(self.objects[name])

    async def delete(self, resource: Any, name: str, **_: Any) -> None:
        self.calls.append(f"delete {resource.plural} {name}")


def _context(kube: Kube) -> Context:
    return Context(
        client=kube,  # type: ignore[arg-type]
        manager=None,  # type: ignore[arg-type]
        clock=FakeClock(),
        events=None,  # type: ignore[arg-type]
        acme=None,  # type: ignore[arg-type]
        settings=Settings(),
    )


async def test_a_challenge_left_by_a_final_order_is_deleted_after_a_restart() -> None:
    orders, challenges = Cache(pack=packed_order), Cache()
    challenges.add_index(OWNER_INDEX, owned_by_order)
    orders.apply("ADDED", _cached(VALID))
    challenges.apply("ADDED", _challenge("web-1-1"))
    kube = Kube()
    reconciler = OrderReconciler(
        _context(kube),
        accounts=None,  # type: ignore[arg-type]
        orders=orders,
        challenges=challenges,
        issuers=Cache(),
        cluster_issuers=Cache(),
    )
    assert await reconciler.reconcile(f"{NS}/web-1-1") is None
    assert kube.calls == [f"delete {CHALLENGES.plural} web-1-1-c"]


CSR_PEM = csr_pem()


def _request_reconciler(orders: Cache, kube: Kube) -> RequestReconciler:
    requests, issuers = Cache(), Cache()
    issuers.apply(
        "ADDED",
        {
            "metadata": {"name": "ca", "namespace": NS, "uid": "i1", "resourceVersion": "1"},
            "spec": {"acme": {"server": "https://ca/dir", "privateKeySecretRef": {"name": "k"}}},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
        },
    )
    requests.apply(
        "ADDED",
        {
            "apiVersion": "cert-manager.io/v1",
            "kind": "CertificateRequest",
            "metadata": {"name": "web-1", "namespace": NS, "uid": "r1", "resourceVersion": "3"},
            "spec": {
                "request": base64.b64encode(CSR_PEM).decode(),
                "issuerRef": {"name": "ca", "kind": "Issuer"},
            },
            "status": {"conditions": [{"type": "Approved", "status": "True"}]},
        },
    )
    return request_reconciler(kube, requests=requests, orders=orders, issuers=issuers)


class Finished:
    """Stands in for ``RequestReconciler._finish``: what the request ended with."""

    def __init__(self) -> None:
        self.outcomes: list[tuple[str, str, bytes]] = []

    async def __call__(
        self, _: Any, reason: str, message: str, *, certificate: bytes = b"", **__: Any
    ) -> None:
        self.outcomes.append((reason, message, certificate))


async def _planned_spec() -> dict[str, Any]:
    kube = Kube()
    reconciler = _request_reconciler(Cache(), kube)
    created: list[dict[str, Any]] = []

    async def create(resource: Any, obj: dict[str, Any], **_: Any) -> dict[str, Any]:
        created.append(obj)
        return obj

    kube.create = create  # type: ignore[method-assign]
    await reconciler.reconcile(f"{NS}/web-1")
    spec: dict[str, Any] = created[0]["spec"]
    return spec


@pytest.mark.parametrize(
    ("same_spec", "calls", "issued"),
    [
        pytest.param(True, ["get orders web-1-2302138473"], True, id="same-spec-adopted"),
        pytest.param(False, ["create orders"], False, id="other-spec-not-adopted"),
    ],
)
async def test_a_request_adopts_cert_manager_s_valid_order_by_its_spec_digest(
    same_spec: bool, calls: list[str], issued: bool
) -> None:
    """Taking over: cert-manager's Order (its own name) went valid before it could copy
    the chain; after a restart the cache holds it final, spec as a digest only."""
    spec = await _planned_spec()
    if not same_spec:
        spec = {**spec, "dnsNames": ["b.example.com"]}
    whole = _order(VALID, name="web-1-2302138473", spec=spec)
    orders = Cache(pack=packed_order)
    orders.apply("ADDED", cached_order(copy.deepcopy(whole)))
    cached = orders.get(NS, "web-1-2302138473")
    assert cached is not None and trimmed(cached) and "spec" not in cached
    kube = Kube({"web-1-2302138473": whole})
    reconciler = _request_reconciler(orders, kube)
    finished = Finished()
    reconciler._finish = finished  # type: ignore[method-assign]
    assert await reconciler.reconcile(f"{NS}/web-1") is None
    assert kube.calls == calls
    chain = base64.b64decode(CHAIN)
    assert finished.outcomes == ([("Issued", finished.outcomes[0][1], chain)] if issued else [])


async def test_a_request_fails_with_its_final_orders_reason_without_reading_it() -> None:
    spec = await _planned_spec()
    name = order_name("web-1", spec)
    orders = Cache(pack=packed_order)
    orders.apply("ADDED", cached_order(_order(INVALID, name=name, spec=spec)))
    kube = Kube()
    reconciler = _request_reconciler(orders, kube)
    finished = Finished()
    reconciler._finish = finished  # type: ignore[method-assign]
    assert await reconciler.reconcile(f"{NS}/web-1") is None
    assert kube.calls == []
    assert finished.outcomes == [
        (
            "Failed",
            f'Failed to wait for order resource "{name}" to become ready: order is in '
            f'"invalid" state: {INVALID["reason"]}',
            b"",
        )
    ]
