"""Each Gateway of the data plane gets a loopback address of its own, kept while it exists."""

from __future__ import annotations

from typing import Any

import pytest

from certmgr.testing.dataplane.gatewayaddresses import GatewayAddresses
from certmgr.testing.dataplane.gatewaymodel import World, evaluate
from certmgr.testing.gatewayapi import manifests as m

NS = "apps"
PORTS = {80: "HTTP"}


def _gateway(
    name: str,
    created: str,
    *,
    requested: str | None = None,
    shown: str | None = None,
) -> dict[str, Any]:
    gateway = m.gateway(name, namespace=NS, listeners=[m.http_listener()])
    gateway["metadata"]["creationTimestamp"] = created
    if requested is not None:
        gateway["spec"]["addresses"] = [{"type": "IPAddress", "value": requested}]
    if shown is not None:
        gateway["status"] = {"addresses": [{"type": "IPAddress", "value": shown}]}
    return gateway


A = _gateway("a", "2026-01-01T00:00:00Z")
B = _gateway("b", "2026-01-02T00:00:00Z")
C = _gateway("c", "2026-01-03T00:00:00Z")


@pytest.mark.parametrize(
    ("rounds", "expected"),
    [
        pytest.param([[B, A]], {"a": "127.1.0.1", "b": "127.1.0.2"}, id="oldest-first"),
        pytest.param([[A, B], [B]], {"b": "127.1.0.2"}, id="kept-when-an-older-gateway-goes"),
        pytest.param(
            [[A, B], [B], [B, C]], {"b": "127.1.0.2", "c": "127.1.0.1"}, id="freed-reused"
        ),
        pytest.param(
            [[_gateway("a", "2026-01-01T00:00:00Z", shown="127.1.0.9"), B]],
            {"a": "127.1.0.9", "b": "127.1.0.1"},
            id="status-address-kept-across-restarts",
        ),
        pytest.param(
            [[_gateway("a", "2026-01-01T00:00:00Z", shown="127.0.0.1"), B]],
            {"a": "127.1.0.1", "b": "127.1.0.2"},
            id="status-address-outside-the-pool-not-kept",
        ),
        pytest.param(
            [[_gateway("a", "2026-01-01T00:00:00Z", requested="127.5.0.1")]],
            {"a": "127.5.0.1"},
            id="requested",
        ),
        pytest.param(
            [[A], [_gateway("a", "2026-01-01T00:00:00Z", requested="127.5.0.1")], [A]],
            {"a": "127.5.0.1"},
            id="moves-when-asked-and-stays-when-the-request-goes",
        ),
        pytest.param(
            [[A, _gateway("b", "2026-01-02T00:00:00Z", requested="127.1.0.1")]],
            {"a": "127.1.0.1"},
            id="pool-address-not-requestable",
        ),
        pytest.param(
            [
                [
                    _gateway("a", "t1", requested="127.5.0.1"),
                    _gateway("b", "t2", requested="127.5.0.1"),
                ]
            ],
            {"a": "127.5.0.1"},
            id="requested-taken",
        ),
        pytest.param(
            [[_gateway("a", "2026-01-01T00:00:00Z", requested="127.0.0.1")]],
            {},
            id="router-address",
        ),
        pytest.param(
            [[_gateway("a", "2026-01-01T00:00:00Z", requested="127.0.1.5")]], {}, id="pod-range"
        ),
        pytest.param(
            [[_gateway("a", "2026-01-01T00:00:00Z", requested="192.0.2.1")]], {}, id="not-loopback"
        ),
    ],
)
def test_addresses(rounds: list[list[dict[str, Any]]], expected: dict[str, str]) -> None:
    pool = GatewayAddresses()
    for gateways in rounds:
        given = pool.assign(gateways)
    assert {name: address for (_, name), address in given.items()} == expected


@pytest.mark.parametrize(
    ("requested", "given", "programmed", "served"),
    [
        pytest.param(None, "127.1.0.1", (True, "Programmed"), ("127.1.0.1",), id="given"),
        pytest.param(
            "127.5.0.1", "127.5.0.1", (True, "Programmed"), ("127.5.0.1",), id="requested-given"
        ),
        pytest.param("127.0.0.1", None, (False, "AddressNotUsable"), (), id="requested-not-given"),
        pytest.param(None, None, (False, "AddressNotUsable"), (), id="pool-exhausted"),
    ],
)
def test_a_gateway_is_programmed_only_with_an_address(
    requested: str | None,
    given: str | None,
    programmed: tuple[bool, str],
    served: tuple[str, ...],
) -> None:
    gateway = _gateway("a", "2026-01-01T00:00:00Z", requested=requested)
    world = World(classes=[m.gateway_class()], gateways=[gateway])
    addresses = {(NS, "a"): given} if given is not None else {}
    status = evaluate(
        world, controller_name=m.DATAPLANE_CONTROLLER, ports=PORTS, addresses=addresses
    ).gateways[(NS, "a")]
    found = next(c for c in status.conditions if c.type == "Programmed")
    assert (found.status, found.reason) == programmed
    assert status.addresses == served
