"""CEL for the simulator's `x-kubernetes-validations`, over cel-python (celpy).

Owns compiling rules (once per rule text), turning JSON values into CEL values the way
the apiextensions server types them from the schema (integer -> int, number -> double,
`date-time` -> timestamp, `duration` -> duration, property names escaped as
`__dash__`, `__namespace__`, ...), the Kubernetes CEL library functions cert-manager-style
rules use, which fields of `self`/`oldSelf` a rule reads (only those are converted, so
verdicts are shared by objects that differ elsewhere), and judging one rule
(`check_rule`) with the real server's wording. It returns
a `Violation`; rendering it as a StatusCause is `schema.py`'s job. No I/O. The cost budget
checked when a CRD is written lives in `celcost.py` and `crdrules.py`.

Differences from the real server: the static check at CRD creation (`crdrules.py`) knows
syntax and declared fields, not overloads or result types, and celpy has leniencies of
its own (e.g. `1.0 + 1` is not an error).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import functools
import json
import re
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import celpy
import lark
import re2  # type: ignore[import-untyped]  # CEL regexes are RE2, as Go's
from celpy import celtypes
from celpy.evaluation import CELEvalError

__all__ = [
    "MISSING",
    "CelError",
    "Violation",
    "check_rule",
    "compile_error",
    "escape_property_name",
    "evaluate",
    "fields_read",
    "from_cel",
    "holds_when_unchanged",
    "parse_go_duration",
    "parse_tree",
    "to_cel",
    "uses_old_self",
]


class CelError(ValueError):
    """A rule that does not compile or fails while evaluating; str() is the message."""


@dataclass(frozen=True, slots=True)
class Violation:
    """A rule that did not hold: its reason, the detail text and the field it points at.

    `field_path` is relative to the node carrying the rule ("" for the node itself), as
    the real server's normalized `fieldPath`, e.g. `spec.hosts[foo.example]`.
    """

    reason: str
    detail: str
    field_path: str = ""


_RESERVED: Final = frozenset(
    {"true", "false", "null", "in", "as", "break", "const", "continue", "else", "for"}
    | {"function", "if", "import", "let", "loop", "package", "namespace", "return", "var"}
    | {"void", "while"}
)


def escape_property_name(name: str) -> str:
    """The name under which a schema property is visible to CEL (Kubernetes escaping)."""
    if name in _RESERVED:
        return f"__{name}__"
    name = name.replace("__", "__underscores__")
    return name.replace(".", "__dot__").replace("-", "__dash__").replace("/", "__slash__")


# --- Go durations: CEL's duration() and `format: duration` ---

_GO_DURATION: Final = re.compile(r"[-+]?(?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+")
_GO_UNITS: Final = {
    **{"ns": 1e-3, "us": 1.0, "µs": 1.0, "μs": 1.0, "ms": 1e3},
    **{"s": 1e6, "m": 60e6, "h": 3600e6},
}


def parse_go_duration(text: str) -> datetime.timedelta:
    """Parses Go's time.ParseDuration syntax ("1h30m", "-1.5s", "0"); ValueError if bad."""
    if text in ("0", "+0", "-0"):
        return datetime.timedelta(0)
    if not _GO_DURATION.fullmatch(text):
        raise ValueError(f'time: invalid duration "{text}"')
    sign = -1 if text.startswith("-") else 1
    micros = sum(
        float(number) * _GO_UNITS[unit]
        for number, unit in re.findall(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)", text)
    )
    return datetime.timedelta(microseconds=sign * micros)


def _duration(value: Any) -> Any:
    if isinstance(value, datetime.timedelta):
        return celtypes.DurationType(value)
    try:
        return celtypes.DurationType(parse_go_duration(str(value)))
    except ValueError as error:
        return CELEvalError(str(error), ValueError, None)


# --- a subset of the Kubernetes CEL libraries (strings, lists, regex) ---


