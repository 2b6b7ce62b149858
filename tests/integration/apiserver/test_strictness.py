"""Contract: fieldValidation (Strict, Warn, Ignore; unknown and duplicate fields) and dryRun=All."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from certmgr.testing.apiserver.wire import Cluster, eventually

CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
MERGE = {"Content-Type": "application/merge-patch+json"}
APPLY = {"Content-Type": "application/apply-patch+yaml"}

GADGETS: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "gadgets.strict.certmgr.test"},
    "spec": {
        "group": "strict.certmgr.test",
        "scope": "Namespaced",
        "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "properties": {
                                    "solvers": {
                                        "type": "array",
                                        "maxItems": 4,
                                        "items": {
                                            "type": "object",
                                            "properties": {"name": {"type": "string"}},
                                        },
                                    },
                                    "free": {
                                        "type": "object",
                                        "x-kubernetes-preserve-unknown-fields": True,
                                    },
                                },
                            },
                            "status": {"type": "object", "properties": {"n": {"type": "integer"}}},
                        },
                    }
                },
            }
        ],
    },
}


@pytest.fixture
async def gadgets(cluster: Cluster, namespace: str) -> AsyncIterator[str]:
    created = await cluster.request("POST", CRDS, body=GADGETS)
    assert created.status in (201, 409), created.body

    async def served() -> bool:
        reply = await cluster.request(
            "GET", f"/apis/strict.certmgr.test/v1/namespaces/{namespace}/gadgets"
        )
        return reply.status == 200

    await eventually(served)
    yield f"/apis/strict.certmgr.test/v1/namespaces/{namespace}/gadgets"


def gadget(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "strict.certmgr.test/v1",
        "kind": "Gadget",
        "metadata": {"name": name},
        "spec": spec,
    }


UNKNOWN_SOLVER_FIELD = {"solvers": [{"name": "a", "waitInsteadOfSelfCheckX": True}]}


@pytest.mark.parametrize(
    ("params", "status", "warning"),
    [
        pytest.param({"fieldValidation": "Strict"}, 400, None, id="strict"),
        pytest.param(
            {"fieldValidation": "Warn"},
            201,
            '299 - "unknown field \\"spec.solvers[0].waitInsteadOfSelfCheckX\\""',
            id="warn",
        ),
        pytest.param(
            {},
            201,
            '299 - "unknown field \\"spec.solvers[0].waitInsteadOfSelfCheckX\\""',
            id="default-is-warn",
        ),
        pytest.param({"fieldValidation": "Ignore"}, 201, None, id="ignore"),
    ],
)
async def test_unknown_custom_resource_field_on_create(
    cluster: Cluster, gadgets: str, params: dict[str, str], status: int, warning: str | None
) -> None:
    reply = await cluster.request(
        "POST", gadgets, body=gadget("g", **UNKNOWN_SOLVER_FIELD), params=params
    )
    assert reply.status == status, reply.body
    if status == 400:
        assert reply.body["reason"] == "BadRequest"
        assert reply.body["message"] == (
            'strict decoding error: unknown field "spec.solvers[0].waitInsteadOfSelfCheckX"'
        )
        return
    assert reply.headers.get("Warning") == warning
    assert reply.body["spec"]["solvers"] == [{"name": "a"}]


async def test_preserve_unknown_fields_are_not_unknown(cluster: Cluster, gadgets: str) -> None:
    body = gadget("g", free={"anything": {"goes": 1}})
    reply = await cluster.request("POST", gadgets, body=body, params={"fieldValidation": "Strict"})
    assert reply.status == 201, reply.body
    assert "Warning" not in reply.headers


async def test_unknown_builtin_and_metadata_fields(cluster: Cluster, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cm", "labelz": {"a": "b"}},
        "spec": {"x": 1},
        "data": {"k": "v"},
    }
    strict = await cluster.request("POST", path, body=body, params={"fieldValidation": "Strict"})
    assert strict.status == 400
    assert strict.body["message"] == (
        'strict decoding error: unknown field "metadata.labelz", unknown field "spec"'
    )
    ignored = await cluster.request("POST", path, body=body, params={"fieldValidation": "Ignore"})
    assert ignored.status == 201, ignored.body
    assert "spec" not in ignored.body and "labelz" not in ignored.body["metadata"]


async def test_duplicate_fields_in_the_json_body(cluster: Cluster, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    raw = (
        '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dup"},'
        ' "data": {"k": "1", "k": "2"}}'
    )
    headers = {"Content-Type": "application/json"}
    strict = await cluster.request(
        "POST", path, data=raw, headers=headers, params={"fieldValidation": "Strict"}
    )
    assert strict.status == 400
    assert strict.body["message"] == 'strict decoding error: duplicate field "data.k"'
    warned = await cluster.request(
        "POST", path, data=raw, headers=headers, params={"fieldValidation": "Warn"}
    )
    assert warned.status == 201
    assert warned.headers["Warning"] == '299 - "duplicate field \\"data.k\\""'
    assert warned.body["data"] == {"k": "2"}


@pytest.mark.parametrize(
    ("method", "headers", "body"),
    [
        pytest.param("PATCH", MERGE, {"spec": {"solvers": [{"name": "b", "nope": 1}]}}, id="merge"),
        pytest.param(
            "PATCH",
            APPLY,
            {**gadget("g"), "spec": {"solvers": [{"name": "b", "nope": 1}]}},
            id="apply",
        ),
        pytest.param(
            "PUT",
            None,
            {**gadget("g"), "spec": {"solvers": [{"name": "b", "nope": 1}]}},
            id="update",
        ),
    ],
)
async def test_strict_on_update_and_patch(
    cluster: Cluster, gadgets: str, method: str, headers: dict[str, str] | None, body: Any
) -> None:
    created = await cluster.request("POST", gadgets, body=gadget("g"))
    assert created.status == 201
    if method == "PUT":
        body["metadata"]["resourceVersion"] = created.body["metadata"]["resourceVersion"]
    params = {"fieldValidation": "Strict", "fieldManager": "test"}
    reply = await cluster.request(
        method,
        f"{gadgets}/g",
        data=json.dumps(body),
        headers=headers or {"Content-Type": "application/json"},
        params=params,
    )
    assert reply.status == 400, reply.body
    assert reply.body["message"] == 'strict decoding error: unknown field "spec.solvers[0].nope"'


@pytest.mark.parametrize("param", ["fieldValidation", "dryRun"])
async def test_unsupported_option_values_are_422(
    cluster: Cluster, namespace: str, param: str
) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}}
    reply = await cluster.request("POST", path, body=body, params={param: "Sometimes"})
    assert reply.status == 422, reply.body
    assert reply.body["message"].startswith(
        f'CreateOptions.meta.k8s.io "" is invalid: {param}: Unsupported value: '
    )


async def test_dry_run_writes_change_nothing(cluster: Cluster, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    dry = {"dryRun": "All"}
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"k": "1"}}
    listed = await cluster.request("GET", path)
    since = listed.body["metadata"]["resourceVersion"]
    async with cluster.watch(path, resourceVersion=since) as events:
        created = await cluster.request("POST", path, body=body, params=dry)
        assert created.status == 201, created.body
        assert created.body["metadata"]["uid"]
        assert not created.body["metadata"].get("resourceVersion")
        assert (await cluster.request("GET", f"{path}/cm")).status == 404
        bad_name = {**body, "metadata": {"name": "Bad_Name"}}
        assert (await cluster.request("POST", path, body=bad_name, params=dry)).status == 422
        real = await cluster.request("POST", path, body=body)
        rv = real.body["metadata"]["resourceVersion"]
        patched = await cluster.request(
            "PATCH", f"{path}/cm", body={"data": {"k": "2"}}, headers=MERGE, params=dry
        )
        assert (patched.status, patched.body["data"]) == (200, {"k": "2"})
        replaced = await cluster.request(
            "PUT", f"{path}/cm", body={**real.body, "data": {"k": "3"}}, params=dry
        )
        assert (replaced.status, replaced.body["data"]) == (200, {"k": "3"})
        assert (await cluster.request("DELETE", f"{path}/cm", params=dry)).status == 200
        stored = await cluster.request("GET", f"{path}/cm")
        assert stored.body["data"] == {"k": "1"}
        assert stored.body["metadata"]["resourceVersion"] == rv
        marker = {**body, "metadata": {"name": "marker"}}
        assert (await cluster.request("POST", path, body=marker)).status == 201
        seen = []
        async for event in events:
            seen.append((event["type"], event["object"]["metadata"]["name"]))
            if seen[-1][1] == "marker":
                break
    assert [s for s in seen if s[0] != "BOOKMARK"] == [("ADDED", "cm"), ("ADDED", "marker")]


async def test_dry_run_on_a_status_subresource(cluster: Cluster, gadgets: str) -> None:
    created = await cluster.request("POST", gadgets, body=gadget("g"))
    reply = await cluster.request(
        "PATCH",
        f"{gadgets}/g/status",
        body={"status": {"n": 3}},
        headers=MERGE,
        params={"dryRun": "All"},
    )
    assert reply.status == 200 and reply.body["status"] == {"n": 3}
    stored = await cluster.request("GET", f"{gadgets}/g")
    assert "status" not in stored.body
    assert stored.body["metadata"]["resourceVersion"] == created.body["metadata"]["resourceVersion"]
