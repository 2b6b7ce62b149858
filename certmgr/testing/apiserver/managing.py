"""Field management as kube-apiserver's fieldmanager does it: managedFields and apply conflicts.

Owns `metadata.managedFields` (FieldsV1 sets per manager and operation), what an Update
(create, update, non-apply patch) takes over (the fields whose value it changed, taken
from every other manager without conflict), and server-side apply: the applied fields
become the applier's set, a field another manager owns and the apply would change is a
409 `Apply failed with N conflicts: conflicts with "m" using apps/v1: - .spec...`
(unless `force`), the configuration is merged into the live object by list-map keys and
atomic fields are replaced whole, and fields the applier stopped applying that nobody
else owns are removed. List and map kinds come from a CRD's `x-kubernetes-list-type`,
`x-kubernetes-list-map-keys` and `x-kubernetes-map-type`, and for built-in kinds from
`_LIST_KEYS` / `_ATOMIC` (the fields certmgr and its manifests use). It must not store
anything or validate objects.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from certmgr.testing.apiserver import errors
from certmgr.testing.apiserver.patching import json_equal
from certmgr.testing.apiserver.store import now_rfc3339

__all__ = ["Shape", "apply", "record_update"]

Trie = dict[str, Any]
Obj = dict[str, Any]

_LIST_KEYS: Final[Mapping[str, tuple[str, ...]]] = {
    "containers": ("name",),
    "initContainers": ("name",),
    "ephemeralContainers": ("name",),
    "env": ("name",),
    "volumes": ("name",),
    "volumeMounts": ("mountPath",),
    "imagePullSecrets": ("name",),
    "ownerReferences": ("uid",),
    "hostAliases": ("ip",),
    "readinessGates": ("conditionType",),
    "topologySpreadConstraints": ("topologyKey", "whenUnsatisfiable"),
}
_SETS: Final = frozenset({"finalizers"})
# Structs and maps marked +structType=atomic / +mapType=atomic upstream.
_ATOMIC: Final = frozenset(
    {"fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef", "roleRef", "fileKeyRef"}
)
_STRIPPED_META: Final = frozenset(
    {"name", "namespace", "creationTimestamp", "selfLink", "uid", "generation"}
    | {"managedFields", "resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds"}
)


@dataclass(frozen=True, slots=True)
class Shape:
    """How the object's lists and maps merge: a CRD version's schema, or a built-in kind."""

    api_version: str
    kind: str
    schema: Mapping[str, Any] | None = None
    status_subresource: bool = False


# --- the kind of a node -------------------------------------------------------------------


def _child_schema(schema: Mapping[str, Any] | None, key: str) -> Mapping[str, Any] | None:
    if schema is None:
        return None
    properties = schema.get("properties") or {}
    if key in properties:
        child = properties[key]
        return child if isinstance(child, Mapping) else None
    extra = schema.get("additionalProperties")
    return extra if isinstance(extra, Mapping) else None


def _list_kind(
    shape: Shape, name: str, schema: Mapping[str, Any] | None, path: tuple[str, ...]
) -> tuple[str, tuple[str, ...]]:
    """('map', keys) | ('set', ()) | ('atomic', ())."""
    if schema is not None and shape.schema is not None and path[:1] != ("metadata",):
        kind = schema.get("x-kubernetes-list-type")
        if kind == "map":
            return "map", tuple(schema.get("x-kubernetes-list-map-keys") or ())
        return ("set", ()) if kind == "set" else ("atomic", ())
    if name in _SETS:
        return "set", ()
    if name == "ports":
        in_service = shape.kind == "Service" and path == ("spec",)
        return "map", ("port", "protocol") if in_service else ("containerPort", "protocol")
    if name in _LIST_KEYS:
        return "map", _LIST_KEYS[name]
    return "atomic", ()


def _atomic_map(
    shape: Shape, name: str, schema: Mapping[str, Any] | None, parent: tuple[str, ...]
) -> bool:
    if schema is not None and shape.schema is not None:
        return schema.get("x-kubernetes-map-type") == "atomic"
    if name == "selector":
        # LabelSelector and Service's selector map are atomic.
        return True
    return name in _ATOMIC


def _key(element: Any, keys: tuple[str, ...]) -> str:
    values = {k: element.get(k) for k in keys if isinstance(element, dict) and k in element}
    return "k:" + json.dumps(values, separators=(",", ":"), sort_keys=True)


def _value_key(value: Any) -> str:
    return "v:" + json.dumps(value, separators=(",", ":"), sort_keys=True)


# --- object -> field set --------------------------------------------------------------------


def fields_of(obj: Obj, shape: Shape, *, status: bool = False) -> Trie:
    """The FieldsV1 set of an object's fields (apiVersion, kind and server metadata left out)."""
    trie: Trie = {}
    for key, value in obj.items():
        if key in ("apiVersion", "kind"):
            continue
        if shape.status_subresource and (key == "status") != status:
            continue
        if key == "metadata" and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k not in _STRIPPED_META}
            if not value:
                continue
        schema = _child_schema(shape.schema, key)
        trie[f"f:{key}"] = _fields(value, shape, key, schema, (key,), top=True)
    return trie


