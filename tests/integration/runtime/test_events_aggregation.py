"""EventRecorder against the API simulator: the server accepts our Events, and repeats
(also from a restarted recorder) end up as one Event with a count."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from certmgr.kube import resources as r
from certmgr.kube.client import KubeClient
from certmgr.runtime.clock import SystemClock
from certmgr.runtime.events import EventRecorder


@pytest.fixture
async def kube(kubeconfig: Path) -> AsyncIterator[KubeClient]:
    async with await KubeClient.connect(kubeconfig=str(kubeconfig)) as client:
        yield client


@pytest.fixture
async def namespace(kube: KubeClient) -> str:
    name = f"ev-{uuid.uuid4().hex[:8]}"
    await kube.create(r.NAMESPACES, {"metadata": {"name": name}})
    return name


async def test_repeats_become_one_event_with_a_count(kube: KubeClient, namespace: str) -> None:
    involved = await kube.create(
        r.CONFIGMAPS,
        {"metadata": {"name": "subject", "namespace": namespace}, "data": {}},
        namespace=namespace,
    )
    recorder = EventRecorder(kube, clock=SystemClock(), instance="test-pod")
    for _ in range(3):
        recorder.event(involved, "Warning", "Failed", "the order failed: rate limited")
    recorder.event(involved, "Normal", "Issued", "certificate issued")
    await recorder.flush()
    await recorder.close()
    # A restarted process recording the same thing counts on.
    restarted = EventRecorder(kube, clock=SystemClock())
    restarted.event(involved, "Warning", "Failed", "the order failed: rate limited")
    await restarted.flush()
    await restarted.close()

    events = (await kube.list(r.EVENTS, namespace=namespace)).items
    by_reason = {event["reason"]: event for event in events}
    assert sorted(by_reason) == ["Failed", "Issued"]
    failed = by_reason["Failed"]
    assert failed["count"] == 4
    assert failed["type"] == "Warning"
    assert failed["involvedObject"]["uid"] == involved["metadata"]["uid"]
    assert failed["involvedObject"]["kind"] == "ConfigMap"
    assert failed["source"]["component"] == "certmgr"
    assert failed["firstTimestamp"] <= failed["lastTimestamp"]
    assert by_reason["Issued"]["count"] == 1
