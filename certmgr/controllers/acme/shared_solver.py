"""Shared mode's solver: every replica answers every current HTTP-01 challenge.

Owns :func:`shared_solver_source` (``solvers``' token source over the Challenge
informer's cache, narrowed to Challenges that are not final) and
:func:`serve_shared_solver`, which the composition root calls in every replica, leader
or not, because informers run everywhere while controllers run on the leader only.
:func:`publish_shared_endpoints` wires this replica's EndpointSlices
(:mod:`solver_endpoints`) to the informers they follow. The solver itself must not
write to the API.
"""

from __future__ import annotations

from typing import Final

from aiohttp import web

from certmgr.api.acme import State
from certmgr.controllers.acme.solver_endpoints import SLICE_SELECTOR, Replica, ReplicaEndpoints
from certmgr.controllers.acme.solver_services import SOLVER_SELECTOR
from certmgr.kube.resources import CHALLENGES, ENDPOINTSLICES, SERVICES
from certmgr.runtime.cache import Obj
from certmgr.runtime.manager import Manager
from solvers import serve
from solvers.challenges import ChallengeCacheSource

_FINAL: Final = frozenset(s.value for s in State if s.is_final)


def is_not_final(challenge: Obj) -> bool:
    """A final Challenge's token is not answered any more (the CA is done with it)."""
    return (challenge.get("status") or {}).get("state") not in _FINAL


def shared_solver_source(manager: Manager) -> ChallengeCacheSource:
    """The source over the manager's Challenge informer (created if not yet there): only
    HTTP-01 Challenges with a key, token and dnsName that are not final."""
    return ChallengeCacheSource(manager.informer(CHALLENGES).cache, answers=is_not_final)


async def serve_shared_solver(manager: Manager, *, host: str, port: int) -> web.AppRunner:
    """Listen on ``host:port`` (0: a free port, see ``runner.addresses``) for every
    current challenge. Call before or after ``manager.run``; ``await runner.cleanup()``
    when done. Until the caches have synced, a request for an unknown token waits for
    them (a restarted replica may still be listed behind the shared Service)."""
    return await serve(
        shared_solver_source(manager), host=host, port=port, ready=manager.wait_synced
    )


def publish_shared_endpoints(
    manager: Manager, *, replica: Replica, lease_namespace: str
) -> ReplicaEndpoints:
    """This replica's EndpointSlices behind every shared solver Service (EndpointSlice
    mode), woken by the Services and EndpointSlices informers; run ``.run()`` in every
    replica, ``.drain()`` on SIGTERM and ``.withdraw()`` last."""
    services = manager.informer(SERVICES, label_selector=SOLVER_SELECTOR)
    slices = manager.informer(ENDPOINTSLICES, label_selector=SLICE_SELECTOR)
    endpoints = ReplicaEndpoints(
        manager.client,
        replica=replica,
        services=services.cache,
        slices=slices.cache,
        lease_namespace=lease_namespace,
        clock=manager.clock,
    )
    services.add_handler(endpoints.wake)
    slices.add_handler(endpoints.wake)
    return endpoints
