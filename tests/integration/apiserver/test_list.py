"""Contract: list with selectors, pagination and metadata-only answers."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from certmgr.testing.apiserver import Simulator
from certmgr.testing.apiserver.wire import Cluster

METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
METADATA_ONE = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
MERGE = {"Content-Type": "application/merge-patch+json"}


def token(fields: dict[str, Any]) -> str:
    """A continue token as kube-apiserver encodes one (storage/continue.go)."""
    return base64.urlsafe_b64encode(json.dumps(fields).encode()).decode().rstrip("=")


async def _seed(cluster: Cluster, namespace: str) -> None:
    labels = {
        "a": {"app": "web", "tier": "front"},
        "b": {"app": "web", "tier": "back"},
        "c": {"app": "db"},
        "d": {},
    }
    for name, these in labels.items():
        body = {"metadata": {"name": name, "labels": these}, "data": {}}
        reply = await cluster.request(
            "POST", f"/api/v1/namespaces/{namespace}/configmaps", body=body
        )
        assert reply.status == 201


@pytest.mark.parametrize(
    ("selector", "names"),
    [
        pytest.param("app=web", ["a", "b"], id="equals"),
        pytest.param("app==web", ["a", "b"], id="double-equals"),
        pytest.param("app!=web", ["c", "d"], id="not-equals"),
        pytest.param("tier in (front,back)", ["a", "b"], id="in"),
        pytest.param("app notin (web)", ["c", "d"], id="notin"),
        pytest.param("tier", ["a", "b"], id="exists"),
        pytest.param("!tier", ["c", "d"], id="not-exists"),
        pytest.param("app=web,tier=back", ["b"], id="and"),
    ],
)
async def test_label_selectors(
    cluster: Cluster, namespace: str, selector: str, names: list[str]
) -> None:
    await _seed(cluster, namespace)
    reply = await cluster.request(
        "GET", f"/api/v1/namespaces/{namespace}/configmaps", params={"labelSelector": selector}
    )
    assert reply.status == 200
    got = sorted(i["metadata"]["name"] for i in reply.body["items"])
    assert [name for name in got if name in {"a", "b", "c", "d"}] == names


async def test_bad_label_selector_is_bad_request(cluster: Cluster, namespace: str) -> None:
    reply = await cluster.request(
        "GET", f"/api/v1/namespaces/{namespace}/configmaps", params={"labelSelector": "a in ("}
    )
    assert reply.status == 400


async def test_field_selectors(cluster: Cluster, namespace: str) -> None:
    await _seed(cluster, namespace)
    secret = {
        "metadata": {"name": "tls"},
        "type": "kubernetes.io/tls",
        "data": {"tls.crt": "", "tls.key": ""},
    }
    base = f"/api/v1/namespaces/{namespace}/secrets"
    assert (await cluster.request("POST", base, body=secret)).status == 201
    assert (await cluster.request("POST", base, body={"metadata": {"name": "o"}})).status == 201
    by_type = await cluster.request("GET", base, params={"fieldSelector": "type=kubernetes.io/tls"})
    assert [i["metadata"]["name"] for i in by_type.body["items"]] == ["tls"]
    by_name = await cluster.request(
        "GET",
        f"/api/v1/namespaces/{namespace}/configmaps",
        params={"fieldSelector": "metadata.name=c"},
    )
    assert [i["metadata"]["name"] for i in by_name.body["items"]] == ["c"]
    across = await cluster.request(
        "GET", "/api/v1/configmaps", params={"fieldSelector": f"metadata.namespace={namespace}"}
    )
    assert {i["metadata"]["name"] for i in across.body["items"]} >= {"a", "b", "c", "d"}


async def test_pagination_returns_every_item_once(cluster: Cluster, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    for i in range(7):
        await cluster.request("POST", base, body={"metadata": {"name": f"cm-{i}"}})
    seen: list[str] = []
    params = {"limit": "3"}
    pages = 0
    while True:
        reply = await cluster.request("GET", base, params=params)
        assert reply.status == 200
        assert len(reply.body["items"]) <= 3
        seen += [i["metadata"]["name"] for i in reply.body["items"]]
        pages += 1
        token = reply.body["metadata"].get("continue")
        if not token:
            break
        params = {"limit": "3", "continue": token}
    ours = [name for name in seen if name.startswith("cm-")]
    assert sorted(ours) == [f"cm-{i}" for i in range(7)]
    assert len(seen) == len(set(seen))
    assert pages >= 3


async def test_pages_after_a_write_are_still_the_first_pages_snapshot(
    cluster: Cluster, namespace: str
) -> None:
    # kube-apiserver serves every page at the resourceVersion the token carries: a key
    # added after the first page is not listed, one deleted since still is.
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    for name in ("cm-1", "cm-3", "cm-5"):
        await cluster.request("POST", base, body={"metadata": {"name": name}})
    first = await cluster.request("GET", base, params={"limit": "1"})
    assert [i["metadata"]["name"] for i in first.body["items"]] == ["cm-1"]
    await cluster.request("POST", base, body={"metadata": {"name": "cm-4"}})
    await cluster.request("PATCH", f"{base}/cm-3", body={"data": {"changed": "yes"}}, headers=MERGE)
    await cluster.request("DELETE", f"{base}/cm-5")
    token = first.body["metadata"]["continue"]
    rest = await cluster.request("GET", base, params={"limit": "10", "continue": token})
    assert rest.status == 200
    names = [i["metadata"]["name"] for i in rest.body["items"]]
    assert [n for n in names if n.startswith("cm-")] == ["cm-3", "cm-5"]
    assert "data" not in rest.body["items"][0]  # cm-3 as it was
    assert rest.body["metadata"]["resourceVersion"] == first.body["metadata"]["resourceVersion"]
    assert "continue" not in rest.body["metadata"]


async def test_each_page_takes_the_limit_asked_with_its_token(
    cluster: Cluster, namespace: str
) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    names = [f"cm-{i:02d}" for i in range(12)]
    for name in names:
        metadata = {"name": name, "labels": {"paged": "yes"}}
        await cluster.request("POST", base, body={"metadata": metadata})
    seen: list[str] = []
    sizes: list[int] = []
    params = {"limit": "1", "labelSelector": "paged=yes"}
    for limit in ("4", "2", "100"):
        reply = await cluster.request("GET", base, params=params)
        sizes.append(len(reply.body["items"]))
        seen += [i["metadata"]["name"] for i in reply.body["items"]]
        token = reply.body["metadata"]["continue"]
        params = {"limit": limit, "labelSelector": "paged=yes", "continue": token}
    last = await cluster.request("GET", base, params=params)
    sizes.append(len(last.body["items"]))
    seen += [i["metadata"]["name"] for i in last.body["items"]]
    assert sizes == [1, 4, 2, 5]
    assert seen == names
    assert "continue" not in last.body["metadata"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        pytest.param(
            {"resourceVersion": "1"},
            "specifying resource version is not allowed when using continue",
            id="resource-version",
        ),
        pytest.param(
            {"continue": "bm90IGpzb24"},  # "not json"
            "invalid continue token: continue key is not valid",
            id="garbage",
        ),
        pytest.param(
            {"continue": token({"v": "meta.k8s.io/v2", "rv": 5, "start": "cm-2"})},
            "server does not recognize this encoded version meta.k8s.io/v2",
            id="version",
        ),
        pytest.param(
            {"continue": token({"v": "meta.k8s.io/v1", "rv": 0, "start": "cm-2"})},
            "incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
            id="no-resource-version",
        ),
        pytest.param(
            {"continue": token({"v": "meta.k8s.io/v1", "rv": 5, "start": ""})},
            "encoded start key empty (version meta.k8s.io/v1)",
            id="no-start",
        ),
        pytest.param(
            {"continue": token({"v": "meta.k8s.io/v1", "rv": 5, "start": "../other/cm-2"})},
            "invalid continue token: continue key is not valid",
            id="outside-the-prefix",
        ),
    ],
)
async def test_a_continuation_kube_apiserver_would_not_take_is_a_400(
    cluster: Cluster, namespace: str, params: dict[str, str], message: str
) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    for name in ("cm-1", "cm-2"):
        await cluster.request("POST", base, body={"metadata": {"name": name}})
    first = await cluster.request("GET", base, params={"limit": "1"})
    query = {"limit": "1", "continue": first.body["metadata"]["continue"], **params}
    reply = await cluster.request("GET", base, params=query)
    assert reply.status == 400
    assert reply.body["reason"] == "BadRequest"
    assert message in reply.body["message"]


async def test_a_token_older_than_the_history_is_410_with_a_continuation_at_the_latest(
    sim: Simulator, cluster: Cluster, namespace: str
) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    for name in ("cm-1", "cm-3"):
        await cluster.request("POST", base, body={"metadata": {"name": name}})
    first = await cluster.request("GET", base, params={"limit": "1"})
    await cluster.request("POST", base, body={"metadata": {"name": "cm-4"}})
    for i in range(sim.store.history_window):
        await cluster.request("PATCH", f"{base}/cm-3", body={"data": {"i": str(i)}}, headers=MERGE)
    token = first.body["metadata"]["continue"]
    expired = await cluster.request("GET", base, params={"limit": "10", "continue": token})
    assert expired.status == 410
    assert expired.body["reason"] == "Expired"
    # The inconsistent continuation goes on from the same key in today's state.
    onward = expired.body["metadata"]["continue"]
    rest = await cluster.request("GET", base, params={"limit": "10", "continue": onward})
    names = [i["metadata"]["name"] for i in rest.body["items"]]
    assert [n for n in names if n.startswith("cm-")] == ["cm-3", "cm-4"]
    assert int(rest.body["metadata"]["resourceVersion"]) > int(
        first.body["metadata"]["resourceVersion"]
    )


async def test_list_has_a_resource_version_usable_for_watch(
    cluster: Cluster, namespace: str
) -> None:
    reply = await cluster.request("GET", f"/api/v1/namespaces/{namespace}/configmaps")
    assert reply.body["kind"] == "ConfigMapList"
    assert reply.body["metadata"]["resourceVersion"]


async def test_metadata_only_list_and_get(cluster: Cluster, namespace: str) -> None:
    await _seed(cluster, namespace)
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    listed = await cluster.request("GET", base, headers={"Accept": METADATA_LIST})
    assert listed.body["kind"] == "PartialObjectMetadataList"
    assert listed.body["apiVersion"] == "meta.k8s.io/v1"
    first = next(i for i in listed.body["items"] if i["metadata"]["name"] == "a")
    assert first["kind"] == "PartialObjectMetadata"
    assert "data" not in first
    assert first["metadata"]["name"] == "a"
    one = await cluster.request("GET", f"{base}/c", headers={"Accept": METADATA_ONE})
    assert one.body["kind"] == "PartialObjectMetadata"
    assert one.body["metadata"]["labels"] == {"app": "db"}


async def test_metadata_only_answers_follow_each_change(cluster: Cluster, namespace: str) -> None:
    # Metadata-only answers are encoded once per version of the object: a change or a
    # deletion shows in the next one.
    await _seed(cluster, namespace)
    base = f"/api/v1/namespaces/{namespace}/configmaps"

    async def labels() -> dict[str, object]:
        listed = await cluster.request("GET", base, headers={"Accept": METADATA_LIST})
        return {i["metadata"]["name"]: i["metadata"].get("labels") for i in listed.body["items"]}

    assert (await labels())["c"] == {"app": "db"}
    merge = {"Content-Type": "application/merge-patch+json"}
    patch = {"metadata": {"labels": {"app": "cache"}}}
    await cluster.request("PATCH", f"{base}/c", body=patch, headers=merge)
    one = await cluster.request("GET", f"{base}/c", headers={"Accept": METADATA_ONE})
    assert one.body["metadata"]["labels"] == {"app": "cache"}
    assert (await labels())["c"] == {"app": "cache"}
    await cluster.request("DELETE", f"{base}/c")
    assert "c" not in await labels()


async def test_cluster_scoped_and_all_namespace_lists(cluster: Cluster, namespace: str) -> None:
    await _seed(cluster, namespace)
    namespaces = await cluster.request("GET", "/api/v1/namespaces")
    assert namespace in [n["metadata"]["name"] for n in namespaces.body["items"]]
    everywhere = await cluster.request("GET", "/api/v1/configmaps")
    mine = {
        i["metadata"]["name"]
        for i in everywhere.body["items"]
        if i["metadata"]["namespace"] == namespace
    }
    # A real cluster adds its own objects (kube-root-ca.crt) to every namespace.
    assert mine >= {"a", "b", "c", "d"}
