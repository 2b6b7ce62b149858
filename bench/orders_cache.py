"""Order cache benchmark: bytes and CPU per cached Order, as the Order informer keeps it.

Seeds valid Orders as ``bench/scale.py --orders`` does (``IssuedSeeder``: each issued
request's Order, owned by it, an authorization with three challenge offers, a
one-certificate chain in ``status.certificate``, ``managedFields``), takes them as an API
server's JSON decodes them, and fills a ``Cache`` with them as the Order informer's first
list does (its transform and pack, the indexes the ACME controllers add: issuer, owner
uid). Prints (it is not a timed test): bytes per Order held by the cache (tracemalloc, the
decoded objects dropped), the CPU of the transform + store per Order and of a read back
(collections off), and the load average. ``PYTHONPATH=<checkout>`` measures another
checkout's code with this script.

    .venv/bin/python bench/orders_cache.py [--orders 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from certmgr.controllers.acme.issuer_refs import ISSUER_INDEX, issuer_ref_index
from certmgr.controllers.acme.requests import ORDERS_BY_OWNER_UID, owner_uids
from certmgr.runtime.cache import Cache
from certmgr.runtime.informer_orders import cached_order, packed_order

NAMESPACES = 10
ROOT = Path(__file__).resolve().parent.parent


async def seeded_orders(count: int) -> list[bytes]:
    """``count`` valid Orders as the simulator stores them, each as JSON."""
    from certmgr.kube.resources import ORDERS
    from certmgr.testing.apiserver import Simulator
    from certmgr.testing.seeding import IssuedSeeder

    async with Simulator() as sim:
        sim.install_crds(sorted((ROOT / "crds").glob("*_*.yaml")))
        seeder = IssuedSeeder(
            sim, issuer_ref={"name": "bench", "kind": "ClusterIssuer"}, requests=True, orders=True
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
        table = sim.store.table_for(ORDERS.group, ORDERS.plural)
        assert table is not None
        return [json.dumps(order).encode() for order in table.objects.values()]


def filled_cache(encoded: list[bytes]) -> tuple[Cache, float]:
    """A cache of the Orders (decoded one at a time, as pages are) and the CPU seconds of
    the transform and store."""
    cache = Cache(pack=packed_order)
    cache.add_index(ISSUER_INDEX, issuer_ref_index)
    cache.add_index(ORDERS_BY_OWNER_UID, owner_uids, shared=False)
    spent = 0.0
    # No collections: the informer freezes what it lists, so they would be this
    # process's artefact (they took most of the time measured).
    gc.disable()
    try:
        # As the first list fills it (``Informer._list``): staged, then swapped in (a
        # watch event's ``apply`` would also keep its version in a ring of recent ones).
        staged = cache.stage()
        for text in encoded:
            decoded: dict[str, Any] = json.loads(text)
            started = time.process_time()
            staged.add(cached_order(decoded))
            spent += time.process_time() - started
        started = time.process_time()
        asyncio.run(cache.replace_yielding(staged, "1"))  # its ADDED changes: not read
        spent += time.process_time() - started
    finally:
        gc.enable()
    return cache, spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=5000)
    args = parser.parse_args()
    encoded = asyncio.run(seeded_orders(args.orders))
    size = sum(map(len, encoded)) / len(encoded)
    print(f"{len(encoded)} valid Orders, {size:,.0f} B of JSON each")
    filled_cache(encoded[:100])  # layouts, shapes, imports: not counted
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    cache, spent = filled_cache(encoded)
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    print(f"cache held: {held / len(encoded):,.0f} B per Order (tracemalloc, indexes included)")
    _, spent = filled_cache(encoded)  # timed without tracemalloc
    print(f"transform + store (a list's): {spent / len(encoded) * 1e6:.1f} us per Order (CPU)")
    gc.disable()
    started = time.process_time()
    for order in cache:
        del order
    read = time.process_time() - started
    gc.enable()
    print(f"read back: {read / len(encoded) * 1e6:.1f} us per Order (CPU)")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
