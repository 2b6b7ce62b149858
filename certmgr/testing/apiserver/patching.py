"""The three PATCH formats of the Kubernetes API simulator, as pure functions on JSON values.

Owns JSON merge patch (RFC 7386), JSON patch (RFC 6902, with RFC 6901 pointers) and an
approximation of Kubernetes strategic merge patch (SMP) for the built-in kinds the
simulator serves, plus `create_merge_patch`, the inverse of `merge_patch`. Every function
returns a new value and never mutates its inputs. It must not know about storage,
resourceVersions or admission: the server applies a patch, then admits the result.

`PatchError.code` is the HTTP status the real server answers with: 400 for a patch
document that does not decode (not an object / not a list of operations), 422 for a
patch that cannot be applied (missing path, failed `test`, bad index).

Where strategic_merge_patch differs from the real one (k8s.io/apimachinery strategicpatch):
- Merge keys come from a small table of paths per kind (`_MERGE_LISTS`), not from the Go
  struct tags; lists not in the table are replaced whole, as atomic lists are. Custom
  resources get no merge keys (the real server refuses SMP for them with 415; the server,
  not this module, must do that).
- Merged list order: original elements keep their places, new ones are appended in patch
  order. `$setElementOrder/<list>` is accepted and ignored, so no reordering happens.
- `$retainKeys` is honoured wherever it appears, not only on fields that declare the
  retainKeys strategy. `$patch: replace|delete|merge` and
  `$deleteFromPrimitiveList/<list>` are supported; other `$` directives are dropped.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Final

__all__ = [
    "PatchError",
    "create_merge_patch",
    "json_equal",
    "json_patch",
    "merge_patch",
    "strategic_merge_patch",
]


class PatchError(ValueError):
    """A patch that cannot be decoded (code 400) or applied (code 422)."""

    def __init__(self, message: str, *, code: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def json_equal(left: Any, right: Any) -> bool:
    """Equality of JSON values: `1 == 1.0`, but `True != 1`, unlike Python's `==`."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(json_equal(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(json_equal, left, right))
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    return type(left) is type(right) and bool(left == right)


# --- RFC 7386 -----------------------------------------------------------------------


def _merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge(result.get(key), value)
    return result


def merge_patch(target: dict[str, Any], patch: Any) -> dict[str, Any]:
    """Applies a JSON merge patch; the result must be an object, as every Kubernetes one."""
    if not isinstance(patch, dict):
        raise PatchError("json: cannot unmarshal non-object merge patch into an object", code=400)
    # _merge shares unpatched subtrees with `target`; the deep copy keeps callers apart.
    result: dict[str, Any] = copy.deepcopy(_merge(target, patch))
    return result


def create_merge_patch(original: Any, modified: Any) -> Any:
    """The smallest merge patch turning `original` into `modified` (nulls can't be set)."""
    if not (isinstance(original, dict) and isinstance(modified, dict)):
        return copy.deepcopy(modified)
    patch: dict[str, Any] = {key: None for key in original if key not in modified}
    for key, value in modified.items():
        if key not in original:
            patch[key] = copy.deepcopy(value)
        elif not json_equal(original[key], value):
            patch[key] = create_merge_patch(original[key], value)
    return patch


# --- RFC 6902 -----------------------------------------------------------------------


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str):
        raise PatchError(f"invalid JSON pointer: {path!r}")
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f'JSON pointer must be empty or start with a "/": "{path}"')
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _index(token: str, size: int, *, path: str, op: str, appending: bool = False) -> int:
    if appending and token == "-":
        return size
    if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
        raise PatchError(f"{op} operation does not apply: invalid array index {token!r} in {path}")
    index = int(token)
    if index > size or (index == size and not appending):
        raise PatchError(f"{op} operation does not apply: index out of bounds {index} in {path}")
    return index


def _parent(document: Any, tokens: list[str], *, path: str, op: str) -> Any:
    node = document
    for token in tokens[:-1]:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(token, len(node), path=path, op=op)]
        else:
            raise PatchError(f'{op} operation does not apply: doc is missing path: "{path}"')
    return node


def _get(document: Any, path: str, *, op: str) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return document
    parent = _parent(document, tokens, path=path, op=op)
    if isinstance(parent, dict) and tokens[-1] in parent:
        return parent[tokens[-1]]
    if isinstance(parent, list):
        return parent[_index(tokens[-1], len(parent), path=path, op=op)]
    raise PatchError(f'{op} operation does not apply: doc is missing path: "{path}"')


