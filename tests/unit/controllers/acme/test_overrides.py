"""HTTP-01 override annotations: the solver adjustment (a table), what an Order inherits
from its request, the path Certificate -> request -> Order, and the Order controller
writing the adjusted solver into its Challenges (or warning when it cannot)."""

from __future__ import annotations

import base64
import copy
import itertools
from dataclasses import dataclass, field
from typing import Any

import pytest

from certmgr.acme import Authorization, Challenge, Identifier, Order
from certmgr.api import labels
from certmgr.controllers.acme.order_steps import owned_by_order
from certmgr.controllers.acme.orders import OWNER_INDEX, OrderReconciler
from certmgr.controllers.acme.overrides import OverrideError, apply_ingress_overrides
from certmgr.controllers.acme.requests import order_annotations
from certmgr.controllers.certificates.requestmanager import request_body
from certmgr.controllers.certificates.spec import CertificateView
from certmgr.controllers.context import Context, Settings
from certmgr.kube.resources import CHALLENGES, ORDERS, Resource
from certmgr.runtime.cache import Cache
from certmgr.testing.clock import FakeClock

NAME = labels.HTTP01_OVERRIDE_INGRESS_NAME
CLASS = labels.HTTP01_OVERRIDE_INGRESS_CLASS
CLASSNAME = labels.HTTP01_OVERRIDE_INGRESS_CLASSNAME
TEMPLATE = {"metadata": {"labels": {"team": "a"}}}
ONLY_ONE = "only one HTTP-01 ingress override may be set at a time, found"


def http01(**ingress: Any) -> dict[str, Any]:
    return {"selector": {"dnsZones": ["example.com"]}, "http01": {"ingress": ingress}}


# -- the solver adjustment ------------------------------------------------------------


@pytest.mark.parametrize(
    ("solver", "annotations", "expected"),
    [
        pytest.param(
            http01(ingressClassName="nginx"), {}, http01(ingressClassName="nginx"), id="none"
        ),
        pytest.param(
            http01(ingressClassName="nginx"),
            {"cert-manager.io/issuer": "x", "acme.cert-manager.io/http01-edit-in-place": "true"},
            http01(ingressClassName="nginx"),
            id="unrelated-annotations",
        ),
        pytest.param(
            http01(ingressClassName="nginx", serviceType="ClusterIP", ingressTemplate=TEMPLATE),
            {NAME: "web"},
            http01(name="web", serviceType="ClusterIP", ingressTemplate=TEMPLATE),
            id="name-clears-ingressClassName-keeps-the-rest",
        ),
        pytest.param(
            http01(**{"class": "traefik"}),
            {NAME: "web"},
            http01(name="web"),
            id="name-clears-class",
        ),
        pytest.param(
            http01(ingressClassName="nginx"),
            {CLASS: "public"},
            http01(**{"class": "public"}),
            id="class-clears-ingressClassName",
        ),
        pytest.param(
            http01(name="shared"),
            {CLASS: "public"},
            http01(**{"class": "public"}),
            id="class-clears-name",
        ),
        pytest.param(
            http01(**{"class": "traefik"}),
            {CLASSNAME: "internal"},
            http01(ingressClassName="internal"),
            id="ingressClassName-clears-class",
        ),
        pytest.param(
            http01(name="shared", ingressClassName="nginx"),
            {CLASSNAME: "internal"},
            http01(ingressClassName="internal"),
            id="ingressClassName-replaces-and-clears-name",
        ),
        pytest.param(http01(), {NAME: "web"}, http01(name="web"), id="empty-ingress"),
    ],
)
def test_overrides_adjust_the_solver_ingress(
    solver: dict[str, Any], annotations: dict[str, str], expected: dict[str, Any]
) -> None:
    before = copy.deepcopy(solver)
    assert apply_ingress_overrides(solver, annotations) == expected
    assert solver == before  # the issuer's solver (from the cache) is never changed


