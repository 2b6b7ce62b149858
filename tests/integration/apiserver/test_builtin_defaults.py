"""Contract: what the server fills in and refuses for Services, Pods and Ingresses.

A controller that compares what it wants with what it reads back must tolerate these,
or it fights the API server forever on a real cluster.
"""

from __future__ import annotations

from typing import Any

import pytest

from certmgr.testing.apiserver.wire import Cluster


async def test_service_gets_defaults_and_keeps_its_cluster_ip(
    cluster: Cluster, namespace: str
) -> None:
    base = f"/api/v1/namespaces/{namespace}/services"
    body: dict[str, Any] = {
        "metadata": {"name": "svc"},
        "spec": {"selector": {"a": "b"}, "ports": [{"port": 80}]},
    }
    created = await cluster.request("POST", base, body=body)
    assert created.status == 201, created.body
    spec = created.body["spec"]
    assert spec["type"] == "ClusterIP"
    assert spec["sessionAffinity"] == "None"
    assert spec["clusterIP"] and spec["clusterIPs"] == [spec["clusterIP"]]
    assert spec["ports"][0]["protocol"] == "TCP"
    assert spec["ports"][0]["targetPort"] == 80
    # A PUT that leaves the address out keeps it; one that changes it is refused.
    replaced = await cluster.request("PUT", f"{base}/svc", body=body)
    assert replaced.status == 200, replaced.body
    assert replaced.body["spec"]["clusterIP"] == spec["clusterIP"]
    moved = {**body, "spec": {**body["spec"], "clusterIP": "10.96.200.200"}}
    refused = await cluster.request("PUT", f"{base}/svc", body=moved)
    assert refused.status == 422


async def test_pod_gets_defaults_and_its_spec_is_immutable(
    cluster: Cluster, namespace: str
) -> None:
    base = f"/api/v1/namespaces/{namespace}/pods"
    body = {
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]},
    }
    created = await cluster.request("POST", base, body=body)
    assert created.status == 201, created.body
    spec = created.body["spec"]
    assert (spec["restartPolicy"], spec["dnsPolicy"]) == ("Always", "ClusterFirst")
    assert spec["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert created.body["status"]["phase"] == "Pending"
    new_image = {"spec": {"containers": [{"name": "c", "image": "busybox:1.37"}]}}
    merge = {"Content-Type": "application/strategic-merge-patch+json"}
    image = await cluster.request("PATCH", f"{base}/p", body=new_image, headers=merge)
    assert image.status == 200, image.body
    restart = await cluster.request(
        "PATCH", f"{base}/p", body={"spec": {"restartPolicy": "Never"}}, headers=merge
    )
    assert restart.status == 422


def _ingress(path: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "ing"},
        "spec": {"rules": [{"host": "a.example", "http": {"paths": [path]}}]},
    }


BACKEND = {"service": {"name": "s", "port": {"number": 80}}}


@pytest.mark.parametrize(
    ("path", "status"),
    [
        pytest.param({"path": "/", "pathType": "Prefix", "backend": BACKEND}, 201, id="valid"),
        pytest.param({"path": "/", "backend": BACKEND}, 422, id="no-path-type"),
        pytest.param({"path": "/", "pathType": "Glob", "backend": BACKEND}, 422, id="bad-type"),
        pytest.param({"path": "x", "pathType": "Exact", "backend": BACKEND}, 422, id="relative"),
    ],
)
async def test_ingress_paths_are_validated(
    cluster: Cluster, namespace: str, path: dict[str, Any], status: int
) -> None:
    base = f"/apis/networking.k8s.io/v1/namespaces/{namespace}/ingresses"
    reply = await cluster.request("POST", base, body=_ingress(path))
    assert reply.status == status, reply.body
