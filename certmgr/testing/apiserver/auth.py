"""Authentication by bearer token and RBAC authorization from stored objects.

Owns the token table (users, groups, service-account tokens) and the RBAC decision:
Role/ClusterRole rules reached through RoleBinding/ClusterRoleBinding subjects, with
verbs, apiGroups, resources (including ``x/status`` and ``*``) and resourceNames, as
the Kubernetes RBAC authorizer evaluates them. ``system:masters`` may do anything.
It must not store objects; it only reads the RBAC objects from the store.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from certmgr.testing.apiserver import errors
from certmgr.testing.apiserver.accounting import RequestCounts
from certmgr.testing.apiserver.resources import BUILTINS
from certmgr.testing.apiserver.store import Obj, Store

MASTERS = "system:masters"
AUTHENTICATED = "system:authenticated"

_RBAC = {r.kind: r for r in BUILTINS if r.group == "rbac.authorization.k8s.io"}


@dataclass(frozen=True, slots=True)
class UserInfo:
    name: str
    groups: tuple[str, ...]


ANONYMOUS = UserInfo("system:anonymous", ("system:unauthenticated",))


@dataclass(frozen=True, slots=True)
class RequestAttributes:
    verb: str
    api_group: str
    resource: str
    subresource: str
    namespace: str
    name: str


class Authenticator:
    def __init__(self) -> None:
        self._tokens: dict[str, UserInfo] = {}
        self._lock = threading.Lock()
        self.admin_token = secrets.token_urlsafe(24)
        self.add_token(self.admin_token, "admin", [MASTERS])

    def add_token(self, token: str, user: str, groups: Iterable[str] = ()) -> None:
        wanted = tuple(dict.fromkeys([*groups, AUTHENTICATED]))
        with self._lock:
            self._tokens[token] = UserInfo(user, wanted)

    def service_account_token(self, namespace: str, name: str) -> str:
        token = secrets.token_urlsafe(24)
        self.add_token(
            token,
            f"system:serviceaccount:{namespace}:{name}",
            ["system:serviceaccounts", f"system:serviceaccounts:{namespace}"],
        )
        return token

    def authenticate(self, authorization: str | None) -> UserInfo:
        """The caller; no credentials at all is ``system:anonymous``, bad ones are a 401."""
        if not authorization:
            return ANONYMOUS
        # As kube-apiserver: the scheme is case-insensitive (the kubernetes package's
        # in-cluster loader sends "bearer <token>").
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise errors.unauthorized()
        with self._lock:
            user = self._tokens.get(token.strip())
        if user is None:
            raise errors.unauthorized()
        return user


def _subject_matches(subject: dict[str, Any], user: UserInfo) -> bool:
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "User":
        return bool(name == user.name)
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        return user.name == f"system:serviceaccount:{subject.get('namespace', '')}:{name}"
    return False


def _rule_allows(rule: dict[str, Any], attrs: RequestAttributes) -> bool:
    verbs = rule.get("verbs") or ()
    if "*" not in verbs and attrs.verb not in verbs:
        return False
    groups = rule.get("apiGroups") or ()
    if "*" not in groups and attrs.api_group not in groups:
        return False
    resources = rule.get("resources") or ()
    combined = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    if not (
        "*" in resources
        or combined in resources
        or (attrs.subresource and f"*/{attrs.subresource}" in resources)
    ):
        return False
    names = rule.get("resourceNames") or ()
    return not names or attrs.name in names


class Authorizer:
    def __init__(self, store: Store, *, counts: RequestCounts | None = None) -> None:
        self._store = store
        self._counts = counts

    def _objects(self, kind: str) -> list[Obj]:
        return list(self._store.table(_RBAC[kind]).objects.values())

    def _rules(self, role_ref: dict[str, Any], namespace: str) -> list[dict[str, Any]]:
        kind, name = role_ref.get("kind"), role_ref.get("name", "")
        if kind == "ClusterRole":
            role = self._store.table(_RBAC["ClusterRole"]).objects.get(("", name))
        elif kind == "Role":
            role = self._store.table(_RBAC["Role"]).objects.get((namespace, name))
        else:
            return []
        return list((role or {}).get("rules") or ())

    def allowed(self, user: UserInfo, attrs: RequestAttributes) -> bool:
        if MASTERS in user.groups:
            return True
        if self._counts is not None:
            resource = attrs.resource + (f"/{attrs.subresource}" if attrs.subresource else "")
            self._counts.asked(
                user=user.name, group=attrs.api_group, resource=resource, verb=attrs.verb
            )
        for binding in self._objects("ClusterRoleBinding"):
            if any(_subject_matches(s, user) for s in binding.get("subjects") or ()) and any(
                _rule_allows(r, attrs) for r in self._rules(binding.get("roleRef", {}), "")
            ):
                return True
        if not attrs.namespace:
            return False
        for binding in self._objects("RoleBinding"):
            if binding["metadata"].get("namespace") != attrs.namespace:
                continue
            if any(_subject_matches(s, user) for s in binding.get("subjects") or ()) and any(
                _rule_allows(r, attrs)
                for r in self._rules(binding.get("roleRef", {}), attrs.namespace)
            ):
                return True
        return False

    def check(self, user: UserInfo, attrs: RequestAttributes) -> None:
        if self.allowed(user, attrs):
            return
        resource = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
        group = f'"{attrs.api_group}"'
        where = (
            f'in the namespace "{attrs.namespace}"' if attrs.namespace else "at the cluster scope"
        )
        name = f' "{attrs.name}"' if attrs.name else ""
        raise errors.forbidden(
            f'{attrs.resource}{name} is forbidden: User "{user.name}" cannot {attrs.verb} '
            f'resource "{resource}" in API group {group} {where}',
            resource=attrs.resource,
            group=attrs.api_group,
            name=attrs.name,
        )
