"""The JSON edge of the API types: dicts in, frozen dataclasses out, and back.

Owns the one mapping between Kubernetes JSON and our resource types, driven by each
dataclass's type hints: camelCase keys (with per-class exceptions such as ``isCA``),
Go duration strings to ``timedelta``, RFC 3339 times to aware ``datetime``,
``format: byte`` base64 to ``bytes``, enums, nested types, tuples and string maps; a
type marked ``shared`` decodes equal flat JSON to one instance.
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
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Self

from certmgr.api.durations import format_go_duration, parse_go_duration
from certmgr.frozen import slot_setter


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
    # Decode equal flat JSON (scalar values only) to one shared instance: for small types
    # that thousands of objects write the same (an issuer reference, a key spec).
    shared: ClassVar[bool] = False

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, *, path: str = "") -> Self:
        try:
            return typing.cast(Self, _object_decoder(cls)(data or {}))
        except _Invalid as exc:
            where = (path or cls.__name__) + "".join(reversed(exc.steps))
            raise InvalidObject(where, exc.problem) from exc.__cause__

    def to_dict(self) -> dict[str, Any]:
        return _encode_object(self)


def rfc3339(moment: datetime) -> str:
    """Kubernetes' metav1.Time text: UTC, whole seconds, ``Z``."""
    utc = moment if moment.tzinfo is UTC else moment.astimezone(UTC)
    # Formatted by hand: a third cheaper than strftime, and condition writes call it often.
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}"
        f"T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}Z"
    )


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


# Decoding is compiled: one decoder per type hint, built on first use and kept, so a
# decode walks a prepared plan instead of re-reading dataclass fields, type hints and
# JSON key spellings for every field of every object (reconcilers decode cached objects
# on every reconcile). The path of a problem is assembled only when there is one.
Decoder = Callable[[Any], Any]


