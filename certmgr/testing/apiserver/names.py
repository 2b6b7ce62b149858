"""Name and label syntax checks of the Kubernetes API simulator.

Owns the rules of k8s.io/apimachinery/pkg/util/validation (DNS-1123 subdomains and labels,
DNS-1035 labels, qualified names, label values) and their exact error wording, so a
client sees the messages the real kube-apiserver sends. Each function returns the list of
problems (empty when valid); turning them into a Status is the server's job. No I/O.
"""

from __future__ import annotations

import re

__all__ = [
    "validate_dns1035_label",
    "validate_dns_label",
    "validate_label_key",
    "validate_label_value",
    "validate_name",
    "validate_path_segment_name",
]

DNS1123_SUBDOMAIN_MAX_LENGTH = 253
DNS1123_LABEL_MAX_LENGTH = 63
QUALIFIED_NAME_MAX_LENGTH = 63
LABEL_VALUE_MAX_LENGTH = 63

_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + "(\\." + _DNS1123_LABEL_FMT + ")*"
_DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE_FMT = "(" + _QUALIFIED_NAME_FMT + ")?"

_DNS1123_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character"
)
_DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
    "'-' or '.', and must start and end with an alphanumeric character"
)
_DNS1035_LABEL_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
    "start with an alphabetic character, and end with an alphanumeric character"
)
_QUALIFIED_NAME_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, "
    "'-', '_' or '.', and must start and end with an alphanumeric character"
)


def _regex_error(message: str, fmt: str, *examples: str) -> str:
    """The wording of apimachinery's RegexError."""
    quoted = "".join(
        ("" if index == 0 else " or ") + f"'{example}', " for index, example in enumerate(examples)
    )
    return f"{message} (e.g. {quoted}regex used for validation is '{fmt}')"


def _max_length_error(length: int) -> str:
    return f"must be no more than {length} characters"


def _matches(fmt: str, value: str) -> bool:
    # fullmatch, because Go's `^...$` does not accept a trailing newline as Python's `$` does.
    return re.fullmatch(fmt, value) is not None


def validate_name(name: str) -> list[str]:
    """Problems with `name` as a DNS-1123 subdomain (the rule for most object names)."""
    errors = []
    if len(name) > DNS1123_SUBDOMAIN_MAX_LENGTH:
        errors.append(_max_length_error(DNS1123_SUBDOMAIN_MAX_LENGTH))
    if not _matches(_DNS1123_SUBDOMAIN_FMT, name):
        errors.append(_regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errors


def validate_path_segment_name(name: str) -> list[str]:
    """IsValidPathSegmentName: the only syntax rule on RBAC and APIService names."""
    if name in (".", ".."):
        return [f"may not be '{name}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in name]


def validate_dns_label(name: str) -> list[str]:
    """Problems with `name` as a DNS-1123 label (the rule for Namespace names)."""
    errors = []
    if len(name) > DNS1123_LABEL_MAX_LENGTH:
        errors.append(_max_length_error(DNS1123_LABEL_MAX_LENGTH))
    if not _matches(_DNS1123_LABEL_FMT, name):
        errors.append(_regex_error(_DNS1123_LABEL_MSG, _DNS1123_LABEL_FMT, "my-name", "123-abc"))
    return errors


def validate_dns1035_label(name: str) -> list[str]:
    """Problems with `name` as a DNS-1035 label (the rule for Service names)."""
    errors = []
    if len(name) > DNS1123_LABEL_MAX_LENGTH:
        errors.append(_max_length_error(DNS1123_LABEL_MAX_LENGTH))
    if not _matches(_DNS1035_LABEL_FMT, name):
        errors.append(_regex_error(_DNS1035_LABEL_MSG, _DNS1035_LABEL_FMT, "my-name", "abc-123"))
    return errors


def validate_label_key(key: str) -> list[str]:
    """Problems with `key` as a qualified name: `[dns-subdomain-prefix/]name`, name <= 63."""
    parts = key.split("/")
    errors: list[str] = []
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errors.append("prefix part must be non-empty")
        else:
            errors.extend("prefix part " + message for message in validate_name(prefix))
    else:
        return [
            "a qualified name "
            + _regex_error(_QUALIFIED_NAME_MSG, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errors.append("name part must be non-empty")
    elif len(name) > QUALIFIED_NAME_MAX_LENGTH:
        errors.append("name part " + _max_length_error(QUALIFIED_NAME_MAX_LENGTH))
    if not _matches(_QUALIFIED_NAME_FMT, name):
        errors.append(
            "name part "
            + _regex_error(_QUALIFIED_NAME_MSG, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
        )
    return errors


def validate_label_value(value: str) -> list[str]:
    """Problems with `value` as a label value: empty, or a qualified name part of <= 63."""
    errors = []
    if len(value) > LABEL_VALUE_MAX_LENGTH:
        errors.append(_max_length_error(LABEL_VALUE_MAX_LENGTH))
    if not _matches(_LABEL_VALUE_FMT, value):
        errors.append(
            _regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345")
        )
    return errors
