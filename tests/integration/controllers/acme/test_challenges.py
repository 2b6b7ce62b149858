"""The challenge controller and the shared solver against the API simulator (no CA).

The self-check cannot succeed here (nothing routes the name), which is exactly what
these tests need: a Challenge that stays presented, so deleting it must clean up.
Write counts per issuance and the shared Service's idle clean up are in
``test_issuance_writes.py`` and ``test_shared_service.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from certmgr.controllers.acme import challenges as challenge_controller
from certmgr.controllers.acme.shared_solver import serve_shared_solver
from certmgr.controllers.context import Context, Settings
from certmgr.kube.client import KubeClient
from certmgr.kube.errors import NotFound
from certmgr.kube.resources import CHALLENGES, INGRESSES, ISSUERS, SERVICES
from certmgr.runtime.clock import SystemClock
from certmgr.runtime.manager import Manager
from certmgr.testing.cluster import KubeCluster
from certmgr.testing.dataplane.waiting import eventually

SOLVER = {"http01": {"ingress": {"ingressClassName": "nginx"}}}


class NeverAskedCA:
    account_uri = "https://ca/acct/1"


class FakeAccounts:
    async def client_for(self, issuer: dict[str, Any]) -> NeverAskedCA:
        return NeverAskedCA()


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def event(self, obj: dict[str, Any], type_: str, reason: str, message: str) -> None:
        self.seen.append((type_, reason))


def challenge(name: str, *, dns: str, token: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "acme.cert-manager.io/v1",
        "kind": "Challenge",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "finalizers": ["acme.cert-manager.io/finalizer"],
        },
        "spec": {
            "url": f"https://ca/chall/{token}",
            "authorizationURL": f"https://ca/authz/{token}",
            "dnsName": dns,
            "type": "HTTP-01",
            "token": token,
            "key": f"{token}.thumb",
            "solver": SOLVER,
            "issuerRef": {"name": "ca", "kind": "Issuer"},
        },
    }


@pytest.fixture
def namespace(kube_namespace: str) -> str:
    return kube_namespace


@pytest.fixture
async def kube(kube_cluster: KubeCluster, namespace: str) -> AsyncIterator[KubeClient]:
    await kube_cluster.install_crds()
    kubeconfig = kube_cluster.kubeconfig
    client = await KubeClient.connect(kubeconfig=str(kubeconfig), qps=1000, burst=1000)
    async with client:
        issuer = {
            "apiVersion": "cert-manager.io/v1",
            "kind": "Issuer",
            "metadata": {"name": "ca", "namespace": namespace},
            "spec": {
                "acme": {
                    "server": "https://ca/dir",
                    "privateKeySecretRef": {"name": "k"},
                    "solvers": [SOLVER],
                }
            },
        }
        await client.create(ISSUERS, issuer, namespace=namespace)
        yield client
        # No controller is left to release the Challenges' finalizers; without this a
        # real server would keep the test's namespace Terminating.
        for left in (await client.list(CHALLENGES, namespace=namespace)).items:
            release = {"metadata": {"finalizers": None}}
            await client.patch(CHALLENGES, left["metadata"]["name"], release, namespace=namespace)


@contextlib.asynccontextmanager
async def running(manager: Manager) -> AsyncIterator[None]:
    task = asyncio.create_task(manager.run())
    try:
        await asyncio.wait_for(manager.wait_synced(), 10)
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_deleting_a_presented_challenge_removes_its_solver_objects(
    kube: KubeClient, namespace: str
) -> None:
    manager = Manager(kube, clock=SystemClock(), backoff_base=0.05, backoff_cap=1.0)
    settings = Settings(self_check_port=1, self_check_interval=0.05, detailed_events=True)
    events = Events()
    ctx = Context(kube, manager, SystemClock(), events, None, settings)  # type: ignore[arg-type]
    reconciler = challenge_controller.setup(ctx, accounts=FakeAccounts())  # type: ignore[arg-type]
    async with running(manager):
        await kube.create(
            CHALLENGES,
            challenge("c1", dns="localhost", token="t1", namespace=namespace),
            namespace=namespace,
        )

        async def status() -> dict[str, Any]:
            return (await kube.get(CHALLENGES, "c1", namespace=namespace)).get("status") or {}

        # The first miss is not recorded (it usually races the ingress); the second is.
        presented = await eventually(status, lambda s: bool(s.get("reason")), deadline=60)
        assert presented["presented"] is True
        assert presented["processing"] is True
        assert presented["reason"] == (
            "Waiting for HTTP-01 challenge propagation: failed to perform self check GET "
            "request 'http://localhost:1/.well-known/acme-challenge/t1': connection refused"
        )
        services = await kube.list(SERVICES, namespace=namespace)
        (service,) = services.items
        assert service["metadata"]["name"] == "cm-acme-http-solver-shared"
        assert service["spec"]["type"] == "ExternalName"
        assert "ownerReferences" not in service["metadata"]  # the namespace's, not c1's
        (ingress,) = (await kube.list(INGRESSES, namespace=namespace)).items
        assert ingress["spec"]["rules"][0]["host"] == "localhost"
        backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
        assert backend["name"] == "cm-acme-http-solver-shared"
        assert ("Normal", "Presented") in events.seen  # detailed_events=True

        # c1 carries cert-manager's finalizer (created by an older controller): it is
        # still removed once the solver objects are gone.
        await kube.delete(CHALLENGES, "c1", namespace=namespace)

        async def gone() -> list[str]:
            left = [
                f"Ingress/{i['metadata']['name']}"
                for i in (await kube.list(INGRESSES, namespace=namespace)).items
            ]
            with contextlib.suppress(NotFound):
                await kube.get(CHALLENGES, "c1", namespace=namespace)
                left.append("Challenge/c1")
            return left

        await eventually(gone, lambda left: left == [], deadline=60)
        # The shared Service lingers for the namespace's next Challenge.
        (service,) = (await kube.list(SERVICES, namespace=namespace)).items
        assert service["metadata"]["name"] == "cm-acme-http-solver-shared"
    await reconciler.close()


async def test_shared_solver_answers_current_challenges_only(
    kube: KubeClient, namespace: str
) -> None:
    manager = Manager(kube, clock=SystemClock())
    runner = await serve_shared_solver(manager, host="127.0.0.1", port=0)
    port = int(runner.addresses[0][1])
    try:
        async with running(manager), aiohttp.ClientSession() as http:
            created = await kube.create(
                CHALLENGES,
                challenge("c2", dns="shared.example.com", token="t2", namespace=namespace),
                namespace=namespace,
            )

            async def fetch(host: str, token: str) -> tuple[int, str]:
                url = f"http://127.0.0.1:{port}/.well-known/acme-challenge/{token}"
                async with http.get(url, headers={"Host": host}) as response:
                    return response.status, await response.text()

            served = await eventually(
                lambda: fetch("shared.example.com", "t2"), lambda r: r[0] == 200, deadline=60
            )
            assert served == (200, "t2.thumb")
            assert (await fetch("other.example.com", "t2"))[0] == 404
            assert (await fetch("shared.example.com", "nope"))[0] == 404
            created["status"] = {"state": "valid"}
            await kube.update_status(CHALLENGES, created)
            assert (
                await eventually(
                    lambda: fetch("shared.example.com", "t2"), lambda r: r[0] == 404, deadline=60
                )
            )[0] == 404
    finally:
        await runner.cleanup()
