"""The Gateway API CRDs of ``certmgr.testing.gatewayapi``: installed through the API as a
Gateway implementation would, they accept the objects cert-manager and its documentation
write (strict field validation, defaults filled in as upstream's) and refuse what
upstream's schema refuses, with upstream's messages. Runs against the simulator or the
server ``CERTMGR_TEST_KUBECONFIG`` names.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from certmgr.testing.apiserver.crdrules import RULE_COST_LIMIT, check_crd, rule_costs
from certmgr.testing.apiserver.wire import Cluster
from certmgr.testing.cluster import KubeCluster
from certmgr.testing.gatewayapi import GROUP, crd_manifests

STRICT = {"fieldValidation": "Strict"}
V1 = f"{GROUP}/v1"


@pytest.fixture
async def cluster(kube_cluster: KubeCluster) -> AsyncIterator[Cluster]:
    await kube_cluster.install_gateway_api_crds()
    async with Cluster.from_kubeconfig(kube_cluster.kubeconfig) as admin:
        yield admin


def gateway(listeners: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": V1,
        "kind": "Gateway",
        "metadata": {"name": "gw"},
        "spec": {"gatewayClassName": "dataplane", "listeners": listeners, **spec},
    }


def route(spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": V1, "kind": "HTTPRoute", "metadata": {"name": "r"}, "spec": spec}


HTTP = {"name": "http", "port": 80, "protocol": "HTTP"}
HTTPS = {
    "name": "https",
    "port": 443,
    "protocol": "HTTPS",
    "hostname": "example.com",
    "tls": {"certificateRefs": [{"name": "example-com-tls"}]},
}
SOLVER_ROUTE = {
    "parentRefs": [{"name": "gw", "sectionName": "http"}],
    "hostnames": ["example.com"],
    "rules": [
        {
            "matches": [{"path": {"type": "Exact", "value": "/.well-known/acme-challenge/t"}}],
            "backendRefs": [{"name": "cm-acme-http-solver-x", "port": 8089}],
        }
    ],
}


def test_every_rule_compiles_within_the_cost_budget() -> None:
    for crd in crd_manifests():
        assert check_crd(crd) == [], crd["metadata"]["name"]
        assert all(cost.total < RULE_COST_LIMIT for cost in rule_costs(crd))


def _structural_problems(node: dict[str, Any], path: str = "") -> list[str]:
    """What a real server refuses in a structural schema: nodes without a type, and
    list-map keys that are neither required nor defaulted."""
    if "type" not in node:
        return [f"{path}: no type"]
    problems: list[str] = []
    for name, child in (node.get("properties") or {}).items():
        problems += _structural_problems(child, f"{path}.{name}")
    if isinstance(node.get("additionalProperties"), dict):
        problems += _structural_problems(node["additionalProperties"], f"{path}.*")
    if "items" in node:
        items = node["items"]
        problems += _structural_problems(items, f"{path}[]")
        for key in node.get("x-kubernetes-list-map-keys") or ():
            field = (items.get("properties") or {}).get(key) or {}
            if key not in (items.get("required") or ()) and "default" not in field:
                problems.append(f"{path}[].{key}: list-map key neither required nor defaulted")
    return problems


def test_schemas_are_structural() -> None:
    for crd in crd_manifests():
        for version in crd["spec"]["versions"]:
            schema = version["schema"]["openAPIV3Schema"]
            assert _structural_problems(schema) == [], (crd["metadata"]["name"], version["name"])


def test_the_standard_channel_versions_are_served() -> None:
    versions = {
        crd["spec"]["names"]["kind"]: {
            v["name"]: v["storage"] for v in crd["spec"]["versions"] if v["served"]
        }
        for crd in crd_manifests()
    }
    assert versions == {
        "GatewayClass": {"v1": True, "v1beta1": False},
        "Gateway": {"v1": True, "v1beta1": False},
        "HTTPRoute": {"v1": True, "v1beta1": False},
        "ReferenceGrant": {"v1": False, "v1beta1": True},
    }


@pytest.mark.parametrize(
    ("doc", "defaults"),
    [
        pytest.param(
            gateway([HTTP, HTTPS]),
            {
                ("spec", "listeners", 0, "allowedRoutes", "namespaces", "from"): "Same",
                ("spec", "listeners", 1, "tls", "mode"): "Terminate",
                ("spec", "listeners", 1, "tls", "certificateRefs", 0, "kind"): "Secret",
                ("spec", "listeners", 1, "tls", "certificateRefs", 0, "group"): "",
            },
            id="gateway-http-and-https",
        ),
        pytest.param(
            gateway(
                [
                    {
                        **HTTP,
                        "hostname": "*.example.com",
                        "allowedRoutes": {
                            "namespaces": {
                                "from": "Selector",
                                "selector": {"matchLabels": {"team": "a"}},
                            },
                            "kinds": [{"kind": "HTTPRoute"}],
                        },
                    }
                ],
                addresses=[{"value": "127.0.0.1"}],
            ),
            {
                ("spec", "listeners", 0, "allowedRoutes", "kinds", 0, "group"): GROUP,
                ("spec", "addresses", 0, "type"): "IPAddress",
            },
            id="gateway-selector-and-kinds",
        ),
        pytest.param(
            route(SOLVER_ROUTE),
            {
                ("spec", "parentRefs", 0, "group"): GROUP,
                ("spec", "parentRefs", 0, "kind"): "Gateway",
                ("spec", "rules", 0, "backendRefs", 0, "kind"): "Service",
                ("spec", "rules", 0, "backendRefs", 0, "weight"): 1,
            },
            id="httproute-cert-manager-solver",
        ),
        pytest.param(
            route({"parentRefs": [{"name": "gw"}]}),
            {
                ("spec", "rules", 0, "matches", 0, "path", "type"): "PathPrefix",
                ("spec", "rules", 0, "matches", 0, "path", "value"): "/",
            },
            id="httproute-default-rule",
        ),
        pytest.param(
            route(
                {
                    "rules": [
                        {
                            "matches": [
                                {
                                    "headers": [{"name": "x-env", "value": "canary"}],
                                    "queryParams": [{"name": "v", "value": "2"}],
                                    "method": "GET",
                                }
                            ]
                        }
                    ]
                }
            ),
            {
                ("spec", "rules", 0, "matches", 0, "path", "value"): "/",
                ("spec", "rules", 0, "matches", 0, "headers", 0, "type"): "Exact",
            },
            id="httproute-header-query-method",
        ),
        pytest.param(
            {
                "apiVersion": f"{GROUP}/v1beta1",
                "kind": "ReferenceGrant",
                "metadata": {"name": "rg"},
                "spec": {
                    "from": [{"group": GROUP, "kind": "Gateway", "namespace": "edge"}],
                    "to": [{"group": "", "kind": "Secret", "name": "example-com-tls"}],
                },
            },
            {},
            id="referencegrant-v1beta1",
        ),
    ],
)
async def test_accepts_under_strict_validation_with_upstream_defaults(
    kube_cluster: KubeCluster, cluster: Cluster, doc: dict[str, Any], defaults: dict[Any, Any]
) -> None:
    namespace = await kube_cluster.create_namespace("gwapi")
    plural = {"Gateway": "gateways", "HTTPRoute": "httproutes", "ReferenceGrant": "referencegrants"}
    collection = f"/apis/{doc['apiVersion']}/namespaces/{namespace}/{plural[doc['kind']]}"
    created = await cluster.request("POST", collection, body=doc, params=STRICT)
    assert created.status == 201, created.body
    assert created.warnings == ()
    for path, expected in defaults.items():
        value: Any = created.body
        for step in path:
            value = value[step]
        assert value == expected, path


def test_gatewayclass_controller_name_is_immutable_and_status_is_a_subresource() -> None:
    (crd,) = [c for c in crd_manifests() if c["spec"]["names"]["kind"] == "GatewayClass"]
    assert all(v["subresources"] == {"status": {}} for v in crd["spec"]["versions"])


async def test_gatewayclass_controller_name_cannot_change(cluster: Cluster) -> None:
    name = f"gc-{uuid.uuid4().hex[:8]}"
    body = {
        "apiVersion": V1,
        "kind": "GatewayClass",
        "metadata": {"name": name},
        "spec": {"controllerName": "certmgr.test/dataplane"},
    }
    item = f"/apis/{V1}/gatewayclasses/{name}"
    try:
        assert (
            await cluster.request("POST", f"/apis/{V1}/gatewayclasses", body=body)
        ).status == 201
        patch = {"spec": {"controllerName": "example.com/other"}}
        changed = await cluster.request(
            "PATCH", item, body=patch, headers={"Content-Type": "application/merge-patch+json"}
        )
        assert changed.status == 422
        assert "Value is immutable" in changed.body["message"]
    finally:
        await cluster.request("DELETE", item)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        pytest.param(
            gateway([{**HTTP, "tls": {"certificateRefs": [{"name": "s"}]}}]),
            "tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']",
            id="tls-on-http",
        ),
        pytest.param(
            gateway([{**HTTPS, "tls": {"mode": "Passthrough"}}]),
            "tls mode must be Terminate for protocol HTTPS",
            id="passthrough-https",
        ),
        pytest.param(
            gateway([HTTP, {**HTTP, "name": "http2"}]),
            "Combination of port, protocol and hostname must be unique for each listener",
            id="same-port-protocol-hostname",
        ),
        pytest.param(
            gateway([{**HTTP, "hostname": "Example.com"}]),
            "spec.listeners[0].hostname",
            id="hostname-pattern",
        ),
        pytest.param(gateway([]), "spec.listeners", id="no-listener"),
        pytest.param(
            route({"rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/a//b"}}]}]}),
            "must not contain '//' when type one of ['Exact', 'PathPrefix']",
            id="double-slash-path",
        ),
        pytest.param(
            route({"rules": [{"matches": [{"path": {"type": "Exact", "value": "relative"}}]}]}),
            "value must be an absolute path and start with '/'",
            id="relative-path",
        ),
        pytest.param(
            route({"rules": [{"backendRefs": [{"name": "svc"}]}]}),
            "Must have port for Service reference",
            id="service-backend-without-port",
        ),
        pytest.param(
            route({"parentRefs": [{"name": "gw"}, {"name": "gw", "sectionName": "http"}]}),
            "sectionName must be specified when parentRefs includes 2 or more references",
            id="same-parent-twice",
        ),
    ],
)
async def test_refuses_what_upstream_refuses(
    kube_cluster: KubeCluster, cluster: Cluster, doc: dict[str, Any], message: str
) -> None:
    namespace = await kube_cluster.create_namespace("gwapi")
    plural = {"Gateway": "gateways", "HTTPRoute": "httproutes"}[doc["kind"]]
    collection = f"/apis/{V1}/namespaces/{namespace}/{plural}"
    refused = await cluster.request("POST", collection, body=doc, params=STRICT)
    assert refused.status == 422, refused.body
    assert message in refused.body["message"]
