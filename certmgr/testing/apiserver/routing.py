"""URL paths and HTTP methods mapped to (resource type, namespace, name, verb).

Owns the Kubernetes REST path grammar: ``/api/v1/...`` and ``/apis/G/V/...``,
namespaced and cluster-scoped, collections across all namespaces, subresources, and
the ``/api/v1/namespaces/X`` ambiguity. It must not read or write objects.
"""

from __future__ import annotations

from dataclasses import dataclass

from certmgr.testing.apiserver import errors
from certmgr.testing.apiserver.resources import Catalogue, ResourceType

SUBRESOURCES = ("status", "finalize")
# Subresources that are created (POST to the object's path) rather than read or written.
_CREATED_SUBRESOURCES = {("", "serviceaccounts"): "token"}


@dataclass(frozen=True, slots=True)
class Target:
    rtype: ResourceType
    namespace: str  # "" for cluster-scoped types and for all-namespaces collections
    name: str  # "" for collections
    subresource: str
    verb: str


def _verb(method: str, *, has_name: bool, watch: bool, creates: bool = False) -> str:
    if method == "POST" and creates:
        return "create"
    if method == "GET":
        if has_name:
            return "get"
        return "watch" if watch else "list"
    if method == "POST" and not has_name:
        return "create"
    if method == "PUT" and has_name:
        return "update"
    if method == "PATCH" and has_name:
        return "patch"
    if method == "DELETE":
        return "delete" if has_name else "deletecollection"
    raise errors.method_not_allowed()


def resolve(catalogue: Catalogue, method: str, path: str, *, watch: bool) -> Target | None:
    """The resource a path names, or None when it is not a resource path."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    if not rest:
        return None
    if rest[0] == "watch":
        watch, rest = True, rest[1:]
    namespace = ""
    # /namespaces/X/<plural>/... addresses namespaced objects; /namespaces/X[/status] the namespace.
    if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] not in SUBRESOURCES:
        namespace, rest = rest[1], rest[2:]
    plural, name = rest[0], rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if len(rest) > 3:
        raise errors.path_not_found()
    rtype = catalogue.get(group, version, plural)
    if rtype is None:
        raise errors.path_not_found()
    creates = bool(subresource) and _CREATED_SUBRESOURCES.get((group, plural)) == subresource
    if subresource and not (
        (subresource == "status" and rtype.status_subresource)
        or (subresource == "finalize" and plural == "namespaces" and not group)
        or creates
    ):
        raise errors.path_not_found()
    if namespace and not rtype.namespaced:
        raise errors.path_not_found()
    if name and rtype.namespaced and not namespace:
        raise errors.path_not_found()
    verb = _verb(method, has_name=bool(name), watch=watch, creates=creates)
    if creates and verb != "create":
        raise errors.method_not_allowed()
    if subresource and not creates and verb not in ("get", "update", "patch"):
        raise errors.method_not_allowed()
    return Target(rtype, namespace, name, subresource, verb)
