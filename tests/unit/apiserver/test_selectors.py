"""Label and field selectors: grammar, matching and the real server's error wording."""

from __future__ import annotations

from typing import Any

import pytest

from certmgr.testing.apiserver.selectors import (
    SelectorError,
    label_selector_from_dict,
    parse_field_selector,
    parse_label_selector,
)

LABELS = {"app": "web", "tier": "front", "version": "3"}


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        pytest.param("", True, id="empty-selects-all"),
        pytest.param("app=web", True, id="equals"),
        pytest.param("app==web", True, id="double-equals"),
        pytest.param("app=db", False, id="equals-other"),
        pytest.param("app!=db", True, id="not-equals"),
        pytest.param("missing!=x", True, id="not-equals-absent-key"),
        pytest.param("app in (db, web)", True, id="in"),
        pytest.param("app in (db)", False, id="in-miss"),
        pytest.param("app notin (db)", True, id="notin"),
        pytest.param("missing notin (db)", True, id="notin-absent-key"),
        pytest.param("app notin (web,db)", False, id="notin-hit"),
        pytest.param("tier", True, id="exists"),
        pytest.param("missing", False, id="exists-absent"),
        pytest.param("!missing", True, id="does-not-exist"),
        pytest.param("!app", False, id="does-not-exist-present"),
        pytest.param("app=web,tier=front,!missing", True, id="all-must-hold"),
        pytest.param("app=web, tier=back", False, id="one-fails"),
        pytest.param("version>2", True, id="greater-than"),
        pytest.param("version<3", False, id="less-than"),
        pytest.param("app>2", False, id="greater-than-non-integer-label"),
        pytest.param("app in (in, web)", True, id="keyword-as-value"),
        pytest.param("missing=", False, id="empty-value-requires-key"),
        pytest.param("  app = web  ", True, id="whitespace"),
    ],
)
def test_label_selector_matching(text: str, matches: bool) -> None:
    assert parse_label_selector(text).matches(LABELS) is matches


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            "app web",
            "unable to parse requirement: found 'web', expected: in, notin, =, ==, !=, gt, lt",
            id="missing-operator",
        ),
        pytest.param("app=web=x", "found '=', expected: ',' or 'end of string'", id="two-equals"),
        pytest.param("=web", "found '=', expected: !, identifier, or 'end of string'", id="no-key"),
        pytest.param("app,", "found '', expected: identifier after ','", id="trailing-comma"),
        pytest.param(
            "app in (a",
            "unable to parse requirement: found '', expected: ',' or ')'",
            id="unclosed-set",
        ),
        pytest.param(
            "app in a", "unable to parse requirement: found 'a' expected: '('", id="set-no-paren"
        ),
        pytest.param(
            "-app=x",
            'unable to parse requirement: <nil>: Invalid value: "-app": name part must consist of',
            id="bad-key",
        ),
        pytest.param(
            "app=-x",
            'unable to parse requirement: values[0][app]: Invalid value: "-x": a valid label must',
            id="bad-value",
        ),
        pytest.param(
            "version>x",
            'unable to parse requirement: values[0]: Invalid value: "x": '
            "for 'Gt', 'Lt' operators, the value must be an integer",
            id="gt-non-integer",
        ),
    ],
)
def test_label_selector_errors(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as raised:
        parse_label_selector(text)
    assert str(raised.value).startswith(message)


def test_label_selector_string_form_is_sorted_by_key() -> None:
    selector = parse_label_selector("tier in (front,back),!gone,app=web")
    assert str(selector) == "app=web,!gone,tier in (back,front)"


@pytest.mark.parametrize(
    ("selector", "labels", "matches"),
    [
        pytest.param({}, {}, True, id="empty-selects-all"),
        pytest.param(None, {"app": "web"}, False, id="none-selects-nothing"),
        pytest.param({"matchLabels": {"app": "web"}}, LABELS, True, id="match-labels"),
        pytest.param({"matchLabels": {"app": "db"}}, LABELS, False, id="match-labels-miss"),
        pytest.param(
            {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["front"]}]},
            LABELS,
            True,
            id="in",
        ),
        pytest.param(
            {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["front"]}]},
            LABELS,
            False,
            id="not-in",
        ),
        pytest.param(
            {"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, LABELS, True, id="exists"
        ),
        pytest.param(
            {"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]},
            LABELS,
            False,
            id="does-not-exist",
        ),
        pytest.param(
            {
                "matchLabels": {"app": "web"},
                "matchExpressions": [{"key": "x", "operator": "Exists"}],
            },
            LABELS,
            False,
            id="labels-and-expressions-both-hold",
        ),
    ],
)
def test_label_selector_from_dict(
    selector: dict[str, Any] | None, labels: dict[str, str], matches: bool
) -> None:
    assert label_selector_from_dict(selector).matches(labels) is matches


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        pytest.param(
            {"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]},
            '"Gt" is not a valid label selector operator',
            id="unknown-operator",
        ),
        pytest.param(
            {"matchExpressions": [{"key": "a", "operator": "In", "values": []}]},
            "for 'in', 'notin' operators, values set can't be empty",
            id="in-without-values",
        ),
        pytest.param(
            {"matchLabels": {"a b": "x"}},
            'key: Invalid value: "a b": name part must consist of',
            id="bad-key",
        ),
    ],
)
def test_label_selector_from_dict_errors(selector: dict[str, Any], message: str) -> None:
    with pytest.raises(SelectorError, match=message):
        label_selector_from_dict(selector)


SECRET = {"metadata": {"name": "web-tls", "namespace": "default"}, "type": "kubernetes.io/tls"}
SECRET_FIELDS = ("metadata.name", "metadata.namespace", "type")


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        pytest.param("", True, id="empty"),
        pytest.param("metadata.name=web-tls", True, id="name"),
        pytest.param("metadata.name==web-tls", True, id="double-equals"),
        pytest.param("metadata.name!=web-tls", False, id="not-equals"),
        pytest.param("type=kubernetes.io/tls,metadata.namespace=default", True, id="two-terms"),
        pytest.param("type=kubernetes.io/tls,metadata.namespace=other", False, id="one-term-fails"),
        pytest.param("metadata.namespace=", False, id="empty-value"),
    ],
)
def test_field_selector_matching(text: str, matches: bool) -> None:
    assert parse_field_selector(text, supported=SECRET_FIELDS).matches(SECRET) is matches


def test_field_selector_absent_field_is_the_empty_string() -> None:
    cluster_scoped = {"metadata": {"name": "ns"}}
    assert parse_field_selector("metadata.namespace=").matches(cluster_scoped)
    assert not parse_field_selector("metadata.namespace!=").matches(cluster_scoped)


def test_field_selector_unescapes_values() -> None:
    selector = parse_field_selector(r"metadata.name=a\,b\=c\\d")
    assert selector.matches({"metadata": {"name": r"a,b=c\d"}})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("spec.x=1", "field label not supported: spec.x", id="unsupported"),
        pytest.param("type=x", "field label not supported: type", id="default-supports-metadata"),
        pytest.param("name", "invalid selector: 'name'; can't understand 'name'", id="no-operator"),
        pytest.param(
            "metadata.name=a=b",
            "invalid field selector: unescaped character in value: 61",
            id="unescaped-equals",
        ),
        pytest.param(
            r"metadata.name=a\x",
            r"invalid field selector: invalid escape sequence: \x",
            id="bad-escape",
        ),
    ],
)
def test_field_selector_errors(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as raised:
        parse_field_selector(text)
    assert str(raised.value) == message
