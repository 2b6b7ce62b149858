"""deploy/gateway-api: Gateway API permissions only when that component is added, exactly
what --enable-gateway-api's code uses (tests/e2e/test_gateway_e2e.py derives them from a
run), and the component turns the flag on."""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from certmgr.cli import build_parser
from certmgr.testing.apiserver.auth import Authorizer, RequestAttributes, UserInfo
from certmgr.testing.apiserver.resources import BUILTINS
from certmgr.testing.apiserver.store import Store

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
COMPONENT = DEPLOY / "gateway-api"
GROUP = "gateway.networking.k8s.io"
SERVICE_ACCOUNT = UserInfo(
    "system:serviceaccount:certmgr:certmgr",
    ("system:serviceaccounts", "system:serviceaccounts:certmgr", "system:authenticated"),
)
# (verb, resource[/subresource]) in gateway.networking.k8s.io the enabled code uses.
NEEDED = [
    ("get", "gateways"),
    ("list", "gateways"),
    ("watch", "gateways"),
    ("update", "gateways/finalizers"),
    ("create", "httproutes"),
    ("delete", "httproutes"),
]
NOT_NEEDED = [
    ("update", "gateways"),
    ("patch", "gateways/status"),
    ("get", "httproutes"),
    ("list", "httproutes"),
    ("update", "httproutes"),
    ("create", "gateways"),
    ("list", "gatewayclasses"),
    ("create", "referencegrants"),
]


def _docs(*paths: Path) -> list[dict[str, Any]]:
    return [doc for path in paths for doc in yaml.safe_load_all(path.read_text()) if doc]


def _authorizer(docs: list[dict[str, Any]]) -> Authorizer:
    store = Store()
    rbac = {r.kind: r for r in BUILTINS if r.group == "rbac.authorization.k8s.io"}
    for doc in docs:
        if doc["kind"] in rbac:
            store.create(rbac[doc["kind"]], copy.deepcopy(doc))
    return Authorizer(store)


def _can(authorizer: Authorizer, verb: str, resource: str) -> bool:
    plural, _, sub = resource.partition("/")
    attrs = RequestAttributes(verb, GROUP, plural, sub, "team-a", "x")
    return authorizer.allowed(SERVICE_ACCOUNT, attrs)


DEFAULT_INSTALL = sorted(p for p in DEPLOY.glob("*.yaml") if p.name != "kustomization.yaml")


@pytest.mark.parametrize(("verb", "resource"), NEEDED + NOT_NEEDED)
def test_the_default_install_grants_nothing_of_the_gateway_api(verb: str, resource: str) -> None:
    assert not _can(_authorizer(_docs(*DEFAULT_INSTALL)), verb, resource)


@pytest.mark.parametrize(("verb", "resource"), NEEDED)
def test_the_component_grants_what_the_gateway_code_uses(verb: str, resource: str) -> None:
    authorizer = _authorizer(_docs(*DEFAULT_INSTALL, COMPONENT / "rbac.yaml"))
    assert _can(authorizer, verb, resource)


@pytest.mark.parametrize(("verb", "resource"), NOT_NEEDED)
def test_the_component_grants_nothing_more(verb: str, resource: str) -> None:
    authorizer = _authorizer(_docs(*DEFAULT_INSTALL, COMPONENT / "rbac.yaml"))
    assert not _can(authorizer, verb, resource)


def test_the_component_binds_the_controllers_account_and_uses_no_wildcards() -> None:
    docs = _docs(COMPONENT / "rbac.yaml")
    (binding,) = [d for d in docs if d["kind"] == "ClusterRoleBinding"]
    (role,) = [d for d in docs if d["kind"] == "ClusterRole"]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "certmgr", "namespace": "certmgr"}
    ]
    for rule in role["rules"]:
        assert rule["apiGroups"] == [GROUP]
        for key in ("verbs", "resources"):
            assert "*" not in rule[key]


def _deployment_args(docs: list[dict[str, Any]]) -> list[str]:
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return list(container["args"])


def test_the_component_turns_the_flag_on_and_the_default_does_not() -> None:
    component = yaml.safe_load((COMPONENT / "kustomization.yaml").read_text())
    assert component["kind"] == "Component"
    assert component["resources"] == ["rbac.yaml"]
    (patch,) = component["patches"]
    assert patch["target"] == {"kind": "Deployment", "name": "certmgr"}
    (operation,) = yaml.safe_load((COMPONENT / patch["path"]).read_text())
    assert operation == {
        "op": "add",
        "path": "/spec/template/spec/containers/0/args/-",
        "value": "--enable-gateway-api",
    }
    default = _deployment_args(_docs(*DEFAULT_INSTALL))
    assert "--enable-gateway-api" not in default
    enabled = [*default, operation["value"]]
    assert build_parser(enabled).parse_args(enabled).enable_gateway_api is True
    listed = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    assert "gateway-api" not in str(listed)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="needs the kubectl binary")
def test_kustomize_builds_an_overlay_with_the_component(tmp_path: Path) -> None:
    shutil.copytree(DEPLOY, tmp_path / "deploy")
    shutil.copytree(ROOT / "crds", tmp_path / "crds")
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        "resources: [../deploy]\ncomponents: [../deploy/gateway-api]\n"
    )
    built = subprocess.run(
        ["kubectl", "kustomize", str(overlay)], capture_output=True, text=True, check=True
    ).stdout
    docs = [doc for doc in yaml.safe_load_all(built) if doc]
    assert "--enable-gateway-api" in _deployment_args(docs)
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert ("ClusterRole", "certmgr-controller-gateway-api") in names
