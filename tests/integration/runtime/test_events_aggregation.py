"""EventRecorder against the API simulator, as the controller's service account under
deploy/'s RBAC: the server accepts our Events, repeats end up as one Event with a count,
and a restarted recorder (a restart, a failover) records a new Event without a 403."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from certmgr.kube import resources as r
from certmgr.kube.client import KubeClient
from certmgr.kube.errors import Forbidden
from certmgr.runtime.clock import SystemClock
from certmgr.runtime.events import EventRecorder
from certmgr.testing.apiserver import Simulator
from certmgr.testing.localenv import (
    CONTROLLER_ACCOUNT,
    CONTROLLER_NAMESPACE,
    CONTROLLER_USER,
    RBACDenied,
    assert_no_denials,
    deploy_manifests,
)


@pytest.fixture
async def admin(kubeconfig: Path) -> AsyncIterator[KubeClient]:
    async with await KubeClient.connect(kubeconfig=str(kubeconfig)) as client:
        yield client


@pytest.fixture
async def controller(apiserver: Simulator, tmp_path: Path) -> AsyncIterator[KubeClient]:
    apiserver.apply_manifests(deploy_manifests())
    token = apiserver.service_account_token(CONTROLLER_NAMESPACE, CONTROLLER_ACCOUNT)
    path = apiserver.kubeconfig(tmp_path / "controller.kubeconfig", token=token)
    async with await KubeClient.connect(kubeconfig=str(path)) as client:
        yield client
    assert_no_denials(apiserver)


@pytest.fixture
async def namespace(admin: KubeClient) -> str:
    name = f"ev-{uuid.uuid4().hex[:8]}"
    await admin.create(r.NAMESPACES, {"metadata": {"name": name}})
    return name


async def test_repeats_become_one_event_and_a_restart_starts_another(
    apiserver: Simulator, admin: KubeClient, controller: KubeClient, namespace: str
) -> None:
    involved = await admin.create(
        r.CONFIGMAPS,
        {"metadata": {"name": "subject", "namespace": namespace}, "data": {}},
        namespace=namespace,
    )
    recorder = EventRecorder(controller, clock=SystemClock(), instance="test-pod")
    for _ in range(3):
        recorder.event(involved, "Warning", "Failed", "the order failed: rate limited")
    recorder.event(involved, "Normal", "Issued", "certificate issued")
    await recorder.flush()
    await recorder.close()
    # A restarted process (or the new leader) recording the same thing.
    restarted = EventRecorder(controller, clock=SystemClock(), instance="test-pod-2")
    restarted.event(involved, "Warning", "Failed", "the order failed: rate limited")
    restarted.event(involved, "Warning", "Failed", "the order failed: rate limited")
    await restarted.flush()
    await restarted.close()

    assert apiserver.requests.denials(user=CONTROLLER_USER) == []
    assert apiserver.requests.count(verb="get", resource="events") == 0
    events = (await admin.list(r.EVENTS, namespace=namespace)).items
    counts = sorted((event["reason"], event["count"]) for event in events)
    assert counts == [("Failed", 2), ("Failed", 3), ("Issued", 1)]
    failed = next(event for event in events if event["count"] == 3)
    assert failed["metadata"]["name"].startswith("subject.")
    assert failed["type"] == "Warning"
    assert failed["involvedObject"]["uid"] == involved["metadata"]["uid"]
    assert failed["involvedObject"]["kind"] == "ConfigMap"
    assert failed["source"]["component"] == "certmgr"
    assert failed["firstTimestamp"] <= failed["lastTimestamp"]


async def test_a_read_back_as_the_old_recorder_did_is_refused_and_fails_the_run(
    apiserver: Simulator, controller: KubeClient, namespace: str
) -> None:
    with pytest.raises(Forbidden):
        await controller.get(r.EVENTS, "subject.0", namespace=namespace)
    with pytest.raises(RBACDenied, match='cannot get resource "events"'):
        assert_no_denials(apiserver)
    apiserver.requests.reset()  # the fixture's own check at teardown
