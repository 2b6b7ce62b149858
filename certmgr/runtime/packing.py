"""JSON objects kept as one tuple of their values and a layout shared by all laid out alike.

Owns ``pack`` and ``Layout``: an object's leaves (strings, numbers, booleans, null, and
values the caller keeps whole) in document order, and the layout of its dicts and lists,
one ``Layout`` for every object with the same keys in the same order. ``Layout.unpack``
rebuilds an equal object of plain dicts and lists, afresh on every call. A UID, an RFC
3339 time and a decimal resourceVersion are kept as integers, and only when they read
back as the very same text. Values are shared between the packed form and every object
unpacked from it, like the caches' objects (``runtime/cache.py``): read-only.

It must not know any kind: which value a caller keeps whole is the caller's choice.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Final

# A layout node: None for a value kept as it is, a code of ``_CODECS`` for a text kept as
# an integer, ("d", keys, nodes) for a dict, ("l", nodes) for a list.
Node = tuple[Any, ...] | str | None
Build = Callable[[Sequence[Any]], Any]


class Layout:
    """One layout, with what rebuilds an object from its values, and where the value at
    the path it was asked for (``pack``'s ``find``) is among them."""

    __slots__ = ("_build", "_found_at", "_found_text")

    def __init__(self, node: tuple[Any, ...], *, find: tuple[str, ...]) -> None:
        self._build: Build = _compiled(node)
        self._found_at, code = _leaf_at(node, find)
        self._found_text = None if code is None else _CODECS[code][1]

    def unpack(self, values: Sequence[Any], *, start: int = 0) -> Any:
        """The object, rebuilt from ``values`` (as ``pack`` gave them, in order, from
        ``start``)."""
        return self._build(values[start:] if start else values)

    def found(self, values: Sequence[Any], *, start: int = 0) -> Any:
        """The value at ``pack``'s ``find`` path in ``values`` (from ``start``), or None."""
        if self._found_at is None:
            return None
        value = values[start + self._found_at]
        return value if self._found_text is None else self._found_text(value)


# As many as distinct layouts (kinds, label and annotation key sets, condition counts),
# not objects; past the bound an object of a new layout is not packed.
LAYOUTS_MAX: Final = 512
_layouts: dict[tuple[Any, ...], Layout] = {}


def pack(
    obj: dict[str, Any],
    *,
    whole: frozenset[str] = frozenset(),
    whole_in: Mapping[str, frozenset[str]] | None = None,
    find: tuple[str, ...] = (),
) -> tuple[Layout, list[Any]] | None:
    """``obj``'s layout and values; the values of its top-level keys in ``whole``, and of
    the keys ``whole_in`` names in a top-level dict, are kept as they are (e.g. a dict
    shared by many objects). None once ``LAYOUTS_MAX`` layouts were made and ``obj``'s
    is new."""
    values: list[Any] = []
    top = {key: _Whole(value) if key in whole else value for key, value in obj.items()}
    for key, inner in (whole_in or {}).items():
        value = top.get(key)
        if type(value) is dict:
            top[key] = {k: _Whole(v) if k in inner else v for k, v in value.items()}
    node = _dict_node(top, values)
    layout = _layouts.get(node)
    if layout is None:
        if len(_layouts) >= LAYOUTS_MAX:
            return None
        layout = _layouts[node] = Layout(node, find=find)
    return layout, values


def _dict_node(value: dict[str, Any], values: list[Any]) -> tuple[Any, ...]:
    """The layout of a dict, its leaves appended to ``values`` (leaves inline: they are
    most of an object)."""
    nodes: list[Node] = []
    for key, item in value.items():
        kind = type(item)
        if kind is dict:
            nodes.append(_dict_node(item, values))
        elif kind is list:
            nodes.append(_list_node(item, values))
        elif kind is _Whole:
            values.append(item.value)
            nodes.append(None)
        else:
            code = _CODES.get(key) if kind is str else None
            packed = None if code is None else _CODECS[code][0](item)
            if packed is None:
                values.append(item)
                nodes.append(None)
            else:
                values.append(packed)
                nodes.append(code)
    return ("d", tuple(value), tuple(nodes))


def _list_node(value: list[Any], values: list[Any]) -> tuple[Any, ...]:
    nodes: list[Node] = []
    for item in value:
        kind = type(item)
        if kind is dict:
            nodes.append(_dict_node(item, values))
        elif kind is list:
            nodes.append(_list_node(item, values))
        else:
            values.append(item)
            nodes.append(None)
    return ("l", tuple(nodes))


class _Whole:
    """A value ``pack`` keeps as it is, whatever it is."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _compiled(node: tuple[Any, ...]) -> Build:
    """One function that returns the object laid out as ``node`` from its values: a
    single dict and list display that indexes them, made as ``dataclasses`` makes an
    ``__init__`` (closures, one a dict or list and a call a value, took twice as long).
    Keys and codecs are the function's globals, never part of its text. A layout nested
    deeper than ``_DISPLAY_DEPTH`` gets the closures."""
    names: dict[str, Any] = {}
    leaves = itertools.count()
    keys = itertools.count()

    def display(node: Node, depth: int) -> str:
        if node is None:
            return f"v[{next(leaves)}]"
        if type(node) is str:
            names[f"t{node}"] = _CODECS[node][1]
            return f"t{node}(v[{next(leaves)}])"
        if depth > _DISPLAY_DEPTH:
            raise RecursionError
        if node[0] == "l":
            return "[" + "".join(f"{display(child, depth + 1)}," for child in node[1]) + "]"
        items = []
        for key, child in zip(node[1], node[2], strict=True):
            name = f"k{next(keys)}"
            names[name] = key
            items.append(f"{name}:{display(child, depth + 1)}")
        return "{" + ",".join(items) + "}"

    try:
        source = f"def build(v):\n return {display(node, 0)}\n"
    except RecursionError:
        closures = _builder(node)
        return lambda values: closures(iter(values))
    exec(compile(source, "<packing layout>", "exec"), names)
    build: Build = names["build"]
    return build


# Nesting the generated display may have (CPython's parser refuses ~200 levels).
_DISPLAY_DEPTH: Final = 64


def _builder(node: Node) -> Callable[[Iterator[Any]], Any]:
    """``_compiled``'s fallback: closures that draw the values from an iterator."""
    if node is None:
        return next
    if type(node) is str:
        text = _CODECS[node][1]
        return lambda values: text(next(values))
    if node[0] == "l":
        items = tuple(map(_builder, node[1]))
        return lambda values: [build(values) for build in items]
    keys, children = node[1], node[2]
    builders = tuple(map(_builder, children))
    return lambda values: {key: build(values) for key, build in zip(keys, builders, strict=True)}


def _leaf_at(node: Node, path: tuple[str, ...]) -> tuple[int | None, str | None]:
    """Where the value at ``path`` (dict keys from the top) is among ``node``'s values, and
    the code it is kept under."""
    count = 0
    for key in path:
        if not isinstance(node, tuple) or node[0] != "d" or key not in node[1]:
            return None, None
        at = node[1].index(key)
        count += sum(map(_leaves, node[2][:at]))
        node = node[2][at]
    if not path or isinstance(node, tuple):
        return None, None
    return count, node


def _leaves(node: Node) -> int:
    if not isinstance(node, tuple):
        return 1
    return sum(map(_leaves, node[-1]))


# -- texts kept as integers ----------------------------------------------------------


def _uid(text: str) -> int | None:
    """A UID in its canonical text (lower-case hex, dashes at 8, 13, 18, 23) as its number."""
    if len(text) != 36 or text[8] != "-" or text[13] != "-" or text[18] != "-" or text[23] != "-":
        return None
    digits = text.replace("-", "")
    if len(digits) != 32 or digits.strip("0123456789abcdef"):
        return None
    return int(digits, 16)


# %-formatting, not f-strings: ~15 % quicker, and these run for every read of an object.
def _uid_text(number: int) -> str:
    d = "%032x" % number  # noqa: UP031
    return "%s-%s-%s-%s-%s" % (d[:8], d[8:12], d[12:16], d[16:20], d[20:])  # noqa: UP031


def _time(text: str) -> int | None:
    """``2026-12-06T21:44:08Z`` as 20261206214408 (any digits: only the text must
    come back)."""
    if (
        len(text) != 20
        or text[4] != "-"
        or text[7] != "-"
        or text[10] != "T"
        or text[13] != ":"
        or text[16] != ":"
        or text[19] != "Z"
    ):
        return None
    digits = text[:4] + text[5:7] + text[8:10] + text[11:13] + text[14:16] + text[17:19]
    return int(digits) if not digits.strip("0123456789") else None


def _time_text(number: int) -> str:
    d = "%014d" % number  # noqa: UP031
    return "%s-%s-%sT%s:%s:%sZ" % (d[:4], d[4:6], d[6:8], d[8:10], d[10:12], d[12:])  # noqa: UP031


def _decimal(text: str) -> int | None:
    """A decimal without leading zeros (etcd's resourceVersions) as its number."""
    if not text or text.strip("0123456789") or (text[0] == "0" and len(text) > 1):
        return None
    return int(text)


_CODECS: Final[dict[str, tuple[Callable[[str], int | None], Callable[[int], str]]]] = {
    "u": (_uid, _uid_text),
    "t": (_time, _time_text),
    "n": (_decimal, str),
}
# The keys whose text values are tried as integers, wherever they are.
_CODES: Final = {
    "uid": "u",
    "creationTimestamp": "t",
    "deletionTimestamp": "t",
    "lastTransitionTime": "t",
    # A Certificate's status.
    "notBefore": "t",
    "notAfter": "t",
    "renewalTime": "t",
    "resourceVersion": "n",
}