def _index_of(haystack: Any, needle: Any) -> Any:
    if isinstance(haystack, str):
        return celtypes.IntType(haystack.find(needle))
    return celtypes.IntType(next((i for i, x in enumerate(haystack) if x == needle), -1))


def _last_index_of(haystack: Any, needle: Any) -> Any:
    if isinstance(haystack, str):
        return celtypes.IntType(haystack.rfind(needle))
    matches = [index for index, item in enumerate(haystack) if item == needle]
    return celtypes.IntType(matches[-1] if matches else -1)


def _find_all(text: Any, pattern: Any, limit: Any = -1) -> Any:
    found = [celtypes.StringType(match.group(0)) for match in re2.finditer(pattern, text)]
    return celtypes.ListType(found if limit < 0 else found[:limit])


def _find(text: Any, pattern: Any) -> Any:
    match = re2.search(pattern, text)
    return celtypes.StringType(match.group(0) if match else "")


def _equal(left: Any, right: Any) -> bool:
    """cel-go's heterogeneous equality: values of different types are unequal, not errors."""
    # celpy's BoolType is an int, not a bool, so booleans are told apart first.
    booleans = (bool, celtypes.BoolType)
    if isinstance(left, booleans) or isinstance(right, booleans):
        both = isinstance(left, booleans) and isinstance(right, booleans)
        return both and bool(left) == bool(right)
    if isinstance(left, int | float) and isinstance(right, int | float):
        if isinstance(left, float) or isinstance(right, float):
            return float(left) == float(right)
        return int(left) == int(right)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(_equal, left, right))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_equal(left[k], right[k]) for k in left)
    if left is None or right is None:
        return left is None and right is None
    for kind in (str, bytes, datetime.datetime, datetime.timedelta):
        if isinstance(left, kind) or isinstance(right, kind):
            return isinstance(left, kind) and isinstance(right, kind) and bool(left == right)
    return False


def _equals(left: Any, right: Any) -> Any:
    if isinstance(left, CELEvalError):
        return left
    if isinstance(right, CELEvalError):
        return right
    return celtypes.BoolType(_equal(left, right))


def _not_equals(left: Any, right: Any) -> Any:
    result = _equals(left, right)
    return result if isinstance(result, CELEvalError) else celtypes.BoolType(not result)


_FUNCTIONS: Final[dict[str, Callable[..., Any]]] = {
    "_==_": _equals,
    "_!=_": _not_equals,
    "duration": _duration,
    "lowerAscii": lambda s: celtypes.StringType(s.lower()),
    "upperAscii": lambda s: celtypes.StringType(s.upper()),
    "trim": lambda s: celtypes.StringType(s.strip()),
    "replace": lambda s, old, new, n=-1: celtypes.StringType(s.replace(old, new, n)),
    "split": lambda s, sep, n=-1: celtypes.ListType(
        [celtypes.StringType(part) for part in s.split(sep, n - 1 if n > 0 else -1)]
    ),
    "join": lambda items, sep="": celtypes.StringType(sep.join(items)),
    "substring": lambda s, start, end=None: celtypes.StringType(s[start:end]),
    "charAt": lambda s, index: celtypes.StringType(s[index : index + 1]),
    "indexOf": _index_of,
    "lastIndexOf": _last_index_of,
    "isSorted": lambda items: celtypes.BoolType(list(items) == sorted(items)),
    "sum": lambda items: sum(items, celtypes.IntType(0)) if items else celtypes.IntType(0),
    "min": lambda items: min(items),
    "max": lambda items: max(items),
    "find": _find,
    "findAll": _find_all,
}

_ENVIRONMENT: Final = celpy.Environment()


@functools.lru_cache(maxsize=4096)
def _compile(expression: str) -> tuple[Any, lark.Tree[Any] | None, str | None]:
    """(runner, ast, error): compiled once per rule text, errors included."""
    try:
        ast = _ENVIRONMENT.compile(expression)
    except Exception as error:  # celpy raises lark and its own errors; any is a bad rule
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        return None, None, f"rule compile error: Syntax error: {first_line}"
    return _ENVIRONMENT.program(ast, functions=_FUNCTIONS), ast, None


