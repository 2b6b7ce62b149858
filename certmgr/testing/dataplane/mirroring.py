"""A local copy of one resource type for the data plane, kept by the runtime's informer.

Owns :class:`Mirror`, a thin adapter over ``certmgr.runtime.informer.Informer`` (list,
watch, relist on 410 Gone, backoff) shaped for the data plane: ``get``/``objects``
reads, a ``version`` counter bumped on every change (the router rebuilds its route
table only when the Ingress mirror's version moved) and an ``on_change(key)`` callback
(the pod runner's trigger). Informers are named ``dataplane-<plural>`` so their metrics
never mix with the controller's when both run in one process. It talks to the API only
through the ``KubeAPI`` protocol and must not interpret the objects it holds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, Final

from certmgr.kube.protocol import KubeAPI
from certmgr.kube.resources import Resource
from certmgr.runtime.cache import EventType, Obj, key_of
from certmgr.runtime.informer import Informer

ObjectKey = tuple[str, str]  # (namespace or "", name)
ChangeHandler = Callable[[ObjectKey], None]

SYNC_TIMEOUT_SECONDS: Final = 30.0


class Mirror:
    """Every object of ``resource`` (all namespaces), kept current by a background watch."""

    def __init__(
        self, client: KubeAPI, resource: Resource, *, on_change: ChangeHandler | None = None
    ) -> None:
        self._on_change = on_change
        self._informer = Informer(
            client, resource, name=f"dataplane-{resource.plural}", on_event=self._changed
        )
        self._task: asyncio.Task[None] | None = None
        self.version = 0

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._informer.cache.get(namespace, name)

    def objects(self) -> list[dict[str, Any]]:
        return self._informer.cache.list()

    async def start(self, *, sync_timeout: float = SYNC_TIMEOUT_SECONDS) -> None:
        """Start mirroring and return once the first list is loaded.

        The informer retries forever (that is right for a controller); a data plane that
        cannot list after ``sync_timeout`` is misconfigured, so this raises instead.
        """
        plural = self._informer.resource.plural
        self._task = asyncio.create_task(self._informer.run(), name=f"mirror-{plural}")
        try:
            await self._informer.wait_synced(timeout=sync_timeout)
        except TimeoutError as exc:
            await self.stop()
            raise TimeoutError(f"could not list {plural} within {sync_timeout}s") from exc

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _changed(self, event_type: EventType, old: Obj | None, new: Obj | None) -> None:
        obj = new if new is not None else old
        self.version += 1
        if self._on_change is not None and obj is not None:
            self._on_change(key_of(obj))
