"""Reading the status a Gateway implementation writes, for tests waiting on it.

Owns finding one condition on a GatewayClass or Gateway, on one listener of a Gateway,
or in an HTTPRoute's ``parents`` entry for a Gateway, and the usual predicates
(``programmed``, ``route_accepted``). It must not do I/O: pair it with
``certmgr.testing.dataplane.waiting.eventually`` and a ``get``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from certmgr.testing.gatewayapi.manifests import DATAPLANE_CONTROLLER


def condition(obj: Mapping[str, Any] | None, kind: str) -> Mapping[str, Any] | None:
    """The ``kind`` condition of a GatewayClass or Gateway."""
    for entry in ((obj or {}).get("status") or {}).get("conditions") or ():
        if entry.get("type") == kind:
            return dict(entry)
    return None


def listener_status(gateway: Mapping[str, Any] | None, listener: str) -> Mapping[str, Any]:
    for entry in ((gateway or {}).get("status") or {}).get("listeners") or ():
        if entry.get("name") == listener:
            return dict(entry)
    return {}


def listener_condition(
    gateway: Mapping[str, Any] | None, listener: str, *, kind: str
) -> Mapping[str, Any] | None:
    return condition({"status": listener_status(gateway, listener)}, kind)


def route_condition(
    route: Mapping[str, Any] | None,
    gateway: str,
    *,
    kind: str,
    section: str | None = None,
    controller_name: str = DATAPLANE_CONTROLLER,
) -> Mapping[str, Any] | None:
    """The ``kind`` condition our controller wrote for parentRef ``gateway`` (and
    ``sectionName`` when given)."""
    for parent in ((route or {}).get("status") or {}).get("parents") or ():
        ref = parent.get("parentRef") or {}
        if parent.get("controllerName") != controller_name or ref.get("name") != gateway:
            continue
        if section is not None and ref.get("sectionName") != section:
            continue
        return condition({"status": parent}, kind)
    return None


def programmed(gateway: Mapping[str, Any] | None) -> bool:
    """Programmed=True for the Gateway's current generation."""
    found = condition(gateway, "Programmed")
    generation = ((gateway or {}).get("metadata") or {}).get("generation")
    return bool(
        found and found.get("status") == "True" and found.get("observedGeneration") == generation
    )


def route_accepted(route: Mapping[str, Any] | None, gateway: str) -> bool:
    found = route_condition(route, gateway, kind="Accepted")
    return bool(found and found.get("status") == "True")