def _fields(
    value: Any,
    shape: Shape,
    name: str,
    schema: Mapping[str, Any] | None,
    path: tuple[str, ...],
    *,
    top: bool = False,
) -> Trie:
    if isinstance(value, dict) and value and not _atomic_map(shape, name, schema, path):
        node: Trie = {} if top else {".": {}}
        for key, item in value.items():
            node[f"f:{key}"] = _fields(item, shape, key, _child_schema(schema, key), (*path, key))
        return node
    if isinstance(value, list) and value:
        kind, keys = _list_kind(shape, name, schema, path)
        items = schema.get("items") if isinstance(schema, Mapping) else None
        if kind == "map":
            node = {".": {}} if not top else {}
            for element in value:
                child = _fields(
                    element, shape, "", items if isinstance(items, Mapping) else None, (*path, "[]")
                )
                child.setdefault(".", {})
                node[_key(element, keys)] = child
            return node
        if kind == "set":
            node = {".": {}} if not top else {}
            for element in value:
                node[_value_key(element)] = {}
            return node
    return {}


# --- set algebra on tries -------------------------------------------------------------------


def _leaves(trie: Trie, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every owned path; a node's own entry (".") ends with "."."""
    found: list[tuple[str, ...]] = []
    for key, child in trie.items():
        if child:
            found.extend(_leaves(child, (*prefix, key)))
        else:
            found.append((*prefix, key))
    return found


def _from_leaves(paths: list[tuple[str, ...]]) -> Trie:
    trie: Trie = {}
    for path in paths:
        node = trie
        for part in path:
            node = node.setdefault(part, {})
    return trie


# --- values at paths ------------------------------------------------------------------------


_MISSING: Final = object()


def _value_at(obj: Any, path: tuple[str, ...]) -> Any:
    node = obj
    for part in path:
        if part.startswith("f:"):
            if not isinstance(node, dict) or part[2:] not in node:
                return _MISSING
            node = node[part[2:]]
        elif part.startswith("k:"):
            wanted = json.loads(part[2:])
            if not isinstance(node, list):
                return _MISSING
            node = next(
                (
                    e
                    for e in node
                    if isinstance(e, dict)
                    and all(json_equal(e.get(k), v) for k, v in wanted.items())
                ),
                _MISSING,
            )
            if node is _MISSING:
                return node
        elif part.startswith("v:"):
            wanted = json.loads(part[2:])
            if not isinstance(node, list) or not any(json_equal(e, wanted) for e in node):
                return _MISSING
            node = wanted
    return node


def _path_text(path: tuple[str, ...]) -> str:
    text = ""
    for part in path:
        if part.startswith("f:"):
            text += "." + part[2:]
        elif part.startswith("k:"):
            fields = json.loads(part[2:])
            text += "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in fields.items()) + "]"
        elif part.startswith("v:"):
            text += "[=" + part[2:] + "]"
    return text