def compile_error(expression: str) -> str | None:
    """Why `expression` does not compile, or None; for checking CRDs when they are created."""
    return _compile(expression)[2]


def parse_tree(expression: str) -> lark.Tree[Any] | None:
    """The parse tree of a rule (shared, never modify it), or None if it does not compile."""
    return _compile(expression)[1]


@functools.lru_cache(maxsize=4096)
def uses_old_self(expression: str) -> bool:
    """Whether the rule is a transition rule (mentions `oldSelf`)."""
    ast = _compile(expression)[1]
    if ast is None:
        return False
    return any(ast.scan_values(lambda token: isinstance(token, lark.Token) and token == "oldSelf"))


_IDENTITY: Final = ("self", "oldSelf")


@functools.lru_cache(maxsize=4096)
def holds_when_unchanged(expression: str) -> bool:
    """Whether the rule is true whenever `self` equals `oldSelf`: one of its top-level
    `||` operands is exactly `self == oldSelf` (immutability rules), and `true || e` is
    true in CEL whatever `e` is, errors included."""
    ast = _compile(expression)[1]
    identity = _compile("self == oldSelf")[1]
    if ast is None or identity is None or len(ast.children) != 1:
        return False  # a ternary at the top, or no rule at all
    wanted = identity.children[0].children[0]
    node = ast.children[0]
    while isinstance(node, lark.Tree) and node.data == "conditionalor":
        if node.children[-1] == wanted:
            return True
        node = node.children[0] if len(node.children) == 2 else None
    return False


def fields_read(expression: str, variable: str) -> frozenset[str] | None:
    """The fields of `variable` (`self` or `oldSelf`) that the rule reads, as CEL names
    them, when it reads that variable only as `variable.field`; None when it uses the
    value in any other way (whole, indexed, a macro or method on it) or does not compile.
    Other fields cannot change the verdict, so they need not be converted to CEL."""
    return _fields_read(expression).get(variable)


@functools.lru_cache(maxsize=4096)
def _fields_read(expression: str) -> dict[str, frozenset[str] | None]:
    ast = _compile(expression)[1]
    if ast is None:
        return {}
    fields: dict[str, set[str]] = {name: set() for name in _IDENTITY}
    selected: set[int] = set()  # ids of the ident nodes read as `variable.field`
    for node in ast.iter_subtrees():
        if node.data != "member_dot" or len(node.children) != 2:
            continue
        ident = _bare_identifier(node.children[0])
        if ident is not None and str(ident.children[0]) in _IDENTITY:
            fields[str(ident.children[0])].add(str(node.children[1]))
            selected.add(id(ident))
    result: dict[str, frozenset[str] | None] = {}
    for name in _IDENTITY:
        uses = [n for n in ast.iter_subtrees() if n.data == "ident" and str(n.children[0]) == name]
        result[name] = None if any(id(n) not in selected for n in uses) else frozenset(fields[name])
    return result


def _bare_identifier(node: Any) -> lark.Tree[Any] | None:
    """The `ident` node of `member -> primary -> ident`, else None."""
    for data in ("member", "primary"):
        if not (isinstance(node, lark.Tree) and node.data == data and len(node.children) == 1):
            return None
        node = node.children[0]
    if isinstance(node, lark.Tree) and node.data == "ident" and len(node.children) == 1:
        return node
    return None


def _only_fields(value: Any, names: frozenset[str] | None) -> Any:
    """`value` with only the properties CEL knows as `names` (all of it for None)."""
    if names is None or not isinstance(value, dict):
        return value
    return {key: item for key, item in value.items() if escape_property_name(key) in names}


# --- JSON <-> CEL ---


