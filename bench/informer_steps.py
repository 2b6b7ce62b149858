"""Informer step benchmark: the longest loop step of a first list's fill and dispatch.

Fills an empty ``Cache`` with N Certificate-like objects (compacted, with the two indexes
the Certificates informer has: Secret name and issuer) as the informer's first list does
(``Cache.replace_yielding``), then hands their ADDED changes to five handlers that each
add the key to a work queue of their own, as the certificate controllers' watches do,
and three that do nothing (``Informer._dispatch_yielding``). A second task notes the
thread's CPU between its own turns, so each gap is one step of the fill or dispatch.
Prints (it is not a timed test) the step count, the longest steps, the 99th percentile
and the CPU of each phase, collections off, and the load average. ``PYTHONPATH=<checkout>``
measures another checkout's code with this script.

    .venv/bin/python bench/informer_steps.py [--objects 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import time
from typing import Any

from certmgr.controllers.acme.issuer_refs import issuer_ref_index
from certmgr.kube.resources import CERTIFICATES
from certmgr.runtime.cache import Obj, object_key
from certmgr.runtime.clock import SystemClock
from certmgr.runtime.informer import Informer, compact
from certmgr.runtime.workqueue import WorkQueue

QUEUES = 5
IDLE_HANDLERS = 3


def certificate(i: int) -> Obj:
    return compact(
        {
            "apiVersion": "cert-manager.io/v1",
            "kind": "Certificate",
            "metadata": {
                "name": f"c{i}",
                "namespace": f"ns{i % 50}",
                "resourceVersion": str(i + 10),
                "uid": f"uid-{i}",
            },
            "spec": {
                "secretName": f"c{i}-tls",
                "dnsNames": [f"c{i}.example.com"],
                "issuerRef": {"name": "le", "kind": "ClusterIssuer", "group": "cert-manager.io"},
            },
            "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Ready"}]},
        }
    )


def by_secret(obj: Obj) -> list[str]:
    return [f"{obj['metadata']['namespace']}/{obj['spec']['secretName']}"]


async def measure(objects: int) -> None:
    clock = SystemClock()
    informer = Informer(
        None,  # type: ignore[arg-type]  # never lists: the bench drives its steps
        CERTIFICATES,
        indexes={"by-secret": by_secret, "issuer": issuer_ref_index},
        clock=clock,
    )
    queues = [WorkQueue[str](f"bench-q{i}", clock=clock) for i in range(QUEUES)]
    for queue in queues:
        informer.add_handler(lambda _, old, new, queue=queue: queue.add(object_key(new)))
    for _ in range(IDLE_HANDLERS):
        informer.add_handler(lambda _, old, new: None)
    staged = informer.cache.stage()
    for i in range(objects):
        staged.add(certificate(i))
    gc.freeze()
    steps: dict[str, list[float]] = {"fill": [], "dispatch": []}
    phase = "fill"
    running = True

    async def ticker() -> None:
        last = time.thread_time()
        while running:
            await asyncio.sleep(0)
            now = time.thread_time()
            steps[phase].append(now - last)
            last = time.thread_time()

    ticking = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    started = time.thread_time()
    changes = await informer.cache.replace_yielding(staged, "1")
    filled = time.thread_time()
    phase = "dispatch"
    await informer._dispatch_yielding(changes)
    dispatched = time.thread_time()
    running = False
    await ticking
    assert all(len(queue) == objects for queue in queues)
    cpu = {"fill": filled - started, "dispatch": dispatched - filled}
    for name, gaps in steps.items():
        gaps.sort(reverse=True)
        print(
            f"{name:8} {len(gaps):6} steps, longest {gaps[0] * 1e3:5.1f} / {gaps[1] * 1e3:5.1f} ms,"
            f" p99 {gaps[len(gaps) // 100] * 1e3:4.1f} ms, CPU {cpu[name] * 1e3:6.0f} ms"
        )
    print("load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=100_000)
    args: Any = parser.parse_args()
    gc.disable()
    asyncio.run(measure(args.objects))


if __name__ == "__main__":
    main()
