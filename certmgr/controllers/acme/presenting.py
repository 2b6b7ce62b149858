"""Creating and removing the solver objects of one Challenge.

Owns the writes of :mod:`certmgr.controllers.acme.solver_objects`' manifests: create
what is missing (an existing object of the same deterministic name is ours from an
earlier attempt, and says so: :meth:`Presenter.present` returns True), add or remove
the token's path on a user's Ingress (edit in place: read from the Ingress informer's
cache, written with its resourceVersion so a concurrent edit is a Conflict to retry, not
lost, and the write waited for in the cache so clean up sees the path), and on clean up
delete what must stop at once (absent objects are fine). A ``gatewayHTTPRoute`` solver
gets an HTTPRoute in place of the Ingress, and only when the Gateway API is enabled
(``--enable-gateway-api``). Shared mode's Service is :mod:`solver_services`' business.
It must not decide when to present or clean up.
"""

from __future__ import annotations

import contextlib
from typing import Any, Final

import structlog

from certmgr.controllers.acme.solver_objects import (
    SHARED_SERVICE,
    SOLVER_PORT,
    SolverTarget,
    pod_service,
    solver_http_route,
    solver_ingress,
    solver_pod,
    uses_pod,
    with_solver_path,
    without_solver_path,
)
from certmgr.controllers.acme.solver_services import SharedSolverServices
from certmgr.kube.errors import AlreadyExists, NotFound
from certmgr.kube.protocol import KubeAPI
from certmgr.kube.resources import HTTPROUTES, INGRESSES, PODS, SERVICES, Resource
from certmgr.runtime.cache import Cache, Obj

log = structlog.get_logger(__name__)

# How long an edit of the user's Ingress is waited for in the cache.
CACHE_WAIT_SECONDS: Final = 5.0


GATEWAY_API_DISABLED: Final = (
    "the gatewayHTTPRoute solver needs the Gateway API, which is not enabled "
    "(certmgr run --enable-gateway-api)"
)


class PresentError(Exception):
    """The solver objects could not be created as configured (stable message)."""


class Presenter:
    def __init__(
        self,
        client: KubeAPI,
        *,
        solver_mode: str,
        solver_image: str,
        shared: SharedSolverServices,
        shared_port: int,
        gateway_api: bool = False,
        ingresses: Cache | None = None,
    ) -> None:
        self._client = client
        self._gateway_api = gateway_api
        self._ingresses = ingresses
        self._mode = solver_mode
        self._image = solver_image
        self._shared = shared
        self._shared_port = shared_port

    def _backend(self, target: SolverTarget) -> tuple[str, int]:
        if uses_pod(target, solver_mode=self._mode):
            return target.name, SOLVER_PORT
        return SHARED_SERVICE, self._shared_port

    async def present(self, target: SolverTarget) -> bool:
        """Create what is missing; True when the route was there already (an earlier
        attempt, maybe before a restart, presented it: the CA may have been answered)."""
        if target.route is not None and not self._gateway_api:
            raise PresentError(GATEWAY_API_DISABLED)
        if uses_pod(target, solver_mode=self._mode):
            await self._create(PODS, solver_pod(target, image=self._image))
            await self._create(SERVICES, pod_service(target))
        else:
            await self._shared.ensure(target.namespace)
        service, port = self._backend(target)
        if target.route is not None:
            return not await self._create(
                HTTPROUTES, solver_http_route(target, service=service, port=port)
            )
        edit_in_place = str(target.ingress.get("name") or "")
        if not edit_in_place:
            return not await self._create(
                INGRESSES, solver_ingress(target, service=service, port=port)
            )
        ingress = await self._users_ingress(edit_in_place, target.namespace)
        if ingress is None:
            raise PresentError(
                f'ingress "{target.namespace}/{edit_in_place}" to edit in place not found'
            )
        edited = with_solver_path(ingress, target, service=service, port=port)
        if edited is None:
            return True
        written = await self._client.update(INGRESSES, edited)
        if self._ingresses is not None:
            await self._ingresses.wait_for_object(written, timeout=CACHE_WAIT_SECONDS)
        return False

    async def repair(self, target: SolverTarget) -> None:
        """The self-check keeps failing: check the shared Service again (it may have been
        deleted by the idle clean up just as this Challenge was presented)."""
        if not uses_pod(target, solver_mode=self._mode):
            self._shared.forget(target.namespace)
            await self._shared.ensure(target.namespace)

    async def clean_up(self, target: SolverTarget) -> None:
        """Stop routing the token as soon as the Challenge is final: delete its Ingress
        or HTTPRoute (or its path on the user's Ingress) and, pod mode, its Pod. The
        pod-mode Service is owned by the Challenge and goes with it; the shared Service
        stays for the namespace."""
        edit_in_place = str(target.ingress.get("name") or "")
        if target.route is not None:
            if self._gateway_api:  # else nothing was made (nor may be read)
                await self._delete(HTTPROUTES, target)
        elif edit_in_place:
            ingress = await self._users_ingress(edit_in_place, target.namespace)
            edited = without_solver_path(ingress, target) if ingress is not None else None
            if edited is not None:
                await self._client.update(INGRESSES, edited)
        else:
            await self._delete(INGRESSES, target)
        if uses_pod(target, solver_mode=self._mode):
            await self._delete(PODS, target)

    async def _users_ingress(self, name: str, namespace: str) -> Obj | None:
        """The Ingress to edit in place, from the cache; read from the API only when the
        cache has not seen it (just created), or there is no cache."""
        if self._ingresses is not None:
            cached = self._ingresses.get(namespace, name)
            if cached is not None:
                return cached
        try:
            return await self._client.get(INGRESSES, name, namespace=namespace)
        except NotFound:
            return None

    async def _create(self, resource: Resource, obj: dict[str, Any]) -> bool:
        """True if created; False if it existed (deterministic name: ours, from an
        earlier attempt)."""
        try:
            await self._client.create(resource, obj, namespace=obj["metadata"]["namespace"])
        except AlreadyExists:
            return False
        return True

    async def _delete(self, resource: Resource, target: SolverTarget) -> None:
        with contextlib.suppress(NotFound):
            await self._client.delete(resource, target.name, namespace=target.namespace)