def to_cel(value: Any, schema: Mapping[str, Any] | None = None) -> Any:
    """Converts a JSON value to CEL as the apiextensions server types it from its schema."""
    schema = schema or {}
    if value is None:
        return None
    if isinstance(value, bool):
        return celtypes.BoolType(value)
    if isinstance(value, int | float):
        if schema.get("type") == "number" or (isinstance(value, float) and not value.is_integer()):
            return celtypes.DoubleType(value)
        if isinstance(value, float) and schema.get("type") != "integer":
            return celtypes.DoubleType(value)
        return celtypes.IntType(int(value))
    if isinstance(value, str):
        return _string_to_cel(value, schema.get("format"))
    if isinstance(value, list):
        items = schema.get("items") or {}
        return celtypes.ListType([to_cel(item, items) for item in value])
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and not properties:
            return celtypes.MapType(
                {celtypes.StringType(key): to_cel(item, extra) for key, item in value.items()}
            )
        return celtypes.MapType(
            {
                celtypes.StringType(escape_property_name(key)): to_cel(item, properties.get(key))
                for key, item in value.items()
            }
        )
    raise CelError(f"not a JSON value: {type(value).__name__}")


def _string_to_cel(value: str, fmt: Any) -> Any:
    # A value that does not parse stays a string; the schema check reports the format error.
    try:
        if fmt in ("date-time", "date"):
            text = value if fmt == "date-time" else value + "T00:00:00Z"
            parsed = datetime.datetime.fromisoformat(text.replace("z", "Z"))
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=datetime.UTC)
            return celtypes.TimestampType(parsed)
        if fmt == "duration":
            return celtypes.DurationType(parse_go_duration(value))
        if fmt == "byte":
            return celtypes.BytesType(base64.b64decode(value, validate=True))
    except (ValueError, binascii.Error):
        pass
    return celtypes.StringType(value)


def from_cel(value: Any) -> Any:
    """Converts a CEL result back to JSON (timestamps as RFC 3339, durations as "Ns")."""
    if value is None or isinstance(value, celtypes.NullType):
        return None
    if isinstance(value, celtypes.BoolType | bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, datetime.timedelta):
        return f"{value.total_seconds():g}s"
    if isinstance(value, list):
        return [from_cel(item) for item in value]
    if isinstance(value, dict):
        return {from_cel(key): from_cel(item) for key, item in value.items()}
    raise CelError(f"no JSON form for CEL value {value!r}")


def _error_message(error: BaseException) -> str:
    if isinstance(error, CELEvalError) and error.args:
        message = str(error.args[0])
        missing = re.fullmatch(r"no such member in mapping: '(.*)'", message)
        if missing:
            return f"no such key: {missing.group(1)}"
        return message
    return str(error) or type(error).__name__


def evaluate(
    expression: str,
    variables: Mapping[str, Any],
    *,
    schemas: Mapping[str, Mapping[str, Any]] | None = None,
) -> Any:
    """Evaluates `expression` over JSON `variables` (typed by `schemas`); JSON result.

    Raises CelError with the message the real server would quote.
    """
    runner, _, error = _compile(expression)
    if error is not None:
        raise CelError(error)
    schemas = schemas or {}
    activation = {name: to_cel(value, schemas.get(name)) for name, value in variables.items()}
    try:
        result = runner.evaluate(activation)
    except Exception as failure:  # celpy lets Python errors of its builtins escape
        raise CelError(_error_message(failure)) from failure
    if isinstance(result, CELEvalError):
        raise CelError(_error_message(result))
    return from_cel(result)


_REASONS: Final = frozenset(
    {"FieldValueInvalid", "FieldValueForbidden", "FieldValueRequired", "FieldValueDuplicate"}
)
MISSING: Final = object()


def _normalize_field_path(field_path: str) -> str:
    """`.spec.hosts['a.b']` -> `spec.hosts[a.b]`, as field.Path prints it."""
    parts = re.findall(r"\.([^.\[]+)|\['((?:[^'\\]|\\.)*)'\]|\[(\d+)\]", field_path)
    text = ""
    for name, key, index in parts:
        if name:
            text += ("." if text else "") + name
        else:
            text += f"[{key or index}]"
    return text


