"""Shared mode's per-namespace solver Service: created on demand, put right, and deleted
once the namespace has had no Challenge for the linger period (fake clock, no sleeps)."""

from __future__ import annotations

import asyncio
import contextlib
import copy
from typing import Any

import pytest

from certmgr.controllers.acme.solver_objects import SHARED_SERVICE
from certmgr.controllers.acme.solver_services import SWEEP, SharedSolverServices
from certmgr.kube.errors import NotFound
from certmgr.kube.objects import ObjectList
from certmgr.kube.resources import Resource
from certmgr.runtime.cache import Cache
from certmgr.runtime.controller import Controller, Result
from certmgr.runtime.workqueue import WorkQueue
from certmgr.testing.clock import FakeClock

LINGER = 600.0
HOST = "certmgr-solver.certmgr.svc"


class FakeKube:
    """Services by (namespace, name); every call recorded as (verb, namespace)."""

    def __init__(self) -> None:
        self.services: dict[tuple[str, str], dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []

    async def get(self, resource: Resource, name: str, *, namespace: str) -> dict[str, Any]:
        self.calls.append(("get", namespace))
        try:
            return copy.deepcopy(self.services[(namespace, name)])
        except KeyError:
            raise NotFound({"reason": "NotFound"}) from None

    async def create(
        self, resource: Resource, obj: dict[str, Any], *, namespace: str
    ) -> dict[str, Any]:
        self.calls.append(("create", namespace))
        self.services[(namespace, obj["metadata"]["name"])] = copy.deepcopy(obj)
        return obj

    async def update(self, resource: Resource, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj["metadata"]
        self.calls.append(("update", meta["namespace"]))
        self.services[(meta["namespace"], meta["name"])] = copy.deepcopy(obj)
        return obj

    async def delete(self, resource: Resource, name: str, *, namespace: str) -> None:
        self.calls.append(("delete", namespace))
        if self.services.pop((namespace, name), None) is None:
            raise NotFound({"reason": "NotFound"})

    async def list(self, resource: Resource, **_: Any) -> ObjectList:
        self.calls.append(("list", ""))
        return ObjectList(list(self.services.values()), "1")


def challenge(namespace: str, name: str = "c") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace, "resourceVersion": "1"}}


def make() -> tuple[SharedSolverServices, FakeKube, Cache, FakeClock]:
    kube, challenges, clock = FakeKube(), Cache(), FakeClock()
    services = SharedSolverServices(
        kube,  # type: ignore[arg-type]
        challenges=challenges,
        clock=clock,
        host=HOST,
        port=8089,
        linger=LINGER,
    )
    return services, kube, challenges, clock


async def test_ensure_creates_once_and_checks_again_only_when_told() -> None:
    services, kube, _, _ = make()
    await services.ensure("ns")
    await services.ensure("ns")
    assert kube.calls == [("get", "ns"), ("create", "ns")]
    service = kube.services[("ns", SHARED_SERVICE)]
    assert service["spec"]["externalName"] == HOST
    assert "ownerReferences" not in service["metadata"]
    services.forget("ns")  # a self-check failed: look again, a read only
    await services.ensure("ns")
    assert kube.calls[2:] == [("get", "ns")]


async def test_ensure_puts_right_a_service_pointing_elsewhere() -> None:
    services, kube, _, _ = make()
    kube.services[("ns", SHARED_SERVICE)] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": SHARED_SERVICE, "namespace": "ns", "resourceVersion": "7"},
        "spec": {"type": "ClusterIP", "clusterIP": "10.0.0.1", "selector": {"a": "b"}},
    }
    await services.ensure("ns")
    # Replaced, not edited: a selector-less Service or an ExternalName cannot take over
    # the fields the API server allocated for another type.
    assert kube.calls == [("get", "ns"), ("delete", "ns"), ("create", "ns")]
    fixed = kube.services[("ns", SHARED_SERVICE)]
    assert fixed["spec"]["type"] == "ExternalName"
    assert fixed["spec"]["externalName"] == HOST
    assert "selector" not in fixed["spec"] and "clusterIP" not in fixed["spec"]


async def test_the_service_outlives_the_last_challenge_by_the_linger_period() -> None:
    services, kube, challenges, clock = make()
    challenges.apply("ADDED", challenge("ns"))
    await services.ensure("ns")
    assert await services.reconcile("ns") is None  # a Challenge: nothing to wait for
    challenges.apply("DELETED", challenge("ns"))
    assert await services.reconcile("ns") == Result(requeue_after=LINGER)
    clock.advance(LINGER - 1)
    assert await services.reconcile("ns") == Result(requeue_after=pytest.approx(1.0))
    clock.advance(1)
    assert await services.reconcile("ns") is None
    assert ("ns", SHARED_SERVICE) not in kube.services
    assert kube.calls[-1] == ("delete", "ns")
    # Gone: nothing more to do there, and the next Challenge creates it again.
    calls = len(kube.calls)
    assert await services.reconcile("ns") is None
    assert len(kube.calls) == calls
    await services.ensure("ns")
    assert ("ns", SHARED_SERVICE) in kube.services


