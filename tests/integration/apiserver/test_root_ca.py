"""Contract: every namespace holds kube-root-ca.crt, as kube-controller-manager publishes it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from certmgr.testing.apiserver import Simulator
from certmgr.testing.apiserver.wire import Cluster, eventually

MERGE = {"Content-Type": "application/merge-patch+json"}


async def root_ca(cluster: Cluster, namespace: str) -> dict[str, Any] | None:
    reply = await cluster.request(
        "GET", f"/api/v1/namespaces/{namespace}/configmaps/kube-root-ca.crt"
    )
    return reply.body if reply.status == 200 else None


async def test_new_namespace_gets_it_and_it_comes_back(cluster: Cluster, namespace: str) -> None:
    published = await eventually(lambda: root_ca(cluster, namespace))
    assert "-----BEGIN CERTIFICATE-----" in published["data"]["ca.crt"]
    path = f"/api/v1/namespaces/{namespace}/configmaps/kube-root-ca.crt"
    assert (await cluster.request("DELETE", path)).status == 200

    async def recreated() -> dict[str, Any] | None:
        found = await root_ca(cluster, namespace)
        return found if found and found["metadata"]["uid"] != published["metadata"]["uid"] else None

    again = await eventually(recreated)
    assert again["data"] == published["data"]
    edited = await cluster.request("PATCH", path, body={"data": {"ca.crt": "x"}}, headers=MERGE)
    assert edited.status == 200

    async def restored() -> bool:
        found = await root_ca(cluster, namespace)
        return bool(found and found["data"] == published["data"])

    await eventually(restored)


async def test_it_holds_the_servers_ca(sim: Simulator, tmp_path: Path) -> None:
    async with Cluster.from_kubeconfig(sim.kubeconfig(tmp_path / "kubeconfig")) as cluster:
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "fresh"}}
        assert (await cluster.request("POST", "/api/v1/namespaces", body=body)).status == 201
        published = await eventually(lambda: root_ca(cluster, "fresh"))
        assert published["data"] == {"ca.crt": sim.ca_pem.decode()}
        assert await eventually(lambda: root_ca(cluster, "default"))
