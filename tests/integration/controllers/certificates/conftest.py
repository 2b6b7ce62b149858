"""A cluster for the Certificate controllers: the test's cluster (``kube_cluster``: the
simulator, or a real server) with our CRDs, a real client, a namespace of the test's own,
a Manager running every certificate controller, the SelfSigned and CA issuers and the
local-CA test issuer, a fake
clock that moves only when a test says so, and helpers to read the resulting state."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from certmgr.controllers import issuers
from certmgr.controllers.certificates import setup_all
from certmgr.controllers.certificates.status import CACHE_WAIT_SECONDS
from certmgr.controllers.context import Context, Settings
from certmgr.kube import resources as r
from certmgr.kube.client import KubeClient
from certmgr.runtime.manager import Manager
from certmgr.testing.apiserver import Simulator
from certmgr.testing.clock import FakeClock
from certmgr.testing.cluster import KubeCluster
from certmgr.testing.dataplane.waiting import eventually
from certmgr.testing.idle import until_idle
from certmgr.testing.issuers import LocalCAIssuer

# Only for the simulator-only tests that build their own Manager (World has its own).
NAMESPACE = "default"
START = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


@dataclass
class RecordedEvents:
    """The Events the controllers recorded: (object name, type, reason, message)."""

    items: list[tuple[str, str, str, str]] = field(default_factory=list)

    def event(self, obj: dict[str, Any], type_: str, reason: str, message: str) -> None:
        self.items.append((obj["metadata"]["name"], type_, reason, message))

    def reasons(self, type_: str | None = None) -> list[str]:
        return [reason for _, t, reason, _ in self.items if type_ is None or t == type_]


class NoAcme:
    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the certificate controllers never talk ACME")


@dataclass
class World:
    kube: KubeClient
    clock: FakeClock
    issuer: LocalCAIssuer
    events: RecordedEvents
    settings: Settings
    namespace: str
    manager: Manager | None = None
    task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        manager = Manager(self.kube, clock=self.clock)
        ctx = Context(
            client=self.kube,
            manager=manager,
            clock=self.clock,
            events=self.events,
            acme=NoAcme(),
            settings=self.settings,
        )
        setup_all(ctx)
        issuers.setup_all(ctx)
        self.issuer.setup(manager)
        self.manager = manager
        self.task = asyncio.create_task(manager.run())
        await eventually(_returns(lambda: manager.has_synced), bool)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            # A reconcile caught mid-way waits for its write to reach a cache that is
            # shutting down, bounded on the (fake) clock: move time until it gives up.
            while not self.task.done():
                await asyncio.wait({self.task}, timeout=0.1)
                self.clock.advance(CACHE_WAIT_SECONDS + 1)
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        self.task = None
        self.manager = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    # -- writing ----------------------------------------------------------------------

    async def create_certificate(
        self, name: str, *, annotations: dict[str, str] | None = None, **spec: Any
    ) -> dict[str, Any]:
        metadata: dict[str, Any] = {"name": name, "namespace": self.namespace}
        if annotations:
            metadata["annotations"] = annotations
        body = {
            "apiVersion": "cert-manager.io/v1",
            "kind": "Certificate",
            "metadata": metadata,
            "spec": {
                "secretName": f"{name}-tls",
                "issuerRef": {"name": "test-ca", "kind": "Issuer"},
                "dnsNames": [f"{name}.example.com"],
                **spec,
            },
        }
        return await self.kube.create(r.CERTIFICATES, body)

    async def patch_spec(self, name: str, spec: dict[str, Any]) -> None:
        await self.kube.patch(r.CERTIFICATES, name, {"spec": spec}, namespace=self.namespace)

    # -- reading ----------------------------------------------------------------------

    async def certificate(self, name: str) -> dict[str, Any]:
        return await self.kube.get(r.CERTIFICATES, name, namespace=self.namespace)

    async def secret(self, name: str) -> dict[str, Any] | None:
        try:
            return await self.kube.get(r.SECRETS, name, namespace=self.namespace)
        except Exception:
            return None

    async def requests(self) -> list[dict[str, Any]]:
        listed = await self.kube.list(r.CERTIFICATEREQUESTS, namespace=self.namespace)
        return sorted(listed.items, key=lambda o: o["metadata"]["name"])

    async def wait_ready(self, name: str, *, revision: int = 1) -> dict[str, Any]:
        async def probe() -> dict[str, Any]:
            return await self.certificate(name)

        return await eventually(probe, lambda c: is_ready(c, revision=revision))

    async def wait_condition(
        self, name: str, type_: str, status: str, *, deadline: float = 15.0
    ) -> dict[str, Any]:
        async def probe() -> dict[str, Any]:
            return await self.certificate(name)

        return await eventually(
            probe, lambda c: condition(c, type_).get("status") == status, deadline=deadline
        )

    async def quiesce(self) -> None:
        """Wait until every controller's queue is empty and no reconcile runs, 5 polls in
        a row (events from our own last writes come back through watches)."""
        assert self.manager is not None
        await until_idle(self.manager)


def _returns(fn: Any) -> Any:
    async def probe() -> Any:
        return fn()

    return probe


def condition(certificate: dict[str, Any], type_: str) -> dict[str, Any]:
    for c in (certificate.get("status") or {}).get("conditions") or ():
        if c.get("type") == type_:
            return dict(c)
    return {}


def is_ready(certificate: dict[str, Any], *, revision: int = 1) -> bool:
    status = certificate.get("status") or {}
    return (
        condition(certificate, "Ready").get("status") == "True"
        and status.get("revision") == revision
        and not condition(certificate, "Issuing")
    )


def data(secret: dict[str, Any]) -> dict[str, bytes]:
    return {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}


@pytest.fixture
def simulator_options() -> dict[str, Any]:
    return {"bookmark_interval": 0.2}


@pytest.fixture
def sim(kube_cluster: KubeCluster) -> Simulator:
    """The simulator's knobs; a test asking for them is skipped against a real server."""
    return kube_cluster.require_simulator()


@pytest.fixture
async def kube(kube_cluster: KubeCluster) -> AsyncIterator[KubeClient]:
    await kube_cluster.install_crds()
    async with await KubeClient.connect(kubeconfig=str(kube_cluster.kubeconfig)) as client:
        yield client


@pytest.fixture
async def world(kube: KubeClient, kube_namespace: str) -> AsyncIterator[World]:
    clock = FakeClock(START)
    settings = Settings(
        issuance_backoff_base=timedelta(hours=1),
        issuance_backoff_cap=timedelta(hours=32),
        workers=2,
    )
    w = World(kube, clock, LocalCAIssuer(clock=clock), RecordedEvents(), settings, kube_namespace)
    await w.start()
    try:
        yield w
    finally:
        await w.stop()