def _add(document: Any, path: str, value: Any, *, op: str = "add") -> Any:
    tokens = _pointer(path)
    if not tokens:
        return value
    parent = _parent(document, tokens, path=path, op=op)
    if isinstance(parent, dict):
        parent[tokens[-1]] = value
    elif isinstance(parent, list):
        parent.insert(_index(tokens[-1], len(parent), path=path, op=op, appending=True), value)
    else:
        raise PatchError(f'{op} operation does not apply: doc is missing path: "{path}"')
    return document


def _remove(document: Any, path: str, *, op: str = "remove") -> Any:
    tokens = _pointer(path)
    if not tokens:
        raise PatchError(f"{op} operation does not apply: cannot remove the whole document")
    parent = _parent(document, tokens, path=path, op=op)
    if isinstance(parent, dict) and tokens[-1] in parent:
        return parent.pop(tokens[-1])
    if isinstance(parent, list):
        return parent.pop(_index(tokens[-1], len(parent), path=path, op=op))
    raise PatchError(f'{op} operation does not apply: doc is missing path: "{path}"')


def _operand(operation: Mapping[str, Any], name: str) -> Any:
    if name not in operation:
        raise PatchError(f"{operation.get('op')} operation is missing {name!r}")
    return operation[name]


def _apply(document: Any, operation: Any) -> Any:
    if not isinstance(operation, dict):
        raise PatchError(f"invalid JSON patch operation: {operation!r}", code=400)
    op = operation.get("op")
    path = _operand(operation, "path")
    if op == "add":
        return _add(document, path, copy.deepcopy(_operand(operation, "value")))
    if op == "remove":
        _remove(document, path)
        return document
    if op == "replace":
        value = copy.deepcopy(_operand(operation, "value"))
        if not _pointer(path):
            return value
        _remove(document, path, op="replace")
        return _add(document, path, value, op="replace")
    if op in ("move", "copy"):
        source = _operand(operation, "from")
        if op == "move" and (path + "/").startswith(source + "/") and path != source:
            raise PatchError(f'move operation does not apply: "{source}" is a prefix of "{path}"')
        if op == "move":
            value = _remove(document, source, op="move")
        else:
            value = copy.deepcopy(_get(document, source, op="copy"))
        return _add(document, path, value, op=op)
    if op == "test":
        if not json_equal(_get(document, path, op="test"), _operand(operation, "value")):
            raise PatchError(f"testing value {path} failed: test failed")
        return document
    raise PatchError(f"Unexpected kind: {op}")


def json_patch(target: dict[str, Any], ops: Any) -> dict[str, Any]:
    """Applies a JSON patch: all operations or none (the input is never touched)."""
    if not isinstance(ops, list):
        raise PatchError(
            "json: cannot unmarshal object into Go value of type jsonpatch.Patch", code=400
        )
    document: Any = copy.deepcopy(target)
    for operation in ops:
        document = _apply(document, operation)
    if not isinstance(document, dict):
        raise PatchError("the patched document is not a JSON object")
    return document


# --- strategic merge patch ------------------------------------------------------------

# Paths (with "*" for "every list element") of lists that merge instead of being replaced,
# mapped to their merge key; None marks a list of primitives merged as a set.
_Path = tuple[str, ...]
_COMMON: Final[dict[_Path, str | None]] = {
    ("metadata", "ownerReferences"): "uid",
    ("metadata", "finalizers"): None,
}
_CONTAINER_LISTS: Final[dict[_Path, str | None]] = {
    ("ports",): "containerPort",
    ("env",): "name",
    ("volumeMounts",): "mountPath",
    ("volumeDevices",): "devicePath",
}
_POD: Final[dict[_Path, str | None]] = {
    ("spec", "volumes"): "name",
    ("spec", "imagePullSecrets"): "name",
    ("spec", "hostAliases"): "ip",
    ("spec", "topologySpreadConstraints"): "topologyKey",
    ("spec", "resourceClaims"): "name",
    ("spec", "schedulingGates"): "name",
    ("status", "conditions"): "type",
    ("status", "podIPs"): "ip",
    ("status", "hostIPs"): "ip",
    **{
        ("spec", containers): "name"
        for containers in ("containers", "initContainers", "ephemeralContainers")
    },
    **{
        ("spec", containers, "*", *sub): key
        for containers in ("containers", "initContainers", "ephemeralContainers")
        for sub, key in _CONTAINER_LISTS.items()
    },
}
_MERGE_LISTS: Final[dict[str, dict[_Path, str | None]]] = {
    "Pod": _POD,
    "Service": {("spec", "ports"): "port", ("status", "conditions"): "type"},
    "Namespace": {("status", "conditions"): "type"},
}

