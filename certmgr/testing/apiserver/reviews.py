"""Access reviews (authorization.k8s.io/v1): SubjectAccessReview and
SelfSubjectAccessReview, answered by the simulator's RBAC authorizer as kube-apiserver
answers them: create-only, nothing stored, the request echoed back with ``status``.

A SubjectAccessReview is evaluated for exactly ``spec.user`` and ``spec.groups`` (no group
is inferred) and needs permission to create subjectaccessreviews; a
SelfSubjectAccessReview is allowed for any authenticated user and evaluates the caller.
It must not change any stored object.
"""

from __future__ import annotations

from typing import Any, Final

from certmgr.testing.apiserver import errors
from certmgr.testing.apiserver.auth import (
    ANONYMOUS,
    Authorizer,
    RequestAttributes,
    UserInfo,
)

GROUP: Final = "authorization.k8s.io"
PATHS: Final = {
    f"/apis/{GROUP}/v1/subjectaccessreviews": "SubjectAccessReview",
    f"/apis/{GROUP}/v1/selfsubjectaccessreviews": "SelfSubjectAccessReview",
}


def review(kind: str, body: Any, *, caller: UserInfo, authz: Authorizer) -> dict[str, Any]:
    """The answered review for a POSTed ``body`` of ``kind`` (one of ``PATHS``' values)."""
    if not isinstance(body, dict) or body.get("kind", kind) != kind:
        raise errors.bad_request(f"expected a {kind}")
    spec = body.get("spec")
    if not isinstance(spec, dict):
        raise errors.bad_request("spec: Required value")
    if kind == "SubjectAccessReview":
        authz.check(
            caller,
            RequestAttributes("create", GROUP, "subjectaccessreviews", "", "", ""),
        )
        user = spec.get("user") or ""
        groups = spec.get("groups") or []
        if not user and not groups:
            raise errors.bad_request("spec.user: Invalid value: at least one of user or group")
        subject = UserInfo(str(user), tuple(str(g) for g in groups))
    else:
        if caller is ANONYMOUS:
            raise errors.forbidden(
                f'selfsubjectaccessreviews.{GROUP} is forbidden: User "{caller.name}" cannot '
                f'create resource "selfsubjectaccessreviews" in API group "{GROUP}" at the '
                "cluster scope",
                resource="selfsubjectaccessreviews",
                group=GROUP,
            )
        subject = caller
    resource = spec.get("resourceAttributes")
    if isinstance(resource, dict):
        attrs = RequestAttributes(
            verb=str(resource.get("verb") or ""),
            api_group=str(resource.get("group") or ""),
            resource=str(resource.get("resource") or ""),
            subresource=str(resource.get("subresource") or ""),
            namespace=str(resource.get("namespace") or ""),
            name=str(resource.get("name") or ""),
        )
        allowed = authz.allowed(subject, attrs)
    elif isinstance(spec.get("nonResourceAttributes"), dict):
        allowed = False  # the simulator's RBAC grants no non-resource URLs
    else:
        raise errors.bad_request("spec: one of resourceAttributes or nonResourceAttributes")
    status: dict[str, Any] = {"allowed": allowed}
    if allowed:
        status["reason"] = "allowed by RBAC"
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": kind,
        "metadata": {},
        "spec": spec,
        "status": status,
    }
