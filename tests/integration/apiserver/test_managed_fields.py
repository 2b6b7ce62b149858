"""Contract: managedFields and server-side apply conflicts as kube-apiserver's fieldmanager."""

from __future__ import annotations

import copy
import json
from typing import Any

from certmgr.testing.apiserver.wire import Cluster

APPLY = {"Content-Type": "application/apply-patch+yaml"}


def deployment(namespace: str, *, api_version: bool) -> dict[str, Any]:
    ref: dict[str, str] = {"fieldPath": "metadata.name"}
    ns_ref: dict[str, str] = {"fieldPath": "metadata.namespace"}
    if api_version:
        ref["apiVersion"] = ns_ref["apiVersion"] = "v1"
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "certmgr", "namespace": namespace, "labels": {"app": "certmgr"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "certmgr"}},
            "template": {
                "metadata": {"labels": {"app": "certmgr"}},
                "spec": {
                    "containers": [
                        {
                            "name": "controller",
                            "image": "certmgr:dev",
                            "env": [
                                {"name": "POD_NAME", "valueFrom": {"fieldRef": ref}},
                                {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": ns_ref}},
                            ],
                        }
                    ]
                },
            },
        },
    }


async def client_side_then_server_side(
    cluster: Cluster, namespace: str, *, api_version: bool
) -> Any:
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    body = deployment(namespace, api_version=api_version)
    created = await cluster.request(
        "POST", path, body=body, params={"fieldManager": "kubectl-client-side-apply"}
    )
    assert created.status == 201, created.body
    return await cluster.request(
        "PATCH",
        f"{path}/certmgr",
        data=json.dumps(body),
        headers=APPLY,
        params={"fieldManager": "kubectl", "fieldValidation": "Strict"},
    )


async def test_server_defaults_field_ref_api_version(cluster: Cluster, namespace: str) -> None:
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    created = await cluster.request("POST", path, body=deployment(namespace, api_version=False))
    env = created.body["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env[0]["valueFrom"]["fieldRef"] == {"apiVersion": "v1", "fieldPath": "metadata.name"}


async def test_server_side_apply_after_client_side_apply_conflicts_on_defaulted_field_refs(
    cluster: Cluster, namespace: str
) -> None:
    reply = await client_side_then_server_side(cluster, namespace, api_version=False)
    assert reply.status == 409, reply.body
    assert reply.body["reason"] == "Conflict"
    prefix = '.spec.template.spec.containers[name="controller"].env'
    assert reply.body["message"] == (
        'Apply failed with 2 conflicts: conflicts with "kubectl-client-side-apply" using '
        f'apps/v1:\n- {prefix}[name="POD_NAME"].valueFrom.fieldRef\n'
        f'- {prefix}[name="POD_NAMESPACE"].valueFrom.fieldRef'
    )
    assert [c["reason"] for c in reply.body["details"]["causes"]] == ["FieldManagerConflict"] * 2


async def test_server_side_apply_after_client_side_apply_with_api_version_is_clean(
    cluster: Cluster, namespace: str
) -> None:
    reply = await client_side_then_server_side(cluster, namespace, api_version=True)
    assert reply.status == 200, reply.body
    managers = {(e["manager"], e["operation"]) for e in reply.body["metadata"]["managedFields"]}
    assert managers == {("kubectl-client-side-apply", "Update"), ("kubectl", "Apply")}


async def test_force_takes_the_conflicting_fields(cluster: Cluster, namespace: str) -> None:
    await client_side_then_server_side(cluster, namespace, api_version=False)
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments/certmgr"
    forced = await cluster.request(
        "PATCH",
        path,
        data=json.dumps(deployment(namespace, api_version=False)),
        headers=APPLY,
        params={"fieldManager": "kubectl", "force": "true"},
    )
    assert forced.status == 200, forced.body
    entries = {e["manager"]: e for e in forced.body["metadata"]["managedFields"]}
    csa = json.dumps(entries["kubectl-client-side-apply"]["fieldsV1"])
    assert '"f:fieldRef"' not in csa
    assert '"f:fieldRef"' in json.dumps(entries["kubectl"]["fieldsV1"])


async def test_an_update_takes_the_fields_it_changes(cluster: Cluster, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"a": "1"}}
    applied = await cluster.request(
        "PATCH", f"{path}/cm", data=json.dumps(body), headers=APPLY, params={"fieldManager": "one"}
    )
    assert applied.status == 201, applied.body
    changed = copy.deepcopy(applied.body)
    changed["data"] = {"a": "2", "b": "1"}
    updated = await cluster.request(
        "PUT", f"{path}/cm", body=changed, params={"fieldManager": "two"}
    )
    entries = {e["manager"]: e for e in updated.body["metadata"]["managedFields"]}
    assert entries["two"]["operation"] == "Update"
    assert {"f:a", "f:b"} <= set(entries["two"]["fieldsV1"]["f:data"])
    # the changed field was taken from "one" without a conflict
    assert "f:a" not in entries.get("one", {}).get("fieldsV1", {}).get("f:data", {})
    conflict = await cluster.request(
        "PATCH", f"{path}/cm", data=json.dumps(body), headers=APPLY, params={"fieldManager": "one"}
    )
    assert conflict.status == 409
    assert conflict.body["message"] == (
        'Apply failed with 1 conflict: conflict with "two" using v1: .data.a'
    )
    unchanged = await cluster.request(
        "PUT", f"{path}/cm", body=updated.body, params={"fieldManager": "three"}
    )
    assert (
        unchanged.body["metadata"]["resourceVersion"] == updated.body["metadata"]["resourceVersion"]
    )
