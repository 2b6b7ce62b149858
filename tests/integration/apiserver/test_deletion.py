"""Contract: finalizers, propagation policies, garbage collection and namespace deletion."""

from __future__ import annotations

from typing import Any

import pytest

from certmgr.testing.apiserver import Simulator
from certmgr.testing.apiserver.wire import Cluster, eventually

MERGE = {"Content-Type": "application/merge-patch+json"}


async def _create(cluster: Cluster, namespace: str, name: str, **meta: Any) -> dict[str, Any]:
    body = {"metadata": {"name": name, **meta}, "data": {}}
    reply = await cluster.request("POST", f"/api/v1/namespaces/{namespace}/configmaps", body=body)
    assert reply.status == 201, reply.body
    return dict(reply.body)


def _owner(obj: dict[str, Any], *, block: bool = False) -> dict[str, Any]:
    ref = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"],
    }
    if block:
        ref["blockOwnerDeletion"] = True
    return ref


def _gone(cluster: Cluster, path: str) -> Any:
    async def check() -> bool:
        return (await cluster.request("GET", path)).status == 404

    return check


async def test_finalizer_holds_the_object_until_removed(cluster: Cluster, namespace: str) -> None:
    await _create(cluster, namespace, "held", finalizers=["example.com/hold"])
    path = f"/api/v1/namespaces/{namespace}/configmaps/held"
    deleted = await cluster.request("DELETE", path)
    assert deleted.status in (200, 202)
    still = await cluster.request("GET", path)
    assert still.status == 200
    assert still.body["metadata"]["deletionTimestamp"]
    assert still.body["metadata"]["finalizers"] == ["example.com/hold"]
    released = await cluster.request(
        "PATCH", path, body={"metadata": {"finalizers": None}}, headers=MERGE
    )
    assert released.status == 200
    await eventually(_gone(cluster, path))


async def test_delete_with_stale_precondition_conflicts(cluster: Cluster, namespace: str) -> None:
    await _create(cluster, namespace, "pre")
    path = f"/api/v1/namespaces/{namespace}/configmaps/pre"
    options = {"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": "not-it"}}
    reply = await cluster.request("DELETE", path, body=options)
    assert reply.status == 409
    assert (await cluster.request("GET", path)).status == 200


@pytest.mark.parametrize("policy", ["Background", "Foreground", None])
async def test_dependents_are_collected_with_their_owner(
    cluster: Cluster, namespace: str, policy: str | None
) -> None:
    owner = await _create(cluster, namespace, "owner")
    await _create(cluster, namespace, "child", ownerReferences=[_owner(owner, block=True)])
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    options = {"propagationPolicy": policy} if policy else None
    assert (await cluster.request("DELETE", f"{base}/owner", body=options)).status in (200, 202)
    await eventually(_gone(cluster, f"{base}/child"))
    await eventually(_gone(cluster, f"{base}/owner"))


async def test_orphan_keeps_dependents_and_drops_the_reference(
    cluster: Cluster, namespace: str
) -> None:
    owner = await _create(cluster, namespace, "owner")
    await _create(cluster, namespace, "child", ownerReferences=[_owner(owner)])
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    await cluster.request("DELETE", f"{base}/owner", body={"propagationPolicy": "Orphan"})
    await eventually(_gone(cluster, f"{base}/owner"))

    async def unowned() -> bool:
        child = (await cluster.request("GET", f"{base}/child")).body
        return not child["metadata"].get("ownerReferences")

    await eventually(unowned)


async def test_foreground_owner_waits_for_blocking_dependents(
    cluster: Cluster, namespace: str
) -> None:
    owner = await _create(cluster, namespace, "owner")
    await _create(
        cluster,
        namespace,
        "child",
        ownerReferences=[_owner(owner, block=True)],
        finalizers=["example.com/slow"],
    )
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    await cluster.request("DELETE", f"{base}/owner", body={"propagationPolicy": "Foreground"})

    async def child_terminating() -> bool:
        child = (await cluster.request("GET", f"{base}/child")).body
        return bool(child["metadata"].get("deletionTimestamp"))

    await eventually(child_terminating)
    waiting = await cluster.request("GET", f"{base}/owner")
    assert waiting.status == 200
    assert "foregroundDeletion" in waiting.body["metadata"]["finalizers"]
    await cluster.request(
        "PATCH", f"{base}/child", body={"metadata": {"finalizers": None}}, headers=MERGE
    )
    await eventually(_gone(cluster, f"{base}/owner"))


