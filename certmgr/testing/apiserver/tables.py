"""``kind: Table`` answers, the server-side printing that ``kubectl get`` asks for.

Owns the column definitions (a few per built-in kind; a CRD's
``additionalPrinterColumns``), the small JSONPath subset those columns use
(``.a.b``, ``[n]``, ``[*]``, ``[?(@.k=="v")]``) and the cell formatting (dates as
ages, as the real server renders them). It must not read the store or speak HTTP.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from certmgr.testing.apiserver.resources import ResourceType

Obj = dict[str, Any]
Column = dict[str, Any]

NAME_COLUMN: Column = {
    "name": "Name",
    "type": "string",
    "format": "name",
    "description": "Name must be unique within a namespace.",
    "priority": 0,
}
AGE_PATH = ".metadata.creationTimestamp"

# (group, kind) -> extra columns between Name and Age, as jsonPath printer columns.
_BUILTIN_COLUMNS: dict[tuple[str, str], list[Column]] = {
    ("", "ConfigMap"): [{"name": "Data", "type": "integer", "jsonPath": "#count:.data"}],
    ("", "Secret"): [
        {"name": "Type", "type": "string", "jsonPath": ".type"},
        {"name": "Data", "type": "integer", "jsonPath": "#count:.data"},
    ],
    ("", "Namespace"): [{"name": "Status", "type": "string", "jsonPath": ".status.phase"}],
    ("", "Pod"): [
        {"name": "Status", "type": "string", "jsonPath": ".status.phase"},
        {"name": "IP", "type": "string", "jsonPath": ".status.podIP", "priority": 1},
    ],
    ("", "Service"): [
        {"name": "Type", "type": "string", "jsonPath": ".spec.type"},
        {"name": "Cluster-IP", "type": "string", "jsonPath": ".spec.clusterIP"},
    ],
    ("networking.k8s.io", "Ingress"): [
        {"name": "Class", "type": "string", "jsonPath": ".spec.ingressClassName"},
        {"name": "Hosts", "type": "string", "jsonPath": ".spec.rules[*].host"},
    ],
    ("coordination.k8s.io", "Lease"): [
        {"name": "Holder", "type": "string", "jsonPath": ".spec.holderIdentity"}
    ],
    # kubectl shows SERVICE as namespace/name or Local, AVAILABLE as "False (Reason)":
    # the JSONPath subset gives the name and the status.
    ("apiregistration.k8s.io", "APIService"): [
        {"name": "Service", "type": "string", "jsonPath": ".spec.service.name"},
        {
            "name": "Available",
            "type": "string",
            "jsonPath": '.status.conditions[?(@.type=="Available")].status',
        },
    ],
    ("", "Event"): [
        {"name": "Type", "type": "string", "jsonPath": ".type"},
        {"name": "Reason", "type": "string", "jsonPath": ".reason"},
        {"name": "Message", "type": "string", "jsonPath": ".message"},
    ],
}

_SEGMENT = re.compile(
    r"""\.(?P<field>[A-Za-z0-9_\-]+)
      | \[(?P<index>-?\d+|\*)\]
      | \[\?\(@\.(?P<key>[A-Za-z0-9_\-.]+)\s*==\s*["'](?P<value>[^"']*)["']\)\]""",
    re.VERBOSE,
)


def _steps(path: str) -> Iterator[re.Match[str]]:
    position = 0
    while position < len(path):
        match = _SEGMENT.match(path, position)
        if match is None:
            return
        position = match.end()
        yield match


def _step(value: Any, step: re.Match[str]) -> list[Any]:
    if step["field"] is not None:
        return [value[step["field"]]] if isinstance(value, dict) and step["field"] in value else []
    if step["index"] == "*":
        if isinstance(value, dict):
            return list(value.values())
        return list(value) if isinstance(value, list) else []
    if step["index"] is not None:
        index = int(step["index"])
        in_range = isinstance(value, list) and -len(value) <= index < len(value)
        return [value[index]] if in_range else []
    items = value if isinstance(value, list) else []
    return [item for item in items if str(_lookup(item, step["key"])) == step["value"]]


def _lookup(value: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def evaluate(obj: Obj, path: str) -> list[Any]:
    """Every value ``path`` selects in ``obj`` (the JSONPath subset printer columns use)."""
    values: list[Any] = [obj]
    for step in _steps(path.strip().lstrip("$").strip("{}")):
        values = [found for value in values for found in _step(value, step)]
    return values


def _age(timestamp: str, now: datetime) -> str:
    try:
        then = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return "<invalid>"
    seconds = max(int((now - then).total_seconds()), 0)
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 120:
        return f"{minutes}m"
    hours = minutes // 60
    return f"{hours}h" if hours < 48 else f"{hours // 24}d"


def _cell(obj: Obj, column: Column, now: datetime) -> Any:
    path = column["jsonPath"]
    if path.startswith("#count:"):
        found = evaluate(obj, path[len("#count:") :])
        return len(found[0]) if found and isinstance(found[0], dict) else 0
    values = evaluate(obj, path)
    if not values:
        return None  # kubectl prints an empty cell
    if column["type"] == "date" and isinstance(values[0], str):
        return _age(values[0], now)
    if len(values) > 1:
        return ",".join(str(v) for v in values)
    return values[0]


def columns(rtype: ResourceType, printer_columns: list[Column] | None) -> list[Column]:
    extra = printer_columns
    if extra is None:
        extra = _BUILTIN_COLUMNS.get((rtype.group, rtype.kind), [])
    age = {"name": "Age", "type": "date", "jsonPath": AGE_PATH}
    if any(c.get("jsonPath") == AGE_PATH for c in extra):
        age_columns: list[Column] = []
    else:
        age_columns = [age]
    return [
        NAME_COLUMN,
        *({"priority": 0, "format": "", "description": "", **c} for c in [*extra, *age_columns]),
    ]


def table(
    objects: list[Obj],
    definitions: list[Column],
    *,
    resource_version: str,
    with_headers: bool = True,
) -> Obj:
    now = datetime.now(UTC)
    rows = []
    for obj in objects:
        cells = [obj["metadata"].get("name", "")]
        cells += [_cell(obj, column, now) for column in definitions[1:]]
        partial = {
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj["metadata"],
        }
        rows.append({"cells": cells, "object": partial})
    public = [{k: v for k, v in c.items() if k != "jsonPath"} for c in definitions]
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": public if with_headers else [],
        "rows": rows,
    }
