"""Contract: create, get, update, conflicts, list and errors, as kube-apiserver answers them."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import pytest

from certmgr.testing.apiserver import Simulator
from certmgr.testing.apiserver.wire import Cluster


def configmap(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


async def test_create_then_get_returns_server_metadata(cluster: Cluster, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    created = await cluster.request("POST", base, body=configmap("one", a="1"))
    assert created.status == 201
    meta = created.body["metadata"]
    assert meta["namespace"] == namespace
    assert meta["uid"] and meta["resourceVersion"] and meta["creationTimestamp"]
    assert "generation" not in meta  # ConfigMaps have none; CRs and Ingresses do
    got = await cluster.request("GET", f"{base}/one")
    assert got.status == 200
    assert got.body["data"] == {"a": "1"}
    assert got.body["metadata"]["uid"] == meta["uid"]


async def test_create_twice_is_already_exists(cluster: Cluster, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    await cluster.request("POST", base, body=configmap("dup"))
    again = await cluster.request("POST", base, body=configmap("dup"))
    assert again.status == 409
    assert again.body["kind"] == "Status"
    assert again.body["reason"] == "AlreadyExists"
    assert again.body["details"]["name"] == "dup"


async def test_get_missing_is_not_found_status(cluster: Cluster, namespace: str) -> None:
    missing = await cluster.request("GET", f"/api/v1/namespaces/{namespace}/secrets/nope")
    assert missing.status == 404
    assert (missing.body["kind"], missing.body["reason"]) == ("Status", "NotFound")
    assert missing.body["details"] == {"name": "nope", "kind": "secrets"}


async def test_generate_name_picks_a_unique_name(cluster: Cluster, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    body = {"metadata": {"generateName": "gen-"}, "data": {}}
    names = {
        (await cluster.request("POST", base, body=body)).body["metadata"]["name"] for _ in range(3)
    }
    assert len(names) == 3
    assert all(n.startswith("gen-") and len(n) > 4 for n in names)


async def test_update_with_stale_resource_version_conflicts(
    cluster: Cluster, namespace: str
) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps/cm"
    first = (await cluster.request("POST", path.rsplit("/", 1)[0], body=configmap("cm"))).body
    second = await cluster.request("PUT", path, body={**first, "data": {"v": "2"}})
    assert second.status == 200
    assert second.body["metadata"]["resourceVersion"] != first["metadata"]["resourceVersion"]
    stale = await cluster.request("PUT", path, body={**first, "data": {"v": "3"}})
    assert stale.status == 409
    assert stale.body["reason"] == "Conflict"
    assert (await cluster.request("GET", path)).body["data"] == {"v": "2"}


async def test_update_without_resource_version_is_unconditional(
    cluster: Cluster, namespace: str
) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps/cm"
    await cluster.request("POST", path.rsplit("/", 1)[0], body=configmap("cm", v="1"))
    await cluster.request("PUT", path, body=configmap("cm", v="2"))
    blind = await cluster.request("PUT", path, body=configmap("cm", v="3"))
    assert blind.status == 200
    assert blind.body["data"] == {"v": "3"}


@pytest.mark.parametrize(
    ("name", "status"),
    [
        pytest.param("Upper", 422, id="uppercase"),
        pytest.param("under_score", 422, id="underscore"),
        pytest.param("ok.dotted-name", 201, id="dns-subdomain"),
    ],
)
async def test_names_must_be_dns_subdomains(
    cluster: Cluster, namespace: str, name: str, status: int
) -> None:
    reply = await cluster.request(
        "POST", f"/api/v1/namespaces/{namespace}/configmaps", body=configmap(name)
    )
    assert reply.status == status
    if status == 422:
        assert reply.body["reason"] == "Invalid"
        assert reply.body["details"]["causes"][0]["field"] == "metadata.name"


async def test_secret_string_data_is_stored_as_base64_data(
    cluster: Cluster, namespace: str
) -> None:
    base = f"/api/v1/namespaces/{namespace}/secrets"
    body = {"metadata": {"name": "s"}, "stringData": {"user": "alice"}, "data": {"n": "MQ=="}}
    created = await cluster.request("POST", base, body=body)
    assert created.status == 201
    assert "stringData" not in created.body
    assert created.body["data"] == {"n": "MQ==", "user": base64.b64encode(b"alice").decode()}
    assert created.body["type"] == "Opaque"


async def test_secret_data_must_be_base64(cluster: Cluster, namespace: str) -> None:
    body = {"metadata": {"name": "bad"}, "data": {"k": "not base64!"}}
    reply = await cluster.request("POST", f"/api/v1/namespaces/{namespace}/secrets", body=body)
    assert reply.status == 400  # decoding fails before validation
    assert reply.body["reason"] == "BadRequest"


async def test_create_in_missing_namespace_is_not_found(cluster: Cluster) -> None:
    reply = await cluster.request(
        "POST", "/api/v1/namespaces/does-not-exist-x/configmaps", body=configmap("a")
    )
    assert reply.status == 404
    assert reply.body["reason"] == "NotFound"


async def test_unauthenticated_request_is_401(sim: Simulator, tmp_path: Path) -> None:
    import ssl

    import aiohttp

    tls = ssl.create_default_context(cadata=sim.ca_pem.decode())
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls)) as session,
        session.get(sim.url + "/api/v1/namespaces", headers={"Authorization": "Bearer x"}) as r,
    ):
        assert r.status == 401
        assert (await r.json())["reason"] == "Unauthorized"


def test_kubeconfig_is_accepted_by_the_kubernetes_package(
    apiserver: Simulator, kubeconfig: Path
) -> None:
    from kubernetes import client, config

    api_client = config.new_client_from_config(str(kubeconfig))  # type: ignore[no-untyped-call]
    names = [
        n.metadata.name for n in client.CoreV1Api(api_client).list_namespace().items if n.metadata
    ]
    assert "default" in names


@pytest.mark.parametrize(
    "labels",
    [
        pytest.param({"ok": "a" * 64}, id="value-too-long"),
        pytest.param({"bad key": "v"}, id="key-with-space"),
        pytest.param({"ok": "-leading-dash"}, id="value-leading-dash"),
    ],
)
async def test_invalid_labels_are_rejected(
    cluster: Cluster, namespace: str, labels: dict[str, str]
) -> None:
    body = {"metadata": {"name": "labelled", "labels": labels}}
    reply = await cluster.request("POST", f"/api/v1/namespaces/{namespace}/configmaps", body=body)
    assert reply.status == 422
    assert reply.body["details"]["causes"][0]["field"].startswith("metadata.labels")


async def test_no_new_finalizers_on_a_deleting_object(cluster: Cluster, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    body = {"metadata": {"name": "f", "finalizers": ["example.com/a"]}}
    await cluster.request("POST", base, body=body)
    await cluster.request("DELETE", f"{base}/f")
    current = (await cluster.request("GET", f"{base}/f")).body
    current["metadata"]["finalizers"].append("example.com/b")
    reply = await cluster.request("PUT", f"{base}/f", body=current)
    assert reply.status == 422
    assert reply.body["details"]["causes"][0]["field"] == "metadata.finalizers"
    # Let it go, or a real server keeps the test's namespace Terminating for ever.
    release = {"metadata": {"finalizers": None}}
    headers = {"Content-Type": "application/merge-patch+json"}
    reply = await cluster.request("PATCH", f"{base}/f", body=release, headers=headers)
    assert reply.status == 200, reply.body


async def test_create_with_resource_version_is_bad_request(
    cluster: Cluster, namespace: str
) -> None:
    body = {"metadata": {"name": "rv", "resourceVersion": "12"}}
    reply = await cluster.request("POST", f"/api/v1/namespaces/{namespace}/configmaps", body=body)
    assert reply.status == 400


async def test_update_with_another_uid_conflicts(cluster: Cluster, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    created = (await cluster.request("POST", base, body=configmap("u"))).body
    created["metadata"]["uid"] = "00000000-0000-0000-0000-000000000000"
    del created["metadata"]["resourceVersion"]
    reply = await cluster.request("PUT", f"{base}/u", body=created)
    assert reply.status == 409


@pytest.mark.parametrize(
    "metadata",
    [
        pytest.param({"name": "x", "labels": ["a"]}, id="labels-list"),
        pytest.param({"name": "x", "labels": {"a": 1}}, id="label-number"),
        pytest.param({"name": "x", "finalizers": "a"}, id="finalizers-string"),
        pytest.param({"name": 7}, id="name-number"),
    ],
)
async def test_malformed_metadata_is_bad_request(
    cluster: Cluster, namespace: str, metadata: dict[str, Any]
) -> None:
    reply = await cluster.request(
        "POST", f"/api/v1/namespaces/{namespace}/configmaps", body={"metadata": metadata}
    )
    assert reply.status == 400
    assert reply.body["kind"] == "Status"


def test_a_simulator_bug_is_an_internal_error_status(apiserver: Simulator, tmp_path: Path) -> None:
    def broken(*args: object) -> bytes:
        raise RuntimeError("boom")

    apiserver.store.encoded = broken  # type: ignore[method-assign,assignment]

    async def get() -> Any:
        async with Cluster.from_kubeconfig(apiserver.kubeconfig(tmp_path / "kc")) as admin:
            return await admin.request("GET", "/api/v1/namespaces/default")

    reply = asyncio.run(get())
    assert reply.status == 500
    assert reply.body["reason"] == "InternalError"
    assert "boom" in reply.body["message"]


async def test_version_and_health_are_public_and_the_rest_forbidden(sim: Simulator) -> None:
    import ssl

    import aiohttp

    tls = ssl.create_default_context(cadata=sim.ca_pem.decode())
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls)) as session:
        async with session.get(sim.url + "/version") as version:
            assert version.status == 200
            assert (await version.json())["major"] == "1"
        async with session.get(sim.url + "/healthz") as health:
            assert health.status == 200
        # Anonymous is authenticated as system:anonymous, then denied by RBAC.
        async with session.get(sim.url + "/api") as discovery:
            assert discovery.status == 403
        async with session.get(sim.url + "/api/v1/namespaces") as listing:
            assert listing.status == 403
            assert "system:anonymous" in (await listing.json())["message"]
