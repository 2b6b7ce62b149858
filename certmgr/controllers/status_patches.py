"""Status writes every controller shares: merge-patch only what changed.

Owns "write status only when it changed": a merge patch of the changed top-level
``status`` fields on the status subresource, so no resourceVersion conflict with the
other writers of the object. It must not decide what the status says.
"""

from __future__ import annotations

from typing import Any

from certmgr.kube.protocol import KubeAPI
from certmgr.kube.resources import Resource


def changed_fields(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The top-level keys of ``new`` whose value differs from ``old`` (a merge patch).

    Absent, null, ``""``, ``false`` and empty collections all read as "unset" (Go's
    ``omitempty``), so writing ``reason: ""`` over no reason is no change.
    """
    return {k: v for k, v in new.items() if not _same(old.get(k), v)}


def _same(a: Any, b: Any) -> bool:
    return a == b or (_unset(a) and _unset(b))


def _unset(value: Any) -> bool:
    return value is None or value in ("", False) or value == [] or value == {}


async def patch_status(
    client: KubeAPI, resource: Resource, obj: dict[str, Any], status: dict[str, Any]
) -> dict[str, Any] | None:
    """Merge-patch the changed top-level ``status`` fields of ``obj``; None if none changed.

    A field set to None in ``status`` is removed (merge patch semantics).
    """
    old = obj.get("status") or {}
    patch = changed_fields(old, status)
    patch = {k: v for k, v in patch.items() if not (v is None and k not in old)}
    if not patch:
        return None
    meta = obj.get("metadata") or {}
    return await client.patch(
        resource,
        meta.get("name", ""),
        {"status": patch},
        namespace=meta.get("namespace"),
        subresource="status",
    )
