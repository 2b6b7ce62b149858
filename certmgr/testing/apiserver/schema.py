"""Admission of custom resources against a CRD version's openAPIV3Schema, for the simulator.

Owns what the apiextensions server does to a custom resource's body between decoding and
storage: pruning unknown fields, applying defaults, validating the structural schema
(types, enums, patterns, bounds, formats, list types, embedded resources), then the
`x-kubernetes-validations` CEL rules (through `cel.py`), with the real server's
`StatusCause` wording and field paths (`spec.solvers[0].http01.ingress.class`). On update
it ratchets as kube-apiserver >= 1.30 does: a value equal to its old value is not
re-judged, except by transition rules (those using `oldSelf`).

It must not touch `apiVersion`, `kind` or `metadata` at the root (the server validates
ObjectMeta), and does no I/O. Messages follow apimachinery's current field.Error rendering
(objects and null printed as JSON, "Too long: may not be more than N bytes").
Approximations: a non-int, non-string `x-kubernetes-int-or-string` value gets one cause
saying "integer or string"; patterns run on RE2 (as Go's regexp) but formats other than
`date-time` are not checked.
"""

from __future__ import annotations

import copy
import datetime
import json
import operator
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

import re2  # type: ignore[import-untyped]  # Go's regexp is RE2; Python's re is not

from certmgr.testing.apiserver.cel import (
    MISSING,
    Violation,
    check_rule,
    holds_when_unchanged,
    uses_old_self,
)
from certmgr.testing.apiserver.patching import json_equal

__all__ = ["Cause", "admit", "invalid_message"]

Schema = Mapping[str, Any]

_ROOT_KEYS: Final = frozenset({"apiVersion", "kind", "metadata"})
_OBJECT_META_FIELDS: Final = frozenset(
    {"name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation"}
    | {"creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels"}
    | {"annotations", "ownerReferences", "finalizers", "managedFields"}
)
# The cause types after which the real server skips CEL rules (hasBlockingErr).
_BLOCKING: Final = frozenset(
    {
        "FieldValueNotSupported",
        "FieldValueRequired",
        "FieldValueTooLong",
        "FieldValueTooMany",
        "FieldValueTypeInvalid",
    }
)
_DATE_TIME: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})"
)


@dataclass(frozen=True, slots=True)
class Cause:
    """One `metav1.StatusCause`: the field.Error type, its rendered body, and the path."""

    reason: str
    message: str
    field: str

    def to_json(self) -> dict[str, str]:
        return {"reason": self.reason, "message": self.message, "field": self.field}

    def __str__(self) -> str:
        """The field.Error form the Status message aggregates: `field: message`."""
        return f"{self.field}: {self.message}"


def invalid_message(qualified_kind: str, name: str, causes: Sequence[Cause]) -> str:
    """The message of a 422 Invalid Status: `Certificate.cert-manager.io "x" is invalid: ...`."""
    if not causes:
        return f'{qualified_kind} "{name}" is invalid'
    # Go's ErrorList.ToAggregate drops repeated messages.
    errors = list(dict.fromkeys(str(cause) for cause in causes))
    joined = errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"
    return f'{qualified_kind} "{name}" is invalid: {joined}'


def admit(
    schema: Schema, obj: dict[str, Any], *, old: dict[str, Any] | None = None
) -> tuple[dict[str, Any], list[Cause]]:
    """(pruned and defaulted copy of `obj`, causes); `old` is the stored object on update."""
    shaped = _shape(schema, obj, root=True)
    # The real server reads the old object through the same pruning and defaulting.
    previous: Any = MISSING if old is None else _shape(schema, old, root=True)
    causes = _validate(schema, shaped, "", previous, root=True)
    if any(cause.reason in _BLOCKING for cause in causes):
        causes.append(
            Cause(
                "FieldValueInvalid",
                "Invalid value: null: some validation rules were not checked because the "
                "object was invalid; correct the existing errors to complete validation",
                "<nil>",
            )
        )
    else:
        causes.extend(_check_rules(schema, shaped, "", previous, root=True))
    return shaped, causes


# --- pruning and defaulting -----------------------------------------------------------


def _shape(schema: Schema, value: Any, *, root: bool = False) -> Any:
    if isinstance(value, dict) and schema.get("type", "object") == "object":
        return _shape_object(schema, value, root=root)
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        return [_shape(schema["items"], item) for item in value]
    return copy.deepcopy(value)


