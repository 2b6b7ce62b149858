"""Pod Security admission: a namespace's ``pod-security.kubernetes.io`` labels decide
which Pods are refused (403, kube-apiserver's exact message) or warned about (a
``Warning`` header, also for a Deployment's pod template). Portable: the same
assertions hold on a real kube-apiserver v1.35."""

from __future__ import annotations

import json
from typing import Any

import pytest

from certmgr.testing.apiserver import Simulator
from certmgr.testing.apiserver.wire import Cluster

PREFIX = "pod-security.kubernetes.io/"


def pod(name: str, *, spec: dict[str, Any] | None = None, **container: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "containers": [{"name": "acmesolver", "image": "solver:1", **container}],
            **(spec or {}),
        },
    }


RESTRICTED_CONTAINER = {
    "securityContext": {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }
}
RESTRICTED_POD = {
    "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
}


async def label(cluster: Cluster, namespace: str, **labels: str) -> None:
    patch = {"metadata": {"labels": {PREFIX + k.replace("_", "-"): v for k, v in labels.items()}}}
    reply = await cluster.request(
        "PATCH",
        f"/api/v1/namespaces/{namespace}",
        data=json.dumps(patch).encode(),
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert reply.status == 200, reply.body


@pytest.mark.parametrize(
    ("level", "manifest", "message"),
    [
        pytest.param(
            "restricted",
            pod("old-solver"),
            'pods "old-solver" is forbidden: violates PodSecurity "restricted:latest": '
            'allowPrivilegeEscalation != false (container "acmesolver" must set '
            "securityContext.allowPrivilegeEscalation=false), unrestricted capabilities "
            '(container "acmesolver" must set securityContext.capabilities.drop=["ALL"]), '
            'runAsNonRoot != true (pod or container "acmesolver" must set '
            "securityContext.runAsNonRoot=true), seccompProfile (pod or container "
            '"acmesolver" must set securityContext.seccompProfile.type to "RuntimeDefault" '
            'or "Localhost")',
            id="restricted-refuses-the-old-solver-pod",
        ),
        pytest.param(
            "restricted",
            pod(
                "root",
                spec={"securityContext": {"runAsNonRoot": False, "runAsUser": 0}},
                securityContext={
                    "allowPrivilegeEscalation": False,
                    "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE", "NET_ADMIN"]},
                    "seccompProfile": {"type": "Unconfined"},
                },
            ),
            'pods "root" is forbidden: violates PodSecurity "restricted:latest": '
            'unrestricted capabilities (container "acmesolver" must not include '
            '"NET_ADMIN" in securityContext.capabilities.add), runAsNonRoot != true (pod must '
            "not set securityContext.runAsNonRoot=false), runAsUser=0 (pod must not set "
            'runAsUser=0), seccompProfile (container "acmesolver" must not set '
            'securityContext.seccompProfile.type to "Unconfined")',
            id="restricted-root-and-capabilities",
        ),
        pytest.param(
            "baseline",
            pod(
                "host",
                spec={
                    "hostNetwork": True,
                    "hostPID": True,
                    "volumes": [{"name": "root", "hostPath": {"path": "/"}}],
                    "securityContext": {"sysctls": [{"name": "kernel.msgmax", "value": "1"}]},
                },
                ports=[{"containerPort": 8089, "hostPort": 80}],
                securityContext={"privileged": True, "procMount": "Unmasked"},
            ),
            'pods "host" is forbidden: violates PodSecurity "baseline:latest": host namespaces '
            '(hostNetwork=true, hostPID=true), hostPath volumes (volume "root"), hostPort '
            '(container "acmesolver" uses hostPort 80), privileged (container "acmesolver" '
            "must not set securityContext.privileged=true), procMount (container "
            '"acmesolver" must not set securityContext.procMount to "Unmasked"), forbidden '
            "sysctls (kernel.msgmax)",
            id="baseline-host-access",
        ),
    ],
)
async def test_enforce_refuses_with_the_real_message(
    cluster: Cluster, namespace: str, level: str, manifest: dict[str, Any], message: str
) -> None:
    await label(cluster, namespace, enforce=level)
    reply = await cluster.request("POST", f"/api/v1/namespaces/{namespace}/pods", body=manifest)
    assert reply.status == 403
    assert reply.body["reason"] == "Forbidden"
    assert reply.body["message"] == message


@pytest.mark.parametrize(
    ("labels", "manifest"),
    [
        pytest.param(
            {"enforce": "restricted"},
            pod("ok", spec=RESTRICTED_POD, **RESTRICTED_CONTAINER),
            id="restricted-pod",
        ),
        pytest.param({"enforce": "baseline"}, pod("plain"), id="baseline-plain-pod"),
        pytest.param({"enforce": "privileged"}, pod("any", spec={"hostNetwork": True}), id="priv"),
        pytest.param({}, pod("unlabelled", spec={"hostNetwork": True}), id="no-labels"),
    ],
)
async def test_allowed_pods_are_created_without_warnings(
    cluster: Cluster, namespace: str, labels: dict[str, str], manifest: dict[str, Any]
) -> None:
    if labels:
        await label(cluster, namespace, **labels)
    reply = await cluster.request("POST", f"/api/v1/namespaces/{namespace}/pods", body=manifest)
    assert reply.status == 201, reply.body
    assert "Warning" not in reply.headers


DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web"},
    "spec": {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "web:1"}]},
        },
    },
}


