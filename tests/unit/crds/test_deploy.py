"""deploy/: the install manifests hang together, and the RBAC is complete but least-privilege.

The RBAC checks run the simulator's own authorizer over the manifests, so they test
the same decision the end-to-end suite meets when the controller runs under this
ServiceAccount's token.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from certmgr.app import split_address
from certmgr.cli import build_parser
from certmgr.kube import resources as kube
from certmgr.testing.apiserver.auth import Authorizer, RequestAttributes, UserInfo
from certmgr.testing.apiserver.resources import BUILTINS
from certmgr.testing.apiserver.store import Store

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
SERVICE_ACCOUNT = UserInfo(
    "system:serviceaccount:certmgr:certmgr",
    ("system:serviceaccounts", "system:serviceaccounts:certmgr", "system:authenticated"),
)


def _docs(directory: Path) -> list[dict[str, Any]]:
    return [
        doc
        for path in sorted(directory.glob("*.yaml"))
        if path.name != "kustomization.yaml"
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


def _one(kind: str, name: str) -> dict[str, Any]:
    (found,) = [d for d in _docs(DEPLOY) if d["kind"] == kind and d["metadata"]["name"] == name]
    return found


@pytest.mark.parametrize("base", [DEPLOY, ROOT / "crds"], ids=["deploy", "crds"])
def test_kustomization_lists_every_manifest(base: Path) -> None:
    listed = yaml.safe_load((base / "kustomization.yaml").read_text())["resources"]
    files = {p.name for p in base.glob("*.yaml")} - {"kustomization.yaml"}
    assert {entry for entry in listed if not entry.startswith("..")} == files
    for entry in listed:
        assert (base / entry).exists()


@pytest.fixture(scope="module")
def authorizer() -> Authorizer:
    store = Store()
    rbac = {r.kind: r for r in BUILTINS if r.group == "rbac.authorization.k8s.io"}
    for doc in _docs(DEPLOY):
        if doc["kind"] in rbac:
            store.create(rbac[doc["kind"]], copy.deepcopy(doc))
    return Authorizer(store)


def _can(authorizer: Authorizer, verb: str, resource: str, namespace: str = "team-a") -> bool:
    group, _, rest = resource.rpartition(":")
    plural, _, sub = rest.partition("/")
    attrs = RequestAttributes(verb, group, plural, sub, namespace, "x")
    return authorizer.allowed(SERVICE_ACCOUNT, attrs)


# What tests/e2e/test_rbac_minimal.py found every path of the controller needs (that
# test derives it from runs and fails on any grant beyond it); a quick static check here.
NEEDED = [
    *[
        (verb, f"{r.group}:{r.plural}")
        for r in (
            kube.CERTIFICATES,
            kube.CERTIFICATEREQUESTS,
            kube.ISSUERS,
            kube.CLUSTERISSUERS,
            kube.ORDERS,
            kube.CHALLENGES,
            kube.SECRETS,
            kube.SERVICES,
            kube.INGRESSES,
        )
        for verb in ("list", "watch")
    ],
    ("get", "acme.cert-manager.io:orders"),
    ("get", ":secrets"),
    ("get", "networking.k8s.io:ingresses"),
    ("get", ":namespaces"),
    ("create", "cert-manager.io:certificates"),
    ("update", "cert-manager.io:certificates"),
    ("delete", "cert-manager.io:certificates"),
    ("create", "cert-manager.io:certificaterequests"),
    ("delete", "cert-manager.io:certificaterequests"),
    ("update", "cert-manager.io:certificates/status"),
    ("update", "cert-manager.io:certificaterequests/status"),
    ("patch", "cert-manager.io:certificaterequests/status"),
    ("patch", "cert-manager.io:issuers/status"),
    ("patch", "cert-manager.io:clusterissuers/status"),
    ("create", "acme.cert-manager.io:orders"),
    ("delete", "acme.cert-manager.io:orders"),
    ("patch", "acme.cert-manager.io:orders/status"),
    ("create", "acme.cert-manager.io:challenges"),
    ("patch", "acme.cert-manager.io:challenges"),
    ("delete", "acme.cert-manager.io:challenges"),
    ("patch", "acme.cert-manager.io:challenges/status"),
    ("update", "acme.cert-manager.io:challenges/finalizers"),
    ("create", ":secrets"),
    ("update", ":secrets"),
    ("delete", ":secrets"),
    ("create", ":services"),
    ("delete", ":services"),
    ("create", "discovery.k8s.io:endpointslices"),
    ("update", "discovery.k8s.io:endpointslices"),
    ("delete", "discovery.k8s.io:endpointslices"),
    ("create", ":pods"),
    ("delete", ":pods"),
    ("create", "networking.k8s.io:ingresses"),
    ("update", "networking.k8s.io:ingresses"),
    ("delete", "networking.k8s.io:ingresses"),
    ("create", ":events"),
    ("patch", ":events"),
]


@pytest.mark.parametrize(("verb", "resource"), NEEDED, ids=[f"{v}-{r}" for v, r in NEEDED])
def test_controller_may(authorizer: Authorizer, verb: str, resource: str) -> None:
    assert _can(authorizer, verb, resource)


FORBIDDEN = [
    ("update", "cert-manager.io:issuers", "the user's Issuer spec"),
    ("delete", "cert-manager.io:clusterissuers", "the user's ClusterIssuer"),
    ("update", "cert-manager.io:certificaterequests", "request spec is immutable"),
    ("update", ":pods", "solver pods are replaced, never edited"),
    ("update", ":services", "solver Services are replaced when drifted, never edited"),
    ("delete", ":namespaces", "namespaces"),
    ("list", ":nodes", "nodes"),
    ("get", ":configmaps", "configmaps"),
    ("get", ":events", "an Event is never read back (a repeat is a patch or a new one)"),
    ("create", "events.k8s.io:events", "only core/v1 Events are written"),
    ("create", "rbac.authorization.k8s.io:clusterrolebindings", "escalation"),
    ("update", "apiextensions.k8s.io:customresourcedefinitions", "its own CRDs"),
    ("delete", "networking.k8s.io:ingressclasses", "ingress classes"),
    ("get", "coordination.k8s.io:leases", "leases outside its namespace"),
    ("patch", ":secrets", "Secrets are written whole, with update"),
    ("get", ":pods", "solver Pods are created and deleted, never read"),
    ("list", ":namespaces", "only its own namespace is read, once"),
    ("get", "networking.k8s.io:ingressclasses", "ingress classes are not read"),
    ("update", "acme.cert-manager.io:orders", "Orders are never edited"),
    ("update", "cert-manager.io:issuers/status", "Issuer status is merge-patched"),
]


@pytest.mark.parametrize(
    ("verb", "resource", "why"), FORBIDDEN, ids=[f"{v}-{r}" for v, r, _ in FORBIDDEN]
)
def test_controller_may_not(authorizer: Authorizer, verb: str, resource: str, why: str) -> None:
    assert not _can(authorizer, verb, resource), why


@pytest.mark.parametrize("verb", ["get", "create", "update"])
def test_leases_only_in_own_namespace(authorizer: Authorizer, verb: str) -> None:
    assert _can(authorizer, verb, "coordination.k8s.io:leases", namespace="certmgr")
    assert not _can(authorizer, verb, "coordination.k8s.io:leases", namespace="kube-system")


def test_no_wildcards() -> None:
    for doc in _docs(DEPLOY):
        for rule in doc.get("rules", ()):
            for key in ("verbs", "apiGroups", "resources"):
                assert "*" not in rule[key], (doc["metadata"]["name"], rule)


def test_bindings_name_the_service_account_and_existing_roles() -> None:
    account = _one("ServiceAccount", "certmgr")["metadata"]
    for kind, role_kind in (("ClusterRoleBinding", "ClusterRole"), ("RoleBinding", "Role")):
        (binding,) = [d for d in _docs(DEPLOY) if d["kind"] == kind]
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": account["name"], "namespace": account["namespace"]}
        ]
        _one(role_kind, binding["roleRef"]["name"])  # exists


def test_deployment() -> None:
    """Shape only; tests/integration/test_deployment_process.py runs the container's args
    and probes the declared ports."""
    deployment = _one("Deployment", "certmgr")
    pod = deployment["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    assert pod["spec"]["serviceAccountName"] == "certmgr"
    for var in container["env"]:
        assert var["valueFrom"]["fieldRef"]["apiVersion"] == "v1", var["name"]
    labels = pod["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    ports = {p["name"] for p in container["ports"]}
    for name in ("certmgr-metrics", "certmgr-solver"):
        service = _one("Service", name)
        assert service["spec"]["selector"].items() <= labels.items()
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= ports
    budget = _one("PodDisruptionBudget", "certmgr")
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert budget["spec"]["minAvailable"] < deployment["spec"]["replicas"]


def test_deployment_is_restricted() -> None:
    """Pod Security "restricted", a read-only root filesystem and the image's user."""
    pod = _one("Deployment", "certmgr")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    (tmp,) = [v for v in pod["volumes"] if v["name"] == mounts["/tmp"]]
    assert "emptyDir" in tmp