def _shape_object(schema: Schema, value: dict[str, Any], *, root: bool) -> dict[str, Any]:
    properties: Mapping[str, Schema] = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    keep_unknown = schema.get("x-kubernetes-preserve-unknown-fields") is True or extra is True
    embedded = schema.get("x-kubernetes-embedded-resource") is True
    result: dict[str, Any] = {}
    for key, item in value.items():
        if (root and key in _ROOT_KEYS) or (embedded and key in ("apiVersion", "kind")):
            result[key] = copy.deepcopy(item)
            continue
        if embedded and key == "metadata" and isinstance(item, dict):
            result[key] = {k: copy.deepcopy(v) for k, v in item.items() if k in _OBJECT_META_FIELDS}
            continue
        child = properties.get(key, extra if isinstance(extra, Mapping) else None)
        if child is None:
            if keep_unknown:
                result[key] = copy.deepcopy(item)
            continue
        if item is None and not child.get("nullable"):
            # The real server drops non-nullable nulls before defaulting ("null means unset").
            continue
        result[key] = _shape(child, item)
    for key, child in properties.items():
        if key not in result and "default" in child and not (root and key in _ROOT_KEYS):
            result[key] = _shape(child, copy.deepcopy(child["default"]))
    return result


# --- structural validation ------------------------------------------------------------


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "object" if isinstance(value, dict) else "array"


def _go_float(number: float) -> str:
    """Go's %v of a float64: shortest digits, exponent form below 1e-4 or from 1e6."""
    digits_text, exponent_text = f"{Decimal(repr(number)).normalize():E}".split("E")
    exponent = int(exponent_text)
    if -4 <= exponent < 6 and number.is_integer():
        return str(int(number))
    if -4 <= exponent < 6:
        return repr(number)
    mantissa = digits_text.rstrip("0").rstrip(".")
    return f"{mantissa.lower()}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"


