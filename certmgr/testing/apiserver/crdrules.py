"""The checks kube-apiserver makes on a CRD's `x-kubernetes-validations` when the CRD is written.

Owns the declared CEL type of each schema node (the apiextensions server's SchemaDeclType:
sizes from maxItems, maxLength, maxProperties, enums and formats, or from the 3 MiB request
limit), the cardinality of a node (the product of maxItems/maxProperties above it, or what
fits in one request), each rule's compile check and estimated cost against the per-rule
limit, the per-CRD total, and the StatusCauses with the real wording and field paths
(`spec.validation.openAPIV3Schema.properties[status].x-kubernetes-validations[2].rule`).
It must not evaluate rules on objects (that is `cel.py` and `schema.py`) and does no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from certmgr.testing.apiserver import cel
from certmgr.testing.apiserver.celcost import MAX_REQUEST_BYTES, Decl, analyze

__all__ = ["CRD_COST_LIMIT", "RULE_COST_LIMIT", "RuleCost", "check_crd", "rule_costs"]

RULE_COST_LIMIT: Final = 10_000_000  # StaticEstimatedCostLimit (= PerCallLimit)
CRD_COST_LIMIT: Final = 100_000_000  # StaticEstimatedCRDCostLimit
_MAX: Final = 2**64 - 1
_FORMAT_SIZES: Final = {"duration": (3, 32), "date": (12, 12), "date-time": (21, 32)}
_HINT: Final = (
    "(try simplifying the rule, or adding maxItems, maxProperties, and maxLength where "
    "arrays, maps, and strings are declared)"
)

Schema = Mapping[str, Any]


def declare(schema: Schema, *, root: bool = False) -> Decl | None:
    """The CEL type the apiextensions server gives a schema node, None if CEL cannot see it."""
    if schema.get("x-kubernetes-int-or-string"):
        return Decl("dyn", MAX_REQUEST_BYTES - 2, 1)
    kind = schema.get("type")
    if kind == "array":
        items = schema.get("items")
        if not isinstance(items, Mapping):
            return None
        item = declare(items, root=bool(items.get("x-kubernetes-embedded-resource")))
        if item is None:
            return None
        most = schema.get("maxItems")
        count = max(int(most), 0) if most is not None else _fit(item.min_size + 1)
        return Decl("list", count, 2, elem=item)
    if kind == "object":
        extra = schema.get("additionalProperties")
        if isinstance(extra, Mapping):
            value = declare(extra, root=bool(extra.get("x-kubernetes-embedded-resource")))
            if value is None:
                return None
            most = schema.get("maxProperties")
            count = max(int(most), 0) if most is not None else _fit(value.min_size + 6)
            return Decl("map", count, 2, elem=value)
        return _object(schema, root=root)
    if kind == "string":
        fmt = schema.get("format")
        most = schema.get("maxLength")
        if fmt == "byte":
            size = max(int(most), 0) if most is not None else MAX_REQUEST_BYTES - 2
            return Decl("bytes", size, 2)
        if fmt in _FORMAT_SIZES:
            low, high = _FORMAT_SIZES[fmt]
            return Decl("duration" if fmt == "duration" else "timestamp", high, low)
        if most is not None:
            return Decl("string", max(int(most), 0) * 4, 2)
        enum = [v for v in schema.get("enum") or () if isinstance(v, str)]
        if schema.get("enum"):
            return Decl("string", max((len(v.encode()) for v in enum), default=0), 2)
        return Decl("string", MAX_REQUEST_BYTES - 2, 2)
    if kind == "boolean":
        return Decl("bool", 0, 4)
    if kind == "number":
        return Decl("double", 0, 1)
    if kind == "integer":
        return Decl("int", 0, 1)
    return None


def _fit(per_item: int) -> int:
    return (MAX_REQUEST_BYTES - 2) // per_item


def _object(schema: Schema, *, root: bool) -> Decl:
    properties: Mapping[str, Schema] = schema.get("properties") or {}
    required = set(schema.get("required") or ())
    fields: dict[str, Decl] = {}
    min_size = 2
    for name, prop in properties.items():
        child = declare(prop, root=bool(prop.get("x-kubernetes-embedded-resource")))
        if child is None:
            continue
        fields[cel.escape_property_name(name)] = child
        if name in required and "default" not in prop:
            min_size += len(name) + child.min_size + 4
    if root:
        unbounded = Decl("string", MAX_REQUEST_BYTES - 2, 2)
        fields.setdefault("apiVersion", unbounded)
        fields.setdefault("kind", unbounded)
        meta = fields.get("metadata")
        if meta is None or "name" not in meta.fields or "generateName" not in meta.fields:
            fields["metadata"] = Decl(
                "object", 0, 2, fields={"name": unbounded, "generateName": unbounded}
            )
    return Decl("object", 0, min_size, fields=fields)


@dataclass(frozen=True, slots=True)
class RuleCost:
    """One rule's estimate: where it is, its raw cost, and cost x cardinality."""

    path: str
    rule: str
    cost: int
    total: int


@dataclass(slots=True)
class _Walk:
    causes: list[dict[str, str]] = field(default_factory=list)
    costs: list[RuleCost] = field(default_factory=list)
    total: int = 0


def _elements(schema: Schema) -> int | None:
    """extractMaxElements: how many times a child can occur per occurrence of `schema`."""
    kind = schema.get("type")
    if kind == "object":
        if "additionalProperties" in schema:
            most = schema.get("maxProperties")
            return max(int(most), 0) if most is not None else None
        return 1
    if kind == "array":
        most = schema.get("maxItems")
        return max(int(most), 0) if most is not None else None
    return 1


