"""Dicts that keep their keys once per distinct key set: the form of cached JSON objects.

Owns ``shaped``: an equal dict, with the same keys in the same order, whose key table is
shared with every other dict ``shaped`` made from the same keys (CPython's split table,
the form an instance's ``__dict__`` takes), so a dict holds only its values: a Certificate's
6-key metadata costs 136 bytes instead of 272. To every reader and writer it is an ordinary
``dict`` (``isinstance``, ``==``, JSON, ``copy.deepcopy`` into a plain dict); a key added
later turns it into an ordinary table. Elsewhere than CPython it is simply a copy.

It must not be used for dicts that are built up key by key or grow: only for the
read-only objects the caches keep (``runtime/cache.py``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

# A shape is a class whose instances' __dict__ share its key table; each costs ~2.5 KB,
# and there are as many as distinct key sets (kinds, label and annotation sets), not
# objects. Past the bound a new key set gets an ordinary dict.
SHAPES_MAX = 512
# CPython shares at most 30 keys per class; a larger table falls back to a combined one
# bigger than a plain dict's.
SHAPE_KEYS_MAX = 24
# Instances made once per new shape: CPython sizes an instance's values for the keys the
# class may still gain and narrows that guess by one slot per instance created.
_WARM_UP = 40

_shapes: dict[tuple[str, ...], Callable[[], Any]] = {}


def shaped(mapping: dict[str, Any]) -> dict[str, Any]:
    """A dict equal to ``mapping`` (same items, same order) in the shared-keys form; an
    ordinary copy with interned keys when its keys get no shape (``shaped_table``)."""
    table = shaped_table(tuple(mapping))
    if table is None:
        return {sys.intern(key): value for key, value in mapping.items()}
    for key, value in mapping.items():
        table[key] = value
    return table


def shaped_table(keys: tuple[str, ...]) -> dict[str, Any] | None:
    """An empty dict to be given exactly ``keys``, in this order, in the shared-keys form;
    None when they get no shape: none or too many keys, or ``SHAPES_MAX`` shapes made."""
    new = _shapes.get(keys)
    if new is None:
        new = _shape(keys)
        if new is None:
            return None
    table: dict[str, Any] = new().__dict__
    return table


def shapes() -> int:
    """How many distinct key sets have a shape."""
    return len(_shapes)


def _shape(keys: tuple[str, ...]) -> Callable[[], Any] | None:
    if (
        not keys
        or len(keys) > SHAPE_KEYS_MAX
        or len(_shapes) >= SHAPES_MAX
        or not all(type(key) is str for key in keys)
    ):
        return None
    shape = type("Shape", (), {"__slots__": ("__dict__",)})
    prototype = shape().__dict__
    for key in keys:
        prototype[sys.intern(key)] = None
    for _ in range(_WARM_UP):
        shape()
    _shapes[keys] = shape
    return shape
