"""The pure ingress-nginx rules: class selection, path types, precedence, TLS Secrets."""

from __future__ import annotations

from typing import Any

import pytest

from certmgr.testing.dataplane.manifests import ingress
from certmgr.testing.dataplane.routing import (
    IngressClassFilter,
    RouteTable,
    path_matches,
    tls_secret_for,
)


@pytest.mark.parametrize(
    ("path_type", "pattern", "path", "expected"),
    [
        pytest.param("Exact", "/foo", "/foo", True, id="exact-equal"),
        pytest.param("Exact", "/foo", "/foo/", False, id="exact-trailing-slash"),
        pytest.param("Exact", "/foo", "/foo/bar", False, id="exact-longer"),
        pytest.param("Prefix", "/", "/anything/at/all", True, id="prefix-root"),
        pytest.param("Prefix", "/foo", "/foo", True, id="prefix-equal"),
        pytest.param("Prefix", "/foo", "/foo/", True, id="prefix-trailing-slash"),
        pytest.param("Prefix", "/foo", "/foo/bar", True, id="prefix-child"),
        pytest.param("Prefix", "/foo", "/foobar", False, id="prefix-is-element-wise"),
        pytest.param("Prefix", "/foo/", "/foo", True, id="prefix-pattern-trailing-slash"),
        pytest.param("Prefix", "/aaa/bbb", "/aaa/bbbxyz", False, id="prefix-last-element"),
        pytest.param("ImplementationSpecific", "/foo", "/foobar", True, id="impl-string-prefix"),
        pytest.param("ImplementationSpecific", "/foo", "/fo", False, id="impl-shorter"),
    ],
)
def test_path_matches(path_type: str, pattern: str, path: str, expected: bool) -> None:
    assert path_matches(path_type, pattern, path) is expected


def _aged(obj: dict[str, Any], created: str) -> dict[str, Any]:
    obj["metadata"]["creationTimestamp"] = created
    return obj


TABLE = RouteTable.build(
    [
        _aged(
            ingress(
                "app",
                host="app.example.com",
                paths=[
                    ("/", "Prefix", "root", 80),
                    ("/api", "Prefix", "api", 80),
                    ("/api/v1", "Prefix", "api-v1", 80),
                    ("/api", "Exact", "api-exact", 80),
                    ("/static", "ImplementationSpecific", "static", 80),
                ],
            ),
            "2024-01-02T00:00:00Z",
        ),
        # Same host and path in a younger Ingress: the older one keeps it.
        _aged(
            ingress("app-dup", host="app.example.com", paths=[("/api/v1", "Prefix", "dup", 80)]),
            "2024-01-03T00:00:00Z",
        ),
        _aged(
            ingress("wild", host="*.example.com", paths=[("/", "Prefix", "wildcard", 80)]),
            "2024-01-01T00:00:00Z",
        ),
        _aged(
            ingress("any", host=None, paths=[("/fallback", "Prefix", "catch-all", 80)]),
            "2024-01-01T00:00:00Z",
        ),
    ],
    classes=IngressClassFilter(),
)


@pytest.mark.parametrize(
    ("host", "path", "service"),
    [
        pytest.param("app.example.com", "/api", "api-exact", id="exact-beats-prefix"),
        pytest.param("app.example.com", "/api/", "api", id="exact-needs-equality"),
        pytest.param("app.example.com", "/api/v1/users", "api-v1", id="longest-prefix"),
        pytest.param("app.example.com", "/api/v2", "api", id="shorter-prefix"),
        pytest.param("app.example.com", "/apix", "root", id="prefix-element-wise"),
        pytest.param("app.example.com", "/static.css", "static", id="impl-specific"),
        pytest.param("APP.example.com:8080", "/", "root", id="host-case-and-port"),
        pytest.param("other.example.com", "/x", "wildcard", id="wildcard-host"),
        pytest.param("a.b.example.com", "/fallback", "catch-all", id="wildcard-one-label"),
        pytest.param("example.com", "/fallback", "catch-all", id="wildcard-not-apex"),
        pytest.param("app.example.com", "/fallback", "root", id="host-server-before-catch-all"),
        pytest.param("nothing.test", "/elsewhere", None, id="no-route"),
    ],
)
def test_route_precedence(host: str, path: str, service: str | None) -> None:
    route = TABLE.match(host, path)
    assert (route.backend.name if route and route.backend else None) == service


