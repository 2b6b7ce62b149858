"""Writing what ``gatewaymodel`` decided into the status of GatewayClasses, Gateways and
HTTPRoutes, as a Gateway controller does, so that tools and tests can wait on it.

Owns the status JSON (metav1.Condition lists with ``observedGeneration``, a
``lastTransitionTime`` kept while a condition's status stays the same; a Gateway's
``addresses`` and ``listeners``; an HTTPRoute's ``parents`` entries for our controller,
leaving other controllers' entries alone) and writing it through the status subresource
with the object's resourceVersion, only when it differs. A conflict or a vanished object
is left to the next change event. It must not decide any condition.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import structlog

from certmgr.kube.errors import Conflict, NotFound
from certmgr.kube.protocol import KubeAPI
from certmgr.kube.resources import Resource
from certmgr.testing.dataplane.gatewaymodel import Evaluation, GatewayStatus, ParentStatus
from certmgr.testing.dataplane.gatewayrefs import Condition, Key
from certmgr.testing.gatewayapi import GATEWAY_CLASSES, GATEWAYS, HTTP_ROUTES

Clock = Callable[[], datetime.datetime]
_log = structlog.get_logger("dataplane")


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def conditions_json(
    conditions: Iterable[Condition],
    *,
    generation: int,
    previous: Sequence[Mapping[str, Any]],
    now: str,
) -> list[dict[str, Any]]:
    """metav1.Conditions; a condition whose status did not change keeps its time."""
    before = {str(c.get("type")): c for c in previous}
    written: list[dict[str, Any]] = []
    for condition in conditions:
        status = "True" if condition.status else "False"
        prior = before.get(condition.type)
        since = prior.get("lastTransitionTime") if prior and prior.get("status") == status else now
        written.append(
            {
                "type": condition.type,
                "status": status,
                "reason": condition.reason,
                "message": condition.message,
                "observedGeneration": generation,
                "lastTransitionTime": since or now,
            }
        )
    return written


def class_status(
    obj: Mapping[str, Any], conditions: Iterable[Condition], *, now: str
) -> dict[str, Any]:
    old = obj.get("status") or {}
    written = conditions_json(
        conditions, generation=_generation(obj), previous=old.get("conditions") or (), now=now
    )
    return {**old, "conditions": written}


def gateway_status(obj: Mapping[str, Any], status: GatewayStatus, *, now: str) -> dict[str, Any]:
    old = obj.get("status") or {}
    generation = _generation(obj)
    old_listeners = {str(entry.get("name")): entry for entry in old.get("listeners") or ()}
    return {
        "addresses": [{"type": "IPAddress", "value": address} for address in status.addresses],
        "conditions": conditions_json(
            status.conditions, generation=generation, previous=old.get("conditions") or (), now=now
        ),
        "listeners": [
            {
                "name": listener.name,
                "supportedKinds": [dict(kind) for kind in listener.supported_kinds],
                "attachedRoutes": listener.attached_routes,
                "conditions": conditions_json(
                    listener.conditions,
                    generation=generation,
                    previous=(old_listeners.get(listener.name) or {}).get("conditions") or (),
                    now=now,
                ),
            }
            for listener in status.listeners
        ],
    }


def route_status(
    obj: Mapping[str, Any],
    parents: Sequence[ParentStatus],
    *,
    controller_name: str,
    now: str,
) -> dict[str, Any]:
    """Our entries replaced (one per parentRef we handle), everyone else's kept."""
    old = obj.get("status") or {}
    entries = list(old.get("parents") or ())
    others = [p for p in entries if p.get("controllerName") != controller_name]
    ours = {_ref_key(p.get("parentRef") or {}): p for p in entries if p not in others}
    generation = _generation(obj)
    written = [
        {
            "parentRef": dict(parent.parent_ref),
            "controllerName": controller_name,
            "conditions": conditions_json(
                parent.conditions,
                generation=generation,
                previous=(ours.get(_ref_key(parent.parent_ref)) or {}).get("conditions") or (),
                now=now,
            ),
        }
        for parent in parents
    ]
    return {**old, "parents": others + written}


class StatusWriter:
    """Writes the statuses an evaluation implies, skipping those already in place."""

    def __init__(self, client: KubeAPI, *, controller_name: str, clock: Clock = _utcnow) -> None:
        self._client = client
        self._controller = controller_name
        self._clock = clock
        # What we last wrote per object, and the status the server answered with: when
        # the server stores our status in another shape (defaults), we must not loop.
        self._written: dict[tuple[str, Key], tuple[dict[str, Any], Any]] = {}

    async def write(
        self,
        evaluation: Evaluation,
        *,
        classes: Iterable[Mapping[str, Any]],
        gateways: Iterable[Mapping[str, Any]],
        routes: Iterable[Mapping[str, Any]],
    ) -> int:
        """Write every status that differs; returns how many writes were made."""
        now = self._clock().strftime("%Y-%m-%dT%H:%M:%SZ")
        writes = 0
        for obj in classes:
            conditions = evaluation.classes.get(_key(obj)[1])
            if conditions is not None:
                writes += await self._put(
                    GATEWAY_CLASSES, obj, class_status(obj, conditions, now=now)
                )
        for obj in gateways:
            status = evaluation.gateways.get(_key(obj))
            if status is not None:
                writes += await self._put(GATEWAYS, obj, gateway_status(obj, status, now=now))
        for obj in routes:
            parents = evaluation.routes.get(_key(obj), ())
            entries = (obj.get("status") or {}).get("parents") or ()
            if not parents and not any(
                p.get("controllerName") == self._controller for p in entries
            ):
                continue
            wanted = route_status(obj, parents, controller_name=self._controller, now=now)
            writes += await self._put(HTTP_ROUTES, obj, wanted)
        return writes

    async def _put(self, resource: Resource, obj: Mapping[str, Any], status: dict[str, Any]) -> int:
        current = obj.get("status")
        key = (resource.plural, _key(obj))
        last = self._written.get(key)
        if status == current or (last is not None and last == (status, current)):
            return 0
        body = {**obj, "status": status}
        try:
            answer = await self._client.update_status(resource, body)
        except (Conflict, NotFound):
            return 0  # the change that caused this will be seen and evaluated again
        self._written[key] = (status, answer.get("status"))
        _log.debug("dataplane_gateway_status_written", kind=resource.kind, name="/".join(key[1]))
        return 1


def _ref_key(ref: Mapping[str, Any]) -> tuple[str, ...]:
    fields = ("group", "kind", "namespace", "name", "sectionName", "port")
    return tuple(str(ref.get(f) or "") for f in fields)


def _generation(obj: Mapping[str, Any]) -> int:
    return int((obj.get("metadata") or {}).get("generation") or 0)


def _key(obj: Mapping[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    return (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
