"""Solver selection precedence: dnsNames > most specific dnsZones > most matchLabels > order."""

from __future__ import annotations

import pytest

from certmgr.policies.solvers import SolverSelector, SolverSelectorView, select_solver


def http(**selector: object) -> SolverSelectorView:
    return SolverSelectorView("http-01", SolverSelector(**selector) if selector else None)  # type: ignore[arg-type]


def dns(**selector: object) -> SolverSelectorView:
    return SolverSelectorView("dns-01", SolverSelector(**selector) if selector else None)  # type: ignore[arg-type]


EMPTY = SolverSelectorView("http-01", SolverSelector())
LABELS = {"team": "web", "env": "prod"}


@pytest.mark.parametrize(
    ("solvers", "dns_name", "expected"),
    [
        pytest.param([], "a.example.com", None, id="no-solvers"),
        pytest.param([http()], "a.example.com", 0, id="no-selector-matches-all"),
        pytest.param([http(), http()], "a.example.com", 0, id="first-of-equals"),
        pytest.param([EMPTY, http()], "a.example.com", 0, id="empty-selector-then-none"),
        pytest.param(
            [http(), EMPTY], "a.example.com", 0, id="none-then-empty-selector-keeps-first"
        ),
        pytest.param(
            [http(dns_names=("b.example.com",))], "a.example.com", None, id="dns-names-no-match"
        ),
        pytest.param(
            [http(), http(dns_zones=("example.com",))],
            "a.example.com",
            1,
            id="zone-beats-catch-all",
        ),
        pytest.param(
            [http(dns_zones=("example.com",)), http(dns_zones=("a.example.com",))],
            "x.a.example.com",
            1,
            id="most-specific-zone-wins",
        ),
        pytest.param(
            [http(dns_zones=("a.example.com",)), http(dns_zones=("example.com",))],
            "x.a.example.com",
            0,
            id="most-specific-zone-wins-regardless-of-order",
        ),
        pytest.param(
            [http(dns_zones=("example.com", "a.example.com")), http(dns_zones=("a.example.com",))],
            "x.a.example.com",
            0,
            id="best-zone-of-a-selector-counts-tie-keeps-order",
        ),
        pytest.param(
            [http(dns_zones=("a.example.com",)), http(dns_names=("x.a.example.com",))],
            "x.a.example.com",
            1,
            id="dns-name-beats-zone",
        ),
        pytest.param(
            [http(dns_names=("x.example.com",)), http(dns_zones=("x.example.com",))],
            "x.example.com",
            0,
            id="dns-name-beats-exact-zone",
        ),
        pytest.param(
            [
                http(dns_names=("x.example.com",)),
                http(dns_names=("x.example.com",), dns_zones=("example.com",)),
            ],
            "x.example.com",
            1,
            id="both-names-then-zone-decides",
        ),
        pytest.param([http(dns_zones=("example.com",))], "example.com", 0, id="zone-apex-matches"),
        pytest.param(
            [http(dns_zones=("example.com",))], "notexample.com", None, id="suffix-not-label"
        ),
        pytest.param(
            [http(dns_zones=("Example.COM.",))], "a.example.com", 0, id="zone-case-and-dot"
        ),
        pytest.param([http(dns_zones=("example.com",))], "*.example.com", 0, id="wildcard-in-zone"),
        pytest.param(
            [http(match_labels={"team": "web"}), http(match_labels=LABELS)],
            "a.example.com",
            1,
            id="more-labels-win",
        ),
        pytest.param(
            [http(match_labels={"team": "db"}), http()],
            "a.example.com",
            1,
            id="labels-must-all-match",
        ),
        pytest.param(
            [http(match_labels=LABELS), http(dns_zones=("example.com",))],
            "a.example.com",
            1,
            id="zone-beats-labels",
        ),
        pytest.param(
            [
                http(dns_zones=("example.com",), match_labels={"team": "web"}),
                http(dns_zones=("example.com",)),
            ],
            "a.example.com",
            0,
            id="same-zone-labels-decide",
        ),
        pytest.param(
            [http(dns_zones=("example.com",)), http(dns_zones=("example.com",))],
            "a.example.com",
            0,
            id="full-tie-list-order",
        ),
        pytest.param(
            [http(dns_zones=("example.org",)), http(dns_names=("a.example.org",))],
            "a.example.com",
            None,
            id="nothing-matches",
        ),
    ],
)
def test_select_solver(solvers, dns_name, expected) -> None:
    assert select_solver(solvers, dns_name=dns_name, certificate_labels=LABELS) == expected


@pytest.mark.parametrize(
    ("offered", "expected"),
    [
        pytest.param(None, 1, id="any-type"),
        pytest.param({"http-01"}, 0, id="dns01-not-offered"),
        pytest.param({"dns-01"}, 1, id="http01-not-offered"),
        pytest.param({"tls-alpn-01"}, None, id="nothing-usable"),
    ],
)
def test_select_solver_skips_types_not_offered(offered, expected) -> None:
    solvers = [http(), dns(dns_zones=("example.com",))]
    got = select_solver(
        solvers,
        dns_name="a.example.com",
        certificate_labels={},
        offered_challenge_types=offered,
    )
    assert got == expected


@pytest.mark.parametrize(
    ("solvers", "dns_name", "expected"),
    [
        # A wildcard authorization is matched as "*.<name>" (cert-manager's domainToFind).
        pytest.param([dns(dns_names=("*.example.com",))], "*.example.com", 0, id="wildcard-name"),
        pytest.param([dns(dns_names=("example.com",))], "*.example.com", None, id="apex-name-only"),
        pytest.param([dns(dns_zones=("example.com",))], "*.example.com", 0, id="wildcard-in-zone"),
        pytest.param(
            [dns(dns_zones=("example.com",)), dns(dns_names=("*.example.com",))],
            "*.example.com",
            1,
            id="wildcard-name-beats-zone",
        ),
        pytest.param(
            [dns(dns_names=("*.example.com",)), dns(dns_names=("example.com",))],
            "example.com",
            1,
            id="apex-takes-its-own",
        ),
    ],
)
def test_select_solver_wildcards(solvers, dns_name, expected) -> None:
    got = select_solver(
        solvers, dns_name=dns_name, certificate_labels={}, offered_challenge_types={"dns-01"}
    )
    assert got == expected
