"""Informer benchmark: time to sync, and memory for managed vs unrelated Secrets.

Prints figures (it is not a timed test). The API simulator runs in a child process, so
this process's RSS holds only what the controller side keeps: the client, the informers
and their caches.

    .venv/bin/python bench/informer.py [--managed 10000] [--unrelated 50000] [--naive]

Targets (issue 4): caches synced with 10,000 objects in under 5 s; 50,000 unrelated 4 KB
Secrets add under 20 MB. ``--naive`` also caches every Secret in full, as cert-manager
did before filtered caching, for comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from certmgr.kube import resources as r
from certmgr.kube.client import KubeClient
from certmgr.runtime.informer import Informer, drop_managed_fields
from certmgr.runtime.informer_secrets import MANAGED_LABEL, SecretInformers

NAMESPACES = 20
PAYLOAD = base64.b64encode(os.urandom(3 * 1024)).decode()  # 4 KB once base64-encoded


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def settled_rss() -> float:
    gc.collect()
    return rss_mb()


# -- the child: a populated simulator ------------------------------------------------------


async def serve(kubeconfig: str, managed: int, unrelated: int) -> None:
    from certmgr.testing.apiserver import Simulator

    async with Simulator(bookmark_interval=1.0) as sim:
        started = time.perf_counter()
        for n in range(NAMESPACES):
            sim.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"ns-{n}"}})
        for i in range(unrelated + managed):
            is_managed = i < managed
            labels = {MANAGED_LABEL: "true"} if is_managed else {"app": "unrelated"}
            sim.apply(
                {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "type": "Opaque",
                    "metadata": {
                        "name": f"{'managed' if is_managed else 'other'}-{i:06d}",
                        "namespace": f"ns-{i % NAMESPACES}",
                        "labels": labels,
                    },
                    "data": {"payload": PAYLOAD},
                }
            )
            if i % 5000 == 0:
                await asyncio.sleep(0)
        sim.kubeconfig(kubeconfig)
        print(f"populated {managed + unrelated} Secrets in {time.perf_counter() - started:.1f} s")
        print("ready", flush=True)
        # Serve until the parent closes our stdin.
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


# -- the parent: informers and measurements ------------------------------------------------


async def measure(kubeconfig: str, *, naive: bool) -> None:
    async with await KubeClient.connect(kubeconfig=kubeconfig, qps=0) as kube:
        await kube.get(r.NAMESPACES, "default")
        baseline = settled_rss()
        print(f"baseline RSS (client connected): {baseline:.1f} MB")

        secrets = SecretInformers(kube)
        started, cpu = time.perf_counter(), time.process_time()
        managed_task = asyncio.create_task(secrets.managed.run())
        await secrets.managed.wait_synced()
        synced, cpu = time.perf_counter() - started, time.process_time() - cpu
        after_managed = settled_rss()
        print(
            f"managed informer: {len(secrets.managed.cache)} Secrets synced in {synced:.2f} s "
            f"(target < 5 s; {cpu:.2f} s CPU on our side), "
            f"RSS +{after_managed - baseline:.1f} MB"
        )

        started, cpu = time.perf_counter(), time.process_time()
        unmanaged_task = asyncio.create_task(secrets.unmanaged.run())
        await secrets.unmanaged.wait_synced()
        synced, cpu = time.perf_counter() - started, time.process_time() - cpu
        after_unrelated = settled_rss()
        print(
            f"unrelated informer (metadata, keys only): {len(secrets.unmanaged.cache)} Secrets "
            f"synced in {synced:.2f} s ({cpu:.2f} s CPU on our side), "
            f"RSS +{after_unrelated - after_managed:.1f} MB (target < 20 MB)"
        )

        if naive:
            everything = Informer(kube, r.SECRETS, transform=drop_managed_fields, name="naive")
            started = time.perf_counter()
            naive_task = asyncio.create_task(everything.run())
            await everything.wait_synced()
            synced = time.perf_counter() - started
            after_naive = settled_rss()
            print(
                f"naive informer (all Secrets in full): {len(everything.cache)} synced in "
                f"{synced:.2f} s, RSS +{after_naive - after_unrelated:.1f} MB"
            )
            naive_task.cancel()
        for task in (managed_task, unmanaged_task):
            task.cancel()
        await asyncio.gather(managed_task, unmanaged_task, return_exceptions=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--managed", type=int, default=10_000)
    parser.add_argument("--unrelated", type=int, default=50_000)
    parser.add_argument("--naive", action="store_true")
    parser.add_argument("--serve", metavar="KUBECONFIG", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve, args.managed, args.unrelated))
        return

    with tempfile.TemporaryDirectory() as tmp:
        kubeconfig = str(Path(tmp) / "kubeconfig")
        child = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--serve",
                kubeconfig,
                "--managed",
                str(args.managed),
                "--unrelated",
                str(args.unrelated),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout is not None
            for line in child.stdout:
                if line.strip() == "ready":
                    break
                print(f"[simulator] {line.rstrip()}")
            else:
                raise SystemExit("the simulator exited before it was ready")
            asyncio.run(measure(kubeconfig, naive=args.naive))
        finally:
            assert child.stdin is not None
            child.stdin.close()
            child.wait(timeout=30)


if __name__ == "__main__":
    main()
