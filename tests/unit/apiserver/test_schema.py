"""Custom resource admission: pruning, defaulting, structural checks, CEL rules, ratcheting."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from certmgr.testing.apiserver.schema import Cause, admit, invalid_message

BLOCKED = {
    "reason": "FieldValueInvalid",
    "message": "Invalid value: null: some validation rules were not checked because the object "
    "was invalid; correct the existing errors to complete validation",
    "field": "<nil>",
}


def _root(spec: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A CRD root schema whose `spec` is `spec`."""
    return {"type": "object", "properties": {"spec": spec, **extra}}


def _object(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties}


STRING = {"type": "string"}


def _causes(schema: dict[str, Any], spec: Any, old_spec: Any = None) -> list[dict[str, str]]:
    old = None if old_spec is None else {"spec": old_spec}
    _, causes = admit(schema, {"spec": spec}, old=old)
    return [cause.to_json() for cause in causes]


# --- pruning and defaulting ---


@pytest.mark.parametrize(
    ("schema", "obj", "admitted"),
    [
        pytest.param(
            _root(_object(a=STRING)),
            {"apiVersion": "v", "kind": "K", "metadata": {"x": 1}, "spec": {"a": "1", "b": "2"}},
            {"apiVersion": "v", "kind": "K", "metadata": {"x": 1}, "spec": {"a": "1"}},
            id="unknown-pruned-root-keys-kept",
        ),
        pytest.param(
            _root({"type": "object"}), {"spec": {"a": 1}}, {"spec": {}}, id="no-properties"
        ),
        pytest.param(
            _root(_object(a=STRING)), {"spec": {}, "status": {"x": 1}}, {"spec": {}}, id="status"
        ),
        pytest.param(
            _root(
                {
                    "type": "object",
                    "x-kubernetes-preserve-unknown-fields": True,
                    "properties": {"known": _object(a=STRING)},
                }
            ),
            {"spec": {"free": {"x": 1}, "known": {"a": "1", "b": 2}}},
            {"spec": {"free": {"x": 1}, "known": {"a": "1"}}},
            id="preserve-unknown-but-known-pruned",
        ),
        pytest.param(
            _root({"type": "object", "additionalProperties": _object(a=STRING)}),
            {"spec": {"k1": {"a": "1", "z": 0}}},
            {"spec": {"k1": {"a": "1"}}},
            id="additional-properties-schema",
        ),
        pytest.param(
            _root({"type": "array", "items": _object(a=STRING)}),
            {"spec": [{"a": "1", "z": 0}]},
            {"spec": [{"a": "1"}]},
            id="array-items",
        ),
        pytest.param(
            _root(
                {
                    "type": "object",
                    "x-kubernetes-embedded-resource": True,
                    "properties": {"spec": _object(a=STRING)},
                }
            ),
            {
                "spec": {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": "p", "bogus": 1},
                    "spec": {"a": "1", "b": 2},
                    "other": 3,
                }
            },
            {
                "spec": {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": "p"},
                    "spec": {"a": "1"},
                }
            },
            id="embedded-resource",
        ),
        pytest.param(
            _root(_object(a={**STRING, "default": "d"}, b={**STRING, "default": "e"})),
            {"spec": {"b": "given"}},
            {"spec": {"a": "d", "b": "given"}},
            id="default-when-absent",
        ),
        pytest.param(
            _root(
                _object(
                    issuer={
                        **_object(kind={**STRING, "default": "Issuer"}, name=STRING),
                        "default": {},
                    }
                )
            ),
            {"spec": {}},
            {"spec": {"issuer": {"kind": "Issuer"}}},
            id="defaults-inside-a-default",
        ),
        pytest.param(
            _root({"type": "array", "items": _object(kind={**STRING, "default": "Issuer"})}),
            {"spec": [{}, {"kind": "ClusterIssuer"}]},
            {"spec": [{"kind": "Issuer"}, {"kind": "ClusterIssuer"}]},
            id="defaults-in-items",
        ),
        pytest.param(
            _root(_object(a={**STRING, "default": "d"}, b=STRING)),
            {"spec": {"a": None, "b": None}},
            {"spec": {"a": "d"}},
            id="non-nullable-null-dropped-then-defaulted",
        ),
        pytest.param(
            _root(_object(a={**STRING, "nullable": True, "default": "d"})),
            {"spec": {"a": None}},
            {"spec": {"a": None}},
            id="nullable-null-kept",
        ),
    ],
)
def test_pruning_and_defaulting(
    schema: dict[str, Any], obj: dict[str, Any], admitted: dict[str, Any]
) -> None:
    before = copy.deepcopy(obj)
    result, causes = admit(schema, obj)
    assert (result, causes) == (admitted, [])
    assert obj == before


