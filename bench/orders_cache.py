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

from cache_bench import filled_cache, report, seeded

from certmgr.controllers.acme.issuer_refs import ISSUER_INDEX, issuer_ref_index
from certmgr.controllers.acme.requests import ORDERS_BY_OWNER, owner_request_names
from certmgr.kube.resources import ORDERS
from certmgr.runtime.cache import Cache
from certmgr.runtime.informer_orders import cached_order, packed_order


def filled(encoded: list[bytes]) -> tuple[Cache, float]:
    """The Order informer's cache: its transform and pack, the ACME controllers' indexes."""
    return filled_cache(
        encoded,
        transform=cached_order,
        pack=packed_order,
        indexes=[
            (ISSUER_INDEX, issuer_ref_index, True),
            (ORDERS_BY_OWNER, owner_request_names, False),
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=5000)
    args = parser.parse_args()
    report("valid Order", asyncio.run(seeded(ORDERS, args.orders, orders=True)), filled)


if __name__ == "__main__":
    main()
