"""Every string, list and map an ``x-kubernetes-validations`` rule reads is bounded.

kube-apiserver estimates each rule's worst-case cost from the schema: a string without
``maxLength`` (or an enum, or a date/duration format), a list without ``maxItems`` or a
map without ``maxProperties`` is sized from the 3 MiB request limit, and a rule over it
is refused at CRD create ("estimated rule cost exceeds budget"). This test finds what
each rule reads (``self.a.b``, macro variables over lists; ``has()`` reads nothing) and
requires a bound on each such node, so docs/api.md's claim stays true.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.unit.crds.conftest import load_crds, schema_of

_MACRO = re.compile(
    r"((?:self|oldSelf|\b[a-z]\w*)(?:\.\w+)*)\.(?:all|exists|exists_one|map|filter)\((\w+),"
)
_CHAIN = re.compile(r"\b(self|oldSelf|[a-z]\w*)((?:\.\w+)*)(\()?")
_HAS = re.compile(r"has\([^()]*\)")
_BOUNDED_FORMATS = {"date-time", "date", "duration"}


def _rules(node: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any], str]]:
    out = [(path, node, r["rule"]) for r in node.get("x-kubernetes-validations", ())]
    for name, child in node.get("properties", {}).items():
        out += _rules(child, f"{path}.{name}")
    if isinstance(node.get("additionalProperties"), dict):
        out += _rules(node["additionalProperties"], f"{path}.*")
    if "items" in node:
        out += _rules(node["items"], f"{path}[]")
    return out


def _step(node: dict[str, Any], part: str) -> dict[str, Any] | None:
    if part == "[]":
        return node.get("items")
    if part in node.get("properties", {}):
        return node["properties"][part]  # type: ignore[no-any-return]
    extra = node.get("additionalProperties")
    return extra if isinstance(extra, dict) else None


def _unbounded(node: dict[str, Any]) -> str | None:
    if node.get("type") == "string" and not (
        "maxLength" in node or "enum" in node or node.get("format") in _BOUNDED_FORMATS
    ):
        return "string without maxLength"
    if node.get("type") == "array" and "maxItems" not in node:
        return "list without maxItems"
    if isinstance(node.get("additionalProperties"), dict) and "maxProperties" not in node:
        return "map without maxProperties"
    return None


def _reads(rule: str) -> list[list[str]]:
    """The schema paths (relative to the rule's node) that ``rule`` reads."""
    text = _HAS.sub("true", rule)
    bound: dict[str, list[str]] = {"self": [], "oldSelf": []}
    for receiver, var in _MACRO.findall(text):
        root, *parts = receiver.split(".")
        if root in bound:
            bound[var] = [*bound[root], *parts, "[]"]
    out = []
    for root, chain, call in _CHAIN.findall(text):
        if root not in bound:
            continue
        parts = [p for p in chain.split(".") if p]
        if call and parts:
            parts = parts[:-1]  # a method (contains, getSeconds, all, ...), not a field
        out.append([*bound[root], *parts])
    return out


def _findings() -> list[str]:
    found = []
    for kind, crd in load_crds().items():
        for where, node, rule in _rules(schema_of(crd)):
            for path in _reads(rule):
                target: dict[str, Any] | None = node
                for part in path:
                    target = _step(target, part) if target is not None else None
                if target is None:
                    continue  # a free-form subtree (x-kubernetes-preserve-unknown-fields)
                problem = _unbounded(target)
                if problem:
                    shown = ".".join(path).replace(".[]", "[]")
                    found.append(f"{kind} {where or '<root>'}: {shown or 'self'}: {problem}")
    return sorted(set(found))


def test_every_value_a_rule_reads_is_bounded() -> None:
    assert _findings() == []


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        pytest.param("self.a.b != ''", [["a", "b"]], id="chain"),
        pytest.param("has(self.a) && self.b.contains('x')", [["b"]], id="has-reads-nothing"),
        pytest.param(
            "self.all(x, self.exists_one(y, y.type == x.type))",
            [[], [], ["[]"], ["[]"], ["[]", "type"], ["[]", "type"]],
            id="macro-vars",
        ),
        pytest.param(
            "oldSelf.c.all(o, self.c.exists(n, n.t == o.t))",
            [["c"], ["c"], ["c", "[]"], ["c", "[]"], ["c", "[]", "t"], ["c", "[]", "t"]],
            id="nested-macros",
        ),
    ],
)
def test_reads(rule: str, expected: list[list[str]]) -> None:
    assert sorted(_reads(rule)) == sorted(expected)


def test_every_rule_costs_a_small_part_of_the_real_servers_budget() -> None:
    """The simulator's estimate (kube-apiserver's, as certmgr.testing.apiserver.crdrules
    computes it): each rule under 2 % of the per-rule limit, each CRD under 1 % of the
    per-CRD one, so a real server's estimate admits them with a wide margin."""
    from certmgr.testing.apiserver import crdrules

    for kind, crd in load_crds().items():
        assert crdrules.check_crd(crd) == [], kind
        costs = crdrules.rule_costs(crd)
        assert max(c.cost for c in costs) < crdrules.RULE_COST_LIMIT / 50, kind
        assert sum(c.total for c in costs) < crdrules.CRD_COST_LIMIT / 100, kind
