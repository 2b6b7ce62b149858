"""What the data plane's Gateway implementation concludes: GatewayClass, Gateway, listener
and HTTPRoute conditions with the spec's reasons, attachment and ``attachedRoutes``, and
the status JSON written back (tables over ``evaluate`` and ``gatewaystatus``, no I/O)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from certmgr.testing.dataplane.gatewaymodel import Evaluation, ParentStatus, World, evaluate
from certmgr.testing.dataplane.gatewayrefs import Condition
from certmgr.testing.dataplane.gatewaystatus import StatusWriter, conditions_json, route_status
from certmgr.testing.gatewayapi import manifests as m

NS = "apps"
PORTS = {80: "HTTP", 443: "HTTPS"}
CONTROLLER = m.DATAPLANE_CONTROLLER


def _secret(name: str, namespace: str = NS, *, kind: str = "kubernetes.io/tls") -> dict[str, Any]:
    return {
        "metadata": {"namespace": namespace, "name": name},
        "type": kind,
        "data": {"tls.crt": "Y2VydA==", "tls.key": "a2V5"},
    }


def _namespace(name: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels}}


def _evaluate(
    listeners: list[dict[str, Any]],
    *,
    routes: Sequence[dict[str, Any]] = (),
    secrets: Sequence[dict[str, Any]] = (),
    grants: Sequence[dict[str, Any]] = (),
    services: Sequence[str] = ("svc",),
    addresses: list[dict[str, Any]] | None = None,
) -> Evaluation:
    gateway = m.gateway("gw", namespace=NS, listeners=listeners)
    if addresses is not None:
        gateway["spec"]["addresses"] = addresses
    world = World(
        classes=[m.gateway_class(), m.gateway_class("other", controller_name="example.com/x")],
        gateways=[gateway],
        routes=list(routes),
        grants=list(grants),
        namespaces=[_namespace(NS), _namespace("team-a", team="a"), _namespace("team-b")],
        services=[{"metadata": {"namespace": NS, "name": s}} for s in services],
        secrets=list(secrets),
    )
    return evaluate(world, controller_name=CONTROLLER, ports=PORTS)


def _reasons(conditions: tuple[Condition, ...]) -> dict[str, tuple[bool, str]]:
    return {c.type: (c.status, c.reason) for c in conditions}


def test_only_classes_with_our_controller_name_are_accepted() -> None:
    evaluation = _evaluate([m.http_listener()])
    assert _reasons(evaluation.classes[m.DATAPLANE_CLASS]) == {"Accepted": (True, "Accepted")}
    assert "other" not in evaluation.classes


LISTENER_CASES = [
    pytest.param(
        m.http_listener(),
        [],
        {
            "Accepted": (True, "Accepted"),
            "ResolvedRefs": (True, "ResolvedRefs"),
            "Programmed": (True, "Programmed"),
        },
        id="http-80",
    ),
    pytest.param(
        m.http_listener(port=8080),
        [],
        {
            "Accepted": (False, "PortUnavailable"),
            "ResolvedRefs": (True, "ResolvedRefs"),
            "Programmed": (False, "Invalid"),
        },
        id="unserved-port",
    ),
    pytest.param(
        m.http_listener(port=443),
        [],
        {
            "Accepted": (False, "PortUnavailable"),
            "ResolvedRefs": (True, "ResolvedRefs"),
            "Programmed": (False, "Invalid"),
        },
        id="http-on-the-tls-port",
    ),
    pytest.param(
        {"name": "tcp", "port": 80, "protocol": "TCP"},
        [],
        {
            "Accepted": (False, "UnsupportedProtocol"),
            "ResolvedRefs": (True, "ResolvedRefs"),
            "Programmed": (False, "Invalid"),
        },
        id="tcp",
    ),
    pytest.param(
        m.https_listener(secret="tls"),
        [_secret("tls")],
        {
            "Accepted": (True, "Accepted"),
            "ResolvedRefs": (True, "ResolvedRefs"),
            "Programmed": (True, "Programmed"),
        },
        id="https-with-secret",
    ),
    pytest.param(
        m.https_listener(secret="tls"),
        [],
        {
            "Accepted": (True, "Accepted"),
            "ResolvedRefs": (False, "InvalidCertificateRef"),
            "Programmed": (False, "Invalid"),
        },
        id="https-secret-missing",
    ),
    pytest.param(
        m.https_listener(secret="tls"),
        [_secret("tls", kind="Opaque")],
        {
            "Accepted": (True, "Accepted"),
            "ResolvedRefs": (False, "InvalidCertificateRef"),
            "Programmed": (False, "Invalid"),
        },
        id="https-secret-not-tls",
    ),
    pytest.param(
        {
            **m.https_listener(secret="tls"),
            "tls": {
                "mode": "Terminate",
                "certificateRefs": [{"group": "example.com", "kind": "Vault", "name": "tls"}],
            },
        },
        [_secret("tls")],
        {
            "Accepted": (True, "Accepted"),
            "ResolvedRefs": (False, "InvalidCertificateRef"),
            "Programmed": (False, "Invalid"),
        },
        id="https-ref-not-a-secret",
    ),
    pytest.param(
        m.https_listener(secret="tls", secret_namespace="certs"),
        [_secret("tls", "certs")],
        {
            "Accepted": (True, "Accepted"),
            "ResolvedRefs": (False, "RefNotPermitted"),
            "Programmed": (False, "Invalid"),
        },
        id="https-cross-namespace-without-grant",
    ),
    pytest.param(
        m.http_listener(allowedRoutes={"kinds": [{"kind": "TCPRoute"}]}),
        [],
        {
            "Accepted": (True, "Accepted"),
            "ResolvedRefs": (False, "InvalidRouteKinds"),
            "Programmed": (True, "Programmed"),
        },
        id="unsupported-route-kind",
    ),
]


@pytest.mark.parametrize(("listener", "secrets", "expected"), LISTENER_CASES)
def test_listener_conditions(
    listener: dict[str, Any], secrets: list[dict[str, Any]], expected: dict[str, Any]
) -> None:
    status = _evaluate([listener], secrets=secrets).gateways[(NS, "gw")]
    assert _reasons(status.listeners[0].conditions) == expected


def test_a_cross_namespace_secret_with_a_reference_grant_is_served() -> None:
    grant = m.reference_grant(
        "g", namespace="certs", from_kind="Gateway", from_namespace=NS, to_kind="Secret"
    )
    evaluation = _evaluate(
        [m.https_listener(secret="tls", secret_namespace="certs", hostname="a.example.com")],
        secrets=[_secret("tls", "certs")],
        grants=[grant],
    )
    listener = evaluation.gateways[(NS, "gw")].listeners[0]
    assert _reasons(listener.conditions)["ResolvedRefs"] == (True, "ResolvedRefs")
    assert evaluation.table.certificate_for(443, "a.example.com") == ("certs", "tls")


@pytest.mark.parametrize(
    ("listeners", "addresses", "expected", "served"),
    [
        pytest.param(
            [m.http_listener()],
            None,
            {"Accepted": (True, "Accepted"), "Programmed": (True, "Programmed")},
            ("127.0.0.1",),
            id="valid",
        ),
        pytest.param(
            [m.http_listener(), m.http_listener("alt", port=8080)],
            None,
            {"Accepted": (True, "ListenersNotValid"), "Programmed": (True, "Programmed")},
            ("127.0.0.1",),
            id="some-listeners-invalid",
        ),
        pytest.param(
            [m.http_listener(port=8080)],
            None,
            {"Accepted": (False, "ListenersNotValid"), "Programmed": (False, "Invalid")},
            (),
            id="no-listener-valid",
        ),
        pytest.param(
            [m.http_listener()],
            [{"type": "Hostname", "value": "lb.example.com"}],
            {"Accepted": (False, "UnsupportedAddress"), "Programmed": (False, "Invalid")},
            (),
            id="hostname-address",
        ),
        pytest.param(
            [m.http_listener()],
            [{"type": "IPAddress", "value": "192.0.2.1"}],
            {"Accepted": (True, "Accepted"), "Programmed": (False, "AddressNotUsable")},
            (),
            id="unusable-ip",
        ),
    ],
)
def test_gateway_conditions(
    listeners: list[dict[str, Any]],
    addresses: list[dict[str, Any]] | None,
    expected: dict[str, Any],
    served: tuple[str, ...],
) -> None:
    status = _evaluate(listeners, addresses=addresses).gateways[(NS, "gw")]
    assert _reasons(status.conditions) == expected
    assert status.addresses == served


def _route(
    *,
    namespace: str = NS,
    parent: dict[str, Any] | None = None,
    hostnames: tuple[str, ...] = (),
    backends: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return m.http_route(
        "r",
        namespace=namespace,
        parents=[parent or m.parent_ref("gw", namespace=NS)],
        hostnames=hostnames,
        rules=[m.path_rule("/", backends if backends is not None else [m.backend_ref("svc", 80)])],
    )


ATTACHMENT = [
    pytest.param([m.http_listener()], _route(), (True, "Accepted"), {"http": 1}, id="attached"),
    pytest.param(
        [m.http_listener(), m.http_listener("b", hostname="b.example.com")],
        _route(parent=m.parent_ref("gw", section="b")),
        (True, "Accepted"),
        {"http": 0, "b": 1},
        id="section-name",
    ),
    pytest.param(
        [m.http_listener()],
        _route(parent=m.parent_ref("gw", section="nope")),
        (False, "NoMatchingParent"),
        {"http": 0},
        id="unknown-section",
    ),
    pytest.param(
        [m.http_listener()],
        _route(parent=m.parent_ref("gw", port=8080)),
        (False, "NoMatchingParent"),
        {"http": 0},
        id="unknown-port",
    ),
    pytest.param(
        [m.http_listener(), m.https_listener(secret="tls")],
        _route(parent=m.parent_ref("gw", port=443)),
        (True, "Accepted"),
        {"http": 0, "https": 1},
        id="port",
    ),
    pytest.param(
        [m.http_listener()],
        _route(namespace="team-a"),
        (False, "NotAllowedByListeners"),
        {"http": 0},
        id="same-namespace-only",
    ),
    pytest.param(
        [m.http_listener(allowedRoutes={"namespaces": {"from": "All"}})],
        _route(namespace="team-b"),
        (True, "Accepted"),
        {"http": 1},
        id="from-all",
    ),
    pytest.param(
        [
            m.http_listener(
                allowedRoutes={
                    "namespaces": {"from": "Selector", "selector": {"matchLabels": {"team": "a"}}}
                }
            )
        ],
        _route(namespace="team-a"),
        (True, "Accepted"),
        {"http": 1},
        id="selector-matches",
    ),
    pytest.param(
        [
            m.http_listener(
                allowedRoutes={
                    "namespaces": {
                        "from": "Selector",
                        "selector": {"matchExpressions": [{"key": "team", "operator": "Exists"}]},
                    }
                }
            )
        ],
        _route(namespace="team-b"),
        (False, "NotAllowedByListeners"),
        {"http": 0},
        id="selector-does-not-match",
    ),
    pytest.param(
        [m.http_listener(allowedRoutes={"kinds": [{"kind": "GRPCRoute"}]})],
        _route(),
        (False, "NotAllowedByListeners"),
        {"http": 0},
        id="kind-not-allowed",
    ),
    pytest.param(
        [m.http_listener(hostname="*.example.com")],
        _route(hostnames=("example.com",)),
        (False, "NoMatchingListenerHostname"),
        {"http": 0},
        id="hostnames-do-not-intersect",
    ),
    pytest.param(
        [m.http_listener(hostname="*.example.com")],
        _route(hostnames=("example.com", "a.example.com")),
        (True, "Accepted"),
        {"http": 1},
        id="one-hostname-intersects",
    ),
    pytest.param(
        [m.http_listener(port=8080)],
        _route(),
        (False, "NoMatchingParent"),
        {"http": 0},
        id="gateway-not-accepted",
    ),
]


@pytest.mark.parametrize(("listeners", "route", "accepted", "attached"), ATTACHMENT)
def test_route_attachment(
    listeners: list[dict[str, Any]],
    route: dict[str, Any],
    accepted: tuple[bool, str],
    attached: dict[str, int],
) -> None:
    evaluation = _evaluate(listeners, routes=[route], secrets=[_secret("tls")])
    (parent,) = evaluation.routes[(route["metadata"]["namespace"], "r")]
    assert _reasons(parent.conditions)["Accepted"] == accepted
    counts = {s.name: s.attached_routes for s in evaluation.gateways[(NS, "gw")].listeners}
    assert counts == attached


def test_routes_of_other_gateways_get_no_status_from_us() -> None:
    evaluation = _evaluate([m.http_listener()], routes=[_route(parent=m.parent_ref("elsewhere"))])
    assert evaluation.routes == {}


@pytest.mark.parametrize(
    ("backends", "grants", "expected"),
    [
        pytest.param([m.backend_ref("svc", 80)], [], (True, "ResolvedRefs"), id="service"),
        pytest.param(
            [m.backend_ref("gone", 80)], [], (False, "BackendNotFound"), id="missing-service"
        ),
        pytest.param(
            [{"group": "example.com", "kind": "Bucket", "name": "b"}],
            [],
            (False, "InvalidKind"),
            id="not-a-service",
        ),
        pytest.param(
            [m.backend_ref("svc", 80, namespace="team-a")],
            [],
            (False, "RefNotPermitted"),
            id="cross-namespace-without-grant",
        ),
        pytest.param(
            [m.backend_ref("svc", 80, namespace="team-a")],
            [
                m.reference_grant(
                    "g",
                    namespace="team-a",
                    from_kind="HTTPRoute",
                    from_namespace=NS,
                    to_kind="Service",
                    to_name="svc",
                )
            ],
            (False, "BackendNotFound"),  # permitted now, but team-a has no such Service
            id="cross-namespace-with-grant",
        ),
    ],
)
def test_route_resolved_refs(
    backends: list[dict[str, Any]], grants: list[dict[str, Any]], expected: tuple[bool, str]
) -> None:
    evaluation = _evaluate([m.http_listener()], routes=[_route(backends=backends)], grants=grants)
    (parent,) = evaluation.routes[(NS, "r")]
    assert _reasons(parent.conditions)["ResolvedRefs"] == expected


def test_a_condition_keeps_its_transition_time_while_its_status_holds() -> None:
    previous = [
        {"type": "Accepted", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"},
        {"type": "Programmed", "status": "False", "lastTransitionTime": "2026-01-01T00:00:00Z"},
    ]
    written = conditions_json(
        [
            Condition("Accepted", True, "Accepted", "ok"),
            Condition("Programmed", True, "Programmed", "ok"),
        ],
        generation=3,
        previous=previous,
        now="2026-06-01T00:00:00Z",
    )
    assert [(c["lastTransitionTime"], c["observedGeneration"]) for c in written] == [
        ("2026-01-01T00:00:00Z", 3),
        ("2026-06-01T00:00:00Z", 3),
    ]


def test_route_status_keeps_other_controllers_entries() -> None:
    theirs = {"parentRef": {"name": "x"}, "controllerName": "example.com/x", "conditions": []}
    stale = {"parentRef": {"name": "old"}, "controllerName": CONTROLLER, "conditions": []}
    route = {"metadata": {"generation": 2}, "status": {"parents": [theirs, stale]}}
    ours = ParentStatus(
        {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "gw"},
        (Condition("Accepted", True, "Accepted", "ok"),),
    )
    status = route_status(route, [ours], controller_name=CONTROLLER, now="2026-06-01T00:00:00Z")
    assert [p["parentRef"]["name"] for p in status["parents"]] == ["x", "gw"]


class _RecordingClient:
    """``update_status`` only; the server stores the status with one default added, as a
    CRD's schema defaults would."""

    def __init__(self) -> None:
        self.writes: list[dict[str, Any]] = []

    async def update_status(self, resource: Any, obj: dict[str, Any]) -> dict[str, Any]:
        stored = {**obj, "status": {**obj["status"], "defaulted": True}}
        self.writes.append(stored)
        return stored


async def test_statuses_are_written_once_not_in_a_loop() -> None:
    route = _route()
    evaluation = _evaluate([m.http_listener()], routes=[route])
    gateway = m.gateway("gw", namespace=NS, listeners=[m.http_listener()])
    client = _RecordingClient()
    writer = StatusWriter(client, controller_name=CONTROLLER)  # type: ignore[arg-type]
    objects = {"classes": [m.gateway_class()], "gateways": [gateway], "routes": [route]}
    assert await writer.write(evaluation, **objects) == 3
    # The mirror now holds what the server stored (with its default): nothing to write.
    stored = {obj["kind"]: obj for obj in client.writes}
    again = {
        "classes": [stored["GatewayClass"]],
        "gateways": [stored["Gateway"]],
        "routes": [stored["HTTPRoute"]],
    }
    assert await writer.write(evaluation, **again) == 0