def test_oldest_ingress_wins_a_shared_path() -> None:
    route = TABLE.match("app.example.com", "/api/v1")
    assert route is not None and route.ingress == "default/app"


def test_no_fallthrough_from_a_host_server_to_catch_all() -> None:
    table = RouteTable.build(
        [
            ingress("h", host="h.example", paths=[("/only", "Exact", "h", 80)]),
            ingress("any", host=None, paths=[("/", "Prefix", "catch-all", 80)]),
        ],
        classes=IngressClassFilter(),
    )
    assert table.match("h.example", "/other") is None  # nginx: that server's default 404
    route = table.match("unknown.example", "/other")
    assert route is not None and route.backend is not None
    assert route.backend.name == "catch-all"


def _classed(spec_class: str | None, annotation: str | None) -> dict[str, Any]:
    paths = [("/", "Prefix", "svc", 80)]
    return ingress(
        "i", host="h", paths=paths, ingress_class=spec_class, annotation_class=annotation
    )


@pytest.mark.parametrize(
    ("classes", "obj", "expected"),
    [
        pytest.param(IngressClassFilter("nginx"), _classed("nginx", None), True, id="spec-class"),
        pytest.param(IngressClassFilter("nginx"), _classed(None, "nginx"), True, id="annotation"),
        pytest.param(IngressClassFilter("nginx"), _classed("traefik", None), False, id="other"),
        pytest.param(IngressClassFilter("nginx"), _classed(None, "traefik"), False, id="other-ann"),
        pytest.param(IngressClassFilter("nginx"), _classed(None, None), True, id="unclassed"),
        pytest.param(
            IngressClassFilter("nginx", accept_unclassed=False),
            _classed(None, None),
            False,
            id="unclassed-refused",
        ),
        pytest.param(IngressClassFilter(None), _classed("traefik", None), True, id="any-class"),
    ],
)
def test_class_filter(classes: IngressClassFilter, obj: dict[str, Any], expected: bool) -> None:
    assert classes.accepts(obj) is expected
    assert (RouteTable.build([obj], classes=classes).match("h", "/") is not None) is expected


def test_terminating_ingresses_route_nothing() -> None:
    obj = ingress("gone", host="h", paths=[("/", "Prefix", "svc", 80)])
    obj["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    assert RouteTable.build([obj], classes=IngressClassFilter()).match("h", "/") is None


TLS_INGRESSES = [
    _aged(
        ingress(
            "exact",
            host="www.example.com",
            paths=[("/", "Prefix", "s", 80)],
            tls=[{"hosts": ["www.example.com"], "secretName": "www-tls"}],
        ),
        "2024-01-02T00:00:00Z",
    ),
    _aged(
        ingress(
            "wild",
            host="*.example.com",
            paths=[("/", "Prefix", "s", 80)],
            tls=[{"hosts": ["*.example.com"], "secretName": "wild-tls"}],
        ),
        "2024-01-01T00:00:00Z",
    ),
    ingress(
        "foreign",
        host="foreign.test",
        paths=[("/", "Prefix", "s", 80)],
        ingress_class="traefik",
        tls=[{"hosts": ["foreign.test"], "secretName": "foreign-tls"}],
    ),
]


@pytest.mark.parametrize(
    ("server_name", "secret"),
    [
        pytest.param("www.example.com", ("default", "www-tls"), id="exact-before-wildcard"),
        pytest.param("WWW.example.com", ("default", "www-tls"), id="case-insensitive"),
        pytest.param("api.example.com", ("default", "wild-tls"), id="wildcard"),
        pytest.param("example.com", None, id="wildcard-not-apex"),
        pytest.param("foreign.test", None, id="other-class-ignored"),
    ],
)
def test_tls_secret_for(server_name: str, secret: tuple[str, str] | None) -> None:
    assert tls_secret_for(TLS_INGRESSES, server_name, classes=IngressClassFilter()) == secret
