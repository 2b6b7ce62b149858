"""Contract: CRDs serve their resources; custom resources are validated, pruned, defaulted."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml

from certmgr.testing.apiserver.wire import Cluster, eventually

CRD_DIR = Path(__file__).resolve().parents[3] / "crds"
# crds/cert-manager.io_certificaterequests.yaml of eca7fa4, refused by a real server.
UNBOUNDED_CR_CRD = (
    Path(__file__).resolve().parents[2]
    / "unit/apiserver/fixtures"
    / "certificaterequests-unbounded-type.yaml"
)
MERGE = {"Content-Type": "application/merge-patch+json"}

WIDGETS: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.contract.certmgr.test"},
    "spec": {
        "group": "contract.certmgr.test",
        "scope": "Namespaced",
        "names": {
            "plural": "widgets",
            "singular": "widget",
            "kind": "Widget",
            "listKind": "WidgetList",
            "shortNames": ["wd"],
        },
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["size"],
                                "properties": {
                                    "size": {"type": "integer", "minimum": 1, "maximum": 10},
                                    "color": {
                                        "type": "string",
                                        "enum": ["red", "blue"],
                                        "default": "red",
                                    },
                                    "max": {"type": "integer"},
                                },
                                "x-kubernetes-validations": [
                                    {
                                        "rule": "!has(self.max) || self.size <= self.max",
                                        "message": "size must not exceed max",
                                    }
                                ],
                            },
                            "status": {
                                "type": "object",
                                "properties": {"ready": {"type": "boolean"}},
                            },
                        },
                    }
                },
            }
        ],
    },
}


async def _install(cluster: Cluster, crd: dict[str, Any]) -> None:
    path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    reply = await cluster.request("POST", path, body=crd)
    assert reply.status in (201, 409), reply.body
    spec = crd["spec"]
    version = spec["versions"][0]["name"]
    served = f"/apis/{spec['group']}/{version}/{spec['names']['plural']}"

    async def established() -> bool:
        return (await cluster.request("GET", served)).status == 200

    await eventually(established)


@pytest.fixture
async def widgets(cluster: Cluster, namespace: str) -> str:
    await _install(cluster, WIDGETS)
    return f"/apis/contract.certmgr.test/v1/namespaces/{namespace}/widgets"


def widget(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "contract.certmgr.test/v1",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": spec,
    }


async def test_crd_serves_its_resource_in_discovery(cluster: Cluster, widgets: str) -> None:
    reply = await cluster.request("GET", "/apis/contract.certmgr.test/v1")
    assert reply.status == 200
    entry = next(r for r in reply.body["resources"] if r["name"] == "widgets")
    assert (entry["kind"], entry["namespaced"], entry["shortNames"]) == ("Widget", True, ["wd"])
    assert "widgets/status" in [r["name"] for r in reply.body["resources"]]
    groups = (await cluster.request("GET", "/apis")).body["groups"]
    assert "contract.certmgr.test" in [g["name"] for g in groups]


async def test_valid_custom_resource_is_defaulted_and_pruned(
    cluster: Cluster, widgets: str
) -> None:
    body = widget("w", size=3, unknown="dropped")
    created = await cluster.request("POST", widgets, body=body)
    assert created.status == 201, created.body
    assert created.body["spec"] == {"size": 3, "color": "red"}
    assert created.body["metadata"]["generation"] == 1


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        pytest.param({}, "spec.size", id="required"),
        pytest.param({"size": "big"}, "spec.size", id="type"),
        pytest.param({"size": 11}, "spec.size", id="maximum"),
        pytest.param({"size": 2, "color": "green"}, "spec.color", id="enum"),
        pytest.param({"size": 5, "max": 4}, "spec", id="cel-rule"),
    ],
)
async def test_invalid_custom_resource_is_422_with_causes(
    cluster: Cluster, widgets: str, spec: dict[str, Any], field: str
) -> None:
    reply = await cluster.request("POST", widgets, body=widget("bad", **spec))
    assert reply.status == 422, reply.body
    assert reply.body["reason"] == "Invalid"
    assert field in [c["field"] for c in reply.body["details"]["causes"]]


async def test_custom_resource_status_subresource(cluster: Cluster, widgets: str) -> None:
    created = await cluster.request(
        "POST", widgets, body={**widget("s", size=1), "status": {"ready": True}}
    )
    assert "status" not in created.body or created.body["status"] != {"ready": True}
    patched = await cluster.request(
        "PATCH", f"{widgets}/s/status", body={"status": {"ready": True}}, headers=MERGE
    )
    assert patched.status == 200, patched.body
    assert patched.body["status"] == {"ready": True}
    assert patched.body["metadata"]["generation"] == 1
    respec = await cluster.request(
        "PATCH",
        f"{widgets}/s",
        body={"spec": {"size": 2}, "status": {"ready": False}},
        headers=MERGE,
    )
    assert respec.body["status"] == {"ready": True}
    assert respec.body["metadata"]["generation"] == 2


async def test_project_crds_accept_a_certificate_and_enforce_cel(
    cluster: Cluster, namespace: str
) -> None:
    crd = yaml.safe_load((CRD_DIR / "cert-manager.io_certificates.yaml").read_text())
    await _install(cluster, crd)
    base = f"/apis/cert-manager.io/v1/namespaces/{namespace}/certificates"
    good: dict[str, Any] = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": "c"},
        "spec": {"secretName": "c-tls", "dnsNames": ["a.example"], "issuerRef": {"name": "x"}},
    }
    assert (await cluster.request("POST", base, body=good)).status == 201
    no_names = {**good, "metadata": {"name": "d"}, "spec": {**good["spec"], "dnsNames": []}}
    reply = await cluster.request("POST", base, body=no_names)
    assert reply.status == 422
    assert "at least one of commonName" in reply.body["message"]


async def test_deleting_a_crd_removes_its_objects_and_ends_watches(
    cluster: Cluster, namespace: str
) -> None:
    crd = {
        **WIDGETS,
        "metadata": {"name": "gadgets.contract.certmgr.test"},
        "spec": {
            **WIDGETS["spec"],
            "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
        },
    }
    await _install(cluster, crd)
    base = f"/apis/contract.certmgr.test/v1/namespaces/{namespace}/gadgets"
    body = {"apiVersion": "contract.certmgr.test/v1", "kind": "Gadget", "metadata": {"name": "g"}}
    assert (await cluster.request("POST", base, body={**body, "spec": {"size": 1}})).status == 201
    version = (await cluster.request("GET", base)).body["metadata"]["resourceVersion"]
    crd_path = (
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gadgets.contract.certmgr.test"
    )
    async with cluster.watch(base, resourceVersion=version) as events:
        assert (await cluster.request("DELETE", crd_path)).status == 200
        async with asyncio.timeout(30):
            seen = [(e["type"], e["object"]["metadata"].get("name")) async for e in events]
    assert ("DELETED", "g") in seen

    async def unserved() -> bool:
        return (await cluster.request("GET", base)).status == 404

    await eventually(unserved)


async def test_crd_whose_rule_exceeds_the_cost_budget_is_422(cluster: Cluster) -> None:
    crd = yaml.safe_load(UNBOUNDED_CR_CRD.read_text())
    crd["metadata"]["name"] = "certificaterequests.cost.certmgr.test"
    crd["spec"]["group"] = "cost.certmgr.test"
    path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    reply = await cluster.request("POST", path, body=crd)
    assert reply.status == 422, reply.body
    assert reply.body["reason"] == "Invalid"
    assert reply.body["message"] == (
        'CustomResourceDefinition.apiextensions.k8s.io "certificaterequests.cost.certmgr.test" '
        "is invalid: spec.validation.openAPIV3Schema.properties[status]"
        ".x-kubernetes-validations[2].rule: Forbidden: estimated rule cost exceeds budget by "
        "factor of 8.1x (try simplifying the rule, or adding maxItems, maxProperties, and "
        "maxLength where arrays, maps, and strings are declared)"
    )
    missing = await cluster.request("GET", f"{path}/certificaterequests.cost.certmgr.test")
    assert missing.status == 404
