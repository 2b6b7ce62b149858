"""The informer against the simulator: cut watches, forced 410s and injected faults never
leave the cache (or the handlers' view of it) different from a fresh list."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from certmgr.kube import errors as e
from certmgr.kube import resources as r
from certmgr.kube.client import KubeClient
from certmgr.kube.objects import resource_version
from certmgr.runtime.cache import key_of
from certmgr.runtime.informer import Informer
from certmgr.testing.apiserver import Simulator

pytestmark = pytest.mark.simulator_only("injects faults and refuses connections")

NAMES = [f"cm-{i:02d}" for i in range(12)]


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator.in_thread(bookmark_interval=0.1, history_window=20, seed=11) as simulator:
        yield simulator


class NoWait:
    async def __call__(self, seconds: float) -> None:
        await asyncio.sleep(0)


@pytest.fixture
async def kube(sim: Simulator, tmp_path: Path) -> AsyncIterator[KubeClient]:
    path = sim.kubeconfig(tmp_path / "kc")
    # Retry-After waits are skipped (Retry-After itself is covered in tests/integration/kube).
    async with await KubeClient.connect(kubeconfig=str(path), sleep=NoWait(), max_retries=10) as c:
        yield c


class Mirror:
    """What a controller would know if it only listened to the handler calls."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], str] = {}

    def __call__(self, event_type: str, old: Any, new: Any) -> None:
        if event_type == "DELETED":
            self.objects.pop(key_of(old), None)
        else:
            self.objects[key_of(new)] = resource_version(new)


def relists(name: str) -> float:
    return REGISTRY.get_sample_value("certmgr_informer_relists_total", {"resource": name}) or 0.0


async def random_write(kube: KubeClient, rng: random.Random) -> None:
    name = rng.choice(NAMES)
    body = {"metadata": {"name": name, "namespace": "default"}, "data": {"v": str(rng.random())}}
    try:
        if rng.random() < 0.25:
            await kube.delete(r.CONFIGMAPS, name, namespace="default")
        else:
            try:
                await kube.create(r.CONFIGMAPS, body)
            except e.AlreadyExists:
                await kube.patch(r.CONFIGMAPS, name, {"data": body["data"]}, namespace="default")
    except (e.NotFound, e.ServerError, e.TooManyRequests):
        pass  # a lost race or an injected fault: the next write moves on


async def assert_converged(kube: KubeClient, informer: Informer, mirror: Mirror) -> None:
    fresh = await kube.list(r.CONFIGMAPS, namespace="default")
    await informer.cache.wait_for(fresh.resource_version, timeout=15)
    expected = {key_of(o): resource_version(o) for o in fresh.items}
    assert {key_of(o): resource_version(o) for o in informer.cache.list()} == expected
    assert mirror.objects == expected


async def start(informer: Informer) -> asyncio.Task[None]:
    task = asyncio.create_task(informer.run())
    await informer.wait_synced(timeout=15)
    return task


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_cut_watches_and_gone_converge_exactly(sim: Simulator, kube: KubeClient) -> None:
    mirror = Mirror()
    name = "configmaps-convergence"
    informer = Informer(
        kube,
        r.CONFIGMAPS,
        namespace="default",
        on_event=mirror,
        name=name,
        backoff_base=0.01,
        backoff_cap=0.2,
    )
    before = relists(name)
    task = await start(informer)
    try:
        rng = random.Random(5)
        sim.faults.watch_cut_after_events = 3
        for _ in range(80):
            await random_write(kube, rng)

        # Force a 410: while the informer cannot reach the server, more changes happen
        # than the server keeps history for.
        sim.refuse_connections()
        for i in range(30):
            sim.apply(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": NAMES[i % len(NAMES)], "namespace": "default"},
                    "data": {"offline": str(i)},
                }
            )
        sim.accept_connections()
        for _ in range(40):
            await random_write(kube, rng)
        await assert_converged(kube, informer, mirror)
    finally:
        await stop(task)
    assert relists(name) - before >= 1


async def test_faults_lose_no_update(sim: Simulator, kube: KubeClient) -> None:
    mirror = Mirror()
    informer = Informer(
        kube,
        r.CONFIGMAPS,
        namespace="default",
        on_event=mirror,
        name="configmaps-faults",
        backoff_base=0.01,
        backoff_cap=0.2,
    )
    task = await start(informer)
    try:
        sim.faults.error_rate = 0.05
        sim.faults.throttle_rate = 0.05
        sim.faults.watch_cut_after_events = 5
        rng = random.Random(9)
        for _ in range(120):
            await random_write(kube, rng)
        sim.faults.reset()
        await assert_converged(kube, informer, mirror)
    finally:
        await stop(task)


async def test_read_your_writes(kube: KubeClient) -> None:
    informer = Informer(kube, r.CONFIGMAPS, namespace="default", name="configmaps-ryw")
    task = await start(informer)
    try:
        for i in range(5):
            written = await kube.create(
                r.CONFIGMAPS, {"metadata": {"name": f"ryw-{i}", "namespace": "default"}}
            )
            await informer.cache.wait_for_object(written, timeout=10)
            cached = informer.cache.get("default", f"ryw-{i}")
            assert cached is not None
            assert resource_version(cached) == resource_version(written)
    finally:
        await stop(task)
