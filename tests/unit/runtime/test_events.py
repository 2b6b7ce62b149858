"""EventRecorder: Event contents, aggregation of repeats (also across restarts), and that
recording never raises or blocks whatever the API does.
"""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass, field
from typing import Any

import pytest
from prometheus_client import REGISTRY

from certmgr.kube.errors import AlreadyExists, NotFound, ServerError
from certmgr.kube.resources import EVENTS, Resource
from certmgr.runtime.events import EventRecorder
from certmgr.testing.clock import FakeClock, settle

CERT: dict[str, Any] = {
    "apiVersion": "cert-manager.io/v1",
    "kind": "Certificate",
    "metadata": {"name": "web", "namespace": "shop", "uid": "u-1", "resourceVersion": "42"},
}
CLUSTER_ISSUER: dict[str, Any] = {
    "apiVersion": "cert-manager.io/v1",
    "kind": "ClusterIssuer",
    "metadata": {"name": "letsencrypt", "uid": "u-2"},
}


def status(reason: str, code: int) -> dict[str, Any]:
    return {"kind": "Status", "reason": reason, "code": code}


@dataclass
class FakeEvents:
    objects: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    fail: bool = False
    hang: bool = False
    calls: int = 0
    gets: int = 0

    async def _check(self) -> None:
        self.calls += 1
        if self.hang:
            await asyncio.Event().wait()
        if self.fail:
            raise ServerError(status("InternalError", 500))

    async def get(
        self, resource: Resource, name: str, *, namespace: str | None = None
    ) -> dict[str, Any]:
        self.gets += 1
        await self._check()
        if (namespace or "", name) not in self.objects:
            raise NotFound(status("NotFound", 404))
        return copy.deepcopy(self.objects[(namespace or "", name)])

    async def create(
        self, resource: Resource, obj: dict[str, Any], *, namespace: str | None = None
    ) -> dict[str, Any]:
        assert resource == EVENTS and obj["metadata"]["namespace"] == namespace
        await self._check()
        key = (namespace or "", obj["metadata"]["name"])
        if key in self.objects:
            raise AlreadyExists(status("AlreadyExists", 409))
        self.objects[key] = copy.deepcopy(obj)
        return obj

    async def patch(
        self,
        resource: Resource,
        name: str,
        patch: dict[str, Any],
        *,
        namespace: str | None = None,
    ) -> dict[str, Any]:
        await self._check()
        if (namespace or "", name) not in self.objects:
            raise NotFound(status("NotFound", 404))
        self.objects[(namespace or "", name)].update(patch)
        return self.objects[(namespace or "", name)]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def record(recorder: EventRecorder, *events: tuple[dict[str, Any], str, str, str]) -> None:
    for obj, type_, reason, message in events:
        recorder.event(obj, type_, reason, message)  # type: ignore[arg-type]
    await recorder.flush()


async def test_first_event_describes_the_object(clock: FakeClock) -> None:
    api = FakeEvents()
    recorder = EventRecorder(api, clock=clock, component="certmgr", instance="pod-1")
    await record(
        recorder, (CERT, "Normal", "Issuing", "Issuing certificate as Secret does not exist")
    )
    ((key, event),) = api.objects.items()
    assert key[0] == "shop" and key[1].startswith("web.")
    assert event["involvedObject"] == {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "namespace": "shop",
        "name": "web",
        "uid": "u-1",
        "resourceVersion": "42",
    }
    assert (event["type"], event["reason"], event["count"]) == ("Normal", "Issuing", 1)
    assert event["source"]["component"] == "certmgr"
    assert event["reportingComponent"] == "certmgr" and event["reportingInstance"] == "pod-1"
    assert event["firstTimestamp"] == event["lastTimestamp"] == "2026-01-01T00:00:00Z"
    await recorder.close()


async def test_repeats_are_aggregated_into_one_event(clock: FakeClock) -> None:
    api = FakeEvents()
    recorder = EventRecorder(api, clock=clock)
    await record(recorder, (CERT, "Warning", "Failed", "order failed"))
    clock.advance(60)
    await record(recorder, (CERT, "Warning", "Failed", "order failed"))
    clock.advance(60)
    await record(recorder, (CERT, "Warning", "Failed", "order failed"))
    ((_, event),) = api.objects.items()
    assert event["count"] == 3
    assert event["firstTimestamp"] == "2026-01-01T00:00:00Z"
    assert event["lastTimestamp"] == "2026-01-01T00:02:00Z"
    await recorder.close()


@pytest.mark.parametrize(
    ("second", "expected_events"),
    [
        pytest.param((CERT, "Warning", "Failed", "other message"), 2, id="other-message"),
        pytest.param((CERT, "Warning", "OtherReason", "order failed"), 2, id="other-reason"),
        pytest.param((CERT, "Normal", "Failed", "order failed"), 2, id="other-type"),
        pytest.param(
            (
                {**CERT, "metadata": {**CERT["metadata"], "resourceVersion": "43"}},
                "Warning",
                "Failed",
                "order failed",
            ),
            1,
            id="same-object-newer-version",
        ),
    ],
)
async def test_what_counts_as_the_same_event(
    clock: FakeClock, second: tuple[dict[str, Any], str, str, str], expected_events: int
) -> None:
    api = FakeEvents()
    recorder = EventRecorder(api, clock=clock)
    await record(recorder, (CERT, "Warning", "Failed", "order failed"), second)
    assert len(api.objects) == expected_events
    await recorder.close()


