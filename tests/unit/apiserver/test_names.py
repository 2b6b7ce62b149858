"""Name and label syntax: what the real server accepts, and its exact wording when it does not."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from certmgr.testing.apiserver.names import (
    validate_dns1035_label,
    validate_dns_label,
    validate_label_key,
    validate_label_value,
    validate_name,
)

SUBDOMAIN_ERROR = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
    "'-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
    "regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
QUALIFIED_NAME_PART_ERROR = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and "
    "end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', "
    "regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)


@pytest.mark.parametrize(
    ("name", "errors"),
    [
        pytest.param("web-tls", [], id="simple"),
        pytest.param("a.b-c.d", [], id="dotted"),
        pytest.param("0abc", [], id="leading-digit"),
        pytest.param("x" * 253, [], id="253-chars"),
        pytest.param("Web", [SUBDOMAIN_ERROR], id="uppercase"),
        pytest.param("-web", [SUBDOMAIN_ERROR], id="leading-dash"),
        pytest.param("web.", [SUBDOMAIN_ERROR], id="trailing-dot"),
        pytest.param("a..b", [SUBDOMAIN_ERROR], id="empty-label"),
        pytest.param("web\n", [SUBDOMAIN_ERROR], id="trailing-newline"),
        pytest.param("", [SUBDOMAIN_ERROR], id="empty"),
        pytest.param("x" * 254, ["must be no more than 253 characters"], id="254-chars"),
    ],
)
def test_validate_name(name: str, errors: list[str]) -> None:
    assert validate_name(name) == errors


@pytest.mark.parametrize(
    ("check", "value", "first_error"),
    [
        pytest.param(validate_dns_label, "default", None, id="namespace-ok"),
        pytest.param(
            validate_dns_label,
            "a.b",
            "a lowercase RFC 1123 label must consist of",
            id="namespace-with-dot",
        ),
        pytest.param(
            validate_dns_label, "x" * 64, "must be no more than 63 characters", id="namespace-long"
        ),
        pytest.param(validate_dns1035_label, "web", None, id="service-ok"),
        pytest.param(
            validate_dns1035_label,
            "1web",
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
            "start with an alphabetic character",
            id="service-leading-digit",
        ),
    ],
)
def test_dns_labels(check: Callable[[str], list[str]], value: str, first_error: str | None) -> None:
    errors = check(value)
    if first_error is None:
        assert errors == []
    else:
        assert errors[0].startswith(first_error)


@pytest.mark.parametrize(
    ("key", "errors"),
    [
        pytest.param("app", [], id="plain"),
        pytest.param("app.kubernetes.io/name", [], id="prefixed"),
        pytest.param("My_Key.1", [], id="mixed-case-underscore"),
        pytest.param("a b", [QUALIFIED_NAME_PART_ERROR], id="space"),
        pytest.param("/app", ["prefix part must be non-empty"], id="empty-prefix"),
        pytest.param(
            "app/", ["name part must be non-empty", QUALIFIED_NAME_PART_ERROR], id="empty-name"
        ),
        pytest.param("Example.com/app", ["prefix part " + SUBDOMAIN_ERROR], id="uppercase-prefix"),
        pytest.param(
            "x" * 64, ["name part must be no more than 63 characters"], id="name-too-long"
        ),
    ],
)
def test_validate_label_key(key: str, errors: list[str]) -> None:
    assert validate_label_key(key) == errors


def test_label_key_with_two_slashes_is_one_error() -> None:
    (error,) = validate_label_key("a/b/c")
    assert error.startswith("a qualified name must consist of alphanumeric characters")
    assert error.endswith(
        "with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
    )


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        pytest.param("", True, id="empty"),
        pytest.param("v1.2_beta-3", True, id="punctuation-inside"),
        pytest.param("x" * 63, True, id="63-chars"),
        pytest.param("x" * 64, False, id="64-chars"),
        pytest.param("-v", False, id="leading-dash"),
        pytest.param("a/b", False, id="slash"),
    ],
)
def test_validate_label_value(value: str, valid: bool) -> None:
    assert (validate_label_value(value) == []) is valid
