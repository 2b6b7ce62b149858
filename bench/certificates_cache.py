"""Certificate cache benchmark: bytes and CPU per cached Certificate, as its informer keeps it.

Seeds issued Certificates as ``bench/scale.py`` does (``IssuedSeeder``: each with its
issued status, conditions, revision, ``managedFields``), takes them as an API server's
JSON decodes them, and fills a ``Cache`` with them as the Certificate informer's first
list does (its transform, its pack if any, the indexes the controllers add: by Secret
name, by issuer). Prints (it is not a timed test): bytes per Certificate held by the
cache (tracemalloc, the decoded objects dropped), the CPU of the transform + store per
Certificate and of a read back (collections off), and the load average.
``PYTHONPATH=<checkout>`` measures another checkout's code with this script.

    .venv/bin/python bench/certificates_cache.py [--certificates 5000]
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
from certmgr.controllers.certificates.gather import BY_SECRET, _secret_name_index
from certmgr.kube.resources import CERTIFICATES
from certmgr.runtime import manager
from certmgr.runtime.cache import Cache

NAMESPACES = 10
ROOT = Path(__file__).resolve().parent.parent


async def seeded_certificates(count: int) -> list[bytes]:
    """``count`` issued Certificates as the simulator stores them, each as JSON."""
    from certmgr.testing.apiserver import Simulator
    from certmgr.testing.seeding import IssuedSeeder

    async with Simulator() as sim:
        sim.install_crds(sorted((ROOT / "crds").glob("*_*.yaml")))
        seeder = IssuedSeeder(
            sim, issuer_ref={"name": "bench", "kind": "ClusterIssuer"}, requests=False
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
        table = sim.store.table_for(CERTIFICATES.group, CERTIFICATES.plural)
        assert table is not None
        return [json.dumps(c).encode() for c in table.objects.values()]


def filled_cache(encoded: list[bytes]) -> tuple[Cache, float]:
    """A cache of the Certificates (decoded one at a time, as pages are) and the CPU
    seconds of the transform and store."""
    transform = manager._TRANSFORMS.get(CERTIFICATES, manager.compact)
    cache = Cache(pack=manager._PACKS.get(CERTIFICATES))
    cache.add_index(BY_SECRET, _secret_name_index)
    cache.add_index(ISSUER_INDEX, issuer_ref_index)
    spent = 0.0
    # No collections: the informer freezes what it lists.
    gc.disable()
    try:
        staged = cache.stage()
        for text in encoded:
            decoded: dict[str, Any] = json.loads(text)
            started = time.process_time()
            staged.add(transform(decoded))
            spent += time.process_time() - started
        started = time.process_time()
        asyncio.run(cache.replace_yielding(staged, "1"))
        spent += time.process_time() - started
    finally:
        gc.enable()
    return cache, spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--certificates", type=int, default=5000)
    args = parser.parse_args()
    encoded = asyncio.run(seeded_certificates(args.certificates))
    size = sum(map(len, encoded)) / len(encoded)
    print(f"{len(encoded)} issued Certificates, {size:,.0f} B of JSON each")
    filled_cache(encoded[:100])  # layouts, shapes, imports: not counted
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    cache, spent = filled_cache(encoded)
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    count = len(encoded)
    print(f"cache held: {held / count:,.0f} B per Certificate (tracemalloc, indexes included)")
    _, spent = filled_cache(encoded)  # timed without tracemalloc
    print(f"transform + store (a list's): {spent / count * 1e6:.1f} us per Certificate (CPU)")
    keys = cache.keys()
    gc.disable()
    started = time.process_time()
    for namespace, name in keys:
        cache.get(namespace, name)
    read = time.process_time() - started
    gc.enable()
    print(f"read back (get): {read / count * 1e6:.2f} us per Certificate (CPU)")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
