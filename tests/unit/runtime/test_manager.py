"""Manager.watch: informer events become keys of a controller's queue."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import REGISTRY

from certmgr.kube.resources import CERTIFICATES
from certmgr.runtime.cache import Obj
from certmgr.runtime.controller import Controller
from certmgr.runtime.informer import Informer
from certmgr.runtime.manager import FAN_OUT_BATCH, Manager, owner_keys
from certmgr.testing.clock import FakeClock, settle


def cert(name: str, *, owner: str | None = None) -> Obj:
    metadata: dict[str, Any] = {"name": name, "namespace": "ns", "resourceVersion": "1"}
    if owner is not None:
        metadata["ownerReferences"] = [{"kind": "Ingress", "name": owner}]
    return {"metadata": metadata}


def watching(name: str) -> tuple[Manager, Controller[str], Informer, list[Any]]:
    """A manager with a controller ``name`` and a Certificates informer (never run) whose
    handlers are collected in the list returned, to be called by hand."""
    clock = FakeClock()
    manager = Manager(client=None, clock=clock)  # type: ignore[arg-type]  # never called
    controller = manager.controller(name, lambda key: None)  # type: ignore[arg-type,return-value]
    informer = Informer(None, CERTIFICATES, clock=clock)  # type: ignore[arg-type]
    handlers: list[Any] = []
    informer.add_handler = handlers.append  # type: ignore[method-assign,assignment]
    return manager, controller, informer, handlers


def adds(queue_name: str) -> float:
    return REGISTRY.get_sample_value("certmgr_workqueue_adds_total", {"name": queue_name}) or 0.0


@pytest.mark.parametrize(
    ("event", "old", "new", "expected"),
    [
        ("ADDED", None, cert("a", owner="i"), ["ns/i"]),
        ("MODIFIED", cert("a", owner="i"), cert("a", owner="i"), ["ns/i"]),
        ("MODIFIED", cert("a", owner="i"), cert("a", owner="j"), ["ns/i", "ns/j"]),
        ("DELETED", cert("a", owner="i"), None, ["ns/i"]),
        ("MODIFIED", cert("a"), cert("a"), []),
    ],
    ids=["added", "same-keys-once", "moved-both", "deleted", "no-keys"],
)
async def test_watch_adds_each_mapped_key_once(
    event: str, old: Obj | None, new: Obj | None, expected: list[str]
) -> None:
    name = f"watch-{event}-{len(expected)}-{id(old)}"
    manager, controller, informer, handlers = watching(name)
    manager.watch(informer, controller, owner_keys("Ingress"))
    before = adds(name)
    handlers[0](event, old, new)
    assert adds(name) - before == len(expected)
    queued = [await controller.queue.get() for _ in range(len(controller.queue))]
    assert queued == expected


def annotated(name: str, *, flag: bool) -> Obj:
    obj = cert(name, owner="i")
    if flag:
        obj["metadata"]["annotations"] = {"interesting": "yes"}
    return obj


def interesting(old: Obj | None, new: Obj | None) -> bool:
    return any(o is not None and "annotations" in o["metadata"] for o in (old, new))


@pytest.mark.parametrize(
    ("event", "old", "new", "expected"),
    [
        ("ADDED", None, annotated("a", flag=True), ["ns/i"]),
        ("ADDED", None, annotated("a", flag=False), []),
        ("MODIFIED", annotated("a", flag=False), annotated("a", flag=False), []),
        ("MODIFIED", annotated("a", flag=True), annotated("a", flag=False), ["ns/i"]),
        ("MODIFIED", annotated("a", flag=False), annotated("a", flag=True), ["ns/i"]),
        ("DELETED", annotated("a", flag=False), None, []),
        ("DELETED", annotated("a", flag=True), None, ["ns/i"]),
    ],
    ids=[
        "added-kept",
        "added-filtered",
        "modified-filtered",
        "interest-removed-still-seen",
        "interest-added",
        "deleted-filtered",
        "deleted-kept",
    ],
)
async def test_watch_predicate_sees_old_and_new(
    event: str, old: Obj | None, new: Obj | None, expected: list[str]
) -> None:
    name = f"watch-predicate-{event}-{id(old)}-{id(new)}"
    manager, controller, informer, handlers = watching(name)
    seen: list[tuple[Obj | None, Obj | None]] = []

    def predicate(old: Obj | None, new: Obj | None) -> bool:
        seen.append((old, new))
        return interesting(old, new)

    manager.watch(informer, controller, owner_keys("Ingress"), predicate=predicate)
    handlers[0](event, old, new)
    assert seen == [(old, new)]
    queued = [await controller.queue.get() for _ in range(len(controller.queue))]
    assert queued == expected


async def test_a_large_fan_out_is_added_in_batches_with_the_loop_free_between() -> None:
    manager, controller, informer, handlers = watching("watch-fan-out")
    many = [f"ns/c{i:05d}" for i in range(FAN_OUT_BATCH * 2 + 10)]
    manager.watch(informer, controller, lambda _: many)
    handlers[0]("MODIFIED", cert("issuer"), cert("issuer"))
    assert len(controller.queue) == FAN_OUT_BATCH  # the first batch at once
    await settle()
    queued = [await controller.queue.get() for _ in range(len(controller.queue))]
    assert sorted(queued) == many


async def test_a_large_fan_outs_keys_are_frozen_not_left_to_a_young_collection() -> None:
    # A young collection scans every key of the young objects it finds: an issuer's
    # 100,000 Certificates made one of them hold the loop 87 ms.
    manager, controller, informer, handlers = watching("watch-frozen-fan-out")
    snapshots: list[list[str]] = []

    def snapshot(_: Obj) -> list[str]:
        snapshots.append([f"ns/c{i:05d}" for i in range(FAN_OUT_BATCH * 2)])
        return snapshots[-1]

    manager.watch(informer, controller, snapshot)
    try:
        handlers[0]("ADDED", None, cert("issuer"))
        young = gc.get_objects(generation=0)
        assert not any(obj is snapshots[0] for obj in young)
        await settle()
        assert len(controller.queue) == FAN_OUT_BATCH * 2
    finally:
        gc.unfreeze()


async def test_a_snapshot_a_fan_out_takes_as_it_goes_is_frozen_too() -> None:
    # An update maps its old side, then its new one: the new side's snapshot is taken by
    # the batches that follow, after the first freeze.
    manager, controller, informer, handlers = watching("watch-frozen-update")
    snapshots: list[list[str]] = []

    def snapshot(obj: Obj) -> Iterator[str]:
        side = obj["metadata"]["name"]
        snapshots.append([f"ns/{side}-{i:05d}" for i in range(FAN_OUT_BATCH * 4)])
        yield from snapshots[-1]

    manager.watch(informer, controller, snapshot)
    try:
        handlers[0]("MODIFIED", cert("old"), cert("new"))
        for _ in range(8):  # a batch a turn: the old side's 4, then the new side's first
            await asyncio.sleep(0)
            if len(snapshots) == 2:
                break
        await asyncio.sleep(0)  # the batch that took it has ended
        assert len(controller.queue) < FAN_OUT_BATCH * 8  # still fanning out
        young = gc.get_objects(generation=0)
        assert not any(obj is snapshots[1] for obj in young)
        await settle()
        assert len(controller.queue) == FAN_OUT_BATCH * 8
    finally:
        gc.unfreeze()


async def test_a_small_fan_out_freezes_nothing() -> None:
    manager, controller, informer, handlers = watching("watch-small-fan-out")
    manager.watch(informer, controller, lambda _: ["ns/a", "ns/b"])
    frozen = gc.get_freeze_count()
    handlers[0]("ADDED", None, cert("issuer"))
    assert gc.get_freeze_count() == frozen
    assert len(controller.queue) == 2


async def test_a_large_fan_out_is_mapped_as_it_is_added() -> None:
    # Mapping 100,000 Certificates to keys held the loop 80-150 ms: a mapper that yields
    # its keys lazily is drawn one batch at a time; old and new's keys are added once.
    manager, controller, informer, handlers = watching("watch-lazy-fan-out")
    drawn: list[str] = []

    def lazily(_: Obj) -> Iterator[str]:
        for i in range(FAN_OUT_BATCH * 3):
            drawn.append(key := f"ns/c{i:05d}")
            yield key

    manager.watch(informer, controller, lazily)
    handlers[0]("MODIFIED", cert("issuer"), cert("issuer"))
    assert len(drawn) == FAN_OUT_BATCH  # nothing beyond the first batch yet
    assert len(controller.queue) == FAN_OUT_BATCH
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert len(drawn) == FAN_OUT_BATCH * 2  # one batch a turn
    await settle()
    queued = [await controller.queue.get() for _ in range(len(controller.queue))]
    assert sorted(queued) == [f"ns/c{i:05d}" for i in range(FAN_OUT_BATCH * 3)]
    assert len(drawn) == FAN_OUT_BATCH * 3 * 2  # both sides drawn, each key added once


async def test_skipped_keys_count_as_drawn_so_a_batch_stays_bounded() -> None:
    # An issuer named by 10,000 finished requests: every key is left out, and without
    # counting those as drawn the first batch walked them all in one turn (a 0.3-0.7 s
    # stall at a 10k start).
    manager, controller, informer, handlers = watching("watch-skip-fan-out")
    many = [f"ns/c{i:05d}" for i in range(FAN_OUT_BATCH * 3)]
    checked: list[str] = []

    def finished(key: str) -> bool:
        checked.append(key)
        return not key.endswith("7")

    manager.watch(informer, controller, lambda _: many, skip_key=finished)
    handlers[0]("ADDED", None, cert("issuer"))
    assert len(checked) == FAN_OUT_BATCH  # the first batch at once, skipped keys too
    await settle()
    queued = [await controller.queue.get() for _ in range(len(controller.queue))]
    assert sorted(queued) == [key for key in many if key.endswith("7")]
    assert sorted(checked) == many  # each key checked once


@pytest.mark.parametrize(
    ("handed_out", "queued_on_arrival", "mapped"),
    [
        (False, True, False),
        (True, True, True),
        (False, False, True),
        (True, False, True),
    ],
    ids=["before-the-first-key-skipped", "running", "not-vouched", "not-vouched-running"],
)
async def test_a_watch_queued_on_arrival_maps_nothing_until_the_first_key_is_taken(
    handed_out: bool, queued_on_arrival: bool, mapped: bool
) -> None:
    name = f"watch-arrival-{handed_out}-{queued_on_arrival}"
    manager, controller, informer, handlers = watching(name)
    calls: list[Obj] = []

    def mapper(obj: Obj) -> list[str]:
        calls.append(obj)
        return ["ns/parent"]

    manager.watch(informer, controller, lambda obj: ["ns/parent"])  # the arrival watch
    manager.watch(informer, controller, mapper, queued_on_arrival=queued_on_arrival)
    if handed_out:
        controller.queue.add("ns/other")
        controller.queue.done(await controller.queue.get())
    handlers[0]("ADDED", None, cert("parent"))
    handlers[1]("ADDED", None, cert("child"))
    assert bool(calls) == mapped
    # Either way the key is queued, once.
    assert [await controller.queue.get() for _ in range(len(controller.queue))] == ["ns/parent"]
