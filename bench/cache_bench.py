"""What the per-object cache benchmarks share (``certificates_cache.py``, ``orders_cache.py``).

Seeds issued Certificates as ``bench/scale.py`` does (``IssuedSeeder``: issued status,
conditions, revision, ``managedFields``; with their requests and Orders when asked) and
returns one resource's objects as the simulator stores them, as JSON; fills a ``Cache``
with them as an informer's first list does (decoded one at a time, transformed, staged,
swapped in, collections off: the informer freezes what it lists); and prints bytes held
per object (tracemalloc, the decoded objects dropped) and the peak while filling, the CPU
of the transform + store and of a read back. Not a timed test: it prints figures.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import time
import tracemalloc
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from certmgr.kube.resources import Resource
from certmgr.runtime.cache import Cache, Obj, Pack

NAMESPACES = 10
ROOT = Path(__file__).resolve().parent.parent
Index = tuple[str, Callable[[Obj], Iterable[str]], bool]  # name, function, shared


async def seeded(resource: Resource, count: int, *, orders: bool = False) -> list[bytes]:
    """``resource``'s objects once ``count`` issued Certificates are seeded (with their
    requests and Orders when ``orders``), each as JSON."""
    from certmgr.testing.apiserver import Simulator
    from certmgr.testing.seeding import IssuedSeeder

    async with Simulator() as sim:
        sim.install_crds(sorted((ROOT / "crds").glob("*_*.yaml")))
        seeder = IssuedSeeder(
            sim,
            issuer_ref={"name": "bench", "kind": "ClusterIssuer"},
            requests=orders,
            orders=orders,
        )
        not_before = datetime.now(UTC).replace(microsecond=0) - timedelta(days=10)
        for n in range(NAMESPACES):
            seeder.namespace(f"certs-{n}")
        for i in range(count):
            seeder.certificate(
                f"certs-{i % NAMESPACES}",
                f"c{i:06d}",
                not_before=not_before,
                not_after=not_before + timedelta(days=90),
            )
        table = sim.store.table_for(resource.group, resource.plural)
        assert table is not None
        return [json.dumps(obj).encode() for obj in table.objects.values()]


def filled_cache(
    encoded: list[bytes],
    *,
    transform: Callable[[Obj], Obj],
    pack: Pack | None,
    indexes: Iterable[Index],
) -> tuple[Cache, float]:
    """A cache of the objects, as a first list fills it, and the CPU seconds of the
    transform and store."""
    cache = Cache(pack=pack)
    for name, function, shared in indexes:
        cache.add_index(name, function, shared=shared)
    spent = 0.0
    gc.disable()
    try:
        staged = cache.stage()
        for text in encoded:
            decoded: dict[str, Any] = json.loads(text)
            started = time.process_time()
            staged.add(transform(decoded))
            spent += time.process_time() - started
        started = time.process_time()
        asyncio.run(cache.replace_yielding(staged, "1"))  # its ADDED changes: not read
        spent += time.process_time() - started
    finally:
        gc.enable()
    return cache, spent


def report(
    kind: str, encoded: list[bytes], fill: Callable[[list[bytes]], tuple[Cache, float]]
) -> None:
    """Print the bytes held per object, the transform + store and a read's CPU, the load."""
    count = len(encoded)
    print(f"{count} {kind}s, {sum(map(len, encoded)) / count:,.0f} B of JSON each")
    fill(encoded[:100])  # layouts, shapes, imports: not counted
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    cache, _ = fill(encoded)
    gc.collect()
    held, peak = (size - before for size in tracemalloc.get_traced_memory())
    tracemalloc.stop()
    print(f"cache held: {held / count:,.0f} B per {kind} (tracemalloc, indexes included)")
    print(f"peak while filling: {peak / count:,.0f} B per {kind} (staged objects and values)")
    _, spent = fill(encoded)  # timed without tracemalloc
    print(f"transform + store (a list's): {spent / count * 1e6:.1f} us per {kind} (CPU)")
    keys = cache.keys()
    gc.disable()
    started = time.process_time()
    for namespace, name in keys:
        cache.get(namespace, name)
    read = time.process_time() - started
    gc.enable()
    print(f"read back (get): {read / count * 1e6:.2f} us per {kind} (CPU)")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