@pytest.mark.parametrize(
    ("solver", "annotations", "message"),
    [
        pytest.param(
            http01(),
            {NAME: "web", CLASS: "nginx"},
            f'{ONLY_ONE} "{CLASS}", "{NAME}"',
            id="name-and-class",
        ),
        pytest.param(
            http01(),
            {CLASS: "nginx", CLASSNAME: "nginx"},
            f'{ONLY_ONE} "{CLASS}", "{CLASSNAME}"',
            id="class-and-ingressClassName",
        ),
        pytest.param(
            {"http01": {"gatewayHTTPRoute": {"parentRefs": [{"name": "gw"}]}}},
            {NAME: "web"},
            f'annotation "{NAME}" needs a solver with http01.ingress, '
            "but the selected solver has none",
            id="gateway-solver",
        ),
        pytest.param(
            {"dns01": {"webhook": {}}},
            {CLASSNAME: "nginx"},
            f'annotation "{CLASSNAME}" needs a solver with http01.ingress, '
            "but the selected solver has none",
            id="dns01-solver",
        ),
    ],
)
def test_overrides_that_cannot_apply_are_errors(
    solver: dict[str, Any], annotations: dict[str, str], message: str
) -> None:
    with pytest.raises(OverrideError) as raised:
        apply_ingress_overrides(solver, annotations)
    assert str(raised.value) == message


def test_a_solver_without_ingress_is_fine_without_overrides() -> None:
    solver: dict[str, Any] = {"http01": {"gatewayHTTPRoute": {}}}
    assert apply_ingress_overrides(solver, {"cert-manager.io/issuer": "x"}) == solver


# -- Certificate -> CertificateRequest -> Order ----------------------------------------


@pytest.mark.parametrize(
    ("request_annotations", "inherited"),
    [
        pytest.param(
            {
                "cert-manager.io/certificate-name": "web",
                NAME: "web",
                CLASS: "nginx",
                CLASSNAME: "internal",
            },
            {
                "cert-manager.io/certificate-name": "web",
                NAME: "web",
                CLASS: "nginx",
                CLASSNAME: "internal",
            },
            id="cert-manager-and-overrides",
        ),
        pytest.param(
            {
                "team": "a",
                "acme.cert-manager.io/http01-edit-in-place": "true",
                "acme.cert-manager.io/other": "x",
            },
            {},
            id="others-stay-on-the-request",
        ),
    ],
)
def test_order_inherits_cert_manager_and_override_annotations(
    request_annotations: dict[str, str], inherited: dict[str, str]
) -> None:
    assert order_annotations(request_annotations) == inherited


def test_a_shim_certificates_override_reaches_the_orders_solver() -> None:
    certificate = CertificateView.of(
        {
            "apiVersion": "cert-manager.io/v1",
            "kind": "Certificate",
            "metadata": {
                "name": "web-tls",
                "namespace": "default",
                "uid": "u-1",
                "annotations": {
                    NAME: "web",
                    labels.ISSUE_TEMPORARY_CERTIFICATE: "true",
                    "kubectl.kubernetes.io/last-applied-configuration": "{}",
                },
            },
            "spec": {
                "secretName": "web-tls",
                "dnsNames": ["web.example.com"],
                "issuerRef": {"name": "le", "kind": "ClusterIssuer"},
            },
        }
    )
    request = request_body(certificate, name="web-tls-1", csr_pem=b"CSR", key_secret_name="k")
    assert request["metadata"]["annotations"][NAME] == "web"
    inherited = order_annotations(request["metadata"]["annotations"])
    assert NAME in inherited and "kubectl.kubernetes.io/last-applied-configuration" not in inherited
    solver = apply_ingress_overrides(http01(ingressClassName="nginx"), inherited)
    assert solver["http01"]["ingress"] == {"name": "web"}


# -- the Order controller ---------------------------------------------------------------

NS = "default"
ISSUER = {
    "apiVersion": "cert-manager.io/v1",
    "kind": "Issuer",
    "metadata": {"name": "ca", "namespace": NS, "uid": "issuer-uid", "resourceVersion": "1"},
    "spec": {
        "acme": {
            "server": "https://ca/dir",
            "privateKeySecretRef": {"name": "k"},
            "solvers": [{"http01": {"ingress": {"ingressClassName": "nginx"}}}],
        }
    },
    "status": {"conditions": [{"type": "Ready", "status": "True"}]},
}