async def test_dependent_with_one_live_owner_survives(cluster: Cluster, namespace: str) -> None:
    first = await _create(cluster, namespace, "first")
    second = await _create(cluster, namespace, "second")
    await _create(cluster, namespace, "child", ownerReferences=[_owner(first), _owner(second)])
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    await cluster.request("DELETE", f"{base}/first")
    await eventually(_gone(cluster, f"{base}/first"))

    async def one_owner_left() -> bool:
        child = await cluster.request("GET", f"{base}/child")
        assert child.status == 200
        return [o["name"] for o in child.body["metadata"].get("ownerReferences", [])] == ["second"]

    await eventually(one_owner_left)


async def test_deleting_a_namespace_deletes_its_objects(cluster: Cluster) -> None:
    body = {"metadata": {"name": "doomed-ns-x1"}}
    assert (await cluster.request("POST", "/api/v1/namespaces", body=body)).status == 201
    await _create(cluster, "doomed-ns-x1", "inside")
    reply = await cluster.request("DELETE", "/api/v1/namespaces/doomed-ns-x1")
    assert reply.status in (200, 202)
    await eventually(_gone(cluster, "/api/v1/namespaces/doomed-ns-x1/configmaps/inside"))
    await eventually(_gone(cluster, "/api/v1/namespaces/doomed-ns-x1"), within=60)


async def test_no_new_objects_in_a_terminating_namespace(cluster: Cluster) -> None:
    body = {"metadata": {"name": "closing-ns-x1"}}
    assert (await cluster.request("POST", "/api/v1/namespaces", body=body)).status == 201
    await _create(cluster, "closing-ns-x1", "stuck", finalizers=["example.com/hold"])
    await cluster.request("DELETE", "/api/v1/namespaces/closing-ns-x1")
    ns = (await cluster.request("GET", "/api/v1/namespaces/closing-ns-x1")).body
    assert ns["status"]["phase"] == "Terminating"
    late = await cluster.request(
        "POST", "/api/v1/namespaces/closing-ns-x1/configmaps", body={"metadata": {"name": "late"}}
    )
    assert late.status == 403
    await cluster.request(
        "PATCH",
        "/api/v1/namespaces/closing-ns-x1/configmaps/stuck",
        body={"metadata": {"finalizers": None}},
        headers=MERGE,
    )
    await eventually(_gone(cluster, "/api/v1/namespaces/closing-ns-x1"), within=60)


async def test_namespace_finalize_subresource_releases_a_terminating_namespace(
    sim: Simulator, cluster: Cluster
) -> None:
    # Simulator-only: a real namespace controller would race us to the finalizer.
    body = {"metadata": {"name": "finalize-me"}}
    assert (await cluster.request("POST", "/api/v1/namespaces", body=body)).status == 201
    ns = (await cluster.request("GET", "/api/v1/namespaces/finalize-me")).body
    ns["metadata"]["labels"] = {"ignored": "yes"}
    ns["spec"]["finalizers"] = ["kubernetes", "example.com/extra"]
    reply = await cluster.request("PUT", "/api/v1/namespaces/finalize-me/finalize", body=ns)
    assert reply.status == 200, reply.body
    assert reply.body["spec"]["finalizers"] == ["kubernetes", "example.com/extra"]
    assert "labels" not in reply.body["metadata"]


async def test_orphan_dependents_option_orphans(cluster: Cluster, namespace: str) -> None:
    owner = await _create(cluster, namespace, "owner")
    await _create(cluster, namespace, "child", ownerReferences=[_owner(owner)])
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    await cluster.request("DELETE", f"{base}/owner", body={"orphanDependents": True})
    await eventually(_gone(cluster, f"{base}/owner"))
    child = await cluster.request("GET", f"{base}/child")
    assert child.status == 200


async def test_foreground_deletes_a_leaf_dependent_in_the_background(
    cluster: Cluster, namespace: str
) -> None:
    owner = await _create(cluster, namespace, "owner")
    await _create(
        cluster,
        namespace,
        "child",
        ownerReferences=[_owner(owner)],
        finalizers=["example.com/slow"],
    )
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    await cluster.request("DELETE", f"{base}/owner", body={"propagationPolicy": "Foreground"})
    # The child does not block its owner, so the owner goes while the child waits.
    await eventually(_gone(cluster, f"{base}/owner"))
    child = (await cluster.request("GET", f"{base}/child")).body
    assert child["metadata"]["deletionTimestamp"]
    assert child["metadata"]["finalizers"] == ["example.com/slow"]
    await cluster.request(
        "PATCH", f"{base}/child", body={"metadata": {"finalizers": None}}, headers=MERGE
    )
    await eventually(_gone(cluster, f"{base}/child"))
