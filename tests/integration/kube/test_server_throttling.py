"""Auto rate limit against the simulator, and the backstop without a client-side limit:
server-side seats (APF) answer 429 + Retry-After, and a burst still converges."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from certmgr.kube import resources as r
from certmgr.kube.client import KubeClient
from certmgr.testing.apiserver import Simulator

RBAC = "rbac.authorization.k8s.io"
USER = "burst-tester"
TOKEN = "burst-tester-token"
GRANT_ALL = [
    {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "everything"},
        "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
    },
    {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "burst-tester-everything"},
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "everything"},
        "subjects": [{"apiGroup": RBAC, "kind": "User", "name": USER}],
    },
]  # fmt: skip


@pytest.fixture
def no_apf_sim() -> Iterator[Simulator]:
    with Simulator.in_thread(priority_and_fairness=False) as simulator:
        yield simulator


@pytest.mark.simulator_only("turns API Priority and Fairness off on the server")
@pytest.mark.parametrize(
    ("server", "settings", "expected"),
    [
        ("sim", {}, (0.0, 0)),
        ("no_apf_sim", {}, (50.0, 100)),
        ("sim", {"qps": 30.0, "burst": 60}, (30.0, 60)),
        ("no_apf_sim", {"qps": -1.0}, (0.0, 0)),
    ],
    ids=["apf-auto-unlimited", "no-apf-auto-default", "apf-explicit", "no-apf-minus-one"],
)
async def test_connect_chooses_the_limit_from_the_server(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    server: str,
    settings: dict[str, float],
    expected: tuple[float, int],
) -> None:
    simulator: Simulator = request.getfixturevalue(server)
    path = simulator.kubeconfig(tmp_path / "kc")
    async with await KubeClient.connect(kubeconfig=str(path), **settings) as kube:
        assert kube.rate_limit is not None
        assert (kube.rate_limit.qps, kube.rate_limit.burst) == expected
        await kube.get(r.NAMESPACES, "default")


class CompressedSleep:
    """Records each requested wait, then waits a twentieth of it for real: the server's
    seats are held for real time, so the client's Retry-After must pass in real time too,
    only faster (1 s becomes 50 ms, ten times the simulated request latency)."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(seconds / 20)


@pytest.mark.simulator_only("caps the server's seats and injects latency")
async def test_a_burst_converges_on_server_side_seats_without_a_client_limit(
    tmp_path: Path,
) -> None:
    seats, burst = 4, 60
    with Simulator.in_thread(max_requests_in_flight=seats) as sim:
        sim.apply_manifests(GRANT_ALL)
        sim.add_token(TOKEN, USER)
        sim.faults.latency = 0.005  # each request holds its seat this long
        sim.faults.users = frozenset({USER})
        path = sim.kubeconfig(tmp_path / "kc", token=TOKEN)
        sleep = CompressedSleep()
        async with await KubeClient.connect(kubeconfig=str(path), sleep=sleep) as kube:
            assert kube.rate_limit is not None and kube.rate_limit.unlimited
            names = [f"burst-{i}" for i in range(burst)]
            await asyncio.gather(
                *(
                    kube.create(r.CONFIGMAPS, {"metadata": {"name": n, "namespace": "default"}})
                    for n in names
                )
            )
            stored = await kube.list(r.CONFIGMAPS, namespace="default")
        rejected = sim.flow_control.rejected
        peak = sim.flow_control.peak_in_flight

    assert {"burst-0", f"burst-{burst - 1}"} <= {o["metadata"]["name"] for o in stored.items}
    assert len([o for o in stored.items if o["metadata"]["name"].startswith("burst-")]) == burst
    # The server did throttle, never beyond its seats, and every retry waited at least
    # the Retry-After it was given.
    assert rejected > 0
    assert peak <= seats
    assert len(sleep.delays) == rejected
    assert min(sleep.delays) >= 1.0