# --- structural validation ---


def _invalid(field: str, message: str, reason: str = "FieldValueInvalid") -> dict[str, str]:
    return {"reason": reason, "message": message, "field": field}


INTEGER = {"type": "integer"}


@pytest.mark.parametrize(
    ("spec_schema", "spec", "causes"),
    [
        pytest.param(
            {**_object(secretName=STRING), "required": ["secretName"]},
            {},
            [_invalid("spec.secretName", "Required value", "FieldValueRequired"), BLOCKED],
            id="required",
        ),
        pytest.param(
            _object(kind={**STRING, "enum": ["Issuer", "ClusterIssuer"]}),
            {"kind": "Isuer"},
            [
                _invalid(
                    "spec.kind",
                    'Unsupported value: "Isuer": supported values: "Issuer", "ClusterIssuer"',
                    "FieldValueNotSupported",
                ),
                BLOCKED,
            ],
            id="enum",
        ),
        pytest.param(
            _object(n={**INTEGER, "enum": [1, 2]}),
            {"n": 3},
            [
                _invalid(
                    "spec.n",
                    'Unsupported value: 3: supported values: "1", "2"',
                    "FieldValueNotSupported",
                ),
                BLOCKED,
            ],
            id="enum-of-integers",
        ),
        pytest.param(
            _object(n=INTEGER),
            {"n": "3"},
            [
                _invalid(
                    "spec.n",
                    'Invalid value: "string": spec.n in body must be of type integer: "string"',
                    "FieldValueTypeInvalid",
                ),
                BLOCKED,
            ],
            id="type",
        ),
        pytest.param(_object(n=INTEGER), {"n": 3.0}, [], id="integral-float-is-an-integer"),
        pytest.param(_object(x={"type": "number"}), {"x": 3}, [], id="integer-is-a-number"),
        pytest.param(
            _object(b={"type": "boolean"}),
            {"b": 1},
            [
                _invalid(
                    "spec.b",
                    'Invalid value: "integer": spec.b in body must be of type boolean: "integer"',
                    "FieldValueTypeInvalid",
                ),
                BLOCKED,
            ],
            id="one-is-not-a-boolean",
        ),
        pytest.param(
            _object(s={**STRING, "pattern": "^[a-z]+$"}),
            {"s": "Web"},
            [_invalid("spec.s", "Invalid value: \"Web\": spec.s in body should match '^[a-z]+$'")],
            id="pattern",
        ),
        pytest.param(
            _object(s={**STRING, "minLength": 1}),
            {"s": ""},
            [
                _invalid(
                    "spec.s", 'Invalid value: "": spec.s in body should be at least 1 chars long'
                )
            ],
            id="min-length",
        ),
        pytest.param(
            _object(s={**STRING, "maxLength": 2}),
            {"s": "abc"},
            [
                _invalid("spec.s", "Too long: may not be more than 2 bytes", "FieldValueTooLong"),
                BLOCKED,
            ],
            id="max-length",
        ),
        pytest.param(
            _object(n={**INTEGER, "minimum": 1}),
            {"n": 0},
            [
                _invalid(
                    "spec.n",
                    "Invalid value: 0: spec.n in body should be greater than or equal to 1",
                )
            ],
            id="minimum",
        ),
        pytest.param(
            _object(n={**INTEGER, "minimum": 1, "exclusiveMinimum": True}),
            {"n": 1},
            [_invalid("spec.n", "Invalid value: 1: spec.n in body should be greater than 1")],
            id="exclusive-minimum",
        ),
        pytest.param(
            _object(n={"type": "number", "maximum": 1.5}),
            {"n": 2.5},
            [
                _invalid(
                    "spec.n",
                    "Invalid value: 2.5: spec.n in body should be less than or equal to 1.5",
                )
            ],
            id="maximum",
        ),
        pytest.param(
            _object(n={**INTEGER, "maximum": 100, "exclusiveMaximum": True}),
            {"n": 100},
            [_invalid("spec.n", "Invalid value: 100: spec.n in body should be less than 100")],
            id="exclusive-maximum",
        ),
        pytest.param(
            _object(l={"type": "array", "items": STRING, "minItems": 1}),
            {"l": []},
            [_invalid("spec.l", "Invalid value: 0: spec.l in body should have at least 1 items")],
            id="min-items",
        ),
        pytest.param(
            _object(l={"type": "array", "items": STRING, "maxItems": 1}),
            {"l": ["a", "b"]},
            [
                _invalid("spec.l", "Too many: 2: must have at most 1 item", "FieldValueTooMany"),
                BLOCKED,
            ],
            id="max-items",
        ),
        pytest.param(
            _object(m={"type": "object", "additionalProperties": STRING, "minProperties": 1}),
            {"m": {}},
            [
                _invalid(
                    "spec.m", "Invalid value: 0: spec.m in body should have at least 1 properties"
                )
            ],
            id="min-properties",
        ),
        pytest.param(
            _object(m={"type": "object", "additionalProperties": STRING, "maxProperties": 1}),
            {"m": {"a": "1", "b": "2"}},
            [
                _invalid("spec.m", "Too many: 2: must have at most 1 item", "FieldValueTooMany"),
                BLOCKED,
            ],
            id="max-properties",
        ),
        pytest.param(
            _object(t={**STRING, "format": "date-time"}),
            {"t": "2024-02-30T00:00:00Z"},
            [
                _invalid(
                    "spec.t",
                    'Invalid value: "2024-02-30T00:00:00Z": spec.t in body must be of type '
                    'date-time: "2024-02-30T00:00:00Z"',
                    "FieldValueTypeInvalid",
                ),
                BLOCKED,
            ],
            id="date-time",
        ),
        pytest.param(
            _object(t={**STRING, "format": "date-time"}),
            {"t": "2024-02-29T23:59:59.123+01:00"},
            [],
            id="date-time-ok",
        ),
        pytest.param(
            _object(t={**STRING, "format": "hostname"}), {"t": "!!"}, [], id="other-format"
        ),
        pytest.param(
            _object(p={"x-kubernetes-int-or-string": True, "pattern": "^[0-9]+%$"}),
            {"p": 80},
            [],
            id="int-or-string-int",
        ),
        pytest.param(
            _object(p={"x-kubernetes-int-or-string": True, "pattern": "^[0-9]+%$"}),
            {"p": "80"},
            [_invalid("spec.p", "Invalid value: \"80\": spec.p in body should match '^[0-9]+%$'")],
            id="int-or-string-pattern",
        ),
        pytest.param(
            _object(p={"x-kubernetes-int-or-string": True}),
            {"p": True},
            [
                _invalid(
                    "spec.p",
                    'Invalid value: "boolean": spec.p in body must be of type integer or string: '
                    '"boolean"',
                    "FieldValueTypeInvalid",
                ),
                BLOCKED,
            ],
            id="int-or-string-bool",
        ),
        pytest.param(
            _object(l={"type": "array", "items": STRING, "x-kubernetes-list-type": "set"}),
            {"l": ["a", "b", "a"]},
            [_invalid("spec.l[2]", 'Duplicate value: "a"', "FieldValueDuplicate")],
            id="list-set",
        ),
        pytest.param(
            _object(
                l={
                    "type": "array",
                    "items": _object(name=STRING, v=STRING),
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["name"],
                }
            ),
            {"l": [{"name": "a", "v": "1"}, {"name": "a", "v": "2"}]},
            [_invalid("spec.l[1]", 'Duplicate value: {"name":"a"}', "FieldValueDuplicate")],
            id="list-map",
        ),
        pytest.param(
            _object(
                solvers={
                    "type": "array",
                    "items": _object(
                        http01=_object(
                            ingress={**_object(**{"class": STRING}), "required": ["class"]}
                        )
                    ),
                }
            ),
            {"solvers": [{}, {"http01": {"ingress": {}}}]},
            [
                _invalid(
                    "spec.solvers[1].http01.ingress.class", "Required value", "FieldValueRequired"
                ),
                BLOCKED,
            ],
            id="nested-path",
        ),
        pytest.param(
            _object(
                template={
                    "type": "object",
                    "x-kubernetes-embedded-resource": True,
                    "x-kubernetes-preserve-unknown-fields": True,
                }
            ),
            {"template": {"kind": ""}},
            [
                _invalid(
                    "spec.template.apiVersion",
                    "Required value: must not be empty",
                    "FieldValueRequired",
                ),
                _invalid("spec.template.kind", 'Invalid value: "": must not be empty'),
                BLOCKED,
            ],
            id="embedded-resource-type-meta",
        ),
        pytest.param(
            _object(s=STRING),
            {"s": None},
            [],
            id="non-nullable-null-is-dropped-not-rejected",
        ),
    ],
)
def test_structural_validation(
    spec_schema: dict[str, Any], spec: Any, causes: list[dict[str, str]]
) -> None:
    assert _causes(_root(spec_schema), spec) == causes


