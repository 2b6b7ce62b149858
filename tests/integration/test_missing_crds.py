"""With no CRDs installed, ``certmgr run`` says so once, by name, with the command that
installs them, then waits quietly and carries on once they appear. Asked as the
controller's service account under deploy/'s RBAC, as ``certmgr run`` asks."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from certmgr.app import INSTALL_CRDS, wait_for_crds
from certmgr.kube.client import KubeClient
from certmgr.testing.apiserver import Simulator
from certmgr.testing.clock import FakeClock
from certmgr.testing.localenv import (
    CONTROLLER_ACCOUNT,
    CONTROLLER_NAMESPACE,
    assert_no_denials,
    deploy_manifests,
)

CRDS = Path(__file__).resolve().parents[2] / "crds"
ALL_CRDS = [
    "certificates.cert-manager.io",
    "certificaterequests.cert-manager.io",
    "issuers.cert-manager.io",
    "clusterissuers.cert-manager.io",
    "orders.acme.cert-manager.io",
    "challenges.acme.cert-manager.io",
]


@pytest.fixture
def controller_kubeconfig(apiserver: Simulator, tmp_path: Path) -> Iterator[Path]:
    apiserver.apply_manifests(deploy_manifests())
    token = apiserver.service_account_token(CONTROLLER_NAMESPACE, CONTROLLER_ACCOUNT)
    yield apiserver.kubeconfig(tmp_path / "controller.kubeconfig", token=token)
    assert_no_denials(apiserver)


async def sleeping(clock: FakeClock) -> None:
    """Until the waiter sleeps on the fake clock (its API calls are real I/O in between)."""
    async with asyncio.timeout(30):
        while not clock.sleepers:  # noqa: ASYNC110 - the fake clock has no event to await
            await asyncio.sleep(0.01)


async def test_missing_crds_are_reported_once_then_waited_for(
    apiserver: Simulator, controller_kubeconfig: Path
) -> None:
    clock = FakeClock()
    async with await KubeClient.connect(kubeconfig=str(controller_kubeconfig)) as client:
        with capture_logs() as logs:
            waiting = asyncio.ensure_future(wait_for_crds(client, namespace=None, clock=clock))
            for _ in range(6):  # about a minute of waiting
                await sleeping(clock)
                clock.advance(30)
            assert not waiting.done()
            await asyncio.to_thread(apiserver.install_crds, [CRDS])
            await sleeping(clock)
            clock.advance(30)
            await asyncio.wait_for(waiting, timeout=30)
    events = [(entry["event"], entry["log_level"]) for entry in logs]
    assert events == [("crds_missing", "error"), ("crds_installed", "info")]
    assert sorted(logs[0]["crds"]) == sorted(ALL_CRDS)
    assert logs[0]["install"] == INSTALL_CRDS


async def test_nothing_is_said_when_the_crds_are_there(
    apiserver: Simulator, controller_kubeconfig: Path
) -> None:
    apiserver.install_crds([CRDS])
    async with await KubeClient.connect(kubeconfig=str(controller_kubeconfig)) as client:
        with capture_logs() as logs:
            await wait_for_crds(client, namespace=None, clock=FakeClock())
    assert [entry["event"] for entry in logs] == []
