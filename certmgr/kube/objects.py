"""The shapes of what the API returns at this edge: lists, watch events, object keys.

Owns ``ObjectList`` and ``WatchEvent`` and small accessors for the metadata every object
carries. Objects themselves stay JSON dicts here (the edge); typed resources live in
``certmgr.api``. This module must not do I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

WatchEventType = Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK"]
WATCH_EVENT_TYPES: frozenset[str] = frozenset({"ADDED", "MODIFIED", "DELETED", "BOOKMARK"})


@dataclass(frozen=True, slots=True)
class ObjectList:
    """All pages of one list call, and the resourceVersion to start a watch from."""

    items: list[dict[str, Any]]
    resource_version: str


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """One event of a watch stream. For BOOKMARK only ``metadata.resourceVersion`` is set."""

    type: WatchEventType
    object: dict[str, Any]

    @property
    def resource_version(self) -> str:
        return resource_version(self.object)


def metadata(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def name_of(obj: dict[str, Any]) -> str:
    return str(metadata(obj).get("name") or "")


def namespace_of(obj: dict[str, Any]) -> str | None:
    namespace = metadata(obj).get("namespace")
    return str(namespace) if namespace else None


def resource_version(obj: dict[str, Any]) -> str:
    return str(metadata(obj).get("resourceVersion") or "")


def uid_of(obj: dict[str, Any]) -> str:
    return str(metadata(obj).get("uid") or "")


def being_deleted(obj: dict[str, Any]) -> bool:
    """Whether a deletion has started (``deletionTimestamp``): finalizers, or the garbage
    collector removing dependents first (``foregroundDeletion``), hold it. Nothing new may
    be made for such an object: the collector would delete it, or it would outlive it."""
    return bool(metadata(obj).get("deletionTimestamp"))
