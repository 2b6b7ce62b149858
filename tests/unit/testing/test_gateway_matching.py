"""Gateway API request matching: hostnames, listener choice and rule precedence, as the
spec defines them (tables over ``gatewaymodel.evaluate``, no I/O)."""

from __future__ import annotations

from typing import Any

import pytest

from certmgr.testing.dataplane.gatewaymatching import (
    Request,
    effective_hostnames,
    hostname_matches,
    intersect,
)
from certmgr.testing.dataplane.gatewaymodel import World, evaluate
from certmgr.testing.gatewayapi import manifests as m

NS = "apps"
PORTS = {80: "HTTP", 443: "HTTPS"}


@pytest.mark.parametrize(
    ("pattern", "host", "expected"),
    [
        pytest.param("example.com", "example.com", True, id="exact"),
        pytest.param("example.com", "www.example.com", False, id="exact-is-not-suffix"),
        pytest.param("*.example.com", "www.example.com", True, id="wildcard-one-label"),
        pytest.param("*.example.com", "a.b.example.com", True, id="wildcard-many-labels"),
        pytest.param("*.example.com", "example.com", False, id="wildcard-not-apex"),
        pytest.param("*.example.com", "wwwexample.com", False, id="wildcard-label-boundary"),
    ],
)
def test_hostname_matches(pattern: str, host: str, expected: bool) -> None:
    assert hostname_matches(pattern, host) is expected


@pytest.mark.parametrize(
    ("listener", "route", "expected"),
    [
        pytest.param(None, "a.example.com", "a.example.com", id="listener-any"),
        pytest.param("a.example.com", "a.example.com", "a.example.com", id="same"),
        pytest.param("a.example.com", "*.example.com", "a.example.com", id="route-wildcard"),
        pytest.param("*.example.com", "a.example.com", "a.example.com", id="listener-wildcard"),
        pytest.param("*.example.com", "*.a.example.com", "*.a.example.com", id="nested-wild"),
        pytest.param("*.a.example.com", "*.example.com", "*.a.example.com", id="nested-wild-2"),
        pytest.param("*.example.com", "example.com", None, id="apex-outside-wildcard"),
        pytest.param("a.example.com", "b.example.com", None, id="different"),
        pytest.param("*.example.com", "test.example.net", None, id="other-domain"),
    ],
)
def test_intersect(listener: str | None, route: str, expected: str | None) -> None:
    assert intersect(listener, route) == expected


@pytest.mark.parametrize(
    ("listener", "routes", "expected"),
    [
        pytest.param(None, [], (None,), id="both-any"),
        pytest.param("a.example.com", [], ("a.example.com",), id="route-inherits"),
        pytest.param(
            "*.example.com",
            ["test.example.com", "test.example.net"],
            ("test.example.com",),
            id="non-matching-ignored",
        ),
        pytest.param("a.example.com", ["b.example.com"], (), id="no-intersection"),
    ],
)
def test_effective_hostnames(
    listener: str | None, routes: list[str], expected: tuple[str | None, ...]
) -> None:
    assert effective_hostnames(listener, routes) == expected


def _route(
    name: str,
    rules: list[dict[str, Any]],
    *,
    hostnames: tuple[str, ...] = (),
    created: str = "2026-01-01T00:00:00Z",
    parent: dict[str, Any] | None = None,
) -> dict[str, Any]:
    route = m.http_route(
        name,
        namespace=NS,
        parents=[parent or m.parent_ref("gw")],
        hostnames=hostnames,
        rules=rules,
    )
    route["metadata"]["creationTimestamp"] = created
    return route


def _rule(*matches: dict[str, Any], backend: str = "svc", port: int = 80) -> dict[str, Any]:
    return {"matches": list(matches), "backendRefs": [m.backend_ref(backend, port)]}


def _path(kind: str, value: str, **more: Any) -> dict[str, Any]:
    return {"path": {"type": kind, "value": value}, **more}


def _world(routes: list[dict[str, Any]], listeners: list[dict[str, Any]] | None = None) -> World:
    gateway = m.gateway("gw", namespace=NS, listeners=listeners or [m.http_listener()])
    services = [{"metadata": {"namespace": NS, "name": n}} for n in ("svc", "a", "b", "c", "d")]
    tls = {
        "metadata": {"namespace": NS, "name": "tls"},
        "type": "kubernetes.io/tls",
        "data": {"tls.crt": "Y2VydA==", "tls.key": "a2V5"},
    }
    return World(
        classes=[m.gateway_class()],
        gateways=[gateway],
        routes=routes,
        services=services,
        secrets=[tls],
    )


def _hit(world: World, request: Request, port: int = 80) -> str | None:
    table = evaluate(world, controller_name=m.DATAPLANE_CONTROLLER, ports=PORTS).table
    decision = table.match(port, request)
    if decision is None:
        return None
    backend = decision.rule.backends[0]
    return backend.name if backend is not None else "unresolved"