def _go_value(value: Any) -> str:
    """A bad value as field.Error.ErrorBody prints it: %q for strings, %v for numbers."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, int):
        return str(value)
    # Anything else (null, objects, arrays) is printed as Go's json.Marshal prints it.
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def _invalid(path: str, value: Any, detail: str, *, reason: str = "FieldValueInvalid") -> Cause:
    return Cause(reason, f"Invalid value: {_go_value(value)}: {detail}", path)


def _type_invalid(path: str, value: Any, expected: str) -> Cause:
    actual = _json_type(value)
    detail = f'{path} in body must be of type {expected}: "{actual}"'
    return _invalid(path, actual, detail, reason="FieldValueTypeInvalid")


def _type_matches(expected: str, value: Any) -> bool:
    actual = _json_type(value)
    return actual == expected or (expected == "number" and actual == "integer")


def _correlated(old: Any, key: str) -> Any:
    return old.get(key, MISSING) if isinstance(old, dict) else MISSING


def _validate(
    schema: Schema, value: Any, path: str, old: Any, *, root: bool = False
) -> list[Cause]:
    if old is not MISSING and json_equal(value, old):
        return []  # ratcheting: an unchanged value is never re-judged
    if value is None:
        if schema.get("nullable") or "type" not in schema:
            return []
        return [_type_invalid(path, value, schema["type"])]
    if schema.get("x-kubernetes-int-or-string"):
        if _json_type(value) not in ("integer", "string"):
            return [_type_invalid(path, value, "integer or string")]
    elif "type" in schema and not _type_matches(schema["type"], value):
        return [_type_invalid(path, value, schema["type"])]
    causes = _check_enum(schema, value, path)
    if isinstance(value, str):
        causes += _check_string(schema, value, path)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        causes += _check_number(schema, value, path)
    elif isinstance(value, list):
        causes += _check_array(schema, value, path, old)
    elif isinstance(value, dict):
        causes += _check_object(schema, value, path, old, root=root)
    return causes


def _check_enum(schema: Schema, value: Any, path: str) -> list[Cause]:
    allowed = schema.get("enum")
    if allowed is None or any(json_equal(value, option) for option in allowed):
        return []
    shown = ", ".join(
        json.dumps(option if isinstance(option, str) else json.dumps(option)) for option in allowed
    )
    body = f"Unsupported value: {_go_value(value)}: supported values: {shown}"
    return [Cause("FieldValueNotSupported", body, path)]


def _check_string(schema: Schema, value: str, path: str) -> list[Cause]:
    causes = []
    if schema.get("format") == "date-time" and not _is_date_time(value):
        causes.append(
            _invalid(
                path,
                value,
                f"{path} in body must be of type date-time: {_go_value(value)}",
                reason="FieldValueTypeInvalid",
            )
        )
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        most = schema["maxLength"]
        message = f"Too long: may not be more than {most} byte{'' if most == 1 else 's'}"
        causes.append(Cause("FieldValueTooLong", message, path))
    if "minLength" in schema and len(value) < schema["minLength"]:
        detail = f"{path} in body should be at least {schema['minLength']} chars long"
        causes.append(_invalid(path, value, detail))
    if "pattern" in schema and not re2.search(schema["pattern"], value):
        causes.append(_invalid(path, value, f"{path} in body should match '{schema['pattern']}'"))
    return causes


def _is_date_time(value: str) -> bool:
    if not _DATE_TIME.fullmatch(value):
        return False
    try:
        datetime.datetime.fromisoformat(value.upper())
    except ValueError:
        return False
    return True


def _check_number(schema: Schema, value: float, path: str) -> list[Cause]:
    causes = []
    # (bound, exclusive flag, is the value past the bound, is it at/past it, wording)
    bounds = (
        ("minimum", "exclusiveMinimum", operator.lt, operator.le, "greater than"),
        ("maximum", "exclusiveMaximum", operator.gt, operator.ge, "less than"),
    )
    for key, exclusive_key, beyond, at_or_beyond, words in bounds:
        if key not in schema:
            continue
        exclusive = schema.get(exclusive_key) is True
        if (at_or_beyond if exclusive else beyond)(value, schema[key]):
            relation = words if exclusive else f"{words} or equal to"
            detail = f"{path} in body should be {relation} {_go_value(float(schema[key]))}"
            causes.append(_invalid(path, value, detail))
    multiple = schema.get("multipleOf")
    if multiple and (value / multiple) != int(value / multiple):
        detail = f"{path} in body should be a multiple of {_go_value(float(multiple))}"
        causes.append(_invalid(path, value, detail))
    return causes


def _too_many(path: str, actual: int, most: int) -> Cause:
    plural = "" if most == 1 else "s"
    return Cause(
        "FieldValueTooMany", f"Too many: {actual}: must have at most {most} item{plural}", path
    )


def _check_array(schema: Schema, value: list[Any], path: str, old: Any) -> list[Cause]:
    causes = []
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        causes.append(_too_many(path, len(value), schema["maxItems"]))
    if "minItems" in schema and len(value) < schema["minItems"]:
        detail = f"{path} in body should have at least {schema['minItems']} items"
        causes.append(_invalid(path, len(value), detail))
    items: Schema = schema.get("items") or {}
    for index, item in enumerate(value):
        causes += _validate(items, item, f"{path}[{index}]", _old_item(schema, item, old))
    causes += _check_list_type(schema, value, path)
    return causes


def _map_key(schema: Schema, item: Any) -> str:
    keys = schema.get("x-kubernetes-list-map-keys") or []
    if not isinstance(item, dict):
        return json.dumps(item)
    return json.dumps([item.get(key) for key in keys], sort_keys=True)


def _old_item(schema: Schema, item: Any, old: Any) -> Any:
    """The old element an element correlates with: by map keys, or by value in a set."""
    list_type = schema.get("x-kubernetes-list-type")
    if not isinstance(old, list) or list_type not in ("map", "set"):
        return MISSING
    for candidate in old:
        if list_type == "set" and json_equal(candidate, item):
            return candidate
        if list_type == "map" and _map_key(schema, candidate) == _map_key(schema, item):
            return candidate
    return MISSING


def _check_list_type(schema: Schema, value: list[Any], path: str) -> list[Cause]:
    list_type = schema.get("x-kubernetes-list-type")
    keys = schema.get("x-kubernetes-list-map-keys") or []
    causes: list[Cause] = []
    seen: list[Any] = []
    for index, item in enumerate(value):
        if list_type == "set":
            identity = item
        elif list_type == "map" and isinstance(item, dict):
            identity = {name: item.get(name) for name in keys}
        else:
            continue
        if any(json_equal(identity, earlier) for earlier in seen):
            body = f"Duplicate value: {_go_value(identity)}"
            causes.append(Cause("FieldValueDuplicate", body, f"{path}[{index}]"))
        seen.append(identity)
    return causes


def _check_object(
    schema: Schema, value: dict[str, Any], path: str, old: Any, *, root: bool
) -> list[Cause]:
    causes = []
    for key in schema.get("required") or []:
        if key not in value and not (root and key in _ROOT_KEYS):
            causes.append(Cause("FieldValueRequired", "Required value", _child(path, key)))
    if "maxProperties" in schema and len(value) > schema["maxProperties"]:
        causes.append(_too_many(path, len(value), schema["maxProperties"]))
    if "minProperties" in schema and len(value) < schema["minProperties"]:
        detail = f"{path} in body should have at least {schema['minProperties']} properties"
        causes.append(_invalid(path, len(value), detail))
    if schema.get("x-kubernetes-embedded-resource"):
        causes += _check_embedded(value, path)
    for key, item, child in _children(schema, value, root=root):
        causes += _validate(child, item, _child(path, key), _correlated(old, key))
    return causes


def _children(
    schema: Schema, value: dict[str, Any], *, root: bool
) -> list[tuple[str, Any, Schema]]:
    """(key, value, schema) of the members the schema speaks for (unknown ones are skipped)."""
    properties: Mapping[str, Schema] = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    members = []
    for key, item in value.items():
        if root and key in _ROOT_KEYS:
            continue
        child = properties.get(key, extra if isinstance(extra, Mapping) else None)
        if child is not None:
            members.append((key, item, child))
    return members


def _check_embedded(value: dict[str, Any], path: str) -> list[Cause]:
    causes = []
    for key in ("apiVersion", "kind"):
        if key not in value:
            causes.append(
                Cause("FieldValueRequired", "Required value: must not be empty", _child(path, key))
            )
        elif not isinstance(value[key], str):
            causes.append(_invalid(_child(path, key), value[key], "must be a string"))
        elif not value[key]:
            causes.append(_invalid(_child(path, key), "", "must not be empty"))
    return causes


# --- x-kubernetes-validations -------------------------------------------------------------


def _check_rules(
    schema: Schema, value: Any, path: str, old: Any, *, root: bool = False
) -> list[Cause]:
    if value is None:
        return []
    unchanged = old is not MISSING and json_equal(value, old)
    causes = []
    rules = schema.get("x-kubernetes-validations") or []
    if rules and (root or schema.get("x-kubernetes-embedded-resource")):
        value_seen, old_seen = _with_visible_metadata(value), _with_visible_metadata(old)
    else:
        value_seen, old_seen = value, old
    for rule in rules:
        # Ratcheting spares unchanged values from all but transition rules, and an
        # unchanged value passes `... || self == oldSelf` without evaluating it.
        expression = str(rule.get("rule", ""))
        if unchanged and (not uses_old_self(expression) or holds_when_unchanged(expression)):
            continue
        violation = check_rule(rule, value_seen, schema=schema, old_value=old_seen)
        if violation is not None:
            causes.append(_rule_cause(violation, path, schema))
    if isinstance(value, dict):
        for key, item, child in _children(schema, value, root=root):
            causes += _check_rules(child, item, _child(path, key), _correlated(old, key))
    elif isinstance(value, list):
        items: Schema = schema.get("items") or {}
        for index, item in enumerate(value):
            causes += _check_rules(items, item, f"{path}[{index}]", _old_item(schema, item, old))
    return causes


def _with_visible_metadata(value: Any) -> Any:
    """A resource as CEL sees it: of its metadata, only name and generateName."""
    if not isinstance(value, dict) or not isinstance(value.get("metadata"), dict):
        return value
    metadata = {k: v for k, v in value["metadata"].items() if k in ("name", "generateName")}
    return {**value, "metadata": metadata}


def _rule_cause(violation: Violation, path: str, schema: Schema) -> Cause:
    field = _child(path, violation.field_path) if violation.field_path else path
    # The real server reports the schema's type as the "value" of a failed rule.
    type_name = json.dumps(str(schema.get("type", "")))
    body = {
        "FieldValueForbidden": f"Forbidden: {violation.detail}",
        "FieldValueRequired": f"Required value: {violation.detail}",
        "FieldValueDuplicate": f"Duplicate value: {type_name}",
    }.get(violation.reason, f"Invalid value: {type_name}: {violation.detail}")
    return Cause(violation.reason, body, field)