def test_null_array_item_is_a_type_error() -> None:
    schema = _root(_object(l={"type": "array", "items": STRING}))
    assert _causes(schema, {"l": ["a", None]})[0] == _invalid(
        "spec.l[1]",
        'Invalid value: "null": spec.l[1] in body must be of type string: "null"',
        "FieldValueTypeInvalid",
    )


# --- x-kubernetes-validations ---

CERTIFICATE_SPEC = {
    **_object(
        renewBefore=STRING,
        renewBeforePercentage=INTEGER,
        dnsNames={"type": "array", "items": STRING, "maxItems": 3},
    ),
    "x-kubernetes-validations": [
        {
            "rule": "!(has(self.renewBefore) && has(self.renewBeforePercentage))",
            "message": "renewBefore and renewBeforePercentage are mutually exclusive",
        },
        {
            "rule": "!has(self.dnsNames) || self.dnsNames.size() <= 2",
            "reason": "FieldValueForbidden",
            "fieldPath": ".dnsNames",
        },
    ],
}


@pytest.mark.parametrize(
    ("spec", "causes"),
    [
        pytest.param({"renewBefore": "1h"}, [], id="valid"),
        pytest.param(
            {"renewBefore": "1h", "renewBeforePercentage": 10},
            [
                _invalid(
                    "spec",
                    'Invalid value: "object": '
                    "renewBefore and renewBeforePercentage are mutually exclusive",
                )
            ],
            id="rule-with-message",
        ),
        pytest.param(
            {"dnsNames": ["a", "b", "c"]},
            [
                _invalid(
                    "spec.dnsNames",
                    "Forbidden: failed rule: !has(self.dnsNames) || self.dnsNames.size() <= 2",
                    "FieldValueForbidden",
                )
            ],
            id="reason-and-field-path",
        ),
        pytest.param(
            {"dnsNames": ["a", "b", "c", "d"], "renewBefore": "1h", "renewBeforePercentage": 1},
            [
                _invalid(
                    "spec.dnsNames", "Too many: 4: must have at most 3 items", "FieldValueTooMany"
                ),
                BLOCKED,
            ],
            id="blocking-error-skips-rules",
        ),
    ],
)
def test_validation_rules(spec: dict[str, Any], causes: list[dict[str, str]]) -> None:
    assert _causes(_root(CERTIFICATE_SPEC), spec) == causes


