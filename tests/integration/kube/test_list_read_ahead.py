"""Lists that read the next page ahead, against the simulator: the page read ahead is the
one handed over, an expired continue token on it restarts the list, and stopping
leaves no request of the list behind."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from prometheus_client import REGISTRY

from certmgr.kube import resources as r
from certmgr.kube.client import KubeClient
from certmgr.kube.objects import name_of
from certmgr.runtime.informer import Informer
from certmgr.testing.apiserver import Simulator
from certmgr.testing.apiserver.wire import eventually

SELECTOR = "read-ahead=yes"
NAMES = [f"cm-{i}" for i in range(5)]


async def seed(kube: KubeClient, namespace: str) -> None:
    for name in NAMES:
        metadata = {"name": name, "namespace": namespace, "labels": {"read-ahead": "yes"}}
        await kube.create(r.CONFIGMAPS, {"metadata": metadata})


def lists_of(sim: Simulator) -> int:
    return sim.requests.count(verb="list", resource="configmaps")


async def reached(sim: Simulator, lists: int) -> None:
    async def check() -> bool:
        return lists_of(sim) >= lists

    await eventually(check)


def lists_answered() -> float:
    """List responses this process received for ConfigMaps (any test's, so compare)."""
    labels = {"verb": "list", "resource": "configmaps", "code": "200"}
    return REGISTRY.get_sample_value("certmgr_kube_requests_total", labels) or 0.0


def list_requests_in_flight() -> list[asyncio.Task[Any]]:
    return [
        task
        for task in asyncio.all_tasks()
        if not task.done() and task.get_coro().__qualname__ == "Transport.request_body"
    ]


async def test_the_page_read_ahead_is_the_one_handed_over(
    sim: Simulator, kube: KubeClient, namespace: str
) -> None:
    await seed(kube, namespace)
    before = lists_of(sim)
    pages = kube.list_pages(
        r.CONFIGMAPS, namespace=namespace, label_selector=SELECTOR, page_size=2, read_ahead=True
    )
    async with contextlib.aclosing(pages):
        first = await anext(pages)
        # The second page is asked for while the caller still holds the first.
        await reached(sim, before + 2)
        rest = [page async for page in pages]
    assert [name_of(o) for p in [first, *rest] for o in p.items] == NAMES
    # Three pages, three requests: nothing was asked for twice or past the last page.
    assert lists_of(sim) - before == 3


async def test_an_expired_token_on_the_page_read_ahead_restarts_the_list(
    sim: Simulator, kube: KubeClient, namespace: str
) -> None:
    await seed(kube, namespace)
    before = lists_of(sim)
    sim.faults.expire_continue_tokens = 1  # the first page's token, read ahead at once
    seen: list[tuple[str, str]] = []
    informer = Informer(
        kube,
        r.CONFIGMAPS,
        namespace=namespace,
        label_selector=SELECTOR,
        page_size=2,
        on_event=lambda kind, old, new: seen.append((kind, name_of(new or old or {}))),
        draw=lambda: 0.0,  # no backoff before the relist
    )
    task = asyncio.create_task(informer.run())
    try:
        await informer.wait_synced(timeout=30)
        assert sorted(name_of(o) for o in informer.cache) == NAMES
        # The half-read snapshot reached neither the cache nor the handlers.
        assert seen == [("ADDED", name) for name in NAMES]
        # The first page, its expired continuation, then the whole list again.
        assert lists_of(sim) - before == 1 + 1 + 3
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def slow_lists(sim: Simulator) -> None:
    """Every list answer takes a while: a page read ahead is still on its way when the
    caller stops."""
    sim.faults.latency = 2.0
    sim.faults.verbs = frozenset({"list"})


async def test_closing_the_pages_during_a_read_ahead_cancels_it(
    sim: Simulator, kube: KubeClient, namespace: str
) -> None:
    await seed(kube, namespace)
    before, answered = lists_of(sim), lists_answered()
    await slow_lists(sim)
    pages = kube.list_pages(
        r.CONFIGMAPS, namespace=namespace, label_selector=SELECTOR, page_size=2, read_ahead=True
    )
    first = await anext(pages)
    await reached(sim, before + 2)
    # The caller stops while it works through the first page (as an informer does when
    # it is stopped while staging one).
    await pages.aclose()
    assert [name_of(o) for o in first.items] == NAMES[:2]
    # Cancelled, not waited out: only the first page was ever answered.
    assert lists_answered() - answered == 1
    assert list_requests_in_flight() == []
    # The client is still usable: the cancelled request took its connection with it.
    sim.faults.reset()
    listed = await kube.list(r.CONFIGMAPS, namespace=namespace, label_selector=SELECTOR)
    assert [name_of(o) for o in listed.items] == NAMES


async def test_stopping_the_informer_during_a_read_ahead_cancels_it(
    sim: Simulator, kube: KubeClient, namespace: str
) -> None:
    await seed(kube, namespace)
    before, answered = lists_of(sim), lists_answered()
    await slow_lists(sim)
    informer = Informer(
        kube, r.CONFIGMAPS, namespace=namespace, label_selector=SELECTOR, page_size=2
    )
    task = asyncio.create_task(informer.run())
    await reached(sim, before + 2)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert not informer.has_synced
    assert lists_answered() - answered == 1
    assert list_requests_in_flight() == []
