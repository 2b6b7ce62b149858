"""Static cost estimate of one CEL rule, as kube-apiserver computes it when a CRD is written.

Owns the worst-case cost of an expression over a schema's declared type (`Decl`, built by
`crdrules.py`): the parse tree is expanded into cel-go's macro comprehensions and costed
with cel-go's checker rules (select and ident 1, literals 0, `&&`/`||` as the sum of both
sides, comprehensions as range size times loop cost, string comparisons and traversals at
0.1 per character, regexes at 0.25 per pattern character) and the Kubernetes library's
per-function estimates; `has()` is free as in Kubernetes. Sizes come from the schema
(maxItems, maxLength x 4, maxProperties, enum lengths, formats) or from the 3 MiB request
limit. It must not evaluate anything or know about HTTP; unknown constructs are costed as
the worst case, never as cheap.
"""

from __future__ import annotations

import ast as pyast
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import lark

__all__ = ["MAX_REQUEST_BYTES", "Decl", "analyze", "estimate"]

MAX_REQUEST_BYTES: Final = 3 * 1024 * 1024
_MAX: Final = 2**64 - 1
_SCALARS: Final = frozenset({"bool", "int", "uint", "double", "duration", "timestamp"})
_STRING_FACTOR: Final = 0.1
_REGEX_FACTOR: Final = 0.25


@dataclass(frozen=True, slots=True)
class Decl:
    """A CEL declared type as the apiextensions server derives it from a schema node.

    `max_elements` is the worst-case size (characters x 4, items, properties); `min_size`
    the smallest JSON serialization, which bounds how often a node can repeat in 3 MiB.
    """

    kind: str  # object, map, list, string, bytes, bool, int, uint, double, duration, timestamp, dyn
    max_elements: int = 0
    min_size: int = 1
    fields: Mapping[str, Decl] = field(default_factory=dict)
    elem: Decl | None = None


_DYN: Final = Decl("dyn", _MAX)
_STRING: Final = Decl("string", _MAX)
_MAP_KEY: Final = Decl("string", 0)  # apiserver's StringType: no MaxElements of its own


def _add(a: int, b: int) -> int:
    return min(a + b, _MAX)


def _mul(a: int, b: int) -> int:
    return min(a * b, _MAX)


def _factor(x: int, y: float) -> int:
    product = math.ceil(float(x) * y)
    return _MAX if product >= 2**64 else int(product)


@dataclass(frozen=True, slots=True)
class Range:
    """A cel-go SizeEstimate or CostEstimate (min, max), saturating at 2**64-1."""

    low: int
    high: int

    def __add__(self, other: Range) -> Range:
        return Range(_add(self.low, other.low), _add(self.high, other.high))

    def times(self, other: Range) -> Range:
        return Range(_mul(self.low, other.low), _mul(self.high, other.high))

    def factor(self, y: float) -> Range:
        return Range(_factor(self.low, y), _factor(self.high, y))

    def union(self, other: Range) -> Range:
        return Range(min(self.low, other.low), max(self.high, other.high))


_ZERO: Final = Range(0, 0)
_ONE: Final = Range(1, 1)
_UNKNOWN: Final = Range(0, _MAX)


# --- the expression tree (cel-go's AST shape, macros expanded) ---------------------------


@dataclass(eq=False, slots=True)
class Expr:
    kind: str  # lit, ident, select, test, call, list, map, comp
    value: Any = None  # literal value, identifier, field or function name
    operand: Expr | None = None  # select operand / member-call target
    args: list[Expr] = field(default_factory=list)
    # comprehension parts
    iter_var: str = ""
    accu_var: str = ""
    parts: dict[str, Expr] = field(default_factory=dict)


_ACCU: Final = "@result"
_BINARY: Final = {
    "relation_lt": "_<_",
    "relation_le": "_<=_",
    "relation_gt": "_>_",
    "relation_ge": "_>=_",
    "relation_eq": "_==_",
    "relation_ne": "_!=_",
    "relation_in": "@in",
    "addition_add": "_+_",
    "addition_sub": "_-_",
    "multiplication_mul": "_*_",
    "multiplication_div": "_/_",
    "multiplication_mod": "_%_",
}