_PATCH = "$patch"
_RETAIN_KEYS = "$retainKeys"
_DELETE_FROM = "$deleteFromPrimitiveList/"
_DELETE = object()  # returned by _smp_map when the patch says `$patch: delete`


def strategic_merge_patch(target: dict[str, Any], patch: Any, kind: str) -> dict[str, Any]:
    """Applies a strategic merge patch to an object of a built-in `kind` (see module doc)."""
    if not isinstance(patch, dict):
        raise PatchError(
            "unable to find api field in struct for the patch: not an object", code=400
        )
    merge_lists = {**_COMMON, **_MERGE_LISTS.get(kind, {})}
    result = _smp_map(target, patch, path=(), merge_lists=merge_lists)
    if result is _DELETE:
        return {}
    merged: dict[str, Any] = copy.deepcopy(result)
    return merged


def _smp_map(
    original: Any, patch: dict[str, Any], *, path: _Path, merge_lists: dict[_Path, str | None]
) -> Any:
    directive = patch.get(_PATCH, "merge")
    if directive == "delete":
        return _DELETE
    if directive == "replace":
        return _strip_directives(patch)
    if directive != "merge":
        raise PatchError(f"Unknown patch type: {directive}")
    result = dict(original) if isinstance(original, dict) else {}
    for key, value in patch.items():
        if key.startswith(_DELETE_FROM):
            field = key[len(_DELETE_FROM) :]
            doomed = value if isinstance(value, list) else []
            if isinstance(result.get(field), list):
                kept = [
                    item for item in result[field] if not any(json_equal(item, d) for d in doomed)
                ]
                result[field] = kept
            continue
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
            continue
        merged = _smp_value(result.get(key), value, path=(*path, key), merge_lists=merge_lists)
        if merged is _DELETE:
            result.pop(key, None)
        else:
            result[key] = merged
    if isinstance(retain := patch.get(_RETAIN_KEYS), list):
        result = {key: value for key, value in result.items() if key in retain}
    return result


def _smp_value(
    original: Any, patch: Any, *, path: _Path, merge_lists: dict[_Path, str | None]
) -> Any:
    if isinstance(patch, dict):
        return _smp_map(original, patch, path=path, merge_lists=merge_lists)
    if isinstance(patch, list) and path in merge_lists:
        base = original if isinstance(original, list) else []
        key = merge_lists[path]
        if key is None:
            return _merge_primitive_list(base, patch)
        return _merge_keyed_list(base, patch, key=key, path=path, merge_lists=merge_lists)
    if isinstance(patch, list):
        return [_strip_directives(item) for item in patch if not _is_directive_only(item)]
    return patch


def _merge_primitive_list(original: list[Any], patch: list[Any]) -> list[Any]:
    merged = list(original)
    for item in patch:
        if not any(json_equal(item, existing) for existing in merged):
            merged.append(item)
    return merged


def _merge_keyed_list(
    original: list[Any],
    patch: list[Any],
    *,
    key: str,
    path: _Path,
    merge_lists: dict[_Path, str | None],
) -> list[Any]:
    if any(isinstance(item, dict) and item.get(_PATCH) == "replace" for item in patch):
        return [_strip_directives(item) for item in patch if not _is_directive_only(item)]
    merged = list(original)
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            raise PatchError(f"map: {item!r} does not contain declared merge key: {key}")
        position = next(
            (
                index
                for index, existing in enumerate(merged)
                if isinstance(existing, dict) and json_equal(existing.get(key), item[key])
            ),
            None,
        )
        if item.get(_PATCH) == "delete":
            if position is not None:
                del merged[position]
            continue
        element_path = (*path, "*")
        base = merged[position] if position is not None else {}
        value = _smp_map(base, item, path=element_path, merge_lists=merge_lists)
        if position is None:
            merged.append(value)
        else:
            merged[position] = value
    return merged


def _is_directive_only(item: Any) -> bool:
    return isinstance(item, dict) and set(item) <= {_PATCH}


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: _strip_directives(item) for key, item in value.items() if not key.startswith("$")
        }
    if isinstance(value, list):
        return [_strip_directives(item) for item in value]
    return value