def test_the_default_shared_solver_reaches_deploys_solver_service() -> None:
    """``certmgr run``'s defaults point each namespace's ExternalName Service at a host and
    port that deploy/ serves: the certmgr-solver Service, onto the container's solver port."""
    args = build_parser(["run"]).parse_args(["run"])
    service = _one("Service", "certmgr-solver")
    meta = service["metadata"]
    assert (
        args.http01_solver_service_host == f"{meta['name']}.{meta['namespace']}.svc.cluster.local"
    )
    (port,) = service["spec"]["ports"]
    _, listen_port = split_address(args.http01_solver_address)
    assert port["port"] == listen_port
    (container,) = _one("Deployment", "certmgr")["spec"]["template"]["spec"]["containers"]
    declared = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert declared[port["targetPort"]] == listen_port


def test_probes_and_metrics_ports_are_the_defaults_certmgr_run_listens_on() -> None:
    args = build_parser(["run"]).parse_args(["run"])
    (container,) = _one("Deployment", "certmgr")["spec"]["template"]["spec"]["containers"]
    declared = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert declared["http-healthz"] == split_address(args.health_address)[1]
    assert declared["http-metrics"] == split_address(args.metrics_address)[1]
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["port"] == "http-healthz"


def test_everything_namespaced_lives_in_certmgr() -> None:
    cluster_scoped = {"Namespace", "ClusterRole", "ClusterRoleBinding"}
    for doc in _docs(DEPLOY):
        if doc["kind"] not in cluster_scoped:
            assert doc["metadata"]["namespace"] == "certmgr", doc["kind"]
