"""The Kubernetes client seam: what controllers and the runtime may call.

``KubeAPI`` is the Protocol that ``certmgr.kube.client.KubeClient`` implements; code above
this package depends on the Protocol, so tests can hand it another implementation. This
module must not contain behaviour.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, Protocol

from certmgr.kube.objects import ObjectList, WatchEvent
from certmgr.kube.resources import Resource

PatchType = str  # "merge" | "json" | "strategic"
# A merge or strategic patch is an object; a JSON patch is a list of operations.
Patch = dict[str, Any] | list[Any]


class KubeAPI(Protocol):
    async def get(
        self, resource: Resource, name: str, *, namespace: str | None = None
    ) -> dict[str, Any]: ...

    async def list(
        self,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        metadata_only: bool = False,
        page_size: int | None = 500,
    ) -> ObjectList: ...

    def list_pages(
        self,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        metadata_only: bool = False,
        page_size: int | None = 500,
        read_ahead: bool = False,
    ) -> AsyncGenerator[ObjectList, None]: ...

    def watch(
        self,
        resource: Resource,
        *,
        namespace: str | None = None,
        resource_version: str,
        label_selector: str | None = None,
        field_selector: str | None = None,
        metadata_only: bool = False,
        timeout_seconds: int | None = None,
        bookmarks: bool = True,
    ) -> AsyncIterator[WatchEvent]: ...

    async def create(
        self, resource: Resource, obj: dict[str, Any], *, namespace: str | None = None
    ) -> dict[str, Any]: ...

    async def update(self, resource: Resource, obj: dict[str, Any]) -> dict[str, Any]: ...

    async def update_status(self, resource: Resource, obj: dict[str, Any]) -> dict[str, Any]: ...

    async def patch(
        self,
        resource: Resource,
        name: str,
        patch: Patch,
        *,
        namespace: str | None = None,
        subresource: str | None = None,
        patch_type: PatchType = "merge",
    ) -> dict[str, Any]: ...

    async def delete(
        self,
        resource: Resource,
        name: str,
        *,
        namespace: str | None = None,
        propagation_policy: str | None = None,
        preconditions: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None: ...