def _call(name: str, *args: Expr, target: Expr | None = None) -> Expr:
    return Expr("call", name, target, list(args))


def _literal(token: lark.Token) -> Expr:
    text = str(token)
    kind = token.type
    if kind == "BOOL_LIT":
        return Expr("lit", text == "true")
    if kind == "NULL_LIT":
        return Expr("lit", None)
    if kind == "UINT_LIT":
        return Expr("lit", ("uint", int(text[:-1], 0)))
    if kind == "INT_LIT":
        return Expr("lit", int(text, 0))
    if kind == "FLOAT_LIT":
        return Expr("lit", float(text))
    raw = text[1:] if text[:1] in "rR" else text
    try:
        value = pyast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw.strip("'\"")
    if kind == "BYTES_LIT":
        return Expr("lit", value.encode() if isinstance(value, str) else value)
    return Expr("lit", str(value))


def _macro(name: str, target: Expr, args: list[Expr]) -> Expr | None:
    """cel-go's expansion of all/exists/exists_one/map/filter into a comprehension."""
    if name not in ("all", "exists", "exists_one", "existsOne", "map", "filter"):
        return None
    if len(args) not in (2, 3) or args[0].kind != "ident":
        return None
    var = str(args[0].value)
    accu = Expr("ident", _ACCU)
    if name == "all":
        init, cond = Expr("lit", True), _call("@not_strictly_false", accu)
        step, result = _call("_&&_", accu, args[1]), accu
    elif name == "exists":
        init = Expr("lit", False)
        cond = _call("@not_strictly_false", _call("!_", accu))
        step, result = _call("_||_", accu, args[1]), accu
    elif name in ("exists_one", "existsOne"):
        init, cond = Expr("lit", 0), Expr("lit", True)
        step = _call("_?_:_", args[1], _call("_+_", accu, Expr("lit", 1)), accu)
        result = _call("_==_", accu, Expr("lit", 1))
    elif name == "map":
        init, cond, result = Expr("list"), Expr("lit", True), accu
        step = _call("_+_", accu, Expr("list", args=[args[-1]]))
        if len(args) == 3:
            step = _call("_?_:_", args[1], step, accu)
    else:
        init, cond, result = Expr("list"), Expr("lit", True), accu
        step = _call("_?_:_", args[1], _call("_+_", accu, Expr("list", args=[args[0]])), accu)
    return Expr(
        "comp",
        iter_var=var,
        accu_var=_ACCU,
        parts={"range": target, "init": init, "cond": cond, "step": step, "result": result},
    )


def _children(tree: lark.Tree[Any]) -> list[Any]:
    return [c for c in tree.children if c is not None]


def build(tree: Any) -> Expr:
    """The celpy (lark) parse tree as a cel-go shaped expression."""
    if isinstance(tree, lark.Token):
        return _literal(tree)
    kids = _children(tree)
    rule = tree.data
    if rule == "expr":
        if len(kids) == 1:
            return build(kids[0])
        return _call("_?_:_", *(build(k) for k in kids))
    if rule in ("conditionalor", "conditionaland"):
        if len(kids) == 1:
            return build(kids[0])
        return _call("_||_" if rule == "conditionalor" else "_&&_", build(kids[0]), build(kids[1]))
    if rule in ("relation", "addition", "multiplication"):
        if len(kids) == 1:
            return build(kids[0])
        op_tree, rhs = kids
        op = _BINARY[op_tree.data]
        lhs = build(_children(op_tree)[0])
        if op == "@in":
            return _call("@in", lhs, build(rhs))
        return _call(op, lhs, build(rhs))
    if rule == "unary":
        if len(kids) == 1:
            return build(kids[0])
        op = "!_" if kids[0].data == "unary_not" else "-_"
        return _call(op, build(kids[1]))
    if rule in ("member", "primary", "literal"):
        return build(kids[0])
    if rule == "paren_expr":
        return build(kids[0])
    if rule == "ident":
        return Expr("ident", str(kids[0]))
    if rule == "member_dot":
        return Expr("select", str(kids[1]), build(kids[0]))
    if rule == "member_index":
        return _call("_[_]", build(kids[0]), build(kids[1]))
    if rule in ("member_dot_arg", "ident_arg", "dot_ident_arg"):
        if rule == "member_dot_arg":
            target: Expr | None = build(kids[0])
            name, rest = str(kids[1]), kids[2:]
        else:
            target, name, rest = None, str(kids[0]), kids[1:]
        args = [build(e) for e in _children(rest[0])] if rest else []
        if name == "has" and target is None and len(args) == 1 and args[0].kind == "select":
            return Expr("test", args[0].value, args[0].operand)
        if target is not None and (expanded := _macro(name, target, args)) is not None:
            return expanded
        return _call(name, *args, target=target)
    if rule == "list_lit":
        return Expr("list", args=[build(e) for e in _children(kids[0])] if kids else [])
    if rule == "map_lit":
        entries = [build(e) for e in _children(kids[0])] if kids else []
        return Expr("map", args=entries)
    if rule == "dot_ident":
        return Expr("ident", str(kids[0]))
    # member_object (message construction) and anything newer: a struct creation.
    return Expr("call", "@unknown", None, [])


