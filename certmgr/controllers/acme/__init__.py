"""The ACME controllers: issuers, CertificateRequest -> Order, orders, challenges.

Wiring for the composition root::

    acme = setup_all(ctx)            # before ctx.manager.run()
    solver = await serve_shared_solver(ctx.manager, host="0.0.0.0", port=8089)
    ...                              # every replica serves; controllers run on the leader
    await solver.cleanup(); await acme.close()

Modules: ``issuers`` (accounts, issuer status), ``requests`` (CertificateRequest ->
Order), ``orders`` (ACME orders, Challenges), ``challenges`` (present, self-check,
accept, clean up), ``accounts`` (connection cache), ``solver_objects``/``presenting``
(solver Service/Ingress/Pod), ``solver_services`` (shared mode's Service per namespace
and its idle clean up), ``selfcheck``, ``shared_solver``, ``names``, ``polling``,
``issuer_refs``, ``writes``, ``renewalinfo`` (ARI windows in Certificate status).
This package must not create CertificateRequests.
"""

from __future__ import annotations

from dataclasses import dataclass

from certmgr.controllers.acme import challenges, issuers, orders, renewalinfo, requests
from certmgr.controllers.acme.accounts import Accounts
from certmgr.controllers.acme.shared_solver import (
    publish_shared_endpoints,
    serve_shared_solver,
    shared_solver_source,
)
from certmgr.controllers.acme.solver_endpoints import Replica, ReplicaEndpoints
from certmgr.controllers.context import Context

__all__ = [
    "AcmeControllers",
    "Replica",
    "ReplicaEndpoints",
    "publish_shared_endpoints",
    "serve_shared_solver",
    "setup_all",
    "shared_solver_source",
]


@dataclass(slots=True)
class AcmeControllers:
    """What ``setup_all`` wired; ``close()`` releases ACME connections and HTTP sessions."""

    accounts: Accounts
    challenges: challenges.ChallengeReconciler

    async def close(self) -> None:
        await self.challenges.close()
        await self.accounts.close()


def setup_all(ctx: Context) -> AcmeControllers:
    """Register every ACME controller (and the informers they share) on ``ctx.manager``."""
    accounts = Accounts(
        ctx.acme, ctx.client, cluster_resource_namespace=ctx.settings.cluster_resource_namespace
    )
    issuers.setup(ctx, accounts=accounts)
    if ctx.settings.runs("certificaterequests-issuer-acme"):
        requests.setup(ctx)
    if ctx.settings.runs("orders"):
        orders.setup(ctx, accounts=accounts)
    # cert-manager fetches ARI in its readiness controller: off with it.
    if ctx.settings.runs("certificates-readiness"):
        renewalinfo.setup(ctx, accounts=accounts)
    reconciler = challenges.setup(ctx, accounts=accounts, run=ctx.settings.runs("challenges"))
    return AcmeControllers(accounts=accounts, challenges=reconciler)
