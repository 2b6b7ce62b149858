"""Cheaper construction of frozen, slotted dataclasses, immutability kept.

Owns ``quick_init`` (a class decorator: the dataclass's ``__init__`` replaced by one that
stores each field through its slot's descriptor), ``replacing`` (a copy with one field
changed, derived fields carried over) and ``slot_setter`` (a slot's store, for a builder
that fills an object itself, as the API codec does). A frozen
dataclass's generated ``__init__`` stores each field with ``object.__setattr__``, which
costs three to four times a slot store; the hot domain types are built per reconcile and
per decoded object. The class stays frozen: its ``__setattr__`` still refuses.
Must not import anything of certmgr's, so every layer may use it.
"""

from __future__ import annotations

import dataclasses
import inspect
import types
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

# Stands for "not given" where the dataclass's own __init__ uses a factory's sentinel.
_FACTORY = object()


def slot_setter(cls: type, name: str) -> Callable[[Any, Any], None]:
    """The store of ``cls``'s slot ``name`` (bypassing the frozen ``__setattr__``)."""
    for klass in cls.__mro__:
        descriptor = klass.__dict__.get(name)
        if descriptor is not None:
            if not isinstance(descriptor, types.MemberDescriptorType):
                raise TypeError(f"{cls.__qualname__}.{name} is not a slot")
            store: Callable[[Any, Any], None] = descriptor.__set__
            return store
    raise TypeError(f"{cls.__qualname__} has no slot {name}")


def quick_init(cls: type[T]) -> type[T]:
    """``cls`` (a frozen, slotted dataclass without InitVars) with an ``__init__`` of the
    same signature and effect that stores fields through their slots; then, as before,
    ``__post_init__``. Apply it over ``@dataclass(frozen=True, slots=True)``."""
    params = dataclasses.fields(cls)  # type: ignore[arg-type]
    if not dataclasses.is_dataclass(cls) or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__qualname__} is not a slotted dataclass")
    signature = inspect.signature(cls.__init__)
    if len(signature.parameters) - 1 != sum(1 for f in params if f.init):
        raise TypeError(f"{cls.__qualname__} has InitVars: not supported")
    closure: dict[str, Any] = {"_FACTORY": _FACTORY}
    args: list[str] = ["self"]
    body: list[str] = []
    keyword_only = False
    for field in params:
        name = field.name
        closure[f"_set_{name}"] = slot_setter(cls, name)
        has_factory = field.default_factory is not dataclasses.MISSING
        if has_factory:
            closure[f"_factory_{name}"] = field.default_factory
        if not field.init:
            if has_factory:
                body.append(f"_set_{name}(self, _factory_{name}())")
            elif field.default is not dataclasses.MISSING:
                closure[f"_default_{name}"] = field.default
                body.append(f"_set_{name}(self, _default_{name})")
            continue
        if field.kw_only and not keyword_only:
            args.append("*")
            keyword_only = True
        if has_factory:
            args.append(f"{name}=_FACTORY")
            body.append(f"_set_{name}(self, _factory_{name}() if {name} is _FACTORY else {name})")
        elif field.default is not dataclasses.MISSING:
            closure[f"_default_{name}"] = field.default
            args.append(f"{name}=_default_{name}")
            body.append(f"_set_{name}(self, {name})")
        else:
            args.append(name)
            body.append(f"_set_{name}(self, {name})")
    if hasattr(cls, "__post_init__"):
        body.append("self.__post_init__()")
    source = (
        f"def __make__({', '.join(closure)}):\n"
        f" def __init__({', '.join(args)}):\n"
        + "".join(f"  {line}\n" for line in body or ["pass"])
        + " return __init__\n"
    )
    namespace: dict[str, Any] = {}
    exec(source, {}, namespace)
    init = namespace["__make__"](**closure)
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    made = inspect.signature(init).parameters
    if [(p.name, p.kind) for p in made.values()] != [
        (p.name, p.kind) for p in signature.parameters.values()
    ]:
        raise TypeError(f"{cls.__qualname__}: the quick __init__ would differ in signature")
    cls.__init__ = init  # type: ignore[method-assign]
    return cls


def replacing(cls: type[T], name: str) -> Callable[[T, Any], T]:
    """A function ``(obj, value)`` -> a copy of ``obj`` (exactly a ``cls``) whose field
    ``name`` is ``value``: every other slot, ``init=False`` ones included, is copied as
    it is and ``__post_init__`` does not run, so only for a field that what it derives
    does not depend on (``dataclasses.replace`` recomputes it, at twice a constructor)."""
    fields = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    if name not in fields:
        raise TypeError(f"{cls.__qualname__} has no field {name}")
    closure: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    body = ["copied = _new(_cls)"]
    for field in fields:
        closure[f"_set_{field}"] = slot_setter(cls, field)
        source = "value" if field == name else f"obj.{field}"
        body.append(f"_set_{field}(copied, {source})")
    body.append("return copied")
    text = (
        f"def __make__({', '.join(closure)}):\n"
        " def replaced(obj, value):\n"
        + "".join(f"  {line}\n" for line in body)
        + " return replaced\n"
    )
    namespace: dict[str, Any] = {}
    exec(text, {}, namespace)
    replaced: Callable[[T, Any], T] = namespace["__make__"](**closure)
    replaced.__qualname__ = f"{cls.__qualname__} with {name} replaced"
    return replaced