# --- types -------------------------------------------------------------------------------

_RESULT_KINDS: Final = {
    **dict.fromkeys(
        ["size", "int", "indexOf", "lastIndexOf", "getFullYear", "getMonth", "getDate"], "int"
    ),
    **dict.fromkeys(["getHours", "getMinutes", "getSeconds", "getMilliseconds"], "int"),
    **dict.fromkeys(["getDayOfYear", "getDayOfMonth", "getDayOfWeek"], "int"),
    **dict.fromkeys(["matches", "contains", "startsWith", "endsWith", "isSorted"], "bool"),
    **dict.fromkeys(["!_", "_&&_", "_||_", "@not_strictly_false", "@in", "bool"], "bool"),
    **dict.fromkeys(["_<_", "_<=_", "_>_", "_>=_", "_==_", "_!=_"], "bool"),
    **dict.fromkeys(["lowerAscii", "upperAscii", "trim", "substring", "replace"], "string"),
    **dict.fromkeys(["charAt", "join", "format", "quote", "string", "find"], "string"),
    "uint": "uint",
    "double": "double",
    "duration": "duration",
    "timestamp": "timestamp",
    "bytes": "bytes",
}


def _result_decl(e: Expr, types: dict[int, Decl]) -> Decl:
    name = str(e.value)
    first = types.get(id(e.args[0])) if e.args else None
    target = types.get(id(e.operand)) if e.operand is not None else None
    if name == "_[_]" and first is not None:
        return first.elem or _DYN
    if name in ("_+_", "_-_", "_*_", "_/_", "_%_", "-_"):
        if first is not None and name == "_-_" and first.kind == "timestamp":
            second = types.get(id(e.args[1]))
            return Decl("duration") if second and second.kind == "timestamp" else first
        return first or _DYN
    if name == "_?_:_":
        return types.get(id(e.args[1])) or _DYN
    if name in ("split", "findAll"):
        return Decl("list", _MAX, 2, elem=_STRING)
    if name in ("sum", "min", "max") and target is not None:
        return target.elem or _DYN
    if name == "dyn" and first is not None:
        return first
    kind = _RESULT_KINDS.get(name)
    return Decl(kind, _MAX if kind in ("string", "bytes") else 0) if kind else _DYN


# --- the coster ----------------------------------------------------------------------------


@dataclass(slots=True)
class _Local:
    path: list[str] | None
    size: Range | None
    decl: Decl