def _walk(schema: Schema, path: str, cardinality: int | None, walk: _Walk, *, root: bool) -> None:
    per_child = _elements(schema)
    child_cardinality = (
        None if cardinality is None or per_child is None else min(cardinality * per_child, _MAX)
    )
    for name in sorted(schema.get("properties") or {}):
        child = schema["properties"][name]
        if isinstance(child, Mapping):
            _walk(child, f"{path}.properties[{name}]", child_cardinality, walk, root=False)
    items = schema.get("items")
    if isinstance(items, Mapping):
        _walk(items, f"{path}.items", child_cardinality, walk, root=False)
    extra = schema.get("additionalProperties")
    if isinstance(extra, Mapping):
        _walk(extra, f"{path}.additionalProperties", child_cardinality, walk, root=False)
    rules = schema.get("x-kubernetes-validations") or ()
    if not rules:
        return
    decl = declare(schema, root=root or bool(schema.get("x-kubernetes-embedded-resource")))
    if decl is None:
        return
    repeats = cardinality if cardinality is not None else MAX_REQUEST_BYTES // (decl.min_size + 1)
    for index, rule in enumerate(rules):
        if not isinstance(rule, Mapping):
            continue
        where = f"{path}.x-kubernetes-validations[{index}]"
        _check_expression(str(rule.get("rule") or ""), f"{where}.rule", decl, repeats, walk)
        message_expression = str(rule.get("messageExpression") or "")
        if message_expression:
            _check_expression(message_expression, f"{where}.messageExpression", decl, None, walk)


def _check_expression(
    expression: str, where: str, decl: Decl, repeats: int | None, walk: _Walk
) -> None:
    if not expression.strip():
        return
    error = cel.compile_error(expression)
    tree = cel.parse_tree(expression)
    if error is not None or tree is None:
        detail = (error or "").replace("rule compile error: ", "compilation failed: ")
        walk.causes.append(
            {
                "reason": "FieldValueInvalid",
                "message": f"Invalid value: {json.dumps(expression)}: {detail}",
            }
            | {"field": where}
        )
        return
    cost, undefined = analyze(tree, decl)
    if undefined:
        detail = "; ".join(f"undefined field '{name}'" for name in undefined)
        walk.causes.append(
            {
                "reason": "FieldValueInvalid",
                "message": f"Invalid value: {json.dumps(expression)}: compilation failed: "
                f"ERROR: <input>: {detail}",
                "field": where,
            }
        )
        return
    total = cost if repeats is None else (0 if cost == 0 else min(cost * repeats, _MAX))
    walk.costs.append(RuleCost(where, expression, cost, total))
    name = "messageExpression" if where.endswith("messageExpression") else "rule"
    if total > RULE_COST_LIMIT:
        walk.causes.append(
            _forbidden(where, _exceeds(f"estimated {name} cost", total, RULE_COST_LIMIT))
        )
    walk.total = min(walk.total + total, _MAX)


def _forbidden(where: str, detail: str) -> dict[str, str]:
    return {"reason": "FieldValueForbidden", "message": f"Forbidden: {detail}", "field": where}


def _exceeds(what: str, cost: int, limit: int) -> str:
    factor = cost / limit
    if factor > 100:
        shown = "more than 100x"
    elif factor < 1.5:
        shown = f"{factor:f}x"
    else:
        shown = f"{factor:.1f}x"
    return f"{what} exceeds budget by factor of {shown} {_HINT}"


def _schemas(crd: Mapping[str, Any]) -> list[tuple[str, Schema]]:
    """(field path, openAPIV3Schema): one `spec.validation` when every version shares it."""
    versions = [v for v in (crd.get("spec") or {}).get("versions") or () if isinstance(v, Mapping)]
    schemas = [((v.get("schema") or {}).get("openAPIV3Schema") or {}) for v in versions]
    if not schemas:
        return []
    if all(s == schemas[0] for s in schemas):
        return [("spec.validation.openAPIV3Schema", schemas[0])]
    return [(f"spec.versions[{i}].schema.openAPIV3Schema", s) for i, s in enumerate(schemas) if s]


def _walk_crd(crd: Mapping[str, Any]) -> list[_Walk]:
    walks = []
    for path, schema in _schemas(crd):
        walk = _Walk()
        if isinstance(schema, Mapping) and schema:
            _walk(schema, path, 1, walk, root=True)
        if walk.total > CRD_COST_LIMIT:
            expensive = sorted(
                (c for c in walk.costs if c.total >= CRD_COST_LIMIT // 100),
                key=lambda c: -c.total,
            )[:4]
            for rule in expensive:
                walk.causes.append(
                    _forbidden(
                        rule.path,
                        "contributed to estimated rule cost total exceeding cost limit for "
                        "entire OpenAPIv3 schema",
                    )
                )
            walk.causes.append(
                _forbidden(
                    path,
                    _exceeds(
                        "x-kubernetes-validations estimated rule cost total for entire "
                        "OpenAPIv3 schema",
                        walk.total,
                        CRD_COST_LIMIT,
                    ),
                )
            )
        walks.append(walk)
    return walks


def check_crd(crd: Mapping[str, Any]) -> list[dict[str, str]]:
    """The StatusCauses a real server gives for the CRD's rules (compile and cost), or []."""
    return [cause for walk in _walk_crd(crd) for cause in walk.causes]


def rule_costs(crd: Mapping[str, Any]) -> list[RuleCost]:
    """Every rule's estimate, for tests and docs."""
    return [cost for walk in _walk_crd(crd) for cost in walk.costs]
