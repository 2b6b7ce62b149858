"""A cluster for ingress-shim: the test's cluster (``kube_cluster``: the simulator, or a
real server) with our CRDs, a real client, a namespace of the test's own, a Manager
running only the ingress-shim controller on a fake clock, recorded Events, and helpers
that wait for the resulting state (never for a fixed time)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest

from certmgr.controllers import ingressshim
from certmgr.controllers.context import Context, Settings
from certmgr.kube import resources as r
from certmgr.kube.client import KubeClient
from certmgr.kube.errors import NotFound
from certmgr.runtime.manager import Manager
from certmgr.testing.apiserver import Simulator
from certmgr.testing.clock import FakeClock
from certmgr.testing.cluster import KubeCluster
from certmgr.testing.dataplane.waiting import DEADLINE_SECONDS, eventually
from certmgr.testing.idle import until_idle

T = TypeVar("T")
START = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
ISSUER = {"cert-manager.io/issuer": "letsencrypt"}


@dataclass
class RecordedEvents:
    """The Events the shim recorded: (object name, type, reason, message)."""

    items: list[tuple[str, str, str, str]] = field(default_factory=list)

    def event(self, obj: dict[str, Any], type_: str, reason: str, message: str) -> None:
        self.items.append((obj["metadata"]["name"], type_, reason, message))

    def of(self, type_: str, reason: str | None = None) -> list[str]:
        return [m for _, t, why, m in self.items if t == type_ and reason in (None, why)]


class NoAcme:
    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("ingress-shim never talks ACME")


@dataclass
class World:
    kube: KubeClient
    clock: FakeClock
    settings: Settings
    namespace: str
    events: RecordedEvents = field(default_factory=RecordedEvents)
    manager: Manager | None = None
    task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        manager = Manager(self.kube, clock=self.clock)
        ingressshim.setup(
            Context(
                client=self.kube,
                manager=manager,
                clock=self.clock,
                events=self.events,
                acme=NoAcme(),
                settings=self.settings,
            )
        )
        self.manager = manager
        self.task = asyncio.create_task(manager.run())
        await self.wait(_value(lambda: manager.has_synced), bool)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        self.task = None

    async def wait(self, probe: Callable[[], Awaitable[T]], accept: Callable[[T], bool]) -> T:
        """``eventually``, moving fake time on each poll so a retry with backoff (a
        Conflict on a stale cache) is not parked forever."""

        async def ticking() -> T:
            self.clock.advance(1.0)
            return await probe()

        return await eventually(ticking, accept)

    # -- Ingresses --------------------------------------------------------------------

    async def create_ingress(
        self,
        name: str = "web",
        *,
        annotations: dict[str, str] | None = None,
        tls: list[dict[str, Any]] | None = None,
        labels: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        metadata: dict[str, Any] = {
            "name": name,
            "namespace": self.namespace,
            "annotations": ISSUER if annotations is None else annotations,
        }
        if labels:
            metadata["labels"] = labels
        body = {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": metadata,
            "spec": {
                "rules": [{"host": f"{name}.example.com"}],
                "tls": [{"hosts": [f"{name}.example.com"], "secretName": f"{name}-tls"}]
                if tls is None
                else tls,
            },
        }
        created = await self.kube.create(r.INGRESSES, body)
        await self.settled(r.INGRESSES, created)
        return created

    async def edit_ingress(
        self, name: str, edit: Callable[[dict[str, Any]], None]
    ) -> dict[str, Any]:
        ingress = await self.kube.get(r.INGRESSES, name, namespace=self.namespace)
        edit(ingress)
        updated = await self.kube.update(r.INGRESSES, ingress)
        await self.settled(r.INGRESSES, updated)
        return updated

    async def settled(self, resource: r.Resource, written: dict[str, Any]) -> None:
        """Wait until the shim's cache shows ``written`` (so its event is queued), then
        until the controller is idle: the shim has acted on it."""
        assert self.manager is not None
        cache = self.manager.informer(resource).cache
        # A deadline in real time; the cache's own timeout runs on the (still) fake clock.
        async with asyncio.timeout(DEADLINE_SECONDS):
            await cache.wait_for_object(written, timeout=float("inf"))
        await self.quiesce()

    async def quiesce(self) -> None:
        """Until the queue is empty and no reconcile runs, 5 polls in a row."""
        assert self.manager is not None
        await until_idle(self.manager, wait=self.wait)

    # -- Certificates -----------------------------------------------------------------

    async def certificate(self, name: str) -> dict[str, Any] | None:
        try:
            return await self.kube.get(r.CERTIFICATES, name, namespace=self.namespace)
        except NotFound:
            return None

    async def certificate_names(self) -> list[str]:
        listed = await self.kube.list(r.CERTIFICATES, namespace=self.namespace)
        return sorted(c["metadata"]["name"] for c in listed.items)

    async def wait_certificate(
        self, name: str, accept: Callable[[dict[str, Any]], bool] = lambda _: True
    ) -> dict[str, Any]:
        found = await self.wait(
            lambda: self.certificate(name), lambda c: c is not None and accept(c)
        )
        assert found is not None
        return found

    async def wait_names(self, names: list[str]) -> None:
        await self.wait(self.certificate_names, lambda got: got == sorted(names))

    async def wait_event(self, type_: str, reason: str) -> list[str]:
        return await self.wait(_value(lambda: self.events.of(type_, reason)), bool)


def _value(fn: Callable[[], T]) -> Callable[[], Awaitable[T]]:
    async def probe() -> T:
        return fn()

    return probe


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
def settings() -> Settings:
    return Settings(workers=2)


@pytest.fixture
async def world(kube: KubeClient, kube_namespace: str, settings: Settings) -> AsyncIterator[World]:
    w = World(kube, FakeClock(START), settings, kube_namespace)
    await w.start()
    try:
        yield w
    finally:
        await w.stop()
