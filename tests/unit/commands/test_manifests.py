"""``certmgr manifests`` prints the shipped manifests in ``kubectl apply -k`` order, our
images tagged with the installed version; nothing else is changed."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
import yaml

from certmgr import __version__, bundled
from certmgr.commands.manifests import render, tagged

ROOT = Path(__file__).resolve().parents[3]


def load(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def deployment(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return next(doc for doc in docs if doc["kind"] == "Deployment")


def test_all_is_the_crds_then_deploy_in_kustomization_order() -> None:
    docs = load(render("all"))
    crds = [doc for doc in docs if doc["kind"] == "CustomResourceDefinition"]
    assert [doc["metadata"]["name"] for doc in crds] == [
        "certificates.cert-manager.io",
        "certificaterequests.cert-manager.io",
        "issuers.cert-manager.io",
        "clusterissuers.cert-manager.io",
        "orders.acme.cert-manager.io",
        "challenges.acme.cert-manager.io",
    ]
    assert docs[: len(crds)] == crds  # CRDs first: what follows may use them
    expected_deploy = bundled.documents(bundled.kustomization_files("deploy"))
    assert [(d["kind"], d["metadata"]["name"]) for d in docs[len(crds) :]] == [
        (d["kind"], d["metadata"]["name"]) for d in expected_deploy
    ]


@pytest.mark.parametrize(
    ("repository", "image"),
    [
        (None, f"certmgr:{__version__}"),
        ("registry.example/certmgr", f"registry.example/certmgr:{__version__}"),
    ],
    ids=["default", "own-registry"],
)
def test_our_image_is_tagged_with_this_version(repository: str | None, image: str) -> None:
    (container,) = deployment(load(render("deploy", image=repository)))["spec"]["template"]["spec"][
        "containers"
    ]
    assert container["image"] == image


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("certmgr:0.0.1", f"certmgr:{__version__}"),
        ("certmgr-solver:0.0.1", f"certmgr-solver:{__version__}"),
        ("ghcr.io/x/certmgr:old", f"ghcr.io/x/certmgr:{__version__}"),
        (
            "quay.io/jetstack/cert-manager-acmesolver:v1.20.3",
            "quay.io/jetstack/cert-manager-acmesolver:v1.20.3",
        ),
        ("localhost:5000/certmgr", f"localhost:5000/certmgr:{__version__}"),
    ],
    ids=["ours", "solver", "registry", "not-ours", "registry-port"],
)
def test_retagging_touches_only_our_images(given: str, expected: str) -> None:
    doc = {
        "kind": "Deployment",
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"image": given, "args": ["run", f"--acme-http01-solver-image={given}"]}
                    ]
                }
            }
        },
    }
    (container,) = tagged(doc, repository=None)["spec"]["template"]["spec"]["containers"]
    assert container["image"] == expected
    assert container["args"] == ["run", f"--acme-http01-solver-image={expected}"]


def test_crds_and_examples_are_printed_unchanged() -> None:
    crd_files = bundled.kustomization_files("crds")
    assert sorted(crd_files) == sorted((ROOT / "crds").glob("*_*.yaml"))
    assert load(render("crds")) == bundled.documents(crd_files)
    assert load(render("examples")) == bundled.documents(sorted((ROOT / "examples").glob("*.yaml")))


def test_a_checkout_reads_its_own_folders() -> None:
    for name in bundled.FOLDERS:
        assert bundled.folder(name) == ROOT / name


def test_an_own_registry_is_also_the_pod_mode_solver_image() -> None:
    (container,) = deployment(load(render("deploy", image="registry.example/certmgr")))["spec"][
        "template"
    ]["spec"]["containers"]
    assert f"--http01-solver-image=registry.example/certmgr:{__version__}" in container["args"]
    (default,) = deployment(load(render("deploy")))["spec"]["template"]["spec"]["containers"]
    assert not any(a.startswith("--http01-solver-image") for a in default["args"])


def test_the_build_hook_copies_the_folders_bundled_reads() -> None:
    # setup.py cannot import certmgr (it runs before it is installed): the same tuple twice.
    tree = ast.parse((ROOT / "setup.py").read_text())
    (folders,) = [
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "FOLDERS" for t in node.targets)
    ]
    assert tuple(folders) == bundled.FOLDERS


def test_enable_gateway_api_applies_the_component() -> None:
    plain = load(render("deploy"))
    enabled = load(render("deploy", gateway_api=True))
    (container,) = deployment(enabled)["spec"]["template"]["spec"]["containers"]
    (default,) = deployment(plain)["spec"]["template"]["spec"]["containers"]
    assert container["args"] == [*default["args"], "--enable-gateway-api"]
    component = yaml.safe_load_all((ROOT / "deploy" / "gateway-api" / "rbac.yaml").read_text())
    assert enabled[len(plain) :] == [doc for doc in component if doc]
    assert load(render("crds", gateway_api=True)) == load(render("crds"))
