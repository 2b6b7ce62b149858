"""``certmgr check`` on a live API server: one line per check, exit 0 only when the CRDs
are ours, no cert-manager webhook configuration or controller is left, and certmgr's
service account has the RBAC of deploy/rbac.yaml."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from certmgr import bundled
from certmgr.commands import check
from certmgr.testing.localenv import deploy_manifests

from .conftest import Cluster

CERT_MANAGER_WEBHOOK = {
    "webhooks": [
        {
            "name": "webhook.cert-manager.io",
            "admissionReviewVersions": ["v1"],
            "sideEffects": "None",
            "clientConfig": {
                "service": {"name": "cert-manager-webhook", "namespace": "cert-manager"}
            },
            "rules": [
                {
                    "apiGroups": ["cert-manager.io", "acme.cert-manager.io"],
                    "apiVersions": ["v1"],
                    "operations": ["CREATE", "UPDATE"],
                    "resources": ["*/*"],
                }
            ],
        }
    ]
}


def webhook_configuration(kind: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": kind,
        "metadata": {"name": name},
        **copy.deepcopy(CERT_MANAGER_WEBHOOK),
    }


def cert_manager_deployment(replicas: int = 1) -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": "cert-manager", "app.kubernetes.io/component": "controller"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "cert-manager", "namespace": "cert-manager", "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "cert-manager-controller",
                            "image": "quay.io/jetstack/cert-manager-controller:v1.20.3",
                        }
                    ]
                },
            },
        },
    }


def namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


@pytest.fixture
def installed(cluster: Cluster) -> Cluster:
    cluster.sim.apply_manifests(deploy_manifests())
    return cluster


def lines(out: str) -> dict[str, str]:
    """check name -> the line's status word and detail."""
    found = {}
    for line in out.splitlines():
        status, _, rest = line.partition(" ")
        check, _, detail = rest.strip().partition(": ")
        found[check] = f"{status} {detail}"
    return found


def test_a_clean_install_passes_every_check(installed: Cluster) -> None:
    result = installed.cli("check")
    assert result.code == 0, result.out
    checks = lines(result.out)
    assert len(checks) == 9
    assert all(line.startswith("ok ") for line in checks.values()), result.out


def test_cert_manager_leftovers_fail_by_name(installed: Cluster) -> None:
    installed.sim.apply_manifests(
        [
            webhook_configuration("ValidatingWebhookConfiguration", "cert-manager-webhook"),
            webhook_configuration("MutatingWebhookConfiguration", "cert-manager-webhook"),
            namespace("cert-manager"),
            cert_manager_deployment(),
        ]
    )
    result = installed.cli("check")
    assert result.code == 1
    checks = lines(result.out)
    assert checks["webhooks"].startswith("FAIL")
    assert "ValidatingWebhookConfiguration cert-manager-webhook" in checks["webhooks"]
    assert "MutatingWebhookConfiguration cert-manager-webhook" in checks["webhooks"]
    assert checks["cert-manager controller"].startswith("FAIL")
    assert "cert-manager/cert-manager" in checks["cert-manager controller"]
    assert checks["rbac"].startswith("ok ")


def test_a_scaled_down_cert_manager_controller_passes(installed: Cluster) -> None:
    installed.sim.apply_manifests([namespace("cert-manager"), cert_manager_deployment(0)])
    assert lines(installed.cli("check").out)["cert-manager controller"].startswith("ok ")


def test_a_crd_without_our_fields_fails(installed: Cluster) -> None:
    (crd,) = [
        doc
        for doc in bundled.documents(bundled.kustomization_files("crds"))
        if doc["metadata"]["name"] == "certificates.cert-manager.io"
    ]
    older = copy.deepcopy(crd)
    (v1,) = older["spec"]["versions"]
    del v1["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]["renewalTime"]
    stored = installed.get(crd)
    older["metadata"] = {
        "name": crd["metadata"]["name"],
        "resourceVersion": stored["metadata"]["resourceVersion"],
    }
    installed.sim.apply_manifests([older])
    checks = lines(installed.cli("check").out)
    assert checks["crd certificates.cert-manager.io"].startswith("FAIL lacks status.renewalTime")


def test_missing_rbac_is_named(cluster: Cluster) -> None:
    # The CRDs but none of deploy/: no service account, no roles.
    result = cluster.cli("check")
    assert result.code == 1
    rbac = lines(result.out)["rbac"]
    assert rbac.startswith("FAIL system:serviceaccount:certmgr:certmgr may not ")
    assert "certificates.cert-manager.io" in rbac
    assert "certmgr manifests deploy | kubectl apply -f -" in rbac


def test_a_crd_converted_by_cert_managers_webhook_fails() -> None:
    crd = bundled.documents(bundled.kustomization_files("crds"))[0]
    live = copy.deepcopy(crd)
    live["spec"]["conversion"] = {"strategy": "Webhook"}
    result = check.crd_result(crd, live)
    assert not result.ok
    assert result.detail.startswith("conversion strategy Webhook")
    assert check.crd_result(crd, copy.deepcopy(crd)).ok


def cert_manager_lease(renewed: datetime) -> dict[str, Any]:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "cert-manager-controller", "namespace": "kube-system"},
        "spec": {
            "holderIdentity": "cert-manager-6d4c8b7f5-x2x9z_3b1f",
            "leaseDurationSeconds": 60,
            "renewTime": renewed.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        },
    }


@pytest.mark.parametrize(
    ("age", "running"),
    [(timedelta(seconds=5), True), (timedelta(minutes=5), False)],
    ids=["renewed-just-now", "expired-long-ago"],
)
def test_a_cert_manager_controller_is_found_by_its_lease(
    installed: Cluster, age: timedelta, running: bool
) -> None:
    # A controller installed under other names or labels still renews its Lease.
    installed.sim.apply_manifests(
        [namespace("kube-system"), cert_manager_lease(datetime.now(UTC) - age)]
    )
    line = lines(installed.cli("check").out)["cert-manager controller"]
    assert line.startswith("FAIL") is running
    if running:
        assert "Lease kube-system/cert-manager-controller" in line
