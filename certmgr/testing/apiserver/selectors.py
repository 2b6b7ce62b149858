"""Label and field selectors of the Kubernetes API simulator.

Owns the selector grammar of k8s.io/apimachinery (`labels.Parse`, `fields.ParseSelector`,
`metav1.LabelSelectorAsSelector`), matching, and the real server's error wording, which
`SelectorError` carries for the server to put in a 400 BadRequest Status. Pure: no I/O,
no knowledge of which resource is being listed beyond the `supported` field labels.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from certmgr.testing.apiserver.names import validate_label_key, validate_label_value

__all__ = [
    "FieldRequirement",
    "FieldSelector",
    "LabelSelector",
    "Requirement",
    "SelectorError",
    "label_selector_from_dict",
    "parse_field_selector",
    "parse_label_selector",
]


class SelectorError(ValueError):
    """A selector that does not parse or names an unsupported field; str() is the message."""


# Operators as apimachinery's `selection` package spells them.
IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS = "in", "notin", "=", "==", "!="
EXISTS, DOES_NOT_EXIST, GREATER_THAN, LESS_THAN = "exists", "!", "gt", "lt"
_BINARY_OPERATORS = "in, notin, =, ==, !=, gt, lt"


@dataclass(frozen=True, slots=True)
class Requirement:
    """One term of a label selector: `key <operator> values`."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.operator in (IN, EQUALS, DOUBLE_EQUALS):
            return present and labels[self.key] in self.values
        if self.operator in (NOT_IN, NOT_EQUALS):
            return not present or labels[self.key] not in self.values
        if self.operator == EXISTS:
            return present
        if self.operator == DOES_NOT_EXIST:
            return not present
        if not present:
            return False
        try:
            actual = int(labels[self.key])
        except ValueError:
            return False
        bound = int(self.values[0])
        return actual > bound if self.operator == GREATER_THAN else actual < bound

    def __str__(self) -> str:
        if self.operator == EXISTS:
            return self.key
        if self.operator == DOES_NOT_EXIST:
            return "!" + self.key
        if self.operator in (IN, NOT_IN):
            return f"{self.key} {self.operator} ({','.join(self.values)})"
        symbol = {GREATER_THAN: ">", LESS_THAN: "<"}.get(self.operator, self.operator)
        return f"{self.key}{symbol}{self.values[0]}"


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """All requirements must hold. No requirements selects everything, unless `nothing`."""

    requirements: tuple[Requirement, ...] = ()
    nothing: bool = False

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.nothing:
            return False
        return all(requirement.matches(labels) for requirement in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(requirement) for requirement in self.requirements)


def _new_requirement(key: str, operator: str, values: list[str]) -> Requirement:
    """Checks a requirement as `labels.NewRequirement` does (its errors have a nil path)."""
    problems: list[str] = []
    if key_errors := validate_label_key(key):
        problems.append(f"key: Invalid value: {json.dumps(key)}: {'; '.join(key_errors)}")
    if operator in (IN, NOT_IN) and not values:
        problems.append(
            "values: Invalid value: []string{}: "
            "for 'in', 'notin' operators, values set can't be empty"
        )
    if operator in (GREATER_THAN, LESS_THAN):
        if len(values) != 1:
            problems.append(
                "values: Invalid value: for 'Gt', 'Lt' operators, exactly one value is required"
            )
        elif not re.fullmatch(r"[+-]?[0-9]+", values[0]):
            problems.append(
                "values[0]: Invalid value: "
                f"{json.dumps(values[0])}: for 'Gt', 'Lt' operators, the value must be an integer"
            )
    else:
        for index, value in enumerate(values):
            if value_errors := validate_label_value(value):
                problems.append(
                    f"values[{index}][{key}]: Invalid value: {json.dumps(value)}: "
                    + "; ".join(value_errors)
                )
    if problems:
        raise SelectorError(problems[0] if len(problems) == 1 else f"[{', '.join(problems)}]")
    return Requirement(key, operator, tuple(sorted(set(values))))


# --- label selector text: the lexer and parser of k8s.io/apimachinery/pkg/labels ---

