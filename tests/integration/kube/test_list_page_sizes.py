"""List pages sized to the client's byte budget, against the simulator: each continuation
asks for what fits after the page before, and the list still yields every object once."""

from __future__ import annotations

import contextlib
import itertools

from certmgr.kube import resources as r
from certmgr.kube.client import FIRST_PAGE_LIMIT, PAGE_BYTES, PAGE_GROWTH, KubeClient
from certmgr.kube.objects import name_of

SELECTOR = "paged=yes"


async def seed(kube: KubeClient, namespace: str, sizes: list[int]) -> list[str]:
    names = [f"cm-{i:03d}" for i in range(len(sizes))]
    for name, size in zip(names, sizes, strict=True):
        metadata = {"name": name, "namespace": namespace, "labels": {"paged": "yes"}}
        await kube.create(r.CONFIGMAPS, {"metadata": metadata, "data": {"pad": "x" * size}})
    return names


async def pages_of(kube: KubeClient, namespace: str) -> list[list[str]]:
    pages = kube.list_pages(
        r.CONFIGMAPS, namespace=namespace, label_selector=SELECTOR, read_ahead=True
    )
    async with contextlib.aclosing(pages):
        return [[name_of(o) for o in page.items] async for page in pages]


async def test_pages_of_large_objects_shrink_to_the_budget(
    kube: KubeClient, namespace: str
) -> None:
    size = PAGE_BYTES // 3  # with their metadata and the list around them, two fit
    names = await seed(kube, namespace, [size] * 24)
    pages = await pages_of(kube, namespace)
    assert [n for page in pages for n in page] == names
    assert [len(page) for page in pages] == [FIRST_PAGE_LIMIT, 2, 2, 2, 2]


async def test_pages_follow_the_objects_sizes_and_yield_each_once(
    kube: KubeClient, namespace: str
) -> None:
    # Small objects, then large ones, then small ones again: the pages grow, shrink to
    # the large objects' size, and grow again (at most twice the page before).
    sizes = [10] * 20 + [PAGE_BYTES // 4] * 8 + [10] * 60
    names = await seed(kube, namespace, sizes)
    pages = await pages_of(kube, namespace)
    assert [n for page in pages for n in page] == names
    counts = [len(page) for page in pages]
    assert counts[0] == FIRST_PAGE_LIMIT
    assert min(counts[1:-1]) < FIRST_PAGE_LIMIT < max(counts)
    assert all(b <= PAGE_GROWTH * a for a, b in itertools.pairwise(counts))
