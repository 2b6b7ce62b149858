"""The few write helpers the ACME controllers share: status patches, owner references and
the Events policy.

Owns "write status only when it changed" (a merge patch on the status subresource, so
no resourceVersion conflict with the other writers of the object), the owner reference
a child carries, and :func:`progress_event`: Normal Events on CertificateRequests,
Orders and Challenges are recorded only with ``Settings.detailed_events``. Those objects
are intermediate (a Challenge is deleted seconds later, orphaning its Events), their
status says the same, and every Event is an API write; Warning Events are always
recorded. It must not decide what the status says.
"""

from __future__ import annotations

from typing import Any

from certmgr.controllers.context import Context
from certmgr.kube.protocol import KubeAPI
from certmgr.kube.resources import Resource


def owner_reference(owner: dict[str, Any], *, controller: bool = True) -> dict[str, Any]:
    """An ownerReference to ``owner``, so the garbage collector removes the child with it."""
    meta = owner.get("metadata") or {}
    return {
        "apiVersion": owner.get("apiVersion", ""),
        "kind": owner.get("kind", ""),
        "name": meta.get("name", ""),
        "uid": meta.get("uid", ""),
        "controller": controller,
        "blockOwnerDeletion": True,
    }


def progress_event(ctx: Context, obj: dict[str, Any], reason: str, message: str) -> None:
    """A Normal Event on an intermediate object, only with ``detailed_events``."""
    if ctx.settings.detailed_events:
        ctx.events.event(obj, "Normal", reason, message)


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
