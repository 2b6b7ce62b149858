"""The contract suite's view of "a cluster": the simulator, or a real server by kubeconfig.

``CERTMGR_TEST_KUBECONFIG`` points the same tests at a real kube-apiserver; tests that
need simulator-only knobs (faults, accounting, tokens) ask for ``sim`` and are skipped
there. Every test works in its own fresh namespace so runs never collide.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from certmgr.testing.apiserver import Simulator
from certmgr.testing.apiserver.wire import Cluster

REAL_KUBECONFIG = os.environ.get("CERTMGR_TEST_KUBECONFIG")


@pytest.fixture
def sim() -> Iterator[Simulator]:
    """A simulator for tests that need its knobs; skipped against a real server."""
    if REAL_KUBECONFIG:
        pytest.skip("needs the simulator's test knobs")
    with Simulator.in_thread(bookmark_interval=0.2, history_window=50) as simulator:
        yield simulator


@pytest.fixture
def cluster_kubeconfig(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    if REAL_KUBECONFIG:
        return Path(REAL_KUBECONFIG)
    simulator: Simulator = request.getfixturevalue("sim")
    return simulator.kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
async def cluster(cluster_kubeconfig: Path) -> AsyncIterator[Cluster]:
    async with Cluster.from_kubeconfig(cluster_kubeconfig) as admin:
        yield admin


@pytest.fixture
async def namespace(cluster: Cluster) -> AsyncIterator[str]:
    name = f"contract-{uuid.uuid4().hex[:8]}"
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    created = await cluster.request("POST", "/api/v1/namespaces", body=body)
    assert created.status == 201, created.body
    yield name
    await cluster.request("DELETE", f"/api/v1/namespaces/{name}")
