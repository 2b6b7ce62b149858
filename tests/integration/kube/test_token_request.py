"""A ServiceAccount's credentials from the TokenRequest API, as the portable tests get the
controller's: on the simulator and on a real kube-apiserver (CERTMGR_TEST_KUBECONFIG)."""

from __future__ import annotations

from typing import Any

import pytest

from certmgr.kube import errors as e
from certmgr.kube import resources as r
from certmgr.kube.client import KubeClient
from certmgr.testing.apiserver.wire import Cluster
from certmgr.testing.cluster import KubeCluster


def token_request(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}


async def test_the_token_authenticates_as_the_account_and_rbac_applies(
    kube_cluster: KubeCluster, kube: KubeClient, namespace: str
) -> None:
    await kube.create(r.SERVICEACCOUNTS, {"metadata": {"name": "robot", "namespace": namespace}})
    path = await kube_cluster.service_account_kubeconfig(namespace, "robot")

    async with await KubeClient.connect(kubeconfig=str(path)) as robot:
        with pytest.raises(e.Forbidden) as refused:
            await robot.list(r.CONFIGMAPS, namespace=namespace)
    assert f"system:serviceaccount:{namespace}:robot" in str(refused.value)


async def test_the_answer_is_a_token_request_with_token_and_expiry(
    kube_cluster: KubeCluster, kube: KubeClient, namespace: str
) -> None:
    await kube.create(r.SERVICEACCOUNTS, {"metadata": {"name": "robot", "namespace": namespace}})
    url = r.SERVICEACCOUNTS.path(namespace=namespace, name="robot", subresource="token")
    async with Cluster.from_kubeconfig(kube_cluster.kubeconfig) as admin:
        reply = await admin.request("POST", url, body=token_request(expirationSeconds=3600))
    assert reply.status == 201, reply.body
    assert (reply.body["apiVersion"], reply.body["kind"]) == (
        "authentication.k8s.io/v1",
        "TokenRequest",
    )
    assert reply.body["spec"]["expirationSeconds"] == 3600
    assert reply.body["spec"]["audiences"]  # the server's own when none are asked for
    assert reply.body["status"]["token"]
    assert reply.body["status"]["expirationTimestamp"]


@pytest.mark.parametrize(
    ("account", "spec", "code"),
    [
        pytest.param("missing", {}, 404, id="no-such-account"),
        pytest.param("robot", {"expirationSeconds": 599}, 422, id="under-ten-minutes"),
    ],
)
async def test_refusals(
    kube_cluster: KubeCluster,
    kube: KubeClient,
    namespace: str,
    account: str,
    spec: dict[str, Any],
    code: int,
) -> None:
    await kube.create(r.SERVICEACCOUNTS, {"metadata": {"name": "robot", "namespace": namespace}})
    url = r.SERVICEACCOUNTS.path(namespace=namespace, name=account, subresource="token")
    async with Cluster.from_kubeconfig(kube_cluster.kubeconfig) as admin:
        reply = await admin.request("POST", url, body=token_request(**spec))
    assert reply.status == code, reply.body
    assert reply.body["kind"] == "Status"