@dataclass
class FakeCA:
    def key_authorization(self, token: str) -> str:
        return f"{token}.thumb"

    async def new_order(self, identifiers: Any, **_: Any) -> Order:
        return Order(
            url="https://ca/order/1",
            status="pending",
            identifiers=tuple(identifiers),
            authorizations=tuple(f"https://ca/authz/{i.value}" for i in identifiers),
            finalize_url="https://ca/order/1/finalize",
        )

    async def get_authorization(self, url: str) -> Authorization:
        name = url.rsplit("/", 1)[1]
        challenge = Challenge("http-01", f"https://ca/chall/{name}", f"tok-{name}", "pending")
        return Authorization(
            url=url, identifier=Identifier.dns(name), status="pending", challenges=(challenge,)
        )


@dataclass
class FakeAccounts:
    async def client_for(self, issuer: dict[str, Any]) -> FakeCA:
        return FakeCA()


class FakeKube:
    """Writes land in the given caches at once, with a fresh resourceVersion."""

    def __init__(self, caches: dict[Resource, Cache]) -> None:
        self.caches = caches
        self.versions = itertools.count(100)

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
        return copy.deepcopy(self.caches[resource].get(kw.get("namespace"), name))

    async def create(self, resource: Resource, obj: dict[str, Any], **_: Any) -> Any:
        return self._store(resource, obj)


@dataclass
class Events:
    seen: list[tuple[str, str, str]] = field(default_factory=list)

    def event(self, obj: dict[str, Any], type_: str, reason: str, message: str) -> None:
        self.seen.append((type_, reason, message))


async def run_order(annotations: dict[str, str]) -> tuple[list[dict[str, Any]], Events]:
    """Create the ACME order, then the Challenges, for an Order with ``annotations``."""
    orders, challenges, issuers = Cache(), Cache(), Cache()
    challenges.add_index(OWNER_INDEX, owned_by_order)
    issuers.apply("ADDED", copy.deepcopy(ISSUER))
    orders.apply(
        "ADDED",
        {
            "apiVersion": "acme.cert-manager.io/v1",
            "kind": "Order",
            "metadata": {
                "name": "o",
                "namespace": NS,
                "uid": "order-uid",
                "resourceVersion": "5",
                "annotations": annotations,
            },
            "spec": {
                "request": base64.b64encode(b"-----BEGIN CERTIFICATE REQUEST-----").decode(),
                "issuerRef": {"name": "ca", "kind": "Issuer"},
                "dnsNames": ["web.example.com"],
            },
        },
    )
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
        accounts=FakeAccounts(),  # type: ignore[arg-type]
        orders=orders,
        challenges=challenges,
        issuers=issuers,
        cluster_issuers=Cache(),
    )
    await reconciler.reconcile(f"{NS}/o")  # the ACME order
    await reconciler.reconcile(f"{NS}/o")  # its Challenges
    return challenges.list(), events


async def test_the_challenge_carries_the_overridden_solver() -> None:
    (challenge,), events = await run_order({NAME: "web"})
    assert challenge["spec"]["solver"] == {"http01": {"ingress": {"name": "web"}}}
    assert [e for e in events.seen if e[0] == "Warning"] == []
    # The issuer in the cache is untouched: other Orders get its solver as written.
    solvers = ISSUER["spec"]["acme"]["solvers"]  # type: ignore[index]
    assert solvers == [{"http01": {"ingress": {"ingressClassName": "nginx"}}}]


async def test_an_override_that_cannot_apply_warns_and_creates_no_challenge() -> None:
    challenges, events = await run_order({NAME: "web", CLASS: "nginx"})
    assert challenges == []
    ((type_, reason, message),) = events.seen
    assert (type_, reason) == ("Warning", "NoMatchingSolver")
    assert message.startswith(
        "Failed to determine a valid solver configuration for the set of domains on the "
        'Order: solver for "web.example.com": only one HTTP-01 ingress override'
    )
