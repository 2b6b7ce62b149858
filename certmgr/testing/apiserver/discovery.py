"""Discovery documents: ``/api``, ``/apis``, ``/api/v1``, ``/apis/G/V`` and ``/version``.

Owns what clients such as kubectl learn about served resources (names, kinds,
scopes, verbs, short names, subresources). Only the legacy (unaggregated) JSON form
is served, which kubectl falls back to. It must not serve objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from certmgr.testing.apiserver.resources import ALL_VERBS, Catalogue

VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-certmgr-simulator",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.23",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def core_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _group(name: str, versions: list[str]) -> dict[str, Any]:
    entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": entries, "preferredVersion": entries[0]}


def _versions(
    catalogue: Catalogue, aggregated: Sequence[tuple[str, list[str]]]
) -> dict[str, list[str]]:
    """Served groups: local ones first, then the APIServices' (already in their order)."""
    found = catalogue.group_versions()
    for name, versions in aggregated:
        found.setdefault(name, versions)
    return found


def group_list(
    catalogue: Catalogue, *, aggregated: Sequence[tuple[str, list[str]]] = ()
) -> dict[str, Any]:
    groups = [_group(g, vs) for g, vs in _versions(catalogue, aggregated).items() if g]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def group(
    catalogue: Catalogue, name: str, *, aggregated: Sequence[tuple[str, list[str]]] = ()
) -> dict[str, Any] | None:
    versions = _versions(catalogue, aggregated).get(name)
    if not versions or not name:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name, versions)}


def resource_list(catalogue: Catalogue, group_name: str, version: str) -> dict[str, Any] | None:
    resources: list[dict[str, Any]] = []
    for rtype in catalogue:
        if rtype.group != group_name or rtype.version != version:
            continue
        entry: dict[str, Any] = {
            "name": rtype.plural,
            "singularName": rtype.singular,
            "namespaced": rtype.namespaced,
            "kind": rtype.kind,
            "verbs": list(ALL_VERBS),
        }
        if rtype.short_names:
            entry["shortNames"] = list(rtype.short_names)
        if rtype.categories:
            entry["categories"] = list(rtype.categories)
        resources.append(entry)
        if rtype.status_subresource:
            resources.append(
                {
                    "name": f"{rtype.plural}/status",
                    "singularName": "",
                    "namespaced": rtype.namespaced,
                    "kind": rtype.kind,
                    "verbs": ["get", "patch", "update"],
                }
            )
    if not resources:
        return None
    group_version = f"{group_name}/{version}" if group_name else version
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }


def _gv_path(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def openapi_v3_index(catalogue: Catalogue) -> dict[str, Any]:
    """``/openapi/v3``: one document per group-version, as kubectl's discovery expects."""
    paths = {}
    for group, versions in catalogue.group_versions().items():
        for version in versions:
            gv_path = _gv_path(group, version)
            paths[gv_path] = {"serverRelativeURL": f"/openapi/v3/{gv_path}?hash={_HASH}"}
    return {"paths": paths}


# A fixed hash: kubectl caches documents by it, and ours are rebuilt on every request.
_HASH = "0123456789ABCDEF"


def openapi_v3_group_version(
    catalogue: Catalogue, group_name: str, version: str
) -> dict[str, Any] | None:
    """Just enough OpenAPI for kubectl to know the server validates fields itself.

    kubectl's query-param verifier looks for a PATCH operation tagged with the kind's
    ``x-kubernetes-group-version-kind`` that accepts ``fieldValidation``; object
    schemas are not published, so kubectl does no client-side schema validation.
    """
    paths: dict[str, Any] = {}
    for rtype in catalogue:
        if rtype.group != group_name or rtype.version != version:
            continue
        scope = "/namespaces/{namespace}" if rtype.namespaced else ""
        path = f"/{_gv_path(group_name, version)}{scope}/{rtype.plural}/{{name}}"
        gvk = {"group": group_name, "version": version, "kind": rtype.kind}
        parameters = [
            {"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
            for name in ("dryRun", "fieldManager", "fieldValidation", "force")
        ]
        paths[path] = {
            "patch": {
                "operationId": f"patch{rtype.kind}",
                "parameters": parameters,
                "responses": {"200": {"description": "OK"}},
                "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": gvk,
            }
        }
    if not paths:
        return None
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": {}},
    }