async def test_a_challenge_during_the_linger_period_starts_it_over() -> None:
    services, kube, challenges, clock = make()
    await services.ensure("ns")
    assert await services.reconcile("ns") == Result(requeue_after=LINGER)
    clock.advance(LINGER - 10)
    challenges.apply("ADDED", challenge("ns"))
    assert await services.reconcile("ns") is None
    challenges.apply("DELETED", challenge("ns"))
    clock.advance(20)  # past the first deadline, but only 20 s idle
    assert await services.reconcile("ns") == Result(requeue_after=LINGER)
    assert ("ns", SHARED_SERVICE) in kube.services


async def test_a_namespace_without_our_service_costs_no_write() -> None:
    # Pod mode, or a namespace never presented in: Challenges come and go, no delete.
    services, kube, _, clock = make()
    assert await services.reconcile("ns") is None
    clock.advance(LINGER * 2)
    assert await services.reconcile("ns") is None
    assert kube.calls == []


async def test_the_sweep_after_a_restart_finds_services_left_behind() -> None:
    services, kube, _, clock = make()
    kube.services[("left", SHARED_SERVICE)] = {
        "metadata": {"name": SHARED_SERVICE, "namespace": "left"}
    }
    kube.services[("other", "cm-acme-http-solver-0123456789")] = {
        "metadata": {"name": "cm-acme-http-solver-0123456789", "namespace": "other"}
    }
    queue: WorkQueue[str] = WorkQueue("test", clock=clock)
    services.bind(queue)
    assert services.sweep_once({}) == [SWEEP]
    assert await services.reconcile(SWEEP) is None
    assert services.sweep_once({}) == []  # once per process
    assert await queue.get() == "left"
    queue.done("left")
    assert len(queue) == 0
    assert await services.reconcile("left") == Result(requeue_after=LINGER)
    clock.advance(LINGER)
    assert await services.reconcile("left") is None
    assert ("left", SHARED_SERVICE) not in kube.services


async def test_a_controller_deletes_it_on_the_clock_without_polling() -> None:
    services, kube, _, clock = make()
    await services.ensure("ns")
    queue: WorkQueue[str] = WorkQueue("shared-solver-services", clock=clock)
    controller = Controller("shared-solver-services", services.reconcile, queue=queue)
    services.bind(queue)
    task = asyncio.create_task(controller.run())
    try:
        queue.add("ns")  # the last Challenge went away
        await clock.run_for(LINGER - 1)
        assert ("ns", SHARED_SERVICE) in kube.services
        reads = len(kube.calls)
        await clock.run_for(1)
        assert ("ns", SHARED_SERVICE) not in kube.services
        assert kube.calls[reads:] == [("delete", "ns")]  # one reconcile at the deadline
    finally:
        queue.shutdown()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_challenge_presented_while_the_delete_is_in_flight_gets_the_service_back() -> None:
    # The linger check found the namespace idle and sent the delete; before the server
    # answered, a new Challenge reached the cache and was presented: its ensure read the
    # Service (still there) and its Ingress now routes to it. The delete must not leave
    # that Challenge without a Service until its self-check fails twice.
    services, kube, challenges, clock = make()
    await services.ensure("ns")
    assert await services.reconcile("ns") == Result(requeue_after=LINGER)
    clock.advance(LINGER)
    deleting, release = asyncio.Event(), asyncio.Event()
    delete = kube.delete

    async def slow_delete(resource: Resource, name: str, *, namespace: str) -> None:
        deleting.set()
        await release.wait()
        await delete(resource, name, namespace=namespace)

    kube.delete = slow_delete  # type: ignore[method-assign]
    linger = asyncio.create_task(services.reconcile("ns"))
    await deleting.wait()
    challenges.apply("ADDED", challenge("ns"))
    await services.ensure("ns")  # the new Challenge is presented: the Service is there
    release.set()
    assert await linger is None
    assert ("ns", SHARED_SERVICE) in kube.services
    # And it is known to be ours again: idle later, it is deleted after the linger.
    challenges.apply("DELETED", challenge("ns"))
    assert await services.reconcile("ns") == Result(requeue_after=LINGER)