_SPECIAL = "=!(),><"
_SYMBOLS: Final = frozenset({"(", ")", ",", "!", "=", "==", "!=", ">", "<"})
_OPERATORS: Final = {
    **{"=": EQUALS, "==": DOUBLE_EQUALS, "!=": NOT_EQUALS, IN: IN, NOT_IN: NOT_IN},
    **{">": GREATER_THAN, "<": LESS_THAN},
}
_IDENT, _END, _ERROR = "identifier", "end", "error"


def _lex(text: str) -> Iterator[tuple[str, str]]:
    """Yields (token, literal); keywords `in`/`notin` come back as their own token."""
    position = 0
    while True:
        while position < len(text) and text[position] in " \t\r\n":
            position += 1
        if position == len(text):
            yield _END, ""
            return
        if text[position] in _SPECIAL:
            # Longest run of symbol characters that still spells a token, as the Go lexer does.
            token = ""
            end = position
            while (
                end < len(text) and text[end] in _SPECIAL and text[position : end + 1] in _SYMBOLS
            ):
                token = text[position : end + 1]
                end += 1
            if not token:
                yield _ERROR, f"error expected: keyword found '{text[position]}'"
                return
            yield token, token
            position = end
            continue
        end = position
        while end < len(text) and text[end] not in _SPECIAL and text[end] not in " \t\r\n":
            end += 1
        word = text[position:end]
        yield (word if word in (IN, NOT_IN) else _IDENT), word
        position = end


class _LabelParser:
    def __init__(self, text: str) -> None:
        self._items = list(_lex(text))
        self._position = 0

    def _lookahead(self, *, values: bool = True) -> tuple[str, str]:
        token, literal = self._items[self._position]
        # In a value position the keywords are plain identifiers (`a in (in)` is legal).
        if values and token in (IN, NOT_IN):
            token = _IDENT
        return token, literal

    def _consume(self, *, values: bool = True) -> tuple[str, str]:
        item = self._lookahead(values=values)
        if self._position < len(self._items) - 1:
            self._position += 1
        return item

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            token, literal = self._lookahead()
            if token == _END:
                return requirements
            if token not in (_IDENT, "!"):
                raise SelectorError(
                    f"found '{literal}', expected: !, identifier, or 'end of string'"
                )
            try:
                requirements.append(self._requirement())
            except SelectorError as error:
                raise SelectorError(f"unable to parse requirement: {error}") from None
            token, literal = self._consume()
            if token == _END:
                return requirements
            if token != ",":
                raise SelectorError(f"found '{literal}', expected: ',' or 'end of string'")
            token, literal = self._lookahead()
            if token not in (_IDENT, "!"):
                raise SelectorError(f"found '{literal}', expected: identifier after ','")

    def _requirement(self) -> Requirement:
        token, literal = self._consume()
        negated = token == "!"
        if negated:
            token, literal = self._consume()
        if token != _IDENT:
            raise SelectorError(f"found '{literal}', expected: identifier")
        if key_errors := validate_label_key(literal):
            raise SelectorError(
                f"<nil>: Invalid value: {json.dumps(literal)}: {'; '.join(key_errors)}"
            )
        key = literal
        if negated or self._lookahead()[0] in (_END, ","):
            return _new_requirement(key, DOES_NOT_EXIST if negated else EXISTS, [])
        token, literal = self._consume(values=False)
        if token not in _OPERATORS:
            raise SelectorError(f"found '{literal}', expected: {_BINARY_OPERATORS}")
        op = _OPERATORS[token]
        values = self._set_values() if op in (IN, NOT_IN) else self._exact_value()
        return _new_requirement(key, op, values)

    def _set_values(self) -> list[str]:
        token, literal = self._consume()
        if token != "(":
            raise SelectorError(f"found '{literal}' expected: '('")
        token, literal = self._lookahead()
        if token == ")":
            self._consume()
            return [""]
        if token not in (_IDENT, ","):
            raise SelectorError(f"found '{literal}', expected: ',', ')' or identifier")
        values = self._identifiers()
        if self._consume()[0] != ")":
            raise SelectorError(f"found '{literal}', expected: ')'")
        return values

    def _identifiers(self) -> list[str]:
        values: list[str] = []
        while True:
            token, literal = self._consume()
            if token == _IDENT:
                values.append(literal)
                following, following_literal = self._lookahead()
                if following == ")":
                    return values
                if following != ",":
                    raise SelectorError(f"found '{following_literal}', expected: ',' or ')'")
            elif token == ",":
                # Empty members, as in `(,a)` or `(a,,b)`, stand for the empty value.
                if not values:
                    values.append("")
                following, _ = self._lookahead()
                if following == ")":
                    values.append("")
                    return values
                if following == ",":
                    self._consume()
                    values.append("")
            else:
                raise SelectorError(f"found '{literal}', expected: ',', or identifier")

    def _exact_value(self) -> list[str]:
        token, _ = self._lookahead()
        if token in (_END, ","):
            return [""]
        token, literal = self._consume()
        if token != _IDENT:
            raise SelectorError(f"found '{literal}', expected: identifier")
        return [literal]


