"""DNS-01 benchmark: a wildcard + apex Certificate issued through BIND, create -> Ready.

Prints one table (docs/benchmarks.md, "DNS-01"); it is not a test. A BIND 9
(``certmgr.testing.bind``) is the authoritative server of ``example.test``; Pebble
validates against it (``-dnsserver``); ``certmgr run`` is a child process of a local
environment (API simulator + data plane, ``certmgr.testing.localenv``) with
``--dns01-recursive-nameservers=<BIND> --dns01-recursive-nameservers-only`` and a
ClusterIssuer with an ``rfc2136`` solver (TSIG HMACSHA256). Each round issues
``*.r<i>.example.test`` + ``r<i>.example.test``, one Certificate at a time, so each round
has two DNS-01 Challenges on one TXT name, which take turns (cert-manager's rule).

Measured per round: create -> Ready as this process's watch sees it, and from the
controller's JSON log, per Challenge: the DNS UPDATE (``acme_dns01_present`` ->
``acme_dns01_presented``), the propagation wait (presented -> ``acme_dns01_propagated``:
the self-check on the nameservers), and the CA's validation (propagated ->
``acme_challenge_final``); p50 / max over the rounds.

    .venv/bin/python bench/dns01.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

from issuance import ReadyWatch, is_ready, wait_for

from certmgr.kube.client import KubeClient
from certmgr.runtime.logging import configure_logging
from certmgr.testing.bind import BindServer
from certmgr.testing.localenv import CONTROLLER_NAMESPACE, local_environment, pointed_at
from certmgr.testing.pebble import PebbleConfig, PebbleServer

ISSUER = "bind"
NAMESPACE = "default"  # ReadyWatch's, and the local environment's own
STEPS = ("acme_dns01_present", "acme_dns01_presented", "acme_dns01_propagated")


def issuer(bind: BindServer, pebble: PebbleServer) -> dict[str, Any]:
    body = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "ClusterIssuer",
        "metadata": {"name": ISSUER},
        "spec": {
            "acme": {
                "server": "",
                "email": "bench@example.test",
                "privateKeySecretRef": {"name": "bind-account-key"},
                "solvers": [
                    {
                        "dns01": {
                            "rfc2136": bind.rfc2136_solver(secret_name="bind-tsig"),
                        }
                    }
                ],
            }
        },
    }
    return pointed_at(body, pebble)


def tsig_secret(bind: BindServer) -> dict[str, Any]:
    return bind.tsig_secret(namespace=CONTROLLER_NAMESPACE, name="bind-tsig")


def certificate(index: int) -> dict[str, Any]:
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": f"wild-{index}", "namespace": NAMESPACE},
        "spec": {
            "secretName": f"wild-{index}-tls",
            "dnsNames": [f"*.r{index}.example.test", f"r{index}.example.test"],
            "issuerRef": {"name": ISSUER, "kind": "ClusterIssuer"},
            "privateKey": {"algorithm": "ECDSA", "size": 256},
        },
    }


def challenge_steps(log: Path) -> dict[str, dict[str, float]]:
    """Challenge key -> step event -> wall-clock time, from the controller's JSON log."""
    steps: dict[str, dict[str, float]] = defaultdict(dict)
    for line in log.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        event = record.get("event")
        if event in (*STEPS, "acme_challenge_final") and "wild-" in str(record.get("challenge")):
            moment = datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00"))
            steps[str(record["challenge"])].setdefault(event, moment.timestamp())
    return steps


def summary(label: str, values: list[float]) -> str:
    if not values:
        return f"{label:<40} -"
    return (
        f"{label:<40} p50 {statistics.median(values) * 1000:8.1f} ms"
        f"   max {max(values) * 1000:8.1f} ms   (n={len(values)})"
    )


async def run(rounds: int) -> None:
    configure_logging("warning", json=False)
    workdir = Path(tempfile.mkdtemp(prefix="certmgr-bench-dns01-"))
    with BindServer() as bind:
        config = PebbleConfig(dns_server=bind.address)
        with PebbleServer(config, workdir=workdir / "pebble") as pebble:
            async with local_environment(workdir, pebble=pebble) as env:
                controller = env.start_controller(
                    f"--dns01-recursive-nameservers={bind.address}",
                    "--dns01-recursive-nameservers-only",
                )
                env.apply([tsig_secret(bind), issuer(bind, pebble)])
                await wait_for(
                    lambda: is_ready(
                        env.simulator.get("cert-manager.io/v1", "ClusterIssuer", ISSUER)
                    ),
                    what=f"ClusterIssuer Ready\n{controller.log_tail()}",
                    within=60,
                )
                kube = await KubeClient.connect(
                    kubeconfig=str(env.admin_kubeconfig), qps=1000, burst=1000
                )
                watch = ReadyWatch(kube)
                totals: list[float] = []
                try:
                    await watch.start()
                    for index in range(rounds):
                        name = f"wild-{index}"
                        started = time.perf_counter()
                        env.simulator.apply_many([certificate(index)])
                        try:
                            (ready,) = await watch.all_ready([name], within=60)
                        except TimeoutError as exc:
                            raise TimeoutError(f"{exc}\n{controller.log_tail()}") from None
                        totals.append(ready - started)
                    # Clean-up comes after Ready: wait until every TXT value is gone.
                    await wait_for(
                        lambda: all(
                            not bind.txt_values(f"_acme-challenge.r{i}.example.test.")
                            for i in range(rounds)
                        ),
                        what="TXT records removed",
                        within=30,
                    )
                finally:
                    await watch.stop()
                    await kube.close()
                steps = challenge_steps(controller.log_path)
    update, propagation, validation = [], [], []
    for times in steps.values():
        if all(s in times for s in (*STEPS, "acme_challenge_final")):
            update.append(times["acme_dns01_presented"] - times["acme_dns01_present"])
            propagation.append(times["acme_dns01_propagated"] - times["acme_dns01_presented"])
            validation.append(times["acme_challenge_final"] - times["acme_dns01_propagated"])
    print(f"DNS-01 through BIND 9 ({rounds} rounds, *.r<i>.example.test + r<i>.example.test)")
    print(summary("create -> Ready (Certificate)", totals))
    print(summary("per Challenge: DNS UPDATE (present)", update))
    print(summary("per Challenge: propagation wait", propagation))
    print(summary("per Challenge: CA validation -> final", validation))
    print("TXT records left after the run: 0")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(run(args.rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
