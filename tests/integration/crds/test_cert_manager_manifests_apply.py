"""cert-manager v1.21 manifests apply to crds/ under strict field validation, losing nothing.

kubectl sends ``fieldValidation=Strict`` by default: a real API server refused
``spec.acme.solvers[0].waitInsteadOfSelfCheck`` and ``spec.renewal`` while our CRDs
lacked them, and a lenient server prunes such fields silently. Each manifest of
tests/unit/crds/manifests/ is created (and its status written) with Strict and read
back: accepted, no Warning, and every field still there. Runs against the simulator or
the server ``CERTMGR_TEST_KUBECONFIG`` names.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from certmgr.testing.apiserver.wire import Cluster
from certmgr.testing.cluster import KubeCluster

MANIFESTS = Path(__file__).resolve().parents[2] / "unit" / "crds" / "manifests"
PLURALS = {
    "Certificate": "certificates",
    "CertificateRequest": "certificaterequests",
    "Issuer": "issuers",
    "ClusterIssuer": "clusterissuers",
    "Order": "orders",
    "Challenge": "challenges",
}
STRICT = {"fieldValidation": "Strict"}


def _documents() -> list[Any]:
    return [
        pytest.param(doc, id=f"{doc['kind']}/{doc['metadata']['name']}")
        for path in sorted(MANIFESTS.glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


def _leaf_paths(value: Any, path: str = "") -> set[str]:
    if isinstance(value, dict) and value:
        return {p for k, v in value.items() for p in _leaf_paths(v, f"{path}.{k}")}
    if isinstance(value, list) and value:
        return {p for i, v in enumerate(value) for p in _leaf_paths(v, f"{path}[{i}]")}
    return {path}


@pytest.fixture
async def cluster(kube_cluster: KubeCluster) -> AsyncIterator[Cluster]:
    await kube_cluster.install_crds()
    async with Cluster.from_kubeconfig(kube_cluster.kubeconfig) as admin:
        yield admin


@pytest.mark.parametrize("doc", _documents())
async def test_applies_under_strict_field_validation_and_keeps_every_field(
    kube_cluster: KubeCluster, cluster: Cluster, doc: dict[str, Any]
) -> None:
    group_version = doc["apiVersion"]
    plural = PLURALS[doc["kind"]]
    body = {k: v for k, v in doc.items() if k != "status"}
    body["metadata"] = dict(doc["metadata"])
    if doc["kind"] == "ClusterIssuer":
        body["metadata"]["name"] = f"{doc['metadata']['name']}-{id(doc):x}"[:63]
        collection = f"/apis/{group_version}/{plural}"
    else:
        namespace = await kube_cluster.create_namespace("cm121")
        body["metadata"]["namespace"] = namespace
        collection = f"/apis/{group_version}/namespaces/{namespace}/{plural}"
    created = await cluster.request("POST", collection, body=body, params=STRICT)
    assert created.status == 201, created.body
    assert created.warnings == ()
    item = f"{collection}/{body['metadata']['name']}"
    try:
        assert _leaf_paths(doc["spec"]) <= _leaf_paths(created.body["spec"])
        if "status" in doc:
            patched = await cluster.request(
                "PATCH",
                item + "/status",
                body={"status": doc["status"]},
                headers={"Content-Type": "application/merge-patch+json"},
                params=STRICT,
            )
            assert patched.status == 200, patched.body
            assert patched.warnings == ()
            assert _leaf_paths(doc["status"]) <= _leaf_paths(patched.body["status"])
    finally:
        if doc["kind"] == "ClusterIssuer":
            await cluster.request("DELETE", item)
