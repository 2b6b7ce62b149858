"""CEL for x-kubernetes-validations: typing from the schema, the library, and rule verdicts."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from certmgr.testing.apiserver import cel
from certmgr.testing.apiserver.cel import (
    CelError,
    Violation,
    check_rule,
    compile_error,
    escape_property_name,
    evaluate,
    fields_read,
    holds_when_unchanged,
    parse_go_duration,
    uses_old_self,
)

RENEWAL = {
    "type": "object",
    "properties": {
        "renewBefore": {"type": "string"},
        "renewBeforePercentage": {"type": "integer"},
    },
}
EXCLUSIVE = {
    "rule": "!(has(self.renewBefore) && has(self.renewBeforePercentage))",
    "message": "renewBefore and renewBeforePercentage are mutually exclusive",
}
STRING = {"type": "string"}
ARRAY = {"type": "array", "items": {"type": "object"}}


@pytest.mark.parametrize(
    ("rule", "value", "schema", "old", "violation"),
    [
        pytest.param(EXCLUSIVE, {"renewBefore": "1h"}, RENEWAL, cel.MISSING, None, id="one-set"),
        pytest.param(
            EXCLUSIVE,
            {"renewBefore": "1h", "renewBeforePercentage": 10},
            RENEWAL,
            cel.MISSING,
            Violation("FieldValueInvalid", EXCLUSIVE["message"]),
            id="both-set",
        ),
        pytest.param(
            {"rule": "self.size() <= 1"},
            [{}, {}],
            ARRAY,
            cel.MISSING,
            Violation("FieldValueInvalid", "failed rule: self.size() <= 1"),
            id="size-no-message",
        ),
        pytest.param({"rule": "self.size() <= 1"}, [{}], ARRAY, cel.MISSING, None, id="size-ok"),
        pytest.param(
            {"rule": "self == oldSelf", "message": "immutable"},
            "b",
            STRING,
            cel.MISSING,
            None,
            id="transition-rule-skipped-on-create",
        ),
        pytest.param(
            {"rule": "self == oldSelf", "message": "immutable"},
            "b",
            STRING,
            "a",
            Violation("FieldValueInvalid", "immutable"),
            id="transition-rule-changed",
        ),
        pytest.param(
            {"rule": "self == oldSelf", "message": "immutable"},
            "a",
            STRING,
            "a",
            None,
            id="transition-rule-unchanged",
        ),
        pytest.param(
            {"rule": "self.startsWith('a')", "reason": "FieldValueForbidden"},
            "b",
            STRING,
            cel.MISSING,
            Violation("FieldValueForbidden", "failed rule: self.startsWith('a')"),
            id="reason-forbidden",
        ),
        pytest.param(
            {"rule": "false", "reason": "SomethingElse"},
            "b",
            STRING,
            cel.MISSING,
            Violation("FieldValueInvalid", "failed rule: false"),
            id="unknown-reason-is-invalid",
        ),
        pytest.param(
            {"rule": "false", "fieldPath": ".spec.hosts['a.b']"},
            {},
            {"type": "object"},
            cel.MISSING,
            Violation("FieldValueInvalid", "failed rule: false", "spec.hosts[a.b]"),
            id="field-path-normalized",
        ),
        pytest.param(
            {"rule": "self.size() <= 1", "messageExpression": "'has ' + string(self.size())"},
            [{}, {}, {}],
            ARRAY,
            cel.MISSING,
            Violation("FieldValueInvalid", "has 3"),
            id="message-expression",
        ),
        pytest.param(
            {"rule": "false", "message": "static", "messageExpression": "self.missing"},
            {},
            {"type": "object"},
            cel.MISSING,
            Violation("FieldValueInvalid", "static"),
            id="message-expression-error-falls-back",
        ),
        pytest.param(
            {"rule": "false", "message": "static", "messageExpression": "'  '"},
            {},
            {"type": "object"},
            cel.MISSING,
            Violation("FieldValueInvalid", "static"),
            id="blank-message-expression-falls-back",
        ),
        pytest.param(
            {"rule": "self.issuerRef.name != ''"},
            {},
            {"type": "object"},
            cel.MISSING,
            Violation(
                "FieldValueInvalid",
                "no such key: issuerRef evaluating rule: self.issuerRef.name != ''",
            ),
            id="evaluation-error",
        ),
        pytest.param(
            {"rule": "self < 100"},
            "10%",
            {"x-kubernetes-int-or-string": True},
            cel.MISSING,
            Violation(
                "FieldValueInvalid",
                "'no such overload': call arguments did not match a supported operator, "
                "function or macro signature for rule: self < 100",
            ),
            id="runtime-overload-error",
        ),
        pytest.param(
            {"rule": "self.size( >", "message": "broken"},
            "x",
            STRING,
            cel.MISSING,
            Violation("FieldValueInvalid", "rule compile error: Syntax error: self.size( >"),
            id="compile-error",
        ),
    ],
)
def test_check_rule(
    rule: dict[str, Any], value: Any, schema: dict[str, Any], old: Any, violation: Violation | None
) -> None:
    assert check_rule(rule, value, schema=schema, old_value=old) == violation


@pytest.mark.parametrize(
    ("expression", "variables", "schemas", "result"),
    [
        pytest.param("self.matches('^[a-z]+$')", {"self": "abc"}, {}, True, id="matches"),
        pytest.param(
            "self.startsWith('ab') && self.endsWith('bc') && self.contains('b')",
            {"self": "abc"},
            {},
            True,
            id="string-tests",
        ),
        pytest.param("self.all(x, x > 0)", {"self": [1, 2]}, {}, True, id="all"),
        pytest.param("self.exists(x, x > 1)", {"self": [1, 2]}, {}, True, id="exists"),
        pytest.param("self.exists_one(x, x > 0)", {"self": [1, 2]}, {}, False, id="exists-one"),
        pytest.param("self.map(x, x * 2)", {"self": [1, 2]}, {}, [2, 4], id="map"),
        pytest.param("self.filter(x, x > 1)", {"self": [1, 2]}, {}, [2], id="filter"),
        pytest.param("size(self)", {"self": {"a": 1, "b": 2}}, {}, 2, id="size-of-map"),
        pytest.param(
            "duration(self) >= duration('1h30m')", {"self": "90m"}, {}, True, id="duration"
        ),
        pytest.param(
            "duration(self) < duration('1h')", {"self": "59m59.5s"}, {}, True, id="fractions"
        ),
        pytest.param(
            "self > timestamp('2024-01-01T00:00:00Z')",
            {"self": "2025-06-01T10:00:00Z"},
            {"self": {"type": "string", "format": "date-time"}},
            True,
            id="date-time-is-a-timestamp",
        ),
        pytest.param(
            "self > duration('1m')",
            {"self": "2m"},
            {"self": {"type": "string", "format": "duration"}},
            True,
            id="format-duration-is-a-duration",
        ),
        pytest.param(
            "self.ratio > 0.5",
            {"self": {"ratio": 1}},
            {"self": {"type": "object", "properties": {"ratio": {"type": "number"}}}},
            True,
            id="number-is-double-even-when-integral",
        ),
        pytest.param(
            "self.__namespace__ == 'x' && self.ingress__dash__class == 'y'",
            {"self": {"namespace": "x", "ingress-class": "y"}},
            {
                "self": {
                    "type": "object",
                    "properties": {"namespace": STRING, "ingress-class": STRING},
                }
            },
            True,
            id="escaped-property-names",
        ),
        pytest.param(
            "self['app.kubernetes.io/name'] == 'web'",
            {"self": {"app.kubernetes.io/name": "web"}},
            {"self": {"type": "object", "additionalProperties": STRING}},
            True,
            id="map-keys-not-escaped",
        ),
        pytest.param(
            "self.lowerAscii() + self.upperAscii() + self.trim()",
            {"self": " Ab "},
            {},
            " ab  AB Ab",
            id="lower-upper-trim",
        ),
        pytest.param("self.split('.').join('/')", {"self": "a.b.c"}, {}, "a/b/c", id="split-join"),
        pytest.param(
            "[self.indexOf('b'), self.lastIndexOf('b')]", {"self": "abcb"}, {}, [1, 3], id="index"
        ),
        pytest.param(
            "[self.sum(), self.min(), self.max()]", {"self": [3, 1, 2]}, {}, [6, 1, 3], id="sum"
        ),
        pytest.param("self.isSorted()", {"self": ["a", "b"]}, {}, True, id="is-sorted"),
        pytest.param("self.findAll('[0-9]+')", {"self": "a1b22"}, {}, ["1", "22"], id="find-all"),
        pytest.param("self.x == null", {"self": {"x": None}}, {}, True, id="null"),
        pytest.param("self.x == null", {"self": {"x": 1}}, {}, False, id="int-is-not-null"),
        pytest.param("1 == 'a'", {}, {}, False, id="heterogeneous-equality"),
        pytest.param("1 == 1.0", {}, {}, True, id="numeric-equality-across-types"),
        pytest.param("true == 1", {}, {}, False, id="bool-is-not-int"),
        pytest.param("[1, 'a'] != [1, 'b']", {}, {}, True, id="list-inequality"),
        pytest.param(
            "self < 100 || self == '50%'",
            {"self": "50%"},
            {"self": {"x-kubernetes-int-or-string": True}},
            True,
            id="int-or-string-as-string",
        ),
        pytest.param(
            "self < 100 || self == '50%'",
            {"self": 150},
            {"self": {"x-kubernetes-int-or-string": True}},
            False,
            id="int-or-string-as-int",
        ),
    ],
)
def test_evaluate(
    expression: str, variables: dict[str, Any], schemas: dict[str, Any], result: Any
) -> None:
    assert evaluate(expression, variables, schemas=schemas) == result


@pytest.mark.parametrize(
    ("expression", "variables", "message"),
    [
        pytest.param("self.missing", {"self": {}}, "no such key: missing", id="missing-key"),
        pytest.param(
            "duration('1d') > duration('1h')", {}, 'time: invalid duration "1d"', id="day"
        ),
        pytest.param("self.a.all(x, x)", {"self": {"a": 1}}, "not iterable", id="python-error"),
        pytest.param("1 +", {}, "rule compile error", id="syntax"),
    ],
)
def test_evaluate_errors(expression: str, variables: dict[str, Any], message: str) -> None:
    with pytest.raises(CelError, match=message):
        evaluate(expression, variables)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("1h30m", datetime.timedelta(hours=1, minutes=30), id="hours-minutes"),
        pytest.param("-1.5s", datetime.timedelta(seconds=-1.5), id="negative-fraction"),
        pytest.param("0", datetime.timedelta(0), id="bare-zero"),
        pytest.param("2160h", datetime.timedelta(days=90), id="cert-manager-default"),
        pytest.param("300ms", datetime.timedelta(milliseconds=300), id="milliseconds"),
        pytest.param("1µs", datetime.timedelta(microseconds=1), id="micro-sign"),
        pytest.param("1h1h", datetime.timedelta(hours=2), id="repeated-unit"),
    ],
)
def test_parse_go_duration(text: str, expected: datetime.timedelta) -> None:
    assert parse_go_duration(text) == expected


@pytest.mark.parametrize("text", ["", "1", "1d", "h", "1 h", "--1s", "1.2.3s"])
def test_parse_go_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="time: invalid duration"):
        parse_go_duration(text)


@pytest.mark.parametrize(
    ("name", "escaped"),
    [
        pytest.param("secretName", "secretName", id="plain"),
        pytest.param("namespace", "__namespace__", id="reserved"),
        pytest.param("a.b-c/d", "a__dot__b__dash__c__slash__d", id="punctuation"),
        pytest.param("a__b", "a__underscores__b", id="double-underscore"),
    ],
)
def test_escape_property_name(name: str, escaped: str) -> None:
    assert escape_property_name(name) == escaped


@pytest.mark.parametrize(
    ("expression", "transition"),
    [
        pytest.param("self == oldSelf", True, id="old-self"),
        pytest.param("self.x == 'oldSelf'", False, id="in-string-literal"),
        pytest.param("has(self.x)", False, id="no-old-self"),
        pytest.param("self ==", False, id="does-not-compile"),
    ],
)
def test_uses_old_self(expression: str, transition: bool) -> None:
    assert uses_old_self(expression) is transition


@pytest.mark.parametrize(
    ("expression", "holds"),
    [
        pytest.param("self == oldSelf", True, id="identity"),
        pytest.param("size(oldSelf) == 0 || self == oldSelf", True, id="last-operand"),
        pytest.param("self == oldSelf || self.x > 1", True, id="first-operand"),
        pytest.param("self.x > 1 && self == oldSelf", False, id="conjunction"),
        pytest.param("self.x ? true : self == oldSelf", False, id="ternary"),
        pytest.param("self.x == oldSelf.x", False, id="fields-only"),
        pytest.param("self ==", False, id="does-not-compile"),
    ],
)
def test_holds_when_unchanged(expression: str, holds: bool) -> None:
    assert holds_when_unchanged(expression) is holds


@pytest.mark.parametrize(
    ("expression", "variable", "fields"),
    [
        pytest.param("has(self.a) && self.b.exists(c, c == 1)", "self", {"a", "b"}, id="fields"),
        pytest.param("self.a.startsWith('x')", "self", {"a"}, id="method-on-a-field"),
        pytest.param("!has(oldSelf.c) || oldSelf.c == self.c", "oldSelf", {"c"}, id="old-self"),
        pytest.param("self.x__dash__y == 1", "self", {"x__dash__y"}, id="escaped-name"),
        pytest.param("self.all(x, x > 0)", "self", None, id="macro-on-self"),
        pytest.param("size(self) > 0 || self.a", "self", None, id="whole-value-once"),
        pytest.param("self['a'] == 1", "self", None, id="indexed"),
        pytest.param("self.a == 1", "oldSelf", set(), id="not-read"),
        pytest.param("self ==", "self", None, id="does-not-compile"),
    ],
)
def test_fields_read(expression: str, variable: str, fields: set[str] | None) -> None:
    assert fields_read(expression, variable) == (None if fields is None else frozenset(fields))


@pytest.mark.parametrize(
    ("rule", "value", "violation"),
    [
        pytest.param(
            {"rule": "self.a > 1", "messageExpression": "'b is ' + self.b"},
            {"a": 0, "b": "x", "c-d": "y"},
            Violation("FieldValueInvalid", "b is x"),
            id="message-reads-another-field",
        ),
        pytest.param(
            {"rule": "self.c__dash__d == 'y'"},
            {"a": 0, "b": "x", "c-d": "y"},
            None,
            id="escaped-field-kept",
        ),
        pytest.param(
            {"rule": "self.missing == 1"},
            {"a": 0},
            Violation(
                "FieldValueInvalid", "no such key: missing evaluating rule: self.missing == 1"
            ),
            id="missing-field-still-missing",
        ),
    ],
)
def test_rules_see_the_fields_they_read(
    rule: dict[str, Any], value: dict[str, Any], violation: Violation | None
) -> None:
    schema = {
        "type": "object",
        "properties": {
            "a": {"type": "integer"},
            "b": {"type": "string"},
            "c-d": {"type": "string"},
            "missing": {"type": "integer"},
        },
    }
    assert check_rule(rule, value, schema=schema) == violation


def test_compile_error() -> None:
    assert compile_error("self.size() <= 1") is None
    assert (compile_error("self.size( <= 1") or "").startswith("rule compile error")


def test_rules_compile_once_per_text() -> None:
    expression = "self.size() == 12345"  # a text no other test uses
    misses_before = cel._compile.cache_info().misses
    for size in range(3):
        evaluate(expression, {"self": [0] * size})
    assert cel._compile.cache_info().misses == misses_before + 1


def test_verdicts_are_remembered_per_rule_not_per_text() -> None:
    first = {"rule": "self > 1", "message": "first"}
    second = {"rule": "self > 1", "message": "second"}
    integer = {"type": "integer"}
    assert check_rule(first, 0, schema=integer) == Violation("FieldValueInvalid", "first")
    assert check_rule(second, 0, schema=integer) == Violation("FieldValueInvalid", "second")
    assert check_rule(first, 0, schema=integer) == Violation("FieldValueInvalid", "first")
    assert check_rule(first, 2, schema=integer) is None
