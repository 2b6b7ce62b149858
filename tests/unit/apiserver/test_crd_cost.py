"""CEL cost estimation of CRD rules: the real server's estimates, limits and wording."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from certmgr.testing.apiserver.crdrules import (
    CRD_COST_LIMIT,
    RULE_COST_LIMIT,
    check_crd,
    rule_costs,
)

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = Path(__file__).parent / "fixtures"
HINT = (
    "(try simplifying the rule, or adding maxItems, maxProperties, and maxLength where "
    "arrays, maps, and strings are declared)"
)


def crd(schema: dict[str, Any], *versions: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"plural": "widgets", "kind": "Widget"},
            "scope": "Namespaced",
            "versions": [
                {
                    "name": v,
                    "served": True,
                    "storage": i == 0,
                    "schema": {"openAPIV3Schema": schema},
                }
                for i, v in enumerate(versions or ("v1",))
            ],
        },
    }


def tags(*, max_items: int | None, max_length: int | None, rule: str) -> dict[str, Any]:
    items: dict[str, Any] = {"type": "string"}
    if max_length is not None:
        items["maxLength"] = max_length
    array: dict[str, Any] = {"type": "array", "items": items}
    if max_items is not None:
        array["maxItems"] = max_items
    array["x-kubernetes-validations"] = [{"rule": rule}]
    return {
        "type": "object",
        "properties": {"spec": {"type": "object", "properties": {"tags": array}}},
    }


def test_rejects_the_certificaterequest_crd_with_an_unbounded_condition_type() -> None:
    """The CRD of eca7fa4, refused by a real v1.35 server with exactly this cause."""
    old = yaml.safe_load((FIXTURES / "certificaterequests-unbounded-type.yaml").read_text())
    assert check_crd(old) == [
        {
            "reason": "FieldValueForbidden",
            "message": "Forbidden: estimated rule cost exceeds budget by factor of 8.1x " + HINT,
            "field": "spec.validation.openAPIV3Schema.properties[status]"
            ".x-kubernetes-validations[2].rule",
        }
    ]


@pytest.mark.parametrize(
    ("max_items", "max_length", "accepted"),
    [
        # self.all(x, x.contains('gpu')) costs 11 per item at maxLength 16, 30 at 63:
        # the largest maxItems a real server accepts are 909,090 and 333,333.
        pytest.param(909_090, 16, True, id="maxLength-16-largest-accepted"),
        pytest.param(909_091, 16, False, id="maxLength-16-one-more"),
        pytest.param(333_333, 63, True, id="maxLength-63-largest-accepted"),
        pytest.param(333_334, 63, False, id="maxLength-63-one-more"),
        pytest.param(None, 16, False, id="unbounded-list"),
        pytest.param(100, None, False, id="unbounded-strings"),
    ],
)
def test_per_rule_limit_follows_max_items_and_max_length(
    max_items: int | None, max_length: int | None, accepted: bool
) -> None:
    schema = tags(max_items=max_items, max_length=max_length, rule="self.all(x, x.contains('gpu'))")
    causes = check_crd(crd(schema))
    per_rule = [c for c in causes if "estimated rule cost exceeds" in c["message"]]
    assert (not per_rule) is accepted, causes


@pytest.mark.parametrize(
    ("rule", "schema_items", "expected"),
    [
        pytest.param("self.size() <= 3", {"type": "string"}, 3, id="size-is-constant"),
        pytest.param(
            "self.all(x, x == 'a')",
            {"type": "string", "maxLength": 10},
            5 * (2 + 1 + 1 + 1) + 2,
            id="all-with-literal-compare",
        ),
        pytest.param(
            "self.exists_one(x, x == 'a')",
            {"type": "string", "enum": ["a", "bb"]},
            5 * (0 + 1 + 1 + 2) + 1 + 2,
            id="exists-one-enum-sized",
        ),
    ],
)
def test_estimates_match_cel_go(rule: str, schema_items: dict[str, Any], expected: int) -> None:
    schema = {
        "type": "object",
        "properties": {
            "l": {
                "type": "array",
                "maxItems": 5,
                "items": schema_items,
                "x-kubernetes-validations": [{"rule": rule}],
            }
        },
    }
    assert [c.cost for c in rule_costs(crd(schema))] == [expected]


def test_unbounded_parent_list_multiplies_by_what_fits_in_a_request() -> None:
    # A rule on the items of an unbounded list runs once per item that fits in 3 MiB.
    item = {
        "type": "object",
        "properties": {"name": {"type": "string", "maxLength": 8}},
        "x-kubernetes-validations": [{"rule": "self.name == 'x'"}],
    }
    schema = {"type": "object", "properties": {"l": {"type": "array", "items": item}}}
    (cost,) = rule_costs(crd(schema))
    assert cost.total == cost.cost * (3 * 1024 * 1024 // 3)


def test_crd_total_limit_names_the_most_expensive_rules() -> None:
    rule = "self.all(x, x.contains('gpu'))"
    properties = {
        f"t{i}": {
            "type": "array",
            "maxItems": 800_000,
            "items": {"type": "string", "maxLength": 16},
            "x-kubernetes-validations": [{"rule": rule}],
        }
        for i in range(12)
    }
    causes = check_crd(crd({"type": "object", "properties": properties}))
    assert len(causes) == 5
    assert all(
        c["message"] == "Forbidden: contributed to estimated rule cost total exceeding cost "
        "limit for entire OpenAPIv3 schema"
        for c in causes[:4]
    )
    assert causes[-1]["field"] == "spec.validation.openAPIV3Schema"
    assert causes[-1]["message"].startswith(
        "Forbidden: x-kubernetes-validations estimated rule cost total for entire OpenAPIv3 "
        "schema exceeds budget by factor of 1.056000x"
    )


def test_versions_with_different_schemas_are_reported_per_version() -> None:
    bad = tags(max_items=None, max_length=None, rule="self.all(x, x.contains('gpu'))")
    spec = crd(bad, "v1", "v2")
    spec["spec"]["versions"][1]["schema"]["openAPIV3Schema"] = {"type": "object"}
    (cause,) = [c for c in check_crd(spec) if "rule cost exceeds" in c["message"]]
    assert cause["field"].startswith("spec.versions[0].schema.openAPIV3Schema.properties[spec]")


def test_a_rule_that_does_not_compile_is_invalid() -> None:
    schema = {"type": "object", "x-kubernetes-validations": [{"rule": "self.size( <= 1"}]}
    (cause,) = check_crd(crd(schema))
    assert cause["reason"] == "FieldValueInvalid"
    assert cause["field"] == "spec.validation.openAPIV3Schema.x-kubernetes-validations[0].rule"
    assert "compilation failed" in cause["message"]


@pytest.mark.parametrize("path", sorted((ROOT / "crds").glob("*_*.yaml")), ids=lambda p: p.name)
def test_every_rule_of_our_crds_is_estimated_within_budget(path: Path) -> None:
    document = yaml.safe_load(path.read_text())
    costs = rule_costs(document)
    rules = path.read_text().count("- rule:")
    assert len(costs) == rules
    assert check_crd(document) == []
    assert all(c.total <= RULE_COST_LIMIT for c in costs)
    assert sum(c.total for c in costs) <= CRD_COST_LIMIT


@pytest.mark.parametrize(
    ("rule", "undefined"),
    [
        pytest.param("self.spec.size > 0", None, id="declared"),
        pytest.param("self.spec.szie > 0", "szie", id="typo"),
        pytest.param("has(self.spec.other)", "other", id="presence-test"),
        pytest.param("self.spec.items.all(i, i.nmae != '')", "nmae", id="list-element"),
        pytest.param("self.metadata.name != ''", None, id="root-metadata-name"),
        pytest.param("self.spec.labels.anything == 'x'", None, id="map-key"),
    ],
)
def test_a_rule_naming_an_undeclared_field_does_not_compile(
    rule: str, undefined: str | None
) -> None:
    spec = {
        "type": "object",
        "properties": {
            "size": {"type": "integer"},
            "items": {
                "type": "array",
                "maxItems": 4,
                "items": {
                    "type": "object",
                    "properties": {"name": {"type": "string", "maxLength": 8}},
                },
            },
            "labels": {
                "type": "object",
                "additionalProperties": {"type": "string", "maxLength": 8},
                "maxProperties": 4,
            },
        },
    }
    schema = {
        "type": "object",
        "properties": {"spec": spec},
        "x-kubernetes-validations": [{"rule": rule}],
    }
    causes = check_crd(crd(schema))
    if undefined is None:
        assert causes == []
    else:
        (cause,) = causes
        assert cause["reason"] == "FieldValueInvalid"
        assert (
            f"compilation failed: ERROR: <input>: undefined field '{undefined}'" in cause["message"]
        )
