"""The JSON edge of the API types: dicts in, frozen dataclasses out, and back.

Owns the one mapping between Kubernetes JSON and our resource types, driven by each
dataclass's type hints: camelCase keys (with per-class exceptions such as ``isCA``),
Go duration strings to ``timedelta``, RFC 3339 times to aware ``datetime``,
``format: byte`` base64 to ``bytes``, enums, nested types, tuples and string maps.
Decoding follows Go's ``omitempty`` reading: an absent key, ``null`` and ``""`` all
mean "unset". It must not do I/O, read the clock, or know any one resource's rules.
"""

from __future__ import annotations

import base64
import binascii
import copy
import dataclasses
import enum
import functools
import types
import typing
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Self

from certmgr.api.durations import format_go_duration, parse_go_duration


class InvalidObject(ValueError):
    """A JSON value does not fit the field it is read into; ``path`` says where."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class JsonObject:
    """Base of every API dataclass: ``from_dict`` at the edge, ``to_dict`` back to it.

    Subclasses are frozen, slotted dataclasses; ``json_names`` maps a Python field name
    to its JSON key where the camelCase rule gets it wrong (``is_ca`` -> ``isCA``).
    """

    __slots__ = ()
    json_names: ClassVar[Mapping[str, str]] = {}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, *, path: str = "") -> Self:
        return typing.cast(Self, _decode_object(cls, data or {}, path or cls.__name__))

    def to_dict(self) -> dict[str, Any]:
        return _encode_object(self)


def rfc3339(moment: datetime) -> str:
    """Kubernetes' metav1.Time text: UTC, whole seconds, ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"time {text!r} has no timezone")
    return moment.astimezone(UTC)


def _json_key(cls: type, name: str) -> str:
    names: Mapping[str, str] = getattr(cls, "json_names", {})
    if name in names:
        return names[name]
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _is_unset(value: Any) -> bool:
    return value is None or value == ""


def _decode_object(cls: type, data: Any, path: str) -> Any:
    if not isinstance(data, Mapping):
        raise InvalidObject(path, f"expected an object, got {type(data).__name__}")
    hints = _hints(cls)
    kwargs = {}
    for field in dataclasses.fields(cls):
        key = _json_key(cls, field.name)
        if key in data and not _is_unset(data[key]):
            kwargs[field.name] = _decode(hints[field.name], data[key], f"{path}.{key}")
        elif _default(field) is dataclasses.MISSING:
            raise InvalidObject(f"{path}.{key}", "required value is missing")
    return cls(**kwargs)


def _decode(hint: Any, value: Any, path: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        (inner,) = [a for a in args if a is not type(None)]
        return _decode(inner, value, path)
    if origin is tuple:
        if not isinstance(value, list):
            raise InvalidObject(path, "expected a list")
        return tuple(_decode(args[0], item, f"{path}[{i}]") for i, item in enumerate(value))
    if origin is Mapping or hint is Mapping:
        if not isinstance(value, Mapping):
            raise InvalidObject(path, "expected an object")
        inner = args[1] if args else Any
        return {str(k): _decode(inner, v, f"{path}.{k}") for k, v in value.items()}
    if hint is Any:
        return copy.deepcopy(value)  # free-form JSON: do not share the caller's dicts
    if isinstance(hint, type) and issubclass(hint, JsonObject):
        return _decode_object(hint, value, path)
    return _decode_scalar(hint, value, path)


def _decode_scalar(hint: Any, value: Any, path: str) -> Any:
    try:
        if hint is timedelta:
            return parse_go_duration(_expect(str, value, path))
        if hint is datetime:
            return parse_rfc3339(_expect(str, value, path))
        if hint is bytes:
            return base64.b64decode(_expect(str, value, path), validate=True)
        if isinstance(hint, type) and issubclass(hint, enum.Enum):
            return hint(value)
    except (ValueError, binascii.Error) as exc:
        raise InvalidObject(path, str(exc)) from exc
    if hint is int and isinstance(value, float) and value.is_integer():
        return int(value)  # JSON numbers may arrive as floats
    return _expect(hint, value, path)


def _expect(kind: type, value: Any, path: str) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InvalidObject(path, f"expected {kind.__name__}, got {type(value).__name__}")
    return value


def _default(field: dataclasses.Field[Any]) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return dataclasses.MISSING


def _encode_object(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in dataclasses.fields(obj):
        value = getattr(obj, field.name)
        # Go's omitempty: a value equal to the field's default reads back the same when
        # absent. An optional field (default None) keeps an explicit false or {}, which
        # carry meaning (encodeUsagesInRequest: false; selfSigned: {}).
        if value is None or value == _default(field):
            continue
        out[_json_key(type(obj), field.name)] = _encode(value)
    return out


def _encode(value: Any) -> Any:
    if isinstance(value, JsonObject):
        return _encode_object(value)
    if isinstance(value, tuple):
        return [_encode(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, timedelta):
        return format_go_duration(value)
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value