# Verdicts by (rule, schema, values). celpy's interpreter needs milliseconds per rule, and
# the simulator admits the same specs over and over; rules are pure, so a verdict can be
# reused. Entries hold the rule and schema objects, so their ids cannot be recycled while
# cached.
_VERDICTS: Final[OrderedDict[tuple[int, int, str], tuple[object, object, Violation | None]]] = (
    OrderedDict()
)
_VERDICTS_SIZE: Final = 8192


def check_rule(
    rule: Mapping[str, Any],
    value: Any,
    *,
    schema: Mapping[str, Any],
    old_value: Any = MISSING,
) -> Violation | None:
    """Judges one `x-kubernetes-validations` entry at a present node, or None if it holds.

    A transition rule (one using `oldSelf`) holds trivially when there is no old value.
    """
    expression = str(rule.get("rule", ""))
    message_expression = str(rule.get("messageExpression") or "")
    variables = {"self": _only_fields(value, _read_by(expression, message_expression, "self"))}
    if uses_old_self(expression):
        if old_value is MISSING:
            return None
        variables["oldSelf"] = _only_fields(
            old_value, _read_by(expression, message_expression, "oldSelf")
        )
    try:
        values = json.dumps(variables, sort_keys=True)
    except (TypeError, ValueError):
        return _judge(rule, variables, schema)
    key = (id(rule), id(schema), values)
    if (cached := _VERDICTS.get(key)) is not None:
        _VERDICTS.move_to_end(key)
        return cached[2]
    verdict = _judge(rule, variables, schema)
    _VERDICTS[key] = (rule, schema, verdict)
    if len(_VERDICTS) > _VERDICTS_SIZE:
        _VERDICTS.popitem(last=False)
    return verdict


def _read_by(expression: str, message_expression: str, variable: str) -> frozenset[str] | None:
    """The fields of `variable` the rule and its message read (None: the whole value).
    Fewer fields convert faster, and verdicts are shared by objects that differ only in
    fields the rule never reads."""
    fields = fields_read(expression, variable)
    if fields is None or not message_expression:
        return fields
    more = fields_read(message_expression, variable)
    return None if more is None else fields | more


def _judge(
    rule: Mapping[str, Any], variables: Mapping[str, Any], schema: Mapping[str, Any]
) -> Violation | None:
    expression = str(rule.get("rule", ""))
    rule_text = str(rule.get("message") or "").strip() or expression.strip()
    try:
        result = evaluate(expression, variables, schemas={"self": schema, "oldSelf": schema})
    except CelError as error:
        if str(error).startswith("rule compile error"):
            return Violation("FieldValueInvalid", str(error))
        if "no matching overload" in str(error) or "no such overload" in str(error):
            return Violation(
                "FieldValueInvalid",
                "'no such overload': call arguments did not match a supported operator, "
                f"function or macro signature for rule: {rule_text}",
            )
        return Violation("FieldValueInvalid", f"{error} evaluating rule: {rule_text}")
    if result is True:
        return None
    message = str(rule.get("message") or "").strip() or f"failed rule: {rule_text}"
    if rule.get("messageExpression"):
        message = (
            _message_from_expression(str(rule["messageExpression"]), variables, schema) or message
        )
    reason = str(rule.get("reason") or "FieldValueInvalid")
    return Violation(
        reason if reason in _REASONS else "FieldValueInvalid",
        message,
        _normalize_field_path(str(rule.get("fieldPath") or "")),
    )


def _message_from_expression(
    expression: str, variables: Mapping[str, Any], schema: Mapping[str, Any]
) -> str | None:
    # As the real server: an expression that errs or yields no usable one-line string
    # falls back to the rule's static message.
    try:
        message = evaluate(expression, variables, schemas={"self": schema, "oldSelf": schema})
    except CelError:
        return None
    if not isinstance(message, str) or not message.strip() or "\n" in message:
        return None
    return message.strip()