def parse_label_selector(text: str) -> LabelSelector:
    """Parses a `labelSelector` query parameter; the empty string selects everything."""
    requirements = _LabelParser(text).parse()
    return LabelSelector(tuple(sorted(requirements, key=lambda requirement: requirement.key)))


def label_selector_from_dict(selector: Mapping[str, Any] | None) -> LabelSelector:
    """Converts a `metav1.LabelSelector`; None selects nothing and `{}` everything."""
    if selector is None:
        return LabelSelector(nothing=True)
    requirements = [
        _new_requirement(key, EQUALS, [value])
        for key, value in (selector.get("matchLabels") or {}).items()
    ]
    operators = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST}
    for expression in selector.get("matchExpressions") or []:
        operator = expression.get("operator")
        if operator not in operators:
            raise SelectorError(f"{json.dumps(operator)} is not a valid label selector operator")
        values = list(expression.get("values") or [])
        if operator in ("Exists", "DoesNotExist") and values:
            raise SelectorError(
                "values: Invalid value: "
                f"{json.dumps(values)}: values set must be empty for exists and does not exist"
            )
        requirements.append(
            _new_requirement(expression.get("key", ""), operators[operator], values)
        )
    return LabelSelector(tuple(sorted(requirements, key=lambda requirement: requirement.key)))


# --- field selectors: k8s.io/apimachinery/pkg/fields ---


@dataclass(frozen=True, slots=True)
class FieldRequirement:
    """`field = value` or `field != value`, on a dotted path into the object."""

    field: str
    value: str
    negated: bool = False

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return (_field_value(obj, self.field) == self.value) != self.negated


@dataclass(frozen=True, slots=True)
class FieldSelector:
    """All requirements must hold; no requirements selects everything."""

    requirements: tuple[FieldRequirement, ...] = ()

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return all(requirement.matches(obj) for requirement in self.requirements)


def _field_value(obj: Mapping[str, Any], path: str) -> str:
    """The field as a fields.Set holds it: a string, "" when absent."""
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _split_terms(text: str) -> list[str]:
    terms, start, escaped = [], 0, False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            terms.append(text[start:index])
            start = index + 1
    terms.append(text[start:])
    return terms


def _unescape(value: str) -> str:
    result, escaped = [], False
    for char in value:
        if escaped:
            if char not in "\\,=":
                raise SelectorError(f"invalid field selector: invalid escape sequence: \\{char}")
            result.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in ",=":
            # Go formats the rune with %v, which prints its code point.
            raise SelectorError(
                f"invalid field selector: unescaped character in value: {ord(char)}"
            )
        else:
            result.append(char)
    if escaped:
        raise SelectorError("invalid field selector: invalid escape sequence: \\")
    return "".join(result)


def parse_field_selector(
    text: str, *, supported: Collection[str] = ("metadata.name", "metadata.namespace")
) -> FieldSelector:
    """Parses a `fieldSelector` query parameter against the field labels the kind supports."""
    requirements = []
    for term in sorted(_split_terms(text)) if text else []:
        if not term:
            continue
        for index in range(len(term)):
            operator = next((op for op in ("!=", "==", "=") if term.startswith(op, index)), None)
            if operator is not None:
                field, value = term[:index], term[index + len(operator) :]
                break
        else:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{term}'")
        requirements.append(FieldRequirement(field, _unescape(value), negated=operator == "!="))
    for requirement in requirements:
        if requirement.field not in supported:
            raise SelectorError(f"field label not supported: {requirement.field}")
    return FieldSelector(tuple(requirements))
