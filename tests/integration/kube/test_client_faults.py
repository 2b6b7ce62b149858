"""The request function under the simulator's injected faults: nothing lost, waits honoured."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from certmgr.kube import errors as e
from certmgr.kube import resources as r
from certmgr.kube.client import KubeClient
from certmgr.testing.apiserver import Simulator


class RecordingSleep:
    """Records each wait and yields without waiting, so Retry-After costs no test time."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)


def responses(code: str, resource: str) -> float:
    total = 0.0
    for verb in ("get", "list", "create", "update", "patch", "delete"):
        labels = {"verb": verb, "resource": resource, "code": code}
        total += REGISTRY.get_sample_value("certmgr_kube_requests_total", labels) or 0.0
    return total


async def test_no_update_is_lost_and_retry_after_is_honoured(
    sim: Simulator, tmp_path: Path
) -> None:
    sleep = RecordingSleep()
    path = sim.kubeconfig(tmp_path / "kc")
    async with await KubeClient.connect(
        kubeconfig=str(path), sleep=sleep, draw=lambda: 0.0, max_retries=8
    ) as kube:
        await kube.create(r.CONFIGMAPS, {"metadata": {"name": "counter", "namespace": "default"}})
        throttled_before = responses("429", "configmaps")
        sim.faults.reseed(7)
        sim.faults.retry_after = 2
        sim.faults.error_rate = 0.05
        sim.faults.throttle_rate = 0.05

        # Read-modify-write with optimistic concurrency, as a controller does.
        increments = 60
        for _ in range(increments):
            while True:
                current = await kube.get(r.CONFIGMAPS, "counter", namespace="default")
                value = int((current.get("data") or {}).get("n", "0"))
                current["data"] = {"n": str(value + 1)}
                try:
                    await kube.update(r.CONFIGMAPS, current)
                    break
                except e.Conflict:
                    continue

        # Creates with deterministic names: an ambiguous 500 is left to the caller, who
        # tries again and accepts AlreadyExists as "the first attempt did it".
        for i in range(30):
            body = {"metadata": {"name": f"made-{i}", "namespace": "default"}}
            for _attempt in range(10):
                try:
                    await kube.create(r.CONFIGMAPS, body)
                    break
                except e.ServerError:
                    continue
                except e.AlreadyExists:
                    break

        throttled = responses("429", "configmaps") - throttled_before
        sim.faults.reset()
        final = await kube.get(r.CONFIGMAPS, "counter", namespace="default")
        made = await kube.list(r.CONFIGMAPS, namespace="default")

    assert final["data"] == {"n": str(increments)}
    assert sorted(
        o["metadata"]["name"] for o in made.items if "made-" in o["metadata"]["name"]
    ) == (sorted(f"made-{i}" for i in range(30)))
    # The seed makes faults happen; every 429 was followed by its Retry-After (the
    # jitter drawn is 0 here, so the wait is exactly that).
    assert throttled > 0
    assert sleep.delays.count(2.0) == throttled
    assert sim.requests.count(verb="update", resource="configmaps") >= increments


async def test_refused_connections_are_retried_then_reported(
    sim: Simulator, tmp_path: Path
) -> None:
    sleep = RecordingSleep()
    path = sim.kubeconfig(tmp_path / "kc")
    async with await KubeClient.connect(kubeconfig=str(path), sleep=sleep, max_retries=3) as kube:
        await kube.get(r.NAMESPACES, "default")
        sim.refuse_connections()
        try:
            with pytest.raises(e.Unreachable) as raised:
                await kube.get(r.NAMESPACES, "default")
        finally:
            sim.accept_connections()
        assert raised.value.__cause__ is not None
        assert len(sleep.delays) == 3
        assert (await kube.get(r.NAMESPACES, "default"))["metadata"]["name"] == "default"


@pytest.mark.parametrize(
    ("knob", "expected"),
    [("error_rate", e.ServerError), ("throttle_rate", e.TooManyRequests)],
    ids=["server-errors", "throttled"],
)
async def test_persistent_faults_surface_as_typed_errors(
    sim: Simulator, tmp_path: Path, knob: str, expected: type[e.APIError]
) -> None:
    sleep = RecordingSleep()
    path = sim.kubeconfig(tmp_path / "kc")
    async with await KubeClient.connect(kubeconfig=str(path), sleep=sleep, max_retries=2) as kube:
        setattr(sim.faults, knob, 1.0)
        with pytest.raises(expected) as raised:
            await kube.get(r.NAMESPACES, "default")
        sim.faults.reset()
    assert raised.value.status["kind"] == "Status"
    assert len(sleep.delays) == 2
