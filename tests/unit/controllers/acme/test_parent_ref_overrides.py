"""gateway-shim's parentRef annotations on a gatewayHTTPRoute solver (cert-manager's
applyGatewayAPIAnnotationParentRefOverride), and an Order inheriting them."""

from __future__ import annotations

from typing import Any

import pytest

from certmgr.api import labels
from certmgr.controllers.acme.overrides import OverrideError, apply_parent_ref_overrides
from certmgr.controllers.acme.requests import order_annotations

NAME = labels.HTTP01_PARENT_REF_NAME
KIND = labels.HTTP01_PARENT_REF_KIND
NAMESPACE = labels.HTTP01_PARENT_REF_NAMESPACE


def route(*parent_refs: dict[str, Any]) -> dict[str, Any]:
    return {"http01": {"gatewayHTTPRoute": {"parentRefs": list(parent_refs), "labels": {"a": "b"}}}}


@pytest.mark.parametrize(
    ("solver", "annotations", "expected"),
    [
        pytest.param(route({"name": "gw"}), {}, route({"name": "gw"}), id="none"),
        pytest.param(
            route(),
            {NAME: "web", KIND: "Gateway"},
            route({"name": "web", "namespace": "shop", "kind": "Gateway"}),
            id="the-gateway-becomes-the-parent",
        ),
        pytest.param(
            route({"name": "web", "namespace": "shop", "sectionName": "http"}, {"name": "other"}),
            {NAME: "web", KIND: "Gateway"},
            route({"name": "other"}, {"name": "web", "namespace": "shop", "kind": "Gateway"}),
            id="replaces-a-ref-to-the-same-gateway",
        ),
        pytest.param(
            route({"name": "web", "sectionName": "http"}),
            {NAME: "web", KIND: "Gateway"},
            route(
                {"name": "web", "sectionName": "http"},
                {"name": "web", "namespace": "shop", "kind": "Gateway"},
            ),
            id="a-ref-without-namespace-is-kept-as-in-cert-manager",
        ),
        pytest.param(
            route({"name": "web"}),
            {NAME: "web", KIND: "Gateway", NAMESPACE: "edge"},
            route({"name": "web"}, {"name": "web", "namespace": "edge", "kind": "Gateway"}),
            id="another-namespaces-gateway-of-that-name-is-another-parent",
        ),
        pytest.param(
            route({"name": "web", "namespace": "edge", "kind": "Gateway"}),
            {NAME: "web", KIND: "Gateway", NAMESPACE: "edge"},
            route({"name": "web", "namespace": "edge", "kind": "Gateway"}),
            id="namespace-annotation",
        ),
        pytest.param(
            {"http01": {"ingress": {"class": "nginx"}}},
            {NAME: "web", KIND: "Gateway"},
            {"http01": {"ingress": {"class": "nginx"}}},
            id="an-ingress-solver-is-left-alone",
        ),
    ],
)
def test_parent_ref_overrides(
    solver: dict[str, Any], annotations: dict[str, str], expected: dict[str, Any]
) -> None:
    assert apply_parent_ref_overrides(solver, annotations, namespace="shop") == expected


@pytest.mark.parametrize(
    ("solver", "annotations", "message"),
    [
        pytest.param(
            route({"name": "gw"}),
            {NAME: "web"},
            "cannot specify only one of parentRefName, parentRefKind override annotations",
            id="name-without-kind",
        ),
        pytest.param(
            route(),
            {},
            "must specify parentRefs either through annotations or solver config",
            id="no-parent-at-all",
        ),
    ],
)
def test_parent_ref_overrides_refused(
    solver: dict[str, Any], annotations: dict[str, str], message: str
) -> None:
    with pytest.raises(OverrideError) as raised:
        apply_parent_ref_overrides(solver, annotations, namespace="shop")
    assert str(raised.value) == message


def test_an_order_inherits_the_parent_ref_annotations() -> None:
    request = {NAME: "web", KIND: "Gateway", NAMESPACE: "edge", "team": "a"}
    assert order_annotations(request) == {NAME: "web", KIND: "Gateway", NAMESPACE: "edge"}