class _Invalid(Exception):
    """A problem on its way up: each enclosing decoder adds its step (``.key``, ``[i]``)."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.steps: list[str] = []


@functools.cache
def _decoder(hint: Any) -> Decoder:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        (inner,) = [a for a in args if a is not type(None)]
        return _decoder(inner)
    if origin is tuple:
        return _tuple_decoder(_decoder(args[0]))
    if origin is Mapping or hint is Mapping:
        return _mapping_decoder(_decoder(args[1]) if args else _copy_json)
    if hint is Any:
        return _copy_json  # free-form JSON: do not share the caller's dicts
    if isinstance(hint, type) and issubclass(hint, JsonObject):
        return _object_decoder(hint)
    return _scalar_decoder(hint)


_OBJECT_DECODERS: dict[type, Decoder] = {}


def _object_decoder(cls: type) -> Decoder:
    decoder = _OBJECT_DECODERS.get(cls)
    if decoder is None:
        decoder = _make_object_decoder(cls)
        if getattr(cls, "shared", False):
            decoder = _sharing(decoder)
        _OBJECT_DECODERS[cls] = decoder
    return decoder


# Distinct instances a shared type keeps; past it, equal JSON decodes to equal copies.
SHARED_INSTANCES_MAX = 4096
_FLAT = frozenset((str, int, type(None)))  # no bool: True == 1 would merge two entries


def _sharing(decode: Decoder) -> Decoder:
    """``decode``, returning one instance for equal flat JSON. The types are frozen and
    decoding is deterministic, so an equal input gets an equal (here: the same) result."""
    instances: dict[tuple[tuple[Any, Any], ...], Any] = {}

    def decode_shared(data: Any) -> Any:
        if type(data) is not dict:
            return decode(data)
        items = tuple(data.items())
        for _, value in items:
            if type(value) not in _FLAT:
                return decode(data)
        hit = instances.get(items)
        if hit is None:
            hit = decode(data)
            if len(instances) < SHARED_INSTANCES_MAX:
                instances[items] = hit
        return hit

    return decode_shared


# How an absent field is filled when the decoder builds an object itself: its default,
# a call of its factory, or (required) an error.
_REQUIRED, _CONSTANT, _FACTORY = 0, 1, 2
# A field's step of an object's plan: name, JSON key, decoder, slot store, absent, default.
_Step = tuple[str, str, Decoder, Callable[[Any, Any], None], int, Any]


def _make_object_decoder(cls: type) -> Decoder:
    # The plan is made on the first call, not here, so a type may contain itself.
    plan: tuple[_Step, ...] | None = None
    # Fields are stored straight into the slots of a new object (a frozen dataclass's
    # __init__ stores each with ``object.__setattr__``, ~3x a slot store); a type's
    # ``__post_init__``, if it has one, then runs as its constructor would run it.
    post_init = getattr(cls, "__post_init__", None)
    new = object.__new__

    def decode_object(data: Any) -> Any:
        nonlocal plan
        if plan is None:
            hints = typing.get_type_hints(cls)
            plan = tuple(
                (
                    field.name,
                    _json_key(cls, field.name),
                    _decoder(hints[field.name]),
                    slot_setter(cls, field.name),
                    *_absent(field),
                )
                for field in dataclasses.fields(cls)
            )
        if type(data) is not dict and not isinstance(data, Mapping):
            raise _Invalid(f"expected an object, got {type(data).__name__}")
        get = data.get
        obj: Any = new(cls)
        for _, key, decode, store, absent, default in plan:
            value = get(key)
            if value is None or value == "":
                if absent == _CONSTANT:
                    store(obj, default)
                elif absent == _FACTORY:
                    store(obj, default())
                else:
                    raise _missing(key)
                continue
            try:
                store(obj, decode(value))
            except _Invalid as exc:
                exc.steps.append(f".{key}")
                raise
        if post_init is not None:
            post_init(obj)
        return obj

    return decode_object


def _missing(key: str) -> _Invalid:
    missing = _Invalid("required value is missing")
    missing.steps.append(f".{key}")
    return missing


def _absent(field: dataclasses.Field[Any]) -> tuple[int, Any]:
    if field.default is not dataclasses.MISSING:
        return _CONSTANT, field.default
    if field.default_factory is not dataclasses.MISSING:
        return _FACTORY, field.default_factory
    return _REQUIRED, None


def _tuple_decoder(item: Decoder) -> Decoder:
    def decode_tuple(value: Any) -> tuple[Any, ...]:
        if not isinstance(value, list):
            raise _Invalid("expected a list")
        try:
            return tuple([item(v) for v in value])
        except _Invalid as exc:
            exc.steps.append(f"[{_failing_index(item, value)}]")
            raise

    return decode_tuple


def _mapping_decoder(inner: Decoder) -> Decoder:
    def decode_mapping(value: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise _Invalid("expected an object")
        decoded = {}
        for k, v in value.items():
            try:
                decoded[str(k)] = inner(v)
            except _Invalid as exc:
                exc.steps.append(f".{k}")
                raise
        return decoded

    return decode_mapping


def _failing_index(item: Decoder, values: list[Any]) -> int:
    for i, value in enumerate(values):
        try:
            item(value)
        except _Invalid:
            return i
    return 0  # not reached: decoders are deterministic


def _scalar_decoder(hint: Any) -> Decoder:
    parse: Callable[[str], Any] | None = None
    if hint is timedelta:
        parse = parse_go_duration
    elif hint is datetime:
        parse = parse_rfc3339
    elif hint is bytes:
        parse = _b64decode
    if parse is not None:
        parse_text = parse

        def decode_text(value: Any) -> Any:
            try:
                return parse_text(value if type(value) is str else _expect(str, value))
            except (ValueError, binascii.Error) as exc:
                raise _Invalid(str(exc)) from exc

        return decode_text
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        members = hint

        by_value = members._value2member_map_

        def decode_enum(value: Any) -> Any:
            # The member table first (what calling the enum looks up before anything else).
            if type(value) is str:
                found = by_value.get(value)
                if found is not None:
                    return found
            try:
                return members(value)
            except ValueError as exc:
                raise _Invalid(str(exc)) from exc

        return decode_enum
    if hint is int:

        def decode_int(value: Any) -> int:
            if type(value) is int:
                return value
            if isinstance(value, float) and value.is_integer():
                return int(value)  # JSON numbers may arrive as floats
            return typing.cast(int, _expect(int, value))

        return decode_int
    if hint is str:

        def decode_str(value: Any) -> str:
            return value if type(value) is str else typing.cast(str, _expect(str, value))

        return decode_str
    return lambda value: _expect(hint, value)


def _b64decode(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def _expect(kind: type, value: Any) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _Invalid(f"expected {kind.__name__}, got {type(value).__name__}")
    return value


def _copy_json(value: Any) -> Any:
    """A deep copy of decoded JSON (dicts, lists, scalars), cheaper than ``copy.deepcopy``."""
    if isinstance(value, dict):
        return {k: _copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy_json(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return copy.deepcopy(value)


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