def test_rules_on_absent_and_null_nodes_are_not_evaluated() -> None:
    never = {"rule": "false", "message": "evaluated"}
    schema = _root(
        _object(
            absent={**_object(), "x-kubernetes-validations": [never]},
            empty={**_object(), "nullable": True, "x-kubernetes-validations": [never]},
        )
    )
    assert _causes(schema, {"empty": None}) == []
    assert _causes(schema, {"absent": {}}) == [
        _invalid("spec.absent", 'Invalid value: "object": evaluated')
    ]


def test_rules_on_list_items_report_the_item_path() -> None:
    item = {**_object(name=STRING), "x-kubernetes-validations": [{"rule": "self.name != 'x'"}]}
    schema = _root(_object(items={"type": "array", "items": item}))
    assert _causes(schema, {"items": [{"name": "a"}, {"name": "x"}]}) == [
        _invalid("spec.items[1]", "Invalid value: \"object\": failed rule: self.name != 'x'")
    ]


IMMUTABLE = {
    **_object(
        request=STRING, usages={"type": "array", "items": STRING, "default": ["digital signature"]}
    ),
    "x-kubernetes-validations": [
        {"rule": "self == oldSelf", "message": "spec is immutable", "reason": "FieldValueForbidden"}
    ],
}


@pytest.mark.parametrize(
    ("old", "new", "causes"),
    [
        pytest.param(None, {"request": "a"}, [], id="create-skips-transition-rule"),
        pytest.param({"request": "a"}, {"request": "a"}, [], id="unchanged"),
        pytest.param(
            {"request": "a"},
            {"request": "b"},
            [_invalid("spec", "Forbidden: spec is immutable", "FieldValueForbidden")],
            id="changed",
        ),
        pytest.param(
            {"request": "a"},
            {"request": "a", "usages": ["digital signature"]},
            [],
            id="old-is-defaulted-like-the-new",
        ),
    ],
)
def test_transition_rules(
    old: dict[str, Any] | None, new: dict[str, Any], causes: list[dict[str, str]]
) -> None:
    assert _causes(_root(IMMUTABLE), new, old) == causes


