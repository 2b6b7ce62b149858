"""The contract suite's view of "a cluster": the simulator, or a real server by kubeconfig.

``CERTMGR_TEST_KUBECONFIG`` points the same tests at a real kube-apiserver
(``kube_cluster``); tests that need simulator-only knobs (faults, accounting, tokens)
ask for ``sim`` and are skipped there. Every test works in its own fresh namespace so
runs never collide.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from certmgr.testing.apiserver import Simulator
from certmgr.testing.apiserver.wire import Cluster
from certmgr.testing.cluster import KubeCluster, external_kubeconfig

# Kept for tests that still ask; new ones use @pytest.mark.simulator_only.
REAL_KUBECONFIG = external_kubeconfig()


@pytest.fixture
def simulator_options() -> dict[str, Any]:
    return {"bookmark_interval": 0.2, "history_window": 50}


@pytest.fixture
def sim(kube_cluster: KubeCluster) -> Simulator:
    """A simulator for tests that need its knobs; skipped against a real server."""
    return kube_cluster.require_simulator()


@pytest.fixture
def cluster_kubeconfig(kube_cluster: KubeCluster) -> Path:
    return kube_cluster.kubeconfig


@pytest.fixture
async def cluster(cluster_kubeconfig: Path) -> AsyncIterator[Cluster]:
    async with Cluster.from_kubeconfig(cluster_kubeconfig) as admin:
        yield admin


@pytest.fixture
async def namespace(kube_cluster: KubeCluster) -> str:
    return await kube_cluster.create_namespace("contract")
