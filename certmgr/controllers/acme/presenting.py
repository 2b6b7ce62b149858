"""Creating and removing the solver objects of one Challenge.

Owns the writes of :mod:`certmgr.controllers.acme.solver_objects`' manifests: create
what is missing (an existing object of the same deterministic name is ours from an
earlier attempt), add or remove the token's path on a user's Ingress (edit in place,
with the resourceVersion so a concurrent edit is not lost), and delete everything on
clean up (absent objects are fine). It must not decide when to present or clean up.
"""

from __future__ import annotations

import contextlib
from typing import Any

import structlog

from certmgr.controllers.acme.solver_objects import (
    SOLVER_PORT,
    SolverTarget,
    pod_service,
    shared_service,
    solver_ingress,
    solver_pod,
    uses_pod,
    with_solver_path,
    without_solver_path,
)
from certmgr.kube.errors import AlreadyExists, NotFound
from certmgr.kube.protocol import KubeAPI
from certmgr.kube.resources import INGRESSES, PODS, SERVICES, Resource

log = structlog.get_logger(__name__)


class PresentError(Exception):
    """The solver objects could not be created as configured (stable message)."""


class Presenter:
    def __init__(
        self,
        client: KubeAPI,
        *,
        solver_mode: str,
        solver_image: str,
        shared_host: str,
        shared_port: int,
    ) -> None:
        self._client = client
        self._mode = solver_mode
        self._image = solver_image
        self._shared = (shared_host, shared_port)

    def _port(self, target: SolverTarget) -> int:
        return SOLVER_PORT if uses_pod(target, solver_mode=self._mode) else self._shared[1]

    async def present(self, target: SolverTarget) -> None:
        if uses_pod(target, solver_mode=self._mode):
            await self._create(PODS, solver_pod(target, image=self._image))
            await self._create(SERVICES, pod_service(target))
        else:
            host, port = self._shared
            await self._create(SERVICES, shared_service(target, host=host, port=port))
        edit_in_place = str(target.ingress.get("name") or "")
        if not edit_in_place:
            await self._create(INGRESSES, solver_ingress(target, port=self._port(target)))
            return
        try:
            ingress = await self._client.get(INGRESSES, edit_in_place, namespace=target.namespace)
        except NotFound:
            raise PresentError(
                f'ingress "{target.namespace}/{edit_in_place}" to edit in place not found'
            ) from None
        edited = with_solver_path(ingress, target, port=self._port(target))
        if edited is not None:
            await self._client.update(INGRESSES, edited)

    async def clean_up(self, target: SolverTarget) -> None:
        edit_in_place = str(target.ingress.get("name") or "")
        if edit_in_place:
            try:
                ingress = await self._client.get(
                    INGRESSES, edit_in_place, namespace=target.namespace
                )
            except NotFound:
                ingress = None
            edited = without_solver_path(ingress, target) if ingress is not None else None
            if edited is not None:
                await self._client.update(INGRESSES, edited)
        else:
            await self._delete(INGRESSES, target)
        await self._delete(SERVICES, target)
        if uses_pod(target, solver_mode=self._mode):
            await self._delete(PODS, target)

    async def _create(self, resource: Resource, obj: dict[str, Any]) -> None:
        # Deterministic name: an existing object is ours, from an earlier attempt.
        with contextlib.suppress(AlreadyExists):
            await self._client.create(resource, obj, namespace=obj["metadata"]["namespace"])

    async def _delete(self, resource: Resource, target: SolverTarget) -> None:
        with contextlib.suppress(NotFound):
            await self._client.delete(resource, target.name, namespace=target.namespace)