RATCHETED = _object(
    name={**STRING, "maxLength": 3},
    other=STRING,
    always={
        **STRING,
        "x-kubernetes-validations": [{"rule": "self != oldSelf", "message": "must change"}],
    },
    plain={**STRING, "x-kubernetes-validations": [{"rule": "self.size() < 3", "message": "short"}]},
)


@pytest.mark.parametrize(
    ("old", "new", "causes"),
    [
        pytest.param(
            {"name": "toolong"}, {"name": "toolong", "other": "x"}, [], id="unchanged-invalid-kept"
        ),
        pytest.param(
            {"name": "toolong"},
            {"name": "toolonger"},
            [
                _invalid(
                    "spec.name", "Too long: may not be more than 3 bytes", "FieldValueTooLong"
                ),
                BLOCKED,
            ],
            id="changed-invalid-rejected",
        ),
        pytest.param({"plain": "long"}, {"plain": "long"}, [], id="unchanged-rule-failure-kept"),
        pytest.param(
            {"always": "a"},
            {"always": "a"},
            [_invalid("spec.always", 'Invalid value: "string": must change')],
            id="transition-rules-are-not-ratcheted",
        ),
    ],
)
def test_ratcheting_on_update(
    old: dict[str, Any], new: dict[str, Any], causes: list[dict[str, str]]
) -> None:
    assert _causes(_root(RATCHETED), new, old) == causes


def test_cause_json_and_status_message() -> None:
    required = Cause("FieldValueRequired", "Required value", "spec.secretName")
    pattern = Cause("FieldValueInvalid", 'Invalid value: "A": bad', "spec.dnsNames[0]")
    assert required.to_json() == {
        "reason": "FieldValueRequired",
        "message": "Required value",
        "field": "spec.secretName",
    }
    assert invalid_message("Certificate.cert-manager.io", "web", [required]) == (
        'Certificate.cert-manager.io "web" is invalid: spec.secretName: Required value'
    )
    assert invalid_message("Certificate.cert-manager.io", "web", [required, pattern]) == (
        'Certificate.cert-manager.io "web" is invalid: '
        '[spec.secretName: Required value, spec.dnsNames[0]: Invalid value: "A": bad]'
    )


def test_root_rules_see_only_name_and_generate_name_of_metadata() -> None:
    rules = [
        {"rule": "self.metadata.name.startsWith('web')", "message": "name"},
        {"rule": "!has(self.metadata.uid)", "message": "uid visible"},
    ]
    schema = {**_root(_object(a=STRING)), "x-kubernetes-validations": rules}
    obj = {"metadata": {"name": "db", "uid": "123", "labels": {"a": "b"}}, "spec": {}}
    _, causes = admit(schema, obj)
    assert [cause.to_json() for cause in causes] == [_invalid("", 'Invalid value: "object": name')]


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        pytest.param("2024-01-01T00:00:00Z", True, id="utc"),
        pytest.param("2024-01-01t00:00:00z", True, id="lowercase"),
        pytest.param("2024-01-01T00:00:00.5-07:00", True, id="fraction-offset"),
        pytest.param("2024-01-01 00:00:00Z", False, id="space-separator"),
        pytest.param("2024-01-01T00:00:00+0100", False, id="offset-without-colon"),
        pytest.param("2024-01-01T00:00:00", False, id="no-zone"),
        pytest.param("2024-01-01T24:00:00Z", False, id="hour-24"),
        pytest.param("2024-01-01", False, id="date-only"),
    ],
)
def test_date_time_format(value: str, valid: bool) -> None:
    schema = _root(_object(t={**STRING, "format": "date-time"}))
    assert (_causes(schema, {"t": value}) == []) is valid