async def test_a_restarted_recorder_writes_a_new_event_and_never_reads(clock: FakeClock) -> None:
    # As client-go: a new process does not know the Events of the last one, so it creates
    # a new one (deploy/'s RBAC grants create and patch on events, not get).
    api = FakeEvents()
    await record(EventRecorder(api, clock=clock), (CERT, "Warning", "Failed", "x"))
    await record(EventRecorder(api, clock=clock), (CERT, "Warning", "Failed", "x"))
    assert api.gets == 0
    assert sorted(event["count"] for event in api.objects.values()) == [1, 1]


async def test_event_names_are_the_object_name_and_the_time_in_hex_nanoseconds(
    clock: FakeClock,
) -> None:
    api = FakeEvents()
    recorder = EventRecorder(api, clock=clock)
    await record(recorder, (CERT, "Normal", "Issuing", "a"), (CERT, "Normal", "Issued", "b"))
    names = sorted(name for _, name in api.objects)
    nanoseconds = int(clock.now().timestamp()) * 10**9
    # Two Events in the same instant still get two names.
    assert names == [f"web.{nanoseconds:x}", f"web.{nanoseconds + 1:x}"]
    await recorder.close()


async def test_a_name_taken_by_another_process_is_not_a_lost_event(clock: FakeClock) -> None:
    api = FakeEvents()
    await record(EventRecorder(api, clock=clock), (CERT, "Warning", "Failed", "x"))
    # Another replica at the very same instant (a fake clock makes that likely).
    await record(EventRecorder(api, clock=clock), (CERT, "Warning", "Other", "y"))
    assert sorted(event["reason"] for event in api.objects.values()) == ["Failed", "Other"]
    assert api.gets == 0


async def test_an_expired_event_is_created_again(clock: FakeClock) -> None:
    api = FakeEvents()
    recorder = EventRecorder(api, clock=clock)
    await record(recorder, (CERT, "Normal", "Issued", "ok"))
    api.objects.clear()  # the API server's one-hour TTL
    clock.advance(7200)
    await record(recorder, (CERT, "Normal", "Issued", "ok"))
    ((_, event),) = api.objects.items()
    assert event["count"] == 1 and event["firstTimestamp"] == "2026-01-01T02:00:00Z"
    await recorder.close()


async def test_cluster_scoped_objects_get_events_in_default(clock: FakeClock) -> None:
    api = FakeEvents()
    recorder = EventRecorder(api, clock=clock)
    await record(recorder, (CLUSTER_ISSUER, "Warning", "ErrRegisterACMEAccount", "no"))
    ((key, event),) = api.objects.items()
    assert key[0] == "default" and "namespace" not in event["involvedObject"]
    await recorder.close()


async def test_long_messages_are_truncated(clock: FakeClock) -> None:
    api = FakeEvents()
    recorder = EventRecorder(api, clock=clock)
    await record(recorder, (CERT, "Warning", "Failed", "x" * 5000))
    ((_, event),) = api.objects.items()
    assert len(event["message"]) == 1024
    await recorder.close()


def dropped(why: str) -> float:
    return REGISTRY.get_sample_value("certmgr_events_dropped_total", {"why": why}) or 0.0


async def test_api_errors_never_reach_the_caller(clock: FakeClock) -> None:
    api = FakeEvents(fail=True)
    recorder = EventRecorder(api, clock=clock)
    before = dropped("api_error")
    recorder.event(CERT, "Warning", "Failed", "x")  # does not raise
    recorder.event({"garbage": True}, "Normal", "R", "m")
    recorder.event("not even a dict", "Normal", "R", "m")  # type: ignore[arg-type]
    await recorder.flush()
    assert dropped("api_error") - before == 2
    api.fail = False
    await record(recorder, (CERT, "Warning", "Failed", "x"))
    assert len(api.objects) == 1, "the writer survives errors"
    await recorder.close()


async def test_a_hung_api_times_out_on_the_clock(clock: FakeClock) -> None:
    api = FakeEvents(hang=True)
    recorder = EventRecorder(api, clock=clock, timeout=10)
    before = dropped("timeout")
    recorder.event(CERT, "Warning", "Failed", "x")
    await clock.run_for(10)
    await asyncio.wait_for(recorder.flush(), 5)
    assert dropped("timeout") - before == 1
    await recorder.close(grace=0)


async def test_event_never_waits_and_drops_when_the_queue_is_full(clock: FakeClock) -> None:
    api = FakeEvents(hang=True)
    recorder = EventRecorder(api, clock=clock, max_pending=3, timeout=10)
    before = dropped("queue_full")
    for i in range(10):
        recorder.event(CERT, "Normal", "R", f"m{i}")
    await settle()
    assert dropped("queue_full") - before >= 6
    api.hang = False
    await clock.run_for(10)
    await asyncio.wait_for(recorder.flush(), 5)
    await recorder.close()


async def test_close_gives_up_after_grace(clock: FakeClock) -> None:
    recorder = EventRecorder(FakeEvents(hang=True), clock=clock, timeout=100)
    recorder.event(CERT, "Normal", "R", "m")
    closing = asyncio.create_task(recorder.close(grace=5))
    await clock.run_for(5)
    await asyncio.wait_for(closing, 5)
