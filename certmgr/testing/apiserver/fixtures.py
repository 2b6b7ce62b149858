"""pytest fixtures for the API simulator (a plugin listed in ``tests/conftest.py``).

Owns ``apiserver`` (the test's fresh simulator, on its own loop in a thread so any
test, sync or async, can use it; the simulator of ``kube_cluster``) and ``kubeconfig``
(the admin kubeconfig of ``kube_cluster``: a test that asks only for it runs against a
real server too). It must not install CRDs or RBAC: tests say what their cluster holds.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from certmgr.testing.apiserver.server import Simulator
from certmgr.testing.cluster import KubeCluster


@pytest.fixture
def apiserver(kube_cluster: KubeCluster) -> Simulator:
    if kube_cluster.simulator is None:
        pytest.skip("simulator only: uses the in-process simulator (fixture 'apiserver')")
    return kube_cluster.simulator


@pytest.fixture
def kubeconfig(kube_cluster: KubeCluster) -> Path:
    return kube_cluster.kubeconfig
