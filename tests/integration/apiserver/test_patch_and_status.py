"""Contract: PATCH media types, the status subresource and generation."""

from __future__ import annotations

from typing import Any

import pytest

from certmgr.testing.apiserver.wire import Cluster

MERGE = {"Content-Type": "application/merge-patch+json"}
JSON_PATCH = {"Content-Type": "application/json-patch+json"}
STRATEGIC = {"Content-Type": "application/strategic-merge-patch+json"}


async def _pod(cluster: Cluster, namespace: str) -> dict[str, Any]:
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "labels": {"a": "1"}},
        "spec": {"containers": [{"name": "main", "image": "busybox", "args": ["x"]}]},
    }
    reply = await cluster.request("POST", f"/api/v1/namespaces/{namespace}/pods", body=body)
    assert reply.status == 201, reply.body
    return dict(reply.body)


@pytest.mark.parametrize(
    ("headers", "patch", "expected_labels"),
    [
        pytest.param(MERGE, {"metadata": {"labels": {"b": "2"}}}, {"a": "1", "b": "2"}, id="merge"),
        pytest.param(MERGE, {"metadata": {"labels": {"a": None}}}, {}, id="merge-null-deletes"),
        pytest.param(
            JSON_PATCH,
            [{"op": "add", "path": "/metadata/labels/c", "value": "3"}],
            {"a": "1", "c": "3"},
            id="json-patch",
        ),
        pytest.param(
            STRATEGIC, {"metadata": {"labels": {"d": "4"}}}, {"a": "1", "d": "4"}, id="strategic"
        ),
    ],
)
async def test_patch_media_types(
    cluster: Cluster, namespace: str, headers: dict[str, str], patch: Any, expected_labels: Any
) -> None:
    await _pod(cluster, namespace)
    path = f"/api/v1/namespaces/{namespace}/pods/p"
    reply = await cluster.request("PATCH", path, body=patch, headers=headers)
    assert reply.status == 200, reply.body
    assert (reply.body["metadata"].get("labels") or {}) == expected_labels


async def test_strategic_merge_keeps_other_list_items(cluster: Cluster, namespace: str) -> None:
    await _pod(cluster, namespace)
    patch = {"spec": {"containers": [{"name": "main", "image": "busybox:2"}]}}
    path = f"/api/v1/namespaces/{namespace}/pods/p"
    reply = await cluster.request("PATCH", path, body=patch, headers=STRATEGIC)
    assert reply.status == 200, reply.body
    (container,) = reply.body["spec"]["containers"]
    assert (container["image"], container["args"]) == ("busybox:2", ["x"])


async def test_json_patch_test_failure_is_rejected(cluster: Cluster, namespace: str) -> None:
    await _pod(cluster, namespace)
    ops = [{"op": "test", "path": "/metadata/labels/a", "value": "nope"}]
    path = f"/api/v1/namespaces/{namespace}/pods/p"
    reply = await cluster.request("PATCH", path, body=ops, headers=JSON_PATCH)
    assert reply.status == 422
    assert reply.body["kind"] == "Status"


async def test_patch_with_stale_resource_version_conflicts(
    cluster: Cluster, namespace: str
) -> None:
    pod = await _pod(cluster, namespace)
    path = f"/api/v1/namespaces/{namespace}/pods/p"
    await cluster.request("PATCH", path, body={"metadata": {"labels": {"x": "1"}}}, headers=MERGE)
    stale = {"metadata": {"resourceVersion": pod["metadata"]["resourceVersion"], "labels": {}}}
    reply = await cluster.request("PATCH", path, body=stale, headers=MERGE)
    assert reply.status == 409
    assert reply.body["reason"] == "Conflict"