# --- managedFields entries ------------------------------------------------------------------


def _identity(entry: Mapping[str, Any]) -> tuple[str, str, str, str]:
    operation = str(entry.get("operation", ""))
    api_version = "" if operation == "Apply" else str(entry.get("apiVersion", ""))
    return str(entry.get("manager", "")), operation, api_version, str(entry.get("subresource", ""))


def _entry(manager: str, operation: str, shape: Shape, fields: Trie, subresource: str) -> Obj:
    entry: Obj = {
        "manager": manager,
        "operation": operation,
        "apiVersion": shape.api_version,
        "time": now_rfc3339(),
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
    }
    if subresource:
        entry["subresource"] = subresource
    return entry


def _printed(entry: Mapping[str, Any]) -> str:
    text = json.dumps(entry.get("manager", ""))
    if entry.get("subresource"):
        text += f" with subresource {json.dumps(entry['subresource'])}"
    if entry.get("operation") == "Update":
        text += f" using {entry.get('apiVersion', '')}"
    return text


def _changed(
    old: Obj | None, new: Obj, shape: Shape, *, status: bool
) -> tuple[set[tuple[str, ...]], set[tuple[str, ...]]]:
    """(paths added or changed in new, paths gone from old)."""
    new_paths = set(_leaves(fields_of(new, shape, status=status)))
    old_paths = set(_leaves(fields_of(old, shape, status=status))) if old is not None else set()
    changed = {
        p
        for p in new_paths
        if p not in old_paths
        or (p[-1] != "." and not json_equal(_value_at(old, p), _value_at(new, p)))
    }
    return changed, old_paths - new_paths


def record_update(
    old: Obj | None,
    new: Obj,
    *,
    shape: Shape,
    manager: str,
    subresource: str = "",
    given: list[Obj] | None = None,
) -> list[Obj]:
    """The managedFields after an Update (create, update, patch) by `manager`."""
    base = (
        given
        if given is not None
        else list((old or {}).get("metadata", {}).get("managedFields") or [])
    )
    changed, gone = _changed(old, new, shape, status=subresource == "status")
    if not changed and not gone and given is None:
        return base
    result: list[Obj] = []
    mine = (manager, "Update", shape.api_version, subresource)
    own: set[tuple[str, ...]] = set(changed)
    for entry in base:
        fields = set(_leaves(entry.get("fieldsV1") or {}))
        if _identity(entry) == mine:
            own |= fields - gone
            continue
        kept = fields - changed - gone
        if kept == fields:
            result.append(entry)
        elif kept:
            result.append({**entry, "fieldsV1": _from_leaves(sorted(kept))})
    if own:
        result.append(_entry(manager, "Update", shape, _from_leaves(sorted(own)), subresource))
    return result


# --- server-side apply ----------------------------------------------------------------------


def apply(
    live: Obj | None,
    config: Obj,
    *,
    shape: Shape,
    manager: str,
    force: bool,
    subresource: str = "",
) -> Obj:
    """The object after applying `config` (managedFields set); 409 on conflicts."""
    applied = fields_of(config, shape, status=subresource == "status")
    applied_paths = set(_leaves(applied))
    entries = list((live or {}).get("metadata", {}).get("managedFields") or [])
    mine = (manager, "Apply", "", subresource)
    conflicts: list[tuple[Obj, tuple[str, ...]]] = []
    previous: set[tuple[str, ...]] = set()
    others: set[tuple[str, ...]] = set()
    for entry in entries:
        fields = set(_leaves(entry.get("fieldsV1") or {}))
        if _identity(entry) == mine:
            previous = fields
            continue
        others |= fields
        for path in sorted(fields & applied_paths):
            if path[-1] == ".":
                continue
            if not json_equal(_value_at(live, path), _value_at(config, path)):
                conflicts.append((entry, path))
    if conflicts and not force:
        raise _conflict_error(conflicts)
    taken = {path for _, path in conflicts}
    result_entries: list[Obj] = []
    for entry in entries:
        if _identity(entry) == mine:
            continue
        if taken:
            kept = set(_leaves(entry.get("fieldsV1") or {})) - taken
            if not kept:
                continue
            entry = {**entry, "fieldsV1": _from_leaves(sorted(kept))}
        result_entries.append(entry)
    result_entries.append(_entry(manager, "Apply", shape, applied, subresource))
    merged: Obj = _merge(live or {}, config, shape, "", None, ())
    dropped = sorted(previous - applied_paths - others, key=len, reverse=True)
    if dropped:
        merged = copy.deepcopy(merged)  # the live object's parts are shared, never mutate them
    for path in dropped:
        _remove(merged, path[:-1] if path[-1] == "." else path)
    merged.setdefault("metadata", {})["managedFields"] = result_entries
    return merged


