"""A local copy of one resource type: list, then watch, relisting on 410 Gone.

Owns :class:`Mirror`, the data plane's own small informer: it keeps every object of one
resource in a dict, bumps ``version`` on each change and calls ``on_change`` with the
object's key, so the router can rebuild its route table lazily and the pod runner can
react. It talks to the API only through the ``KubeAPI`` protocol (any server), and must
not interpret the objects it holds.

Why not ``certmgr.runtime``'s informer: the data plane stands in for cluster components
(kubelet, kube-proxy, an ingress controller) that are not part of the product, and it
needs no indexes, queues or resync; a few dozen lines keep it independent of the
controller runtime's evolution.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, Final

import structlog

from certmgr.kube.errors import APIError, Gone
from certmgr.kube.objects import name_of, namespace_of
from certmgr.kube.protocol import KubeAPI
from certmgr.kube.resources import Resource

ObjectKey = tuple[str, str]  # (namespace or "", name)
ChangeHandler = Callable[[ObjectKey], None]

_WATCH_TIMEOUT_SECONDS: Final = 240
_RETRY_FIRST_SECONDS: Final = 0.05
_RETRY_MAX_SECONDS: Final = 2.0
_log = structlog.get_logger("dataplane")


def key_of(obj: dict[str, Any]) -> ObjectKey:
    return (namespace_of(obj) or "", name_of(obj))


class Mirror:
    """Every object of ``resource`` (all namespaces), kept current by a background watch."""

    def __init__(
        self, client: KubeAPI, resource: Resource, *, on_change: ChangeHandler | None = None
    ) -> None:
        self._client = client
        self._resource = resource
        self._on_change = on_change
        self._objects: dict[ObjectKey, dict[str, Any]] = {}
        self._task: asyncio.Task[None] | None = None
        self._synced = asyncio.Event()
        self.version = 0

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._objects.get((namespace, name))

    def objects(self) -> list[dict[str, Any]]:
        return list(self._objects.values())

    async def start(self) -> None:
        """Start mirroring and return once the first list has been loaded."""
        self._task = asyncio.create_task(self._run(), name=f"mirror-{self._resource.plural}")
        synced = asyncio.create_task(self._synced.wait())
        done, _ = await asyncio.wait({synced, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if self._task in done:
            synced.cancel()
            self._task.result()  # raises why the mirror could not start

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        delay = _RETRY_FIRST_SECONDS
        version = ""
        while True:
            try:
                if not version:
                    version = await self._relist()
                version = await self._watch(version)
                delay = _RETRY_FIRST_SECONDS
            except Gone:
                version = ""
            except APIError as exc:
                if not self._synced.is_set() and exc.code in (401, 403, 404):
                    raise  # misconfiguration: fail start() instead of retrying forever
                _log.info("dataplane_watch_retry", resource=self._resource.plural, error=str(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_MAX_SECONDS)

    async def _relist(self) -> str:
        listed = await self._client.list(self._resource)
        fresh = {key_of(obj): obj for obj in listed.items}
        changed = {
            k for k in fresh.keys() | self._objects.keys() if fresh.get(k) != self._objects.get(k)
        }
        self._objects = fresh
        self._synced.set()
        for key in changed:
            self._changed(key)
        return listed.resource_version

    async def _watch(self, version: str) -> str:
        stream = self._client.watch(
            self._resource, resource_version=version, timeout_seconds=_WATCH_TIMEOUT_SECONDS
        )
        async for event in stream:
            version = event.resource_version or version
            if event.type == "BOOKMARK":
                continue
            key = key_of(event.object)
            if event.type == "DELETED":
                self._objects.pop(key, None)
            else:
                self._objects[key] = event.object
            self._changed(key)
        return version

    def _changed(self, key: ObjectKey) -> None:
        self.version += 1
        if self._on_change is not None:
            self._on_change(key)