class _Coster:
    def __init__(self, root: Decl) -> None:
        self.root = root
        self.paths: dict[int, list[str]] = {}
        self.sizes: dict[int, Range] = {}
        self.entry_sizes: dict[int, Range] = {}
        self.types: dict[int, Decl] = {}
        self.scopes: dict[str, list[_Local]] = {}
        self.undefined: list[str] = []

    def _check_field(self, operand: Decl, name: str) -> None:
        # The checker knows an object's declared fields only: anything else does not compile.
        if name not in operand.fields and name not in self.undefined:
            self.undefined.append(name)

    # sizes
    def _estimate_size(self, path: list[str] | None) -> Range | None:
        # As the apiextensions size estimator: the first element (the variable) is skipped
        # whatever it names, and the rest walks the rule's own declared type.
        if not path:
            return None
        node: Decl | None = self.root
        for name in path[1:]:
            if node is None:
                return None
            if name in ("@items", "@values"):
                node = node.elem
            elif name == "@keys":
                node = _MAP_KEY if node.kind == "map" else None
            else:
                node = node.fields.get(name) if node.kind == "object" else None
        if node is None:
            return None
        return Range(0, node.max_elements)

    def size(self, e: Expr) -> Range | None:
        if id(e) in self.sizes:
            return self.sizes[id(e)]
        if e.kind == "lit":
            value = e.value
            if isinstance(value, str | bytes):
                return Range(len(value), len(value))
            return _ONE
        if e.kind in ("list", "map"):
            n = len(e.args) if e.kind == "list" else len(e.args) // 2
            return Range(n, n)
        estimated = self._estimate_size(self.path(e))
        if estimated is not None:
            self.sizes[id(e)] = estimated
            return estimated
        if self.decl(e).kind in _SCALARS:
            return _ONE
        if e.kind == "ident" and (local := self._local(str(e.value))) and local.size:
            return local.size
        return None

    def size_or_unknown(self, e: Expr) -> Range:
        return self.size(e) or _UNKNOWN

    def path(self, e: Expr) -> list[str] | None:
        if e.kind == "ident" and (local := self._local(str(e.value))) is not None:
            return local.path
        return self.paths.get(id(e))

    def decl(self, e: Expr) -> Decl:
        return self.types.get(id(e), _DYN)

    def _local(self, name: str) -> _Local | None:
        stack = self.scopes.get(name)
        return stack[-1] if stack else None

    def _push(self, name: str, local: _Local) -> None:
        self.scopes.setdefault(name, []).append(local)

    def _pop(self, name: str) -> None:
        self.scopes[name].pop()

    # costs
    def cost(self, e: Expr) -> Range:
        if e.kind == "lit":
            self.types[id(e)] = _literal_decl(e.value)
            return _ZERO
        if e.kind == "ident":
            return self._ident(e)
        if e.kind == "select":
            return self._select(e)
        if e.kind == "test":
            assert e.operand is not None
            self.types[id(e)] = Decl("bool")
            cost = self.cost(e.operand)  # has() is free in Kubernetes (PresenceTestHasCost false)
            if (operand := self.decl(e.operand)).kind == "object":
                self._check_field(operand, str(e.value))
            return cost
        if e.kind == "list":
            total = Range(10, 10)
            elems = [self.cost(item) for item in e.args]
            for item_cost in elems:
                total = total + item_cost
            elem_decl = self.decl(e.args[0]) if e.args else _DYN
            item_size = Range(_MAX, 0) if e.args else _ZERO
            for item in e.args:
                item_size = item_size.union(self.size_or_unknown(item))
            self.entry_sizes[id(e)] = item_size
            self.types[id(e)] = Decl("list", len(e.args), 2, elem=elem_decl)
            return total
        if e.kind == "map":
            total = Range(30, 30)
            for item in e.args:
                total = total + self.cost(item)
            values = e.args[1::2]
            self.types[id(e)] = Decl(
                "map", len(values), 2, elem=self.decl(values[0]) if values else _DYN
            )
            return total
        if e.kind == "comp":
            return self._comprehension(e)
        return self._call(e)

    def _ident(self, e: Expr) -> Range:
        name = str(e.value)
        local = self._local(name)
        if local is not None:
            self.types[id(e)] = local.decl
        else:
            self.paths[id(e)] = [name]
            if name in ("self", "oldSelf"):
                self.types[id(e)] = self.root
        return _ONE

    def _select(self, e: Expr) -> Range:
        assert e.operand is not None
        total = self.cost(e.operand)
        operand = self.decl(e.operand)
        if operand.kind in ("object", "map"):
            total = total + _ONE
        name = str(e.value)
        if operand.kind == "object":
            self._check_field(operand, name)
            self.types[id(e)] = operand.fields.get(name, _DYN)
        elif operand.kind == "map":
            self.types[id(e)] = operand.elem or _DYN
        self.paths[id(e)] = [*(self.path(e.operand) or []), name]
        return total

    def _comprehension(self, e: Expr) -> Range:
        parts = e.parts
        rng, init = parts["range"], parts["init"]
        total = self.cost(rng) + self.cost(init)
        self._push(e.accu_var, _Local(self.path(init) or [], self.size(init), self.decl(init)))
        range_decl = self.decl(rng)
        entry = self.entry_sizes.get(id(rng))
        if range_decl.kind == "map":
            iter_decl, subpath, iter_size = _STRING, "@keys", None
        else:
            iter_decl, subpath, iter_size = range_decl.elem or _DYN, "@items", entry
        base = self.path(rng) or []
        self._push(e.iter_var, _Local([*base, subpath], iter_size, iter_decl))
        loop = self.cost(parts["cond"])
        step = self.cost(parts["step"])
        self._pop(e.iter_var)
        total = total + self.cost(parts["result"])
        self._pop(e.accu_var)
        count = self.size_or_unknown(rng)
        total = total + count.times(step + loop)
        if init.kind == "lit":
            self.types[id(e)] = self.decl(parts["result"])
            if (init_size := self.size(init)) is not None:
                self.sizes[id(e)] = init_size
        else:
            self.sizes[id(e)] = count
            self.types[id(e)] = self.decl(parts["step"])
        return total

    def _call(self, e: Expr) -> Range:
        name = str(e.value)
        arg_costs = [self.cost(arg) for arg in e.args]
        total = _ZERO
        if e.operand is not None:
            total = total + self.cost(e.operand)
        arg_sum = _ZERO
        for cost in arg_costs:
            arg_sum = arg_sum + cost
        if name == "_[_]" and e.args:
            container = self.decl(e.args[0])
            sub = "@values" if container.kind == "map" else "@items"
            self.paths[id(e)] = [*(self.path(e.args[0]) or []), sub]
        self.types[id(e)] = _result_decl(e, self.types)
        function_cost, result_size = self._function(e, name, arg_costs, arg_sum)
        if result_size is not None:
            self.sizes[id(e)] = result_size
        return total + function_cost

    def _function(
        self, e: Expr, name: str, arg_costs: list[Range], arg_sum: Range
    ) -> tuple[Range, Range | None]:
        args, target = e.args, e.operand
        string_like = ("string", "bytes", "dyn")
        # The Kubernetes library's estimates come first, as its estimator is consulted first.
        if name in ("lowerAscii", "upperAscii", "substring", "trim") and target is not None:
            size = self.size_or_unknown(target)
            return size.factor(_STRING_FACTOR) + arg_sum, size
        if name in ("replace", "split") and target is not None:
            size = self.size_or_unknown(target)
            result = _UNKNOWN if name == "replace" else Range(0, size.high)
            return size.factor(2 * _STRING_FACTOR) + arg_sum, result
        if name in ("isSorted", "sum", "max", "min", "indexOf", "lastIndexOf") and target:
            size = self.size_or_unknown(target)
            element = self.decl(target).elem
            if self.decl(target).kind == "list":
                per_item = _ONE
                if element is not None and element.kind in ("string", "bytes"):
                    per_item = per_item + Range(0, element.max_elements).factor(_STRING_FACTOR)
                return size.times(per_item) + arg_sum, None
            return size.factor(_STRING_FACTOR) + arg_sum, None
        if name == "join" and target is not None:
            element = self.decl(target).elem
            size = self.size_or_unknown(target).times(
                Range(0, element.max_elements if element else _MAX)
            )
            return size.factor(_STRING_FACTOR) + arg_sum, size
        if name in ("find", "findAll") and target is not None and args:
            text = (self.size_or_unknown(target) + _ONE).factor(_STRING_FACTOR)
            regex = self.size_or_unknown(args[0]).factor(_REGEX_FACTOR)
            return text.times(regex) + arg_sum, Range(0, self.size_or_unknown(target).high)
        if name in ("url", "quantity", "isQuantity", "isURL", "ip", "cidr", "isIP", "isCIDR"):
            subject = args[0] if args else target
            size = self.size_or_unknown(subject) if subject is not None else _UNKNOWN
            return size.factor(_STRING_FACTOR) + arg_sum, None
        # cel-go's own estimates.
        if name in ("startsWith", "endsWith") and target is not None and args:
            return self.size_or_unknown(args[0]).factor(_STRING_FACTOR) + arg_sum, None
        if name == "@in" and len(args) == 2:
            if self.decl(args[1]).kind in ("list", "dyn"):
                return self.size_or_unknown(args[1]).factor(1) + arg_sum, None
            return _ONE + arg_sum, None
        if name == "matches":
            text_node, regex_node = (target, args[0]) if target is not None else (args[0], args[1])
            text = (self.size_or_unknown(text_node) + _ONE).factor(_STRING_FACTOR)
            regex = self.size_or_unknown(regex_node).factor(_REGEX_FACTOR)
            return text.times(regex) + arg_sum, None
        if name == "contains" and target is not None and args:
            text = self.size_or_unknown(target).factor(_STRING_FACTOR)
            sub = self.size_or_unknown(args[0]).factor(_STRING_FACTOR)
            return text.times(sub) + arg_sum, None
        if name in ("_&&_", "_||_"):
            return Range(arg_costs[0].low, (arg_costs[0] + arg_costs[1]).high), None
        if name == "_?_:_":
            size = self.size_or_unknown(args[1]).union(self.size_or_unknown(args[2]))
            return arg_costs[0] + arg_costs[1].union(arg_costs[2]), size
        if name == "_+_" and len(args) == 2:
            kind = self.decl(args[0]).kind
            if kind in ("string", "bytes", "list", "dyn"):
                size = self.size_or_unknown(args[0]) + self.size_or_unknown(args[1])
                if kind == "list":
                    return _ONE + arg_sum, size
                return size.factor(_STRING_FACTOR) + arg_sum, size
        comparisons = ("_<_", "_<=_", "_>_", "_>=_")
        if name in ("_==_", "_!=_") or (
            name in comparisons and self.decl(args[0]).kind in string_like
        ):
            lhs, rhs = self.size_or_unknown(args[0]), self.size_or_unknown(args[1])
            smallest = min(lhs.high, rhs.high)
            low = 1 if smallest > 0 else 0
            return Range(low, smallest).factor(_STRING_FACTOR) + arg_sum, None
        if name == "_[_]" and args:
            return _ONE + arg_sum, self._element_size(args[0])
        if name == "@unknown":
            return _UNKNOWN, None
        return _ONE + arg_sum, None

    def _element_size(self, container: Expr) -> Range | None:
        if id(container) in self.entry_sizes:
            return self.entry_sizes[id(container)]
        return None


def _literal_decl(value: Any) -> Decl:
    if isinstance(value, bool):
        return Decl("bool")
    if isinstance(value, int):
        return Decl("int")
    if isinstance(value, float):
        return Decl("double")
    if isinstance(value, str):
        return Decl("string", len(value))
    if isinstance(value, bytes):
        return Decl("bytes", len(value))
    if isinstance(value, tuple):
        return Decl("uint")
    return Decl("null")


def estimate(tree: lark.Tree[Any], root: Decl) -> int:
    """The worst-case cost (cel-go's `costEst.Max`) of a parsed rule over `root`."""
    return analyze(tree, root)[0]


def analyze(tree: lark.Tree[Any], root: Decl) -> tuple[int, list[str]]:
    """(worst-case cost, fields the rule selects that the declared type does not have)."""
    coster = _Coster(root)
    cost = coster.cost(build(tree)).high
    return cost, coster.undefined
