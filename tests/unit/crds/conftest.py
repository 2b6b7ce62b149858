"""Fixtures for the CRD tests: the CRDs from crds/ and a small schema checker.

The checker covers what our CRDs use of a structural schema (type, required, enum,
pattern, lengths, bounds, maxItems, preserve-unknown) and evaluates every
``x-kubernetes-validations`` rule with cel-python, binding ``self`` (and ``oldSelf``
for transition rules), the way kube-apiserver does. It is test tooling: the
simulator's own ``admit`` is run on the same tables when it is available.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import celpy
import pytest
import yaml
from celpy.adapter import json_to_cel
from celpy.evaluation import CELEvalError

CRD_DIR = Path(__file__).resolve().parents[3] / "crds"
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "boolean": (bool,),
    "integer": (int,),
    "number": (int, float),
}
_ENV = celpy.Environment()
_PROGRAMS: dict[str, Any] = {}


@dataclass(frozen=True, slots=True)
class Violation:
    path: str
    message: str


def load_crds() -> dict[str, dict[str, Any]]:
    """Every CRD in crds/, keyed by kind."""
    out = {}
    for path in sorted(CRD_DIR.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        if doc.get("kind") == "CustomResourceDefinition":  # kustomization.yaml is not
            out[doc["spec"]["names"]["kind"]] = doc
    return out


def schema_of(crd: dict[str, Any]) -> dict[str, Any]:
    (version,) = crd["spec"]["versions"]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def _program(rule: str) -> Any:
    if rule not in _PROGRAMS:
        _PROGRAMS[rule] = _ENV.program(_ENV.compile(rule))
    return _PROGRAMS[rule]


def _type_ok(schema: dict[str, Any], value: Any) -> bool:
    kind = schema.get("type")
    if kind is None:
        return True
    if isinstance(value, bool) and kind in ("integer", "number"):
        return False
    return isinstance(value, _JSON_TYPES[kind])


def _check_scalar(schema: dict[str, Any], value: Any, path: str) -> list[Violation]:
    out = []
    if "enum" in schema and value not in schema["enum"]:
        out.append(Violation(path, f"Unsupported value: {value!r}"))
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            out.append(Violation(path, f"should match {schema['pattern']!r}"))
        if len(value) > schema.get("maxLength", len(value)):
            out.append(
                Violation(path, f"Too long: may not be more than {schema['maxLength']} bytes")
            )
        if len(value) < schema.get("minLength", 0):
            out.append(Violation(path, f"should be at least {schema['minLength']} chars long"))
    if isinstance(value, int) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            out.append(Violation(path, f"should be greater than or equal to {schema['minimum']}"))
        if "maximum" in schema and value > schema["maximum"]:
            out.append(Violation(path, f"should be less than or equal to {schema['maximum']}"))
    return out


def _check_rules(schema: dict[str, Any], value: Any, old: Any, path: str) -> list[Violation]:
    out = []
    for rule in schema.get("x-kubernetes-validations", ()):
        transition = "oldSelf" in rule["rule"]
        if transition and old is None:
            continue
        activation = {"self": json_to_cel(value)}
        if transition:
            activation["oldSelf"] = json_to_cel(old)
        try:
            ok = bool(_program(rule["rule"]).evaluate(activation))
        except CELEvalError as exc:
            out.append(Violation(path, f"rule evaluation error: {exc}"))
            continue
        if not ok:
            out.append(Violation(path + rule.get("fieldPath", ""), rule["message"]))
    return out


def validate(
    schema: dict[str, Any], value: Any, *, old: Any = None, path: str = ""
) -> list[Violation]:
    """Everything wrong with ``value`` under ``schema``; empty when it would be admitted."""
    if not _type_ok(schema, value):
        return [Violation(path, f"must be of type {schema['type']}")]
    out = _check_scalar(schema, value, path)
    if isinstance(value, dict):
        for name in schema.get("required", ()):
            if name not in value:
                out.append(Violation(f"{path}.{name}".lstrip("."), "Required value"))
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        old_map = old if isinstance(old, dict) else {}
        for key, child in value.items():
            sub = props.get(key, extra if isinstance(extra, dict) else None)
            if sub is not None:
                out += validate(sub, child, old=old_map.get(key), path=f"{path}.{key}".lstrip("."))
    if isinstance(value, list):
        if len(value) > schema.get("maxItems", len(value)):
            out.append(Violation(path, f"must have at most {schema['maxItems']} items"))
        for i, item in enumerate(value):
            out += validate(schema["items"], item, path=f"{path}[{i}]")
    return out + _check_rules(schema, value, old, path)


Admit = Callable[[dict[str, Any], dict[str, Any], "dict[str, Any] | None"], list[str]]


def _ours(schema: dict[str, Any], obj: dict[str, Any], old: dict[str, Any] | None) -> list[str]:
    return [v.message for v in validate(schema, obj, old=old)]


def _simulators() -> Admit | None:
    try:
        from certmgr.testing.apiserver.schema import admit
    except ImportError:
        return None

    def run(schema: dict[str, Any], obj: dict[str, Any], old: dict[str, Any] | None) -> list[str]:
        _, causes = admit(schema, obj, old=old)
        return [str(getattr(c, "message", c)) for c in causes]

    return run


@pytest.fixture(scope="session")
def crds() -> dict[str, dict[str, Any]]:
    return load_crds()


@pytest.fixture(params=["celpy", "simulator"])
def admit(request: pytest.FixtureRequest) -> Admit:
    """Returns the messages an admission would reject ``obj`` with (empty: admitted)."""
    if request.param == "celpy":
        return _ours
    backend = _simulators()
    if backend is None:
        pytest.skip("certmgr.testing.apiserver.schema.admit is not available yet")
    return backend
