"""Benchmark of the Kubernetes API simulator: is it ever the bottleneck of our benchmarks?

Runs the simulator in a child process pinned to one CPU (the "one core" of the
targets) and drives it over HTTPS from this process, then prints: GETs/s and
writes/s (targets >= 2,000 and >= 500), watch fan-out to 50 watchers (lag must
not grow), listing 100,000 small objects (target < 3 s) and memory per stored
object. The client is Python too, so the figures are a lower bound for the server.

    .venv/bin/python bench/apiserver.py [--objects 100000] [--seconds 3] [--watchers 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from certmgr.testing.apiserver import Simulator, admission
from certmgr.testing.apiserver.resources import BUILTINS, NAMESPACES
from certmgr.testing.apiserver.wire import Cluster

CONFIGMAPS = next(r for r in BUILTINS if r.kind == "ConfigMap")
CONCURRENCY = 32


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _pin(cpu: int) -> None:
    cpus = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpus[cpu % len(cpus)]})


def _serve(kubeconfig: str, objects: int, ready: Any) -> None:
    """Child process: a simulator on one CPU, seeded with ``objects`` ConfigMaps in "bulk"."""
    _pin(0)

    async def main() -> None:
        async with Simulator() as sim:
            store = sim.store
            for name in ("bulk", "bench", "fan"):
                ns_body: dict[str, Any] = {"metadata": {"name": name}}
                store.create(NAMESPACES, admission.prepare_create(store, NAMESPACES, "", ns_body))
            before = _rss()
            for i in range(objects):
                body: dict[str, Any] = {
                    "metadata": {"name": f"cm-{i:06d}", "labels": {"app": "bench"}},
                    "data": {"key": "value"},
                }
                store.create(CONFIGMAPS, admission.prepare_create(store, CONFIGMAPS, "bulk", body))
            per_object = (_rss() - before) / max(objects, 1)
            sim.kubeconfig(kubeconfig)
            ready.put(per_object)
            await asyncio.Event().wait()

    asyncio.run(main())


async def _rate(seconds: float, work: Any) -> float:
    """Calls per second of ``work(i)`` from CONCURRENCY tasks during ``seconds``."""
    done = 0
    deadline = time.monotonic() + seconds

    async def worker(offset: int) -> None:
        nonlocal done
        i = offset
        while time.monotonic() < deadline:
            await work(i)
            done += 1
            i += CONCURRENCY

    started = time.monotonic()
    await asyncio.gather(*(worker(n) for n in range(CONCURRENCY)))
    return done / (time.monotonic() - started)


async def _gets(cluster: Cluster, seconds: float) -> float:
    path = "/api/v1/namespaces/bench/configmaps/target"
    await cluster.request(
        "POST", "/api/v1/namespaces/bench/configmaps", body={"metadata": {"name": "target"}}
    )

    async def get(_: int) -> None:
        reply = await cluster.request("GET", path)
        assert reply.status == 200

    return await _rate(seconds, get)


async def _writes(cluster: Cluster, seconds: float) -> float:
    async def create(i: int) -> None:
        body = {"metadata": {"name": f"w-{i}"}, "data": {"i": str(i)}}
        reply = await cluster.request("POST", "/api/v1/namespaces/bench/configmaps", body=body)
        assert reply.status == 201, reply.body

    return await _rate(seconds, create)


async def _fan_out(cluster: Cluster, watchers: int, events: int) -> tuple[float, float, float]:
    """(p50 lag of the first tenth, p50 lag of the last tenth, p99 overall) in ms."""
    base = "/api/v1/namespaces/fan/configmaps"
    version = (await cluster.request("GET", base)).body["metadata"]["resourceVersion"]
    sent: dict[str, float] = {}
    lags: list[list[float]] = [[] for _ in range(events)]

    async def watch(started: asyncio.Event) -> None:
        async with cluster.session.get(
            cluster.url + base, params={"watch": "true", "resourceVersion": version}
        ) as response:
            started.set()
            seen = 0
            async for line in response.content:
                name = json.loads(line)["object"]["metadata"]["name"]
                index = int(name.split("-")[1])
                lags[index].append(time.monotonic() - sent[name])
                seen += 1
                if seen == events:
                    return

    ready = [asyncio.Event() for _ in range(watchers)]
    tasks = [asyncio.create_task(watch(event)) for event in ready]
    await asyncio.gather(*(event.wait() for event in ready))
    for i in range(events):
        name = f"f-{i}"
        sent[name] = time.monotonic()
        await cluster.request("POST", base, body={"metadata": {"name": name}})
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=120)
    tenth = max(events // 10, 1)
    first = statistics.median(lag for row in lags[:tenth] for lag in row)
    last = statistics.median(lag for row in lags[-tenth:] for lag in row)
    every = sorted(lag for row in lags for lag in row)
    p99 = every[int(len(every) * 0.99) - 1]
    return first * 1000, last * 1000, p99 * 1000


async def _list(cluster: Cluster) -> tuple[float, float, int]:
    """(seconds to the last byte, seconds including JSON decoding, item count)."""
    url = cluster.url + "/api/v1/namespaces/bulk/configmaps"
    started = time.monotonic()
    async with cluster.session.get(url) as response:
        raw = await response.read()
    transfer = time.monotonic() - started
    items = len(json.loads(raw)["items"])
    return transfer, time.monotonic() - started, items


async def _drive(kubeconfig: Path, args: argparse.Namespace) -> None:
    async with Cluster.from_kubeconfig(kubeconfig) as cluster:
        print(f"GETs/s          {await _gets(cluster, args.seconds):8.0f}   (target >= 2000)")
        print(f"writes/s        {await _writes(cluster, args.seconds):8.0f}   (target >= 500)")
        for run in ("cold", "warm"):
            transfer, decoded, items = await _list(cluster)
            print(
                f"list {items} ({run})  {transfer:5.2f} s to last byte, "
                f"{decoded:5.2f} s decoded by the client   (target < 3 s)"
            )
    async with Cluster.from_kubeconfig(kubeconfig) as cluster:
        first, last, p99 = await _fan_out(cluster, args.watchers, args.events)
        print(
            f"fan-out x{args.watchers}   lag p50 first tenth {first:6.1f} ms, "
            f"last tenth {last:6.1f} ms, p99 {p99:6.1f} ms ({args.events} events)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--watchers", type=int, default=50)
    parser.add_argument("--events", type=int, default=500)
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    ready = context.Queue()
    with tempfile.TemporaryDirectory() as tmp:
        kubeconfig = Path(tmp, "kubeconfig")
        server = context.Process(target=_serve, args=(str(kubeconfig), args.objects, ready))
        server.start()
        try:
            per_object = ready.get(timeout=600)
            print(
                f"memory/object   {per_object:8.0f}   bytes "
                f"(RSS growth over {args.objects} ConfigMaps)"
            )
            _pin(1)
            asyncio.run(_drive(kubeconfig, args))
        finally:
            server.terminate()
            server.join(timeout=10)


if __name__ == "__main__":
    main()
