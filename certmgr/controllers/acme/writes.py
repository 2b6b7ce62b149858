"""The few write helpers the ACME controllers share: owner references and the Events
policy (status patches live in :mod:`certmgr.controllers.status_patches`, re-exported).

Owns the owner reference a child carries, and :func:`progress_event`: Normal Events on
CertificateRequests, Orders and Challenges are recorded only with
``Settings.detailed_events``. Those objects are intermediate (a Challenge is deleted
seconds later, orphaning its Events), their status says the same, and every Event is an
API write; Warning Events are always recorded. It must not decide what the status says.
"""

from __future__ import annotations

from typing import Any

from certmgr.controllers.context import Context
from certmgr.controllers.status_patches import changed_fields, patch_status

__all__ = ["changed_fields", "owner_reference", "patch_status", "progress_event"]


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