PRECEDENCE = [
    pytest.param(
        [
            _route(
                "r",
                [
                    _rule(_path("PathPrefix", "/"), backend="a"),
                    _rule(_path("Exact", "/.well-known/acme-challenge/t"), backend="b"),
                ],
            )
        ],
        Request("x.example.com", "/.well-known/acme-challenge/t"),
        "b",
        id="exact-beats-prefix",
    ),
    pytest.param(
        [
            _route(
                "r",
                [
                    _rule(_path("PathPrefix", "/a"), backend="a"),
                    _rule(_path("PathPrefix", "/a/b"), backend="b"),
                ],
            )
        ],
        Request("x.example.com", "/a/b/c"),
        "b",
        id="longest-prefix",
    ),
    pytest.param(
        [_route("r", [_rule(_path("PathPrefix", "/foo"), backend="a")])],
        Request("x.example.com", "/foobar"),
        None,
        id="prefix-whole-elements",
    ),
    pytest.param(
        [_route("r", [_rule(_path("PathPrefix", "/foo/"), backend="a")])],
        Request("x.example.com", "/foo"),
        "a",
        id="prefix-trailing-slash",
    ),
    pytest.param(
        [
            _route(
                "r",
                [
                    _rule(_path("PathPrefix", "/"), backend="a"),
                    _rule(_path("PathPrefix", "/", method="POST"), backend="b"),
                ],
            )
        ],
        Request("x.example.com", "/x", method="POST"),
        "b",
        id="method-match-preferred",
    ),
    pytest.param(
        [
            _route(
                "r",
                [
                    _rule(
                        _path("PathPrefix", "/", headers=[{"name": "x-a", "value": "1"}]),
                        backend="a",
                    ),
                    _rule(
                        _path(
                            "PathPrefix",
                            "/",
                            headers=[{"name": "x-a", "value": "1"}, {"name": "X-B", "value": "2"}],
                        ),
                        backend="b",
                    ),
                ],
            )
        ],
        Request("x.example.com", "/", headers={"x-a": "1", "x-b": "2"}),
        "b",
        id="more-headers-preferred",
    ),
    pytest.param(
        [
            _route(
                "r",
                [
                    _rule(_path("PathPrefix", "/"), backend="a"),
                    _rule(
                        _path("PathPrefix", "/", queryParams=[{"name": "v", "value": "2"}]),
                        backend="b",
                    ),
                ],
            )
        ],
        Request("x.example.com", "/", query={"v": "2"}),
        "b",
        id="query-preferred",
    ),
    pytest.param(
        [
            _route(
                "r",
                [
                    _rule(
                        _path("PathPrefix", "/", queryParams=[{"name": "v", "value": "2"}]),
                        backend="b",
                    )
                ],
            )
        ],
        Request("x.example.com", "/", query={"v": "3"}),
        None,
        id="query-must-match",
    ),
    pytest.param(
        [
            _route(
                "new",
                [_rule(_path("PathPrefix", "/"), backend="a")],
                created="2026-02-01T00:00:00Z",
            ),
            _route(
                "old",
                [_rule(_path("PathPrefix", "/"), backend="b")],
                created="2026-01-01T00:00:00Z",
            ),
        ],
        Request("x.example.com", "/"),
        "b",
        id="oldest-route-on-tie",
    ),
    pytest.param(
        [
            _route("b-route", [_rule(_path("PathPrefix", "/"), backend="a")]),
            _route("a-route", [_rule(_path("PathPrefix", "/"), backend="b")]),
        ],
        Request("x.example.com", "/"),
        "b",
        id="name-order-on-equal-age",
    ),
    pytest.param(
        [
            _route(
                "r",
                [
                    _rule(_path("PathPrefix", "/"), backend="a"),
                    _rule(_path("PathPrefix", "/"), backend="b"),
                ],
            )
        ],
        Request("x.example.com", "/"),
        "a",
        id="first-rule-in-a-route",
    ),
    pytest.param(
        [
            _route(
                "wild",
                [_rule(_path("Exact", "/x"), backend="a")],
                hostnames=("*.example.com",),
                created="2025-01-01T00:00:00Z",
            ),
            _route(
                "exact",
                [_rule(_path("PathPrefix", "/"), backend="b")],
                hostnames=("x.example.com",),
            ),
        ],
        Request("x.example.com", "/x"),
        "b",
        id="exact-hostname-beats-better-path",
    ),
    pytest.param(
        [
            _route(
                "short",
                [_rule(_path("PathPrefix", "/"), backend="a")],
                hostnames=("*.example.com",),
            ),
            _route(
                "long",
                [_rule(_path("PathPrefix", "/"), backend="b")],
                hostnames=("*.x.example.com",),
            ),
        ],
        Request("a.x.example.com", "/"),
        "b",
        id="longer-wildcard-hostname",
    ),
    pytest.param(
        [
            _route(
                "exact",
                [_rule(_path("PathPrefix", "/app"), backend="a")],
                hostnames=("x.example.com",),
            ),
            _route(
                "wild", [_rule(_path("PathPrefix", "/"), backend="b")], hostnames=("*.example.com",)
            ),
        ],
        Request("x.example.com", "/other"),
        "b",
        id="falls-to-less-specific-host-when-path-misses",
    ),
    pytest.param(
        [_route("r", [_rule(_path("PathPrefix", "/"), backend="a")], hostnames=("x.example.com",))],
        Request("y.example.com", "/"),
        None,
        id="route-hostname-must-match",
    ),
    pytest.param(
        [_route("r", [_rule(_path("RegularExpression", "/v[0-9]+/.*"), backend="a")])],
        Request("x.example.com", "/v2/items"),
        "a",
        id="regular-expression-path",
    ),
    pytest.param(
        [
            _route(
                "r",
                [
                    {
                        "matches": [_path("PathPrefix", "/")],
                        "backendRefs": [m.backend_ref("missing", 80)],
                    }
                ],
            )
        ],
        Request("x.example.com", "/"),
        "unresolved",
        id="missing-service-is-unresolved",
    ),
]


