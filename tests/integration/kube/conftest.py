"""Fixtures for the Kubernetes door against a server: the simulator, or a real one.

``CERTMGR_TEST_KUBECONFIG`` points the tests that need no simulator knobs at a real
kube-apiserver; tests that turn fault knobs ask for ``sim`` and are skipped there. Each
test works in a fresh namespace.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from certmgr.kube import resources as r
from certmgr.kube.client import KubeClient
from certmgr.testing.apiserver import Simulator

REAL_KUBECONFIG = os.environ.get("CERTMGR_TEST_KUBECONFIG")


@pytest.fixture
def sim() -> Iterator[Simulator]:
    if REAL_KUBECONFIG:
        pytest.skip("needs the simulator's fault knobs")
    with Simulator.in_thread(bookmark_interval=0.2, history_window=50) as simulator:
        yield simulator


@pytest.fixture
def target_kubeconfig(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    if REAL_KUBECONFIG:
        return Path(REAL_KUBECONFIG)
    simulator: Simulator = request.getfixturevalue("sim")
    return simulator.kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
async def kube(target_kubeconfig: Path) -> AsyncIterator[KubeClient]:
    async with await KubeClient.connect(kubeconfig=str(target_kubeconfig)) as client:
        yield client


@pytest.fixture
async def namespace(kube: KubeClient) -> AsyncIterator[str]:
    name = f"kube-{uuid.uuid4().hex[:8]}"
    await kube.create(r.NAMESPACES, {"metadata": {"name": name}})
    yield name
    await kube.delete(r.NAMESPACES, name)
