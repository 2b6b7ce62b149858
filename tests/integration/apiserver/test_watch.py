"""Contract: watch from a resourceVersion, filtering, bookmarks, timeouts and 410 Gone."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from certmgr.testing.apiserver import Simulator
from certmgr.testing.apiserver.wire import Cluster

MERGE = {"Content-Type": "application/merge-patch+json"}


async def _next(events: AsyncIterator[dict[str, Any]], *, skip_bookmarks: bool = True) -> Any:
    async with asyncio.timeout(10):
        async for event in events:
            if skip_bookmarks and event["type"] == "BOOKMARK":
                continue
            return event
    raise AssertionError("watch ended")


async def test_watch_from_list_version_sees_changes_in_order(
    cluster: Cluster, namespace: str
) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    await cluster.request("POST", base, body={"metadata": {"name": "before"}})
    version = (await cluster.request("GET", base)).body["metadata"]["resourceVersion"]
    async with cluster.watch(base, resourceVersion=version) as events:
        await cluster.request("POST", base, body={"metadata": {"name": "x"}})
        await cluster.request("PATCH", f"{base}/x", body={"data": {"k": "v"}}, headers=MERGE)
        await cluster.request("DELETE", f"{base}/x")
        seen = [await _next(events) for _ in range(3)]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in seen] == [
        ("ADDED", "x"),
        ("MODIFIED", "x"),
        ("DELETED", "x"),
    ]
    assert seen[1]["object"]["data"] == {"k": "v"}
    versions = [int(e["object"]["metadata"]["resourceVersion"]) for e in seen]
    assert versions == sorted(set(versions))


async def test_watch_without_version_starts_with_existing_objects(
    cluster: Cluster, namespace: str
) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    for name in ("a", "b"):
        await cluster.request("POST", base, body={"metadata": {"name": name}})
    seen: set[tuple[str, str]] = set()
    async with cluster.watch(base) as events:
        while not {"a", "b"} <= {name for _, name in seen}:
            event = await _next(events)
            seen.add((event["type"], event["object"]["metadata"]["name"]))
    assert {("ADDED", "a"), ("ADDED", "b")} <= seen


async def test_object_leaving_a_label_selection_is_deleted_for_the_watcher(
    cluster: Cluster, namespace: str
) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    version = (await cluster.request("GET", base)).body["metadata"]["resourceVersion"]
    async with cluster.watch(base, resourceVersion=version, labelSelector="app=web") as events:
        await cluster.request("POST", base, body={"metadata": {"name": "other"}})
        await cluster.request(
            "POST", base, body={"metadata": {"name": "w", "labels": {"app": "web"}}}
        )
        await cluster.request(
            "PATCH", f"{base}/w", body={"metadata": {"labels": {"app": "db"}}}, headers=MERGE
        )
        seen = [await _next(events) for _ in range(2)]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in seen] == [
        ("ADDED", "w"),
        ("DELETED", "w"),
    ]


async def test_watch_ends_after_timeout_seconds(cluster: Cluster, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    version = (await cluster.request("GET", base)).body["metadata"]["resourceVersion"]
    async with cluster.watch(base, resourceVersion=version, timeoutSeconds="1") as events:
        async with asyncio.timeout(10):
            leftovers = [e async for e in events if e["type"] != "BOOKMARK"]
    assert leftovers == []


async def test_bookmarks_arrive_when_idle(sim: Simulator, cluster: Cluster, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    version = (await cluster.request("GET", base)).body["metadata"]["resourceVersion"]
    async with cluster.watch(base, resourceVersion=version, allowWatchBookmarks="true") as events:
        bookmark = await _next(events, skip_bookmarks=False)
    assert bookmark["type"] == "BOOKMARK"
    assert int(bookmark["object"]["metadata"]["resourceVersion"]) >= int(version)


async def test_too_old_version_is_a_410_error_event(
    sim: Simulator, cluster: Cluster, namespace: str
) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    await cluster.request("POST", base, body={"metadata": {"name": "c"}})
    old = (await cluster.request("GET", base)).body["metadata"]["resourceVersion"]
    for i in range(sim.store.history_window + 5):
        await cluster.request("PATCH", f"{base}/c", body={"data": {"i": str(i)}}, headers=MERGE)
    async with cluster.watch(base, resourceVersion=old) as events:
        event = await _next(events)
    assert event["type"] == "ERROR"
    assert event["object"]["kind"] == "Status"
    assert event["object"]["code"] == 410
    assert event["object"]["reason"] in ("Expired", "Gone")


async def test_watch_across_all_namespaces_is_filtered_by_field_selector(
    cluster: Cluster, namespace: str
) -> None:
    version = (await cluster.request("GET", "/api/v1/configmaps")).body["metadata"][
        "resourceVersion"
    ]
    selector = f"metadata.namespace={namespace}"
    async with cluster.watch(
        "/api/v1/configmaps", resourceVersion=version, fieldSelector=selector
    ) as events:
        await cluster.request(
            "POST",
            "/api/v1/namespaces/default/configmaps",
            body={"metadata": {"generateName": "x-"}},
        )
        await cluster.request(
            "POST", f"/api/v1/namespaces/{namespace}/configmaps", body={"metadata": {"name": "y"}}
        )
        event = await _next(events)
    assert event["object"]["metadata"]["namespace"] == namespace


async def test_metadata_only_watch(cluster: Cluster, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    await cluster.request("POST", base, body={"metadata": {"name": "m"}, "data": {"k": "v"}})
    accept = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
    async with cluster.session.get(
        cluster.url + base, params={"watch": "true"}, headers={"Accept": accept}
    ) as response:
        assert response.status == 200
        async with asyncio.timeout(10):
            line = await response.content.readline()
    event = json.loads(line)
    assert event["type"] == "ADDED"
    assert event["object"]["kind"] == "PartialObjectMetadata"
    assert "data" not in event["object"]


async def test_watch_is_cut_after_seconds(sim: Simulator, cluster: Cluster, namespace: str) -> None:
    sim.faults.watch_cut_after_seconds = 0.5
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    version = (await cluster.request("GET", base)).body["metadata"]["resourceVersion"]
    async with cluster.watch(base, resourceVersion=version) as events, asyncio.timeout(10):
        leftovers = [e async for e in events if e["type"] != "BOOKMARK"]
    assert leftovers == []