@pytest.mark.parametrize(
    ("path", "manifest", "warning"),
    [
        pytest.param(
            "pods",
            pod("warned", spec={"hostNetwork": True}, **RESTRICTED_CONTAINER),
            '299 - "would violate PodSecurity \\"restricted:latest\\": host namespaces '
            '(hostNetwork=true), runAsNonRoot != true (pod or container \\"acmesolver\\" must '
            "set securityContext.runAsNonRoot=true), seccompProfile (pod or container "
            '\\"acmesolver\\" must set securityContext.seccompProfile.type to '
            '\\"RuntimeDefault\\" or \\"Localhost\\")"',
            id="pod",
        ),
        pytest.param(
            "deployments",
            DEPLOYMENT,
            '299 - "would violate PodSecurity \\"restricted:latest\\": allowPrivilegeEscalation '
            '!= false (container \\"web\\" must set securityContext.allowPrivilegeEscalation='
            'false), unrestricted capabilities (container \\"web\\" must set '
            'securityContext.capabilities.drop=[\\"ALL\\"]), runAsNonRoot != true (pod or '
            'container \\"web\\" must set securityContext.runAsNonRoot=true), seccompProfile '
            '(pod or container \\"web\\" must set securityContext.seccompProfile.type to '
            '\\"RuntimeDefault\\" or \\"Localhost\\")"',
            id="deployment-pod-template",
        ),
    ],
)
async def test_warn_admits_with_a_warning_header(
    cluster: Cluster, namespace: str, path: str, manifest: dict[str, Any], warning: str
) -> None:
    await label(cluster, namespace, warn="restricted")
    group = "/api/v1" if path == "pods" else "/apis/apps/v1"
    reply = await cluster.request("POST", f"{group}/namespaces/{namespace}/{path}", body=manifest)
    assert reply.status == 201, reply.body
    assert reply.headers.get("Warning") == warning


async def test_audit_annotates_and_enforce_never_applies_to_workloads(
    sim: Simulator, cluster: Cluster, namespace: str
) -> None:
    await label(cluster, namespace, enforce="restricted", audit="restricted", warn="privileged")
    reply = await cluster.request(
        "POST", f"/apis/apps/v1/namespaces/{namespace}/deployments", body=DEPLOYMENT
    )
    assert reply.status == 201, reply.body  # enforce is for Pods only
    assert "Warning" not in reply.headers
    (annotations,) = sim.requests.audit_annotations()
    assert annotations[PREFIX + "audit-violations"].startswith(
        'would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false'
    )


async def test_an_update_that_changes_no_image_is_not_evaluated_again(
    cluster: Cluster, namespace: str
) -> None:
    created = await cluster.request(
        "POST", f"/api/v1/namespaces/{namespace}/pods", body=pod("before")
    )
    assert created.status == 201
    await label(cluster, namespace, enforce="restricted")
    body = created.body
    body["metadata"]["labels"] = {"touched": "yes"}
    updated = await cluster.request("PUT", f"/api/v1/namespaces/{namespace}/pods/before", body=body)
    assert updated.status == 200, updated.body
    body = updated.body
    body["spec"]["containers"][0]["image"] = "solver:2"
    changed = await cluster.request("PUT", f"/api/v1/namespaces/{namespace}/pods/before", body=body)
    assert changed.status == 403
    assert 'violates PodSecurity "restricted:latest"' in changed.body["message"]


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        pytest.param(
            {"enforce": "strict"},
            'Namespace "{ns}" is invalid: metadata.labels[pod-security.kubernetes.io/enforce]: '
            'Invalid value: "strict": must be one of privileged, baseline, restricted',
            id="unknown-level",
        ),
        pytest.param(
            {"warn": "restricted", "warn_version": "1.30", "audit": "none"},
            'Namespace "{ns}" is invalid: [metadata.labels[pod-security.kubernetes.io/audit]: '
            'Invalid value: "none": must be one of privileged, baseline, restricted, '
            "metadata.labels[pod-security.kubernetes.io/warn-version]: Invalid value: "
            '"1.30": must be "latest" or "v1.x"]',
            id="two-bad-labels",
        ),
    ],
)
async def test_invalid_policy_labels_are_refused(
    cluster: Cluster, namespace: str, labels: dict[str, str], message: str
) -> None:
    patch = {"metadata": {"labels": {PREFIX + k.replace("_", "-"): v for k, v in labels.items()}}}
    reply = await cluster.request(
        "PATCH",
        f"/api/v1/namespaces/{namespace}",
        data=json.dumps(patch).encode(),
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert reply.status == 422, reply.body
    assert reply.body["message"] == message.format(ns=namespace)


async def test_tightening_enforce_warns_about_the_pods_already_there(
    cluster: Cluster, namespace: str
) -> None:
    for name in ("b-old", "a-old", "c-host"):
        spec = {"hostNetwork": True} if name == "c-host" else None
        reply = await cluster.request(
            "POST", f"/api/v1/namespaces/{namespace}/pods", body=pod(name, spec=spec)
        )
        assert reply.status == 201, reply.body
    patch = {"metadata": {"labels": {PREFIX + "enforce": "restricted"}}}
    reply = await cluster.request(
        "PATCH",
        f"/api/v1/namespaces/{namespace}",
        data=json.dumps(patch).encode(),
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert reply.status == 200, reply.body
    # Several Warning headers: aiohttp's multidict keeps them all.
    assert list(reply.warnings) == [
        f'299 - "existing pods in namespace \\"{namespace}\\" violate the new PodSecurity '
        'enforce level \\"restricted:latest\\""',
        '299 - "a-old (and 1 other pod): allowPrivilegeEscalation != false, unrestricted '
        'capabilities, runAsNonRoot != true, seccompProfile"',
        '299 - "c-host: host namespaces, allowPrivilegeEscalation != false, unrestricted '
        'capabilities, runAsNonRoot != true, seccompProfile"',
    ]
