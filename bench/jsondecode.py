"""JSON decoding benchmark: the stdlib's ``json.loads`` against ``certmgr.kube.bodies.decode``
(orjson, with its guard) on the list pages and watch lines the simulator serves for
seeded objects (``IssuedSeeder``: issued Certificates with their requests and Orders,
``managedFields`` included, and foreign Secrets, whole and metadata-only).

Prints figures (it is not a timed test): per kind, the CPU per object of each decoder
(the median of ``--rounds`` rounds, the two decoders alternating within each round, so a
change of the VM's speed hits both), their ratio, what the guard's scan alone costs, and
the bytes a decoded page holds (tracemalloc) with each; and the load average.

    .venv/bin/python bench/jsondecode.py [--certificates 1000] [--rounds 15]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from certmgr.kube import bodies
from certmgr.testing.seeding import IssuedSeeder

ROOT = Path(__file__).resolve().parents[1]
PAGE_BYTES = 256 * 1024  # certmgr.kube.client.PAGE_BYTES


async def seeded_pages(certificates: int, foreign: int) -> dict[str, tuple[list[bytes], int]]:
    """Per kind: list pages of about PAGE_BYTES as the simulator serves them, and the
    number of objects in them."""
    from certmgr.testing.apiserver import Simulator
    from certmgr.testing.apiserver.listing import served

    async with Simulator() as sim:
        sim.install_crds(sorted((ROOT / "crds").glob("*_*.yaml")))
        seeder = IssuedSeeder(
            sim,
            issuer_ref={"name": "bench", "kind": "ClusterIssuer"},
            requests=True,
            orders=True,
        )
        not_before = datetime.now(UTC).replace(microsecond=0) - timedelta(days=10)
        seeder.namespace("certs")
        seeder.namespace("foreign")
        for i in range(certificates):
            seeder.certificate(
                "certs",
                f"c{i:06d}",
                not_before=not_before,
                not_after=not_before + timedelta(days=90),
            )
        for i in range(foreign):
            seeder.create(
                {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": {"name": f"s{i:06d}", "namespace": "foreign"},
                    "type": "Opaque",
                    "data": {"blob": "A" * 4096},
                }
            )
        store = sim.store
        found: dict[str, tuple[list[bytes], int]] = {}
        for label, group, plural, metadata_only in (
            ("Certificate", "cert-manager.io", "certificates", False),
            ("CertificateRequest", "cert-manager.io", "certificaterequests", False),
            ("Order", "acme.cert-manager.io", "orders", False),
            ("Secret", "", "secrets", False),
            ("Secret metadata", "", "secrets", True),
        ):
            rtype = next(r for r in store.catalogue if r.group_resource == (group, plural))
            objects = store.table(rtype).objects
            items = [
                served(store, rtype, key, obj, metadata_only=metadata_only)
                for key, obj in sorted(objects.items())
            ]
            found[label] = (_pages(items, rtype.kind), len(items))
            found[label + " (watch lines)"] = (
                [b'{"type":"ADDED","object":' + item + b"}" for item in items],
                len(items),
            )
        return found


def _pages(items: list[bytes], kind: str) -> list[bytes]:
    pages: list[bytes] = []
    page: list[bytes] = []
    size = 0
    for item in items:
        page.append(item)
        size += len(item)
        if size >= PAGE_BYTES:
            pages.append(_page(page, kind))
            page, size = [], 0
    if page:
        pages.append(_page(page, kind))
    return pages


def _page(items: list[bytes], kind: str) -> bytes:
    head = f'{{"kind":"{kind}List","apiVersion":"v1","metadata":{{"resourceVersion":"1"}}'
    return b"".join((head.encode(), b',"items":[', b",".join(items), b"]}"))


def cpu_of(decode: Callable[[bytes], Any], documents: list[bytes]) -> float:
    gc.disable()
    try:
        started = time.thread_time()
        for document in documents:
            decode(document)
        return time.thread_time() - started
    finally:
        gc.enable()


def held_bytes(decode: Callable[[bytes], Any], documents: list[bytes]) -> int:
    tracemalloc.start()
    try:
        decoded = [decode(document) for document in documents]
        size, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del decoded
    return size


def scan(document: bytes) -> Any:
    """The guard alone: the search for a run of digits orjson would make a float."""
    return document.translate(bodies._DIGITS_AS_ZERO).find(bodies._LONG_RUN)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--certificates", type=int, default=1000)
    parser.add_argument("--foreign", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    kinds = asyncio.run(seeded_pages(args.certificates, args.foreign))
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} (start)")
    print(
        f"{'documents':34} {'objects':>7} {'stdlib us':>9} {'orjson us':>9} {'ratio':>6}"
        f" {'scan us':>7} {'stdlib KB':>9} {'orjson KB':>9}"
    )
    for label, (documents, count) in kinds.items():
        for document in documents:  # same results, and warm
            assert bodies.decode(document) == json.loads(document)
        stdlib: list[float] = []
        ours: list[float] = []
        scans: list[float] = []
        for _ in range(args.rounds):
            stdlib.append(cpu_of(json.loads, documents))
            ours.append(cpu_of(bodies.decode, documents))
            scans.append(cpu_of(scan, documents))
        a, b, s = (statistics.median(x) / count * 1e6 for x in (stdlib, ours, scans))
        kb_stdlib = held_bytes(json.loads, documents) / count / 1024
        kb_ours = held_bytes(bodies.decode, documents) / count / 1024
        print(
            f"{label:34} {count:7d} {a:9.1f} {b:9.1f} {b / a:6.2f} {s:7.2f}"
            f" {kb_stdlib:9.2f} {kb_ours:9.2f}"
        )
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} (end)")


if __name__ == "__main__":
    main()
