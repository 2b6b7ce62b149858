"""pytest fixtures for the API simulator (a plugin listed in ``tests/conftest.py``).

Owns ``apiserver`` (a fresh simulator per test, on its own loop in a thread so any
test, sync or async, can use it) and ``kubeconfig`` (a file for the admin token). It
must not install CRDs or RBAC: tests say what their cluster holds.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from certmgr.testing.apiserver.server import Simulator


@pytest.fixture
def apiserver() -> Iterator[Simulator]:
    with Simulator.in_thread(bookmark_interval=0.5) as sim:
        yield sim


@pytest.fixture
def kubeconfig(apiserver: Simulator, tmp_path: Path) -> Path:
    return apiserver.kubeconfig(tmp_path / "kubeconfig")
