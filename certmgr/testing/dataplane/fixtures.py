"""pytest fixtures for the data plane (a plugin listed in ``tests/conftest.py``).

Owns ``dataplane``: a :class:`DataPlane` on free loopback ports (HTTP and HTTPS) for the
API server of the ``kubeconfig`` fixture, stopped with every process it started at the
end of the test; and ``gateway_dataplane``: the same with the Gateway API on, after
installing the Gateway API CRDs and GatewayClass ``dataplane`` (as a Gateway
implementation's install would; left in place, like our CRDs). Tests that need a fixed
port (Pebble's HTTP-01 port) build their own ``DataPlane``. Beyond those installs it
must not create any API object.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from certmgr.testing.cluster import KubeCluster
from certmgr.testing.dataplane.plane import DataPlane
from certmgr.testing.gatewayapi import manifests as gatewayapi_manifests


@pytest.fixture
async def dataplane(kubeconfig: Path) -> AsyncIterator[DataPlane]:
    async with DataPlane(kubeconfig=kubeconfig, http_port=0, https_port=0) as plane:
        yield plane


@pytest.fixture
async def gateway_dataplane(
    kube_cluster: KubeCluster, kubeconfig: Path
) -> AsyncIterator[DataPlane]:
    """Listener port 80 on ``router.http_url``, 443 on ``router.https_url``."""
    await kube_cluster.install_gateway_api_crds()
    await kube_cluster.apply([gatewayapi_manifests.gateway_class()])
    async with DataPlane(
        kubeconfig=kubeconfig, http_port=0, https_port=0, gateway_api=True
    ) as plane:
        yield plane
