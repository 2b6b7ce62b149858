"""The CRD files themselves: structural schemas, names, columns, and shared parts in step."""

from __future__ import annotations

from typing import Any

import celpy
import pytest

_ENV = celpy.Environment()


def _schema(crd: dict[str, Any]) -> dict[str, Any]:
    (version,) = crd["spec"]["versions"]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def _untyped_nodes(node: dict[str, Any], path: str = "") -> list[str]:
    """Paths of schema nodes that a structural schema would reject for lacking a type."""
    if node.get("x-kubernetes-preserve-unknown-fields") or node.get("x-kubernetes-int-or-string"):
        if "type" not in node and not node.get("x-kubernetes-int-or-string"):
            return [path]
        return []
    if "type" not in node:
        return [path]
    out = []
    for name, child in node.get("properties", {}).items():
        out += _untyped_nodes(child, f"{path}.{name}")
    if isinstance(node.get("additionalProperties"), dict):
        out += _untyped_nodes(node["additionalProperties"], f"{path}.*")
    if "items" in node:
        out += _untyped_nodes(node["items"], f"{path}[]")
    return out


def _all_rules(node: Any) -> list[str]:
    if isinstance(node, dict):
        rules = [r["rule"] for r in node.get("x-kubernetes-validations", ())]
        return rules + [r for child in node.values() for r in _all_rules(child)]
    if isinstance(node, list):
        return [r for child in node for r in _all_rules(child)]
    return []


EXPECTED_NAMES = [
    pytest.param(
        "Certificate", "cert-manager.io", "Namespaced", ["cert", "certs"], id="Certificate"
    ),
    pytest.param("CertificateRequest", "cert-manager.io", "Namespaced", ["cr", "crs"], id="CR"),
    pytest.param("Issuer", "cert-manager.io", "Namespaced", ["iss"], id="Issuer"),
    pytest.param("ClusterIssuer", "cert-manager.io", "Cluster", ["ciss"], id="ClusterIssuer"),
    pytest.param("Order", "acme.cert-manager.io", "Namespaced", [], id="Order"),
    pytest.param("Challenge", "acme.cert-manager.io", "Namespaced", [], id="Challenge"),
]


@pytest.mark.parametrize(("kind", "group", "scope", "short"), EXPECTED_NAMES)
def test_names_scope_and_version(
    crds: dict[str, Any], kind: str, group: str, scope: str, short: list[str]
) -> None:
    spec = crds[kind]["spec"]
    assert crds[kind]["metadata"]["name"] == f"{spec['names']['plural']}.{group}"
    assert (spec["group"], spec["scope"]) == (group, scope)
    assert spec["names"].get("shortNames", []) == short
    assert "cert-manager" in spec["names"]["categories"]
    (version,) = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1", True, True)
    assert version["subresources"] == {"status": {}}


@pytest.mark.parametrize("kind", [p.values[0] for p in EXPECTED_NAMES])
def test_schema_is_structural(crds: dict[str, Any], kind: str) -> None:
    assert _untyped_nodes(_schema(crds[kind])) == []


@pytest.mark.parametrize("kind", [p.values[0] for p in EXPECTED_NAMES])
def test_every_rule_compiles(crds: dict[str, Any], kind: str) -> None:
    for rule in _all_rules(_schema(crds[kind])):
        _ENV.compile(rule)  # raises CELParseError on a bad rule


def test_certificate_printer_columns(crds: dict[str, Any]) -> None:
    (version,) = crds["Certificate"]["spec"]["versions"]
    columns = [(c["name"], c.get("priority", 0)) for c in version["additionalPrinterColumns"]]
    assert columns == [
        ("Ready", 0),
        ("Secret", 0),
        ("Issuer", 0),
        ("Status", 1),
        ("Expiration", 0),
        ("Age", 0),
    ]


def test_issuer_and_clusterissuer_share_one_spec(crds: dict[str, Any]) -> None:
    def spec_of(kind: str) -> dict[str, Any]:
        spec = dict(_schema(crds[kind])["properties"]["spec"])
        spec.pop("description")
        return spec

    assert spec_of("Issuer") == spec_of("ClusterIssuer")


def test_challenge_solver_is_the_issuer_solver(crds: dict[str, Any]) -> None:
    issuer_solver = _schema(crds["Issuer"])["properties"]["spec"]["properties"]["acme"][
        "properties"
    ]["solvers"]["items"]
    assert _schema(crds["Challenge"])["properties"]["spec"]["properties"]["solver"] == issuer_solver


@pytest.mark.parametrize(
    ("kind", "path", "expected"),
    [
        pytest.param(
            "Order",
            ("status", "state"),
            ["valid", "ready", "pending", "processing", "invalid", "expired", "errored"],
            id="order-state",
        ),
        pytest.param("Challenge", ("spec", "type"), ["HTTP-01", "DNS-01"], id="challenge-type"),
        pytest.param(
            "Certificate", ("spec", "privateKey", "encoding"), ["PKCS1", "PKCS8"], id="encoding"
        ),
    ],
)
def test_enums(crds: dict[str, Any], kind: str, path: tuple[str, ...], expected: list[str]) -> None:
    node = _schema(crds[kind])
    for part in path:
        node = node["properties"][part]
    assert node["enum"] == expected


@pytest.mark.parametrize(
    ("kind", "field"),
    [("CertificateRequest", "request"), ("Order", "request")],
)
def test_csr_fields_are_bytes(crds: dict[str, Any], kind: str, field: str) -> None:
    node = _schema(crds[kind])["properties"]["spec"]["properties"][field]
    assert (node["type"], node["format"]) == ("string", "byte")
