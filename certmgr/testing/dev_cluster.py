"""``certmgr dev cluster``: run the Kubernetes API simulator until interrupted.

Owns the command-line face of the simulator for the local demo: it starts the
server, writes its kubeconfig, optionally installs CRDs (ours, the Gateway API's) and
prints where to point kubectl, optionally with manifests applied and ServiceAccount
kubeconfigs written (so the demo's controller runs under the RBAC in ``deploy/``). It
must not add behaviour the in-process ``Simulator`` lacks.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path

from certmgr.cli import UsageError
from certmgr.testing import gatewayapi
from certmgr.testing.apiserver import Simulator


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kubeconfig",
        type=Path,
        default=Path(".certmgr/kubeconfig"),
        help="where to write the kubeconfig (default: .certmgr/kubeconfig)",
    )
    parser.add_argument("--port", type=int, default=0, help="listen port (default: a free one)")
    parser.add_argument(
        "--crds",
        type=Path,
        action="append",
        default=[],
        help="a CRD YAML file or a directory of them to install (repeatable)",
    )
    parser.add_argument(
        "--gateway-api",
        action="store_true",
        help="install the Gateway API CRDs (GatewayClass, Gateway, HTTPRoute, ReferenceGrant)",
    )
    parser.add_argument(
        "--apply",
        type=Path,
        action="append",
        default=[],
        help="manifests (file or directory) to create, e.g. deploy/ (repeatable)",
    )
    parser.add_argument(
        "--service-account",
        action="append",
        default=[],
        metavar="NAMESPACE/NAME",
        help="also write a kubeconfig with this ServiceAccount's token, next to --kubeconfig",
    )
    parser.add_argument(
        "--history-window", type=int, default=1000, help="watch events kept per resource"
    )
    parser.add_argument(
        "--max-requests-in-flight",
        type=int,
        default=None,
        help="answer 429 (Retry-After: 1) beyond this many requests at once, as APF would",
    )
    parser.add_argument(
        "--priority-and-fairness",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="send APF response headers (clients then drop their own rate limit)",
    )


async def _serve(args: argparse.Namespace) -> int:
    async with Simulator(
        port=args.port,
        history_window=args.history_window,
        priority_and_fairness=args.priority_and_fairness,
        max_requests_in_flight=args.max_requests_in_flight,
    ) as sim:
        if args.crds:
            sim.install_crds(args.crds)
        if args.gateway_api:
            sim.install_crds([gatewayapi.CRDS_DIR])
        if args.apply:
            sim.apply_manifests(args.apply)
        for account in args.service_account:
            namespace, _, name = account.partition("/")
            if not namespace or not name:
                raise UsageError(f"--service-account wants NAMESPACE/NAME, got {account!r}")
            token = sim.service_account_token(namespace, name)
            sa_path = args.kubeconfig.with_name(f"{args.kubeconfig.name}.{namespace}.{name}")
            sim.kubeconfig(sa_path, token=token)
            print(f"kubeconfig for {namespace}/{name} written to {sa_path}", flush=True)
        path = sim.kubeconfig(args.kubeconfig)
        print(f"API simulator listening on {sim.url}", flush=True)
        print(f"kubeconfig written to {path}  (export KUBECONFIG={path.resolve()})", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    return 0


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_serve(args))
