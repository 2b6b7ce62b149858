"""The manifests in examples/ apply: every custom resource passes its CRD's admission."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def _documents() -> list[Any]:
    return [
        pytest.param(doc, id=f"{path.stem}:{doc['kind']}/{doc['metadata']['name']}")
        for path in sorted(EXAMPLES.glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


def _schema(crd: dict[str, Any]) -> dict[str, Any]:
    (version,) = crd["spec"]["versions"]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def _custom_resources() -> list[Any]:
    groups = ("cert-manager.io", "acme.cert-manager.io")
    return [p for p in _documents() if p.values[0]["apiVersion"].split("/")[0] in groups]


@pytest.mark.parametrize("doc", _custom_resources())
def test_example_custom_resources_are_admitted(
    admit: Any, crds: dict[str, Any], doc: dict[str, Any]
) -> None:
    assert admit(_schema(crds[doc["kind"]]), doc, None) == []


def test_examples_cover_the_seed_shapes() -> None:
    kinds = {(d.values[0]["kind"], d.values[0]["metadata"].get("namespace")) for d in _documents()}
    assert {
        ("ClusterIssuer", None),
        ("Issuer", "shop"),
        ("Certificate", "default"),
        ("Ingress", "default"),
    } <= kinds


def test_annotated_ingress_names_an_issuer_that_exists() -> None:
    docs = [d.values[0] for d in _documents()]
    (ingress,) = [d for d in docs if d["kind"] == "Ingress"]
    cluster_issuers = {d["metadata"]["name"] for d in docs if d["kind"] == "ClusterIssuer"}
    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] in cluster_issuers
    assert all(entry["secretName"] and entry["hosts"] for entry in ingress["spec"]["tls"])
