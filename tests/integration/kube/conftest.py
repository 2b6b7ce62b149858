"""Fixtures for the Kubernetes door against a server: the simulator, or a real one.

``CERTMGR_TEST_KUBECONFIG`` points the tests that need no simulator knobs at a real
kube-apiserver (``kube_cluster``); tests that turn fault knobs ask for ``sim`` and are
skipped there. Each test works in a fresh namespace.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from certmgr.kube.client import KubeClient
from certmgr.testing.apiserver import Simulator
from certmgr.testing.cluster import KubeCluster, external_kubeconfig

# Kept for tests that still ask; new ones use @pytest.mark.simulator_only.
REAL_KUBECONFIG = external_kubeconfig()


@pytest.fixture
def simulator_options() -> dict[str, Any]:
    return {"bookmark_interval": 0.2, "history_window": 50}


@pytest.fixture
def sim(kube_cluster: KubeCluster) -> Simulator:
    return kube_cluster.require_simulator()


@pytest.fixture
def target_kubeconfig(kube_cluster: KubeCluster) -> Path:
    return kube_cluster.kubeconfig


@pytest.fixture
async def kube(target_kubeconfig: Path) -> AsyncIterator[KubeClient]:
    async with await KubeClient.connect(kubeconfig=str(target_kubeconfig)) as client:
        yield client


@pytest.fixture
async def namespace(kube_cluster: KubeCluster) -> str:
    return await kube_cluster.create_namespace("kube")
