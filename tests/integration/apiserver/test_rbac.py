"""Contract: RBAC from Role/ClusterRole bindings decides; 403 Forbidden otherwise.

Tokens are minted by the simulator, so these tests need it (skipped on a real server).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from certmgr.testing.apiserver import Simulator
from certmgr.testing.apiserver.wire import Cluster

RBAC = "/apis/rbac.authorization.k8s.io/v1"


def _rule(verbs: list[str], resources: list[str], **extra: Any) -> dict[str, Any]:
    return {"apiGroups": [""], "resources": resources, "verbs": verbs, **extra}


async def _grant(
    admin: Cluster, namespace: str, rules: list[dict[str, Any]], subject: dict[str, Any]
) -> None:
    role = {"metadata": {"name": "r"}, "rules": rules}
    assert (
        await admin.request("POST", f"{RBAC}/namespaces/{namespace}/roles", body=role)
    ).status == 201
    binding = {
        "metadata": {"name": "rb"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
        "subjects": [subject],
    }
    reply = await admin.request("POST", f"{RBAC}/namespaces/{namespace}/rolebindings", body=binding)
    assert reply.status == 201


@pytest.mark.parametrize(
    ("rules", "method", "path", "allowed"),
    [
        pytest.param([_rule(["get"], ["configmaps"])], "GET", "configmaps/a", True, id="get"),
        pytest.param([_rule(["get"], ["configmaps"])], "GET", "configmaps", False, id="no-list"),
        pytest.param([_rule(["list"], ["configmaps"])], "GET", "configmaps", True, id="list"),
        pytest.param([_rule(["*"], ["*"])], "DELETE", "configmaps/a", True, id="wildcards"),
        pytest.param([_rule(["get"], ["secrets"])], "GET", "configmaps/a", False, id="resource"),
        pytest.param(
            [_rule(["get"], ["configmaps"], resourceNames=["a"])],
            "GET",
            "configmaps/a",
            True,
            id="resource-name",
        ),
        pytest.param(
            [_rule(["get"], ["configmaps"], resourceNames=["b"])],
            "GET",
            "configmaps/a",
            False,
            id="other-resource-name",
        ),
        pytest.param(
            [{"apiGroups": ["apps"], "resources": ["*"], "verbs": ["*"]}],
            "GET",
            "configmaps/a",
            False,
            id="api-group",
        ),
    ],
)
async def test_role_rules(
    sim: Simulator,
    cluster: Cluster,
    namespace: str,
    tmp_path: Path,
    rules: list[dict[str, Any]],
    method: str,
    path: str,
    allowed: bool,
) -> None:
    await cluster.request(
        "POST", f"/api/v1/namespaces/{namespace}/configmaps", body={"metadata": {"name": "a"}}
    )
    sim.add_token("alice-token", "alice", ["developers"])
    await _grant(cluster, namespace, rules, {"kind": "User", "name": "alice"})
    async with Cluster.from_kubeconfig(
        sim.kubeconfig(tmp_path / "kc", token="alice-token")
    ) as alice:
        reply = await alice.request(method, f"/api/v1/namespaces/{namespace}/{path}")
    if allowed:
        assert reply.status == 200, reply.body
    else:
        assert reply.status == 403
        assert reply.body["reason"] == "Forbidden"
        assert 'User "alice"' in reply.body["message"]


async def test_service_account_via_cluster_role_binding_and_status_subresource(
    sim: Simulator, cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    role: dict[str, Any] = {
        "metadata": {"name": f"{namespace}-pods-status"},
        "rules": [_rule(["get", "update", "patch"], ["pods/status"])],
    }
    assert (await cluster.request("POST", f"{RBAC}/clusterroles", body=role)).status == 201
    binding = {
        "metadata": {"name": f"{namespace}-pods-status"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": role["metadata"]["name"],
        },
        "subjects": [{"kind": "ServiceAccount", "name": "ctl", "namespace": namespace}],
    }
    assert (
        await cluster.request("POST", f"{RBAC}/clusterrolebindings", body=binding)
    ).status == 201
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
    await cluster.request("POST", f"/api/v1/namespaces/{namespace}/pods", body=pod)
    token = sim.service_account_token(namespace, "ctl")
    async with Cluster.from_kubeconfig(sim.kubeconfig(tmp_path / "kc", token=token)) as ctl:
        status = await ctl.request("GET", f"/api/v1/namespaces/{namespace}/pods/p/status")
        main = await ctl.request("GET", f"/api/v1/namespaces/{namespace}/pods/p")
    assert status.status == 200
    assert main.status == 403
    assert f"system:serviceaccount:{namespace}:ctl" in main.body["message"]


async def test_group_subject(
    sim: Simulator, cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    sim.add_token("bob-token", "bob", ["auditors"])
    await _grant(
        cluster, namespace, [_rule(["list"], ["secrets"])], {"kind": "Group", "name": "auditors"}
    )
    async with Cluster.from_kubeconfig(sim.kubeconfig(tmp_path / "kc", token="bob-token")) as bob:
        assert (await bob.request("GET", f"/api/v1/namespaces/{namespace}/secrets")).status == 200
        assert (await bob.request("GET", "/api/v1/secrets")).status == 403


@pytest.mark.parametrize(
    ("rules", "status"),
    [
        pytest.param([_rule(["create", "get"], ["configmaps"])], 403, id="no-delete-on-the-child"),
        pytest.param(
            [_rule(["create", "get", "delete"], ["configmaps"])], 403, id="no-owner-finalizers"
        ),
        pytest.param(
            [
                _rule(["create", "get", "delete"], ["configmaps"]),
                _rule(["update"], ["configmaps/finalizers"]),
            ],
            201,
            id="allowed",
        ),
    ],
)
async def test_owner_reference_permission_enforcement(
    tmp_path: Path, rules: list[dict[str, Any]], status: int
) -> None:
    with Simulator.in_thread(enforce_owner_references=True) as sim:
        owner = sim.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner"}})
        sim.add_token("ctl-token", "ctl")
        async with Cluster.from_kubeconfig(sim.kubeconfig(tmp_path / "admin")) as admin:
            await _grant(admin, "default", rules, {"kind": "User", "name": "ctl"})
        ref = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "name": "owner",
            "uid": owner["metadata"]["uid"],
            "blockOwnerDeletion": True,
        }
        child = {"metadata": {"name": "child", "ownerReferences": [ref]}}
        async with Cluster.from_kubeconfig(
            sim.kubeconfig(tmp_path / "kc", token="ctl-token")
        ) as ctl:
            reply = await ctl.request("POST", "/api/v1/namespaces/default/configmaps", body=child)
        assert reply.status == status, reply.body
