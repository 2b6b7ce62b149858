"""Simulator knobs: injected faults (seeded, deterministic) and request accounting."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest

from certmgr.testing.apiserver import Simulator
from certmgr.testing.apiserver.wire import Cluster, eventually

MERGE = {"Content-Type": "application/merge-patch+json"}


async def _statuses(sim: Simulator, tmp_path: Path, count: int) -> list[int]:
    async with Cluster.from_kubeconfig(sim.kubeconfig(tmp_path / "kc")) as admin:
        return [
            (await admin.request("GET", "/api/v1/namespaces/default")).status for _ in range(count)
        ]


async def test_same_seed_gives_the_same_failures(tmp_path: Path) -> None:
    runs = []
    for _ in range(2):
        with Simulator.in_thread(seed=42) as sim:
            sim.faults.error_rate = 0.5
            runs.append(await _statuses(sim, tmp_path, 30))
    assert runs[0] == runs[1]
    assert set(runs[0]) >= {200} and set(runs[0]) - {200} <= {500, 503}
    assert any(status != 200 for status in runs[0])


@pytest.mark.parametrize(
    ("knob", "method", "status"),
    [
        pytest.param("error_rate", "GET", {500, 503}, id="server-errors"),
        pytest.param("throttle_rate", "GET", {429}, id="throttle"),
        pytest.param("conflict_rate", "PATCH", {409}, id="conflict-on-update"),
        pytest.param("conflict_rate", "GET", {200}, id="conflict-spares-reads"),
    ],
)
async def test_fault_knobs(
    sim: Simulator, cluster: Cluster, knob: str, method: str, status: set[int]
) -> None:
    setattr(sim.faults, knob, 1.0)
    path = "/api/v1/namespaces/default"
    body = {"metadata": {"labels": {"x": "y"}}} if method == "PATCH" else None
    reply = await cluster.request(method, path, body=body, headers=MERGE if body else None)
    assert reply.status in status
    if reply.status == 429:
        assert reply.headers["Retry-After"] == str(sim.faults.retry_after)
    if reply.status != 200:
        assert reply.body["kind"] == "Status"


async def test_faults_can_target_one_user(sim: Simulator, cluster: Cluster, tmp_path: Path) -> None:
    sim.faults.error_rate = 1.0
    sim.faults.users = frozenset({"victim"})
    sim.add_token("victim-token", "victim", ["system:masters"])
    assert (await cluster.request("GET", "/api/v1/namespaces")).status == 200
    async with Cluster.from_kubeconfig(
        sim.kubeconfig(tmp_path / "kc", token="victim-token")
    ) as victim:
        assert (await victim.request("GET", "/api/v1/namespaces")).status in (500, 503)


@pytest.mark.parametrize(
    ("filters", "path", "hit"),
    [
        pytest.param({"verbs": frozenset({"list"})}, "/api/v1/namespaces", True, id="verb-hit"),
        pytest.param({"verbs": frozenset({"get"})}, "/api/v1/namespaces", False, id="verb-miss"),
        pytest.param(
            {"resources": frozenset({"namespaces/status"})},
            "/api/v1/namespaces/default/status",
            True,
            id="subresource-hit",
        ),
        pytest.param(
            {"resources": frozenset({"namespaces/status"})},
            "/api/v1/namespaces/default",
            False,
            id="subresource-miss",
        ),
    ],
)
async def test_faults_can_target_verbs_and_resources(
    sim: Simulator, cluster: Cluster, filters: dict[str, frozenset[str]], path: str, hit: bool
) -> None:
    sim.faults.error_rate = 1.0
    for name, value in filters.items():
        setattr(sim.faults, name, value)
    reply = await cluster.request("GET", path)
    assert (reply.status in (500, 503)) is hit


async def test_latency_delays_answers(sim: Simulator, cluster: Cluster) -> None:
    sim.faults.latency = 0.3
    started = time.monotonic()
    assert (await cluster.request("GET", "/api/v1/namespaces")).status == 200
    assert time.monotonic() - started >= 0.3


async def test_watch_is_cut_after_n_events(sim: Simulator, cluster: Cluster) -> None:
    base = "/api/v1/namespaces/default/configmaps"
    for i in range(5):
        await cluster.request("POST", base, body={"metadata": {"name": f"c{i}"}})
    sim.faults.watch_cut_after_events = 2
    async with cluster.watch(base) as events, asyncio.timeout(10):
        seen = [event async for event in events]
    assert len(seen) == 2


async def test_refused_connections_then_accepted_again(sim: Simulator, tmp_path: Path) -> None:
    sim.refuse_connections()
    assert sim.refusing
    with pytest.raises(aiohttp.ClientConnectionError):
        await _statuses(sim, tmp_path, 1)
    sim.accept_connections()
    assert await _statuses(sim, tmp_path, 1) == [200]


async def test_requests_are_counted_per_verb_resource_and_user(
    sim: Simulator, cluster: Cluster, namespace: str
) -> None:
    sim.requests.reset()
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    await cluster.request("POST", base, body={"metadata": {"name": "a"}})
    for _ in range(3):
        await cluster.request("GET", f"{base}/a")
    await cluster.request("GET", base)
    await cluster.request("PATCH", f"/api/v1/namespaces/{namespace}/status", body={}, headers=MERGE)
    assert sim.requests.count(verb="get", resource="configmaps", user="admin") == 3
    assert sim.requests.count(verb="create", resource="configmaps") == 1
    assert sim.requests.count(verb="list") == 1
    assert sim.requests.count(resource="namespaces/status") == 1
    assert sim.requests.snapshot()[("get", "configmaps", "admin")] == 3
    assert sim.requests.writes() == 2
    assert sim.requests.writes(resource="configmaps", user="admin") == 1
    sim.requests.reset()
    assert sim.requests.total == 0


async def test_refusal_for_a_period_ends_by_itself(sim: Simulator, tmp_path: Path) -> None:
    sim.refuse_connections(seconds=0.3)
    # No request here: on a loaded machine the period could end before it is sent.
    assert sim.refusing

    async def served() -> bool:
        try:
            return await _statuses(sim, tmp_path, 1) == [200]
        except aiohttp.ClientConnectionError:
            return False

    await eventually(served, within=10)
    assert not sim.refusing


async def test_refusal_on_the_callers_loop(tmp_path: Path) -> None:
    async with Simulator() as sim:
        sim.refuse_connections()
        with pytest.raises(aiohttp.ClientConnectionError):
            await _statuses(sim, tmp_path, 1)
        await sim.accept_connections_async()
        assert await _statuses(sim, tmp_path, 1) == [200]
