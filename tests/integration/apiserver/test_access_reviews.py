"""The simulator answers SubjectAccessReviews and SelfSubjectAccessReviews from its RBAC,
as kube-apiserver does: for exactly the user and groups asked about, nothing stored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from certmgr.kube.client import KubeClient
from certmgr.kube.errors import Forbidden
from certmgr.kube.resources import Resource
from certmgr.testing.apiserver import Simulator

SAR = Resource(
    "authorization.k8s.io", "v1", "SubjectAccessReview", "subjectaccessreviews", namespaced=False
)
SSAR = Resource(
    "authorization.k8s.io",
    "v1",
    "SelfSubjectAccessReview",
    "selfsubjectaccessreviews",
    namespaced=False,
)
ROLE = [
    {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "reader", "namespace": "default"},
        "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}],
    },
    {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "reader", "namespace": "default"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "app", "namespace": "default"}],
    },
]


def review(kind: str, attributes: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": kind,
        "spec": {"resourceAttributes": attributes, **spec},
    }


@pytest.mark.parametrize(
    ("attributes", "allowed"),
    [
        ({"verb": "get", "resource": "secrets", "namespace": "default"}, True),
        ({"verb": "list", "resource": "secrets", "namespace": "default"}, True),
        ({"verb": "delete", "resource": "secrets", "namespace": "default"}, False),
        ({"verb": "get", "resource": "secrets", "namespace": "other"}, False),
        ({"verb": "get", "resource": "secrets"}, False),
        (
            {"verb": "get", "group": "apps", "resource": "deployments", "namespace": "default"},
            False,
        ),
    ],
    ids=["get", "list", "other-verb", "other-namespace", "cluster-wide", "other-group"],
)
async def test_subject_access_review(
    apiserver: Simulator, kubeconfig: Path, attributes: dict[str, Any], allowed: bool
) -> None:
    apiserver.apply_manifests(ROLE)
    async with await KubeClient.connect(kubeconfig=str(kubeconfig)) as admin:
        answer = await admin.create(
            SAR, review("SubjectAccessReview", attributes, user="system:serviceaccount:default:app")
        )
    assert answer["status"]["allowed"] is allowed
    assert answer["spec"]["resourceAttributes"] == attributes


async def test_self_subject_access_review_and_who_may_ask(
    apiserver: Simulator, tmp_path: Path
) -> None:
    apiserver.apply_manifests(ROLE)
    token = apiserver.service_account_token("default", "app")
    own = apiserver.kubeconfig(tmp_path / "app.kubeconfig", token=token)
    async with await KubeClient.connect(kubeconfig=str(own)) as app:
        mine = await app.create(
            SSAR,
            review(
                "SelfSubjectAccessReview",
                {"verb": "get", "resource": "secrets", "namespace": "default"},
            ),
        )
        assert mine["status"]["allowed"] is True
        with pytest.raises(Forbidden):
            await app.create(
                SAR,
                review("SubjectAccessReview", {"verb": "get", "resource": "secrets"}, user="admin"),
            )
