"""pytest fixtures for the data plane (a plugin listed in ``tests/conftest.py``).

Owns ``dataplane``: a :class:`DataPlane` on free loopback ports (HTTP and HTTPS) for the
API server of the ``kubeconfig`` fixture, stopped with every process it started at the
end of the test. Tests that need a fixed port (Pebble's HTTP-01 port) build their own
``DataPlane``. It must not create any API object.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from certmgr.testing.dataplane.plane import DataPlane


@pytest.fixture
async def dataplane(kubeconfig: Path) -> AsyncIterator[DataPlane]:
    async with DataPlane(kubeconfig=kubeconfig, http_port=0, https_port=0) as plane:
        yield plane