async def test_patch_of_missing_object_is_not_found(cluster: Cluster, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps/missing"
    reply = await cluster.request("PATCH", path, body={"data": {}}, headers=MERGE)
    assert reply.status == 404


async def test_unknown_patch_type_is_unsupported_media_type(
    cluster: Cluster, namespace: str
) -> None:
    await _pod(cluster, namespace)
    path = f"/api/v1/namespaces/{namespace}/pods/p"
    reply = await cluster.request(
        "PATCH", path, data=b"{}", headers={"Content-Type": "application/x-nonsense"}
    )
    assert reply.status == 415


async def test_main_endpoint_ignores_status_and_status_endpoint_ignores_spec(
    cluster: Cluster, namespace: str
) -> None:
    pod = await _pod(cluster, namespace)
    path = f"/api/v1/namespaces/{namespace}/pods/p"
    via_main = await cluster.request(
        "PATCH", path, body={"status": {"phase": "Running"}}, headers=MERGE
    )
    assert via_main.status == 200
    assert via_main.body["status"].get("phase") != "Running"
    status_update = {
        **pod,
        "metadata": {"name": "p", "namespace": namespace, "labels": {"changed": "yes"}},
        "spec": {"containers": [{"name": "other", "image": "nginx"}]},
        "status": {"phase": "Running"},
    }
    via_status = await cluster.request("PUT", f"{path}/status", body=status_update)
    assert via_status.status == 200, via_status.body
    assert via_status.body["status"]["phase"] == "Running"
    assert via_status.body["spec"]["containers"][0]["name"] == "main"
    assert via_status.body["metadata"]["labels"] == {"a": "1"}


async def test_generation_moves_on_spec_changes_only(cluster: Cluster, namespace: str) -> None:
    base = f"/apis/networking.k8s.io/v1/namespaces/{namespace}/ingresses"
    ingress = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "i"},
        "spec": {"defaultBackend": {"service": {"name": "s", "port": {"number": 80}}}},
    }
    created = await cluster.request("POST", base, body=ingress)
    assert created.status == 201, created.body
    generation = created.body["metadata"]["generation"]
    labelled = await cluster.request(
        "PATCH", f"{base}/i", body={"metadata": {"labels": {"x": "y"}}}, headers=MERGE
    )
    assert labelled.body["metadata"]["generation"] == generation
    status = {"status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}]}}}
    with_status = await cluster.request("PATCH", f"{base}/i/status", body=status, headers=MERGE)
    assert with_status.status == 200, with_status.body
    assert with_status.body["metadata"]["generation"] == generation
    new_spec = {"spec": {"defaultBackend": {"service": {"name": "t", "port": {"number": 80}}}}}
    respec = await cluster.request("PATCH", f"{base}/i", body=new_spec, headers=MERGE)
    assert respec.body["metadata"]["generation"] == generation + 1


async def test_server_side_apply_creates_then_updates(cluster: Cluster, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps/applied"
    apply = {"Content-Type": "application/apply-patch+yaml"}
    manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\ndata:\n  k: '1'\n"
    params = {"fieldManager": "contract"}
    created = await cluster.request("PATCH", path, data=manifest, headers=apply, params=params)
    assert created.status in (200, 201), created.body
    assert created.body["data"] == {"k": "1"}
    updated = await cluster.request(
        "PATCH", path, data=manifest.replace("'1'", "'2'"), headers=apply, params=params
    )
    assert updated.status == 200, updated.body
    assert updated.body["data"] == {"k": "2"}


async def test_delete_collection_by_label(cluster: Cluster, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    for name, labels in (("a", {"drop": "yes"}), ("b", {"drop": "yes"}), ("c", {})):
        body = {"metadata": {"name": name, "labels": labels}}
        assert (await cluster.request("POST", base, body=body)).status == 201
    reply = await cluster.request("DELETE", base, params={"labelSelector": "drop=yes"})
    assert reply.status == 200
    left = (await cluster.request("GET", base)).body["items"]
    assert [i["metadata"]["name"] for i in left if i["metadata"]["name"] in {"a", "b", "c"}] == [
        "c"
    ]