def _conflict_error(conflicts: list[tuple[Obj, tuple[str, ...]]]) -> errors.StatusError:
    causes = [
        {
            "reason": "FieldManagerConflict",
            "message": f"conflict with {_printed(e)}",
            "field": _path_text(p),
        }
        for e, p in conflicts
    ]
    if len(conflicts) == 1:
        entry, path = conflicts[0]
        message = (
            f"Apply failed with 1 conflict: conflict with {_printed(entry)}: {_path_text(path)}"
        )
    else:
        by_manager: dict[str, list[str]] = {}
        for entry, path in conflicts:
            by_manager.setdefault(_printed(entry), []).append(_path_text(path))
        lines = []
        for printed in sorted(by_manager):
            lines.append(f"conflicts with {printed}:")
            lines.extend(f"- {p}" for p in by_manager[printed])
        message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
    body = errors.status_body(409, "Conflict", message, details={"causes": causes})
    return errors.StatusError(body)


def _merge(
    live: Any,
    config: Any,
    shape: Shape,
    name: str,
    schema: Mapping[str, Any] | None,
    path: tuple[str, ...],
) -> Any:
    if (
        isinstance(live, dict)
        and isinstance(config, dict)
        and not _atomic_map(shape, name, schema, path)
    ):
        result = dict(live)
        for key, value in config.items():
            if key == "metadata" and not path:
                meta = dict(live.get("metadata") or {})
                for mkey, mvalue in value.items():
                    meta[mkey] = _merge(
                        meta.get(mkey), mvalue, shape, mkey, None, ("metadata", mkey)
                    )
                result["metadata"] = meta
                continue
            child = _child_schema(schema if path else shape.schema, key)
            result[key] = _merge(live.get(key), value, shape, key, child, (*path, key))
        return result
    if isinstance(live, list) and isinstance(config, list):
        kind, keys = _list_kind(shape, name, schema, path)
        items = schema.get("items") if isinstance(schema, Mapping) else None
        if kind == "map":
            result_list = list(live)
            for element in config:
                key = _key(element, keys)
                index = next((i for i, e in enumerate(result_list) if _key(e, keys) == key), None)
                if index is None:
                    result_list.append(element)
                else:
                    result_list[index] = _merge(
                        result_list[index],
                        element,
                        shape,
                        "",
                        items if isinstance(items, Mapping) else None,
                        (*path, "[]"),
                    )
            return result_list
        if kind == "set":
            return list(live) + [e for e in config if not any(json_equal(e, x) for x in live)]
    return config


def _remove(obj: Any, path: tuple[str, ...]) -> None:
    node = obj
    for part in path[:-1]:
        node = _value_at(node, (part,))
        if node is _MISSING:
            return
    last = path[-1] if path else ""
    if last.startswith("f:") and isinstance(node, dict):
        node.pop(last[2:], None)
    elif last.startswith("k:") and isinstance(node, list):
        target = _value_at(node, (last,))
        node[:] = [e for e in node if e is not target]
    elif last.startswith("v:") and isinstance(node, list):
        wanted = json.loads(last[2:])
        node[:] = [e for e in node if not json_equal(e, wanted)]