@pytest.mark.parametrize(("routes", "request_", "expected"), PRECEDENCE)
def test_rule_precedence(
    routes: list[dict[str, Any]], request_: Request, expected: str | None
) -> None:
    assert _hit(_world(routes), request_) == expected


LISTENERS = [
    m.http_listener("any"),
    m.http_listener("wild", hostname="*.example.com"),
    m.http_listener("exact", hostname="a.example.com"),
]


@pytest.mark.parametrize(
    ("host", "listener"),
    [
        pytest.param("a.example.com", "exact", id="exact-listener"),
        pytest.param("b.example.com", "wild", id="wildcard-listener"),
        pytest.param("example.org", "any", id="hostless-listener"),
    ],
)
def test_the_most_specific_listener_takes_the_request(host: str, listener: str) -> None:
    routes = [
        _route(
            name,
            [_rule(_path("PathPrefix", "/"), backend=backend)],
            parent=m.parent_ref("gw", section=name),
        )
        for name, backend in (("any", "a"), ("wild", "b"), ("exact", "c"))
    ]
    expected = {"any": "a", "wild": "b", "exact": "c"}[listener]
    assert _hit(_world(routes, LISTENERS), Request(host, "/")) == expected


def test_a_request_on_another_port_sees_only_that_port_s_listeners() -> None:
    listeners = [m.http_listener(), m.https_listener(secret="tls", hostname="a.example.com")]
    routes = [
        _route(
            "r",
            [_rule(_path("PathPrefix", "/"), backend="a")],
            parent=m.parent_ref("gw", section="http"),
        )
    ]
    world = _world(routes, listeners)
    assert _hit(world, Request("a.example.com", "/"), port=80) == "a"
    assert _hit(world, Request("a.example.com", "/"), port=443) is None
    table = evaluate(world, controller_name=m.DATAPLANE_CONTROLLER, ports=PORTS).table
    assert table.certificate_for(443, "a.example.com") == (NS, "tls")
    assert table.certificate_for(443, "b.example.com") is None


def _two_catch_all_gateways() -> World:
    older = m.gateway("old", namespace=NS, listeners=[m.http_listener()])
    older["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z"
    newer = m.gateway("new", namespace=NS, listeners=[m.http_listener()])
    newer["metadata"]["creationTimestamp"] = "2026-02-01T00:00:00Z"
    routes = [
        _route(
            "to-old", [_rule(_path("PathPrefix", "/"), backend="a")], parent=m.parent_ref("old")
        ),
        _route(
            "to-new", [_rule(_path("PathPrefix", "/"), backend="b")], parent=m.parent_ref("new")
        ),
    ]
    return World(
        classes=[m.gateway_class()],
        gateways=[newer, older],
        routes=routes,
        services=[{"metadata": {"namespace": NS, "name": n}} for n in ("a", "b")],
    )


ADDRESSES = {(NS, "old"): "127.1.0.1", (NS, "new"): "127.1.0.2"}


@pytest.mark.parametrize(
    ("address", "backend"),
    [
        pytest.param("127.1.0.1", "a", id="older-gateway-s-address"),
        pytest.param("127.1.0.2", "b", id="newer-gateway-s-address"),
        pytest.param("127.1.0.9", None, id="no-gateway-s-address"),
        pytest.param(None, "a", id="router-address-older-gateway-on-a-tie"),
    ],
)
def test_two_catch_all_gateways_on_one_port_are_told_apart_by_address(
    address: str | None, backend: str | None
) -> None:
    evaluation = evaluate(
        _two_catch_all_gateways(),
        controller_name=m.DATAPLANE_CONTROLLER,
        ports=PORTS,
        addresses=ADDRESSES,
    )
    assert evaluation.gateways[(NS, "old")].addresses == ("127.1.0.1",)
    assert evaluation.gateways[(NS, "new")].addresses == ("127.1.0.2",)
    decision = evaluation.table.match(80, Request("x.example.com", "/"), address=address)
    hit = decision.rule.backends[0] if decision is not None else None
    assert (hit.name if hit is not None else None) == backend
