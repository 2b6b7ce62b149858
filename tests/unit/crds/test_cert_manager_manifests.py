"""cert-manager v1.21 manifests apply unchanged and nothing in them is lost.

tests/unit/crds/manifests/ holds valid cert-manager v1.21 objects that use every field
cert-manager added up to v1.21 (waitInsteadOfSelfCheck, spec.renewal, PKCS#12
Modern2026, status.acme.ari, Order replaces, Challenge presentedAt, ...). Each must
pass admission, have no field our schema does not know (kubectl's default
``fieldValidation=Strict`` refuses unknown fields), and decode through
``certmgr.api`` without dropping a key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from certmgr.api.acme import ChallengeSpec, ChallengeStatus, OrderSpec, OrderStatus
from certmgr.api.certificates import CertificateSpec, CertificateStatus
from certmgr.api.codec import JsonObject
from certmgr.api.issuers import IssuerSpec, IssuerStatus
from certmgr.api.requests import CertificateRequestSpec, CertificateRequestStatus
from tests.unit.crds.conftest import schema_of

MANIFESTS = Path(__file__).resolve().parent / "manifests"
TYPES: dict[str, tuple[type[JsonObject], type[JsonObject]]] = {
    "Certificate": (CertificateSpec, CertificateStatus),
    "CertificateRequest": (CertificateRequestSpec, CertificateRequestStatus),
    "Issuer": (IssuerSpec, IssuerStatus),
    "ClusterIssuer": (IssuerSpec, IssuerStatus),
    "Order": (OrderSpec, OrderStatus),
    "Challenge": (ChallengeSpec, ChallengeStatus),
}


def _documents() -> list[Any]:
    return [
        pytest.param(doc, id=f"{doc['kind']}/{doc['metadata']['name']}")
        for path in sorted(MANIFESTS.glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


def unknown_fields(schema: dict[str, Any], value: Any, path: str = "") -> list[str]:
    """The paths in ``value`` that strict field validation would call unknown."""
    if schema.get("x-kubernetes-preserve-unknown-fields") and "properties" not in schema:
        return []
    out = []
    if isinstance(value, dict) and schema.get("type") == "object":
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, child in value.items():
            if key in props:
                out += unknown_fields(props[key], child, f"{path}.{key}")
            elif isinstance(extra, dict):
                out += unknown_fields(extra, child, f"{path}.{key}")
            elif path != ".metadata" and not schema.get("x-kubernetes-preserve-unknown-fields"):
                out.append(f"{path}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            out += unknown_fields(schema["items"], item, f"{path}[{i}]")
    return out


def _leaf_paths(value: Any, path: str = "") -> set[str]:
    if isinstance(value, dict) and value:
        return {p for k, v in value.items() for p in _leaf_paths(v, f"{path}.{k}")}
    if isinstance(value, list) and value:
        return {p for i, v in enumerate(value) for p in _leaf_paths(v, f"{path}[{i}]")}
    # Go's omitempty: false, "" and null read back the same when absent.
    return set() if value in (False, "", None) else {path}


def test_the_manifests_cover_every_kind() -> None:
    assert {p.values[0]["kind"] for p in _documents()} == set(TYPES)


@pytest.mark.parametrize("doc", _documents())
def test_admitted(admit: Any, crds: dict[str, Any], doc: dict[str, Any]) -> None:
    assert admit(schema_of(crds[doc["kind"]]), doc, None) == []


@pytest.mark.parametrize("doc", _documents())
def test_no_unknown_fields(crds: dict[str, Any], doc: dict[str, Any]) -> None:
    assert unknown_fields(schema_of(crds[doc["kind"]]), doc) == []


@pytest.mark.parametrize("doc", _documents())
def test_decoded_without_loss(doc: dict[str, Any]) -> None:
    spec_type, status_type = TYPES[doc["kind"]]
    for part, kind in (("spec", spec_type), ("status", status_type)):
        if part in doc:
            decoded = kind.from_dict(doc[part], path=part).to_dict()
            assert _leaf_paths(doc[part]) - _leaf_paths(decoded) == set()


@pytest.mark.parametrize(
    ("schema", "value", "expected"),
    [
        pytest.param(
            {"type": "object", "properties": {"a": {"type": "string"}}},
            {"a": "x", "b": 1},
            [".b"],
            id="unknown",
        ),
        pytest.param(
            {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            {"b": {"c": 1}},
            [],
            id="free-form",
        ),
        pytest.param(
            {"type": "array", "items": {"type": "object", "properties": {}}},
            [{"z": 1}],
            ["[0].z"],
            id="in-list",
        ),
    ],
)
def test_unknown_fields_finder(schema: dict[str, Any], value: Any, expected: list[str]) -> None:
    assert unknown_fields(schema, value) == expected
