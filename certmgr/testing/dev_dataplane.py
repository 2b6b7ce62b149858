"""``certmgr dev dataplane``: run the data plane for an API server until interrupted.

Owns only argument parsing and printing; the router and pod runner are the same
:class:`~certmgr.testing.dataplane.DataPlane` the pytest fixture uses, so pointing it at
``certmgr dev cluster``'s kubeconfig (or a real API server without nodes) gives that
cluster an ingress controller (and, with ``--gateway-api``, a Gateway implementation)
and a node that runs solver Pods. It must not create any API object.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from certmgr.kube.errors import APIError, ConfigError
from certmgr.runtime.logging import LEVELS, configure_logging
from certmgr.testing.dataplane import DataPlane


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kubeconfig", help="kubeconfig of the API server (default: $KUBECONFIG)")
    parser.add_argument("--context", help="kubeconfig context")
    parser.add_argument(
        "--http-port", type=int, default=0, help="HTTP listener, e.g. Pebble's HTTP-01 port"
    )
    parser.add_argument("--https-port", type=int, help="HTTPS listener (off unless given)")
    parser.add_argument(
        "--ingress-class",
        default="nginx",
        help="serve Ingresses of this class; 'any' serves every class (default: nginx)",
    )
    parser.add_argument(
        "--ignore-ingress-without-class",
        action="store_true",
        help="do not serve Ingresses that name no class",
    )
    parser.add_argument(
        "--gateway-api",
        action="store_true",
        help="also implement GatewayClasses whose controllerName is certmgr.test/dataplane "
        "(listener port 80 on --http-port, 443 on --https-port; the CRDs must be installed)",
    )
    parser.add_argument("--log-level", choices=LEVELS, default="info", help="logs go to stderr")


def run(args: argparse.Namespace) -> int:
    configure_logging(args.log_level)
    try:
        return asyncio.run(_serve(args))
    except (ConfigError, APIError, OSError) as exc:
        print(f"certmgr: error: data plane: {exc}", file=sys.stderr)
        return 1


async def _serve(args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    plane = DataPlane(
        kubeconfig=args.kubeconfig,
        context=args.context,
        http_port=args.http_port,
        https_port=args.https_port,
        ingress_class=None if args.ingress_class == "any" else args.ingress_class,
        watch_ingress_without_class=not args.ignore_ingress_without_class,
        gateway_api=args.gateway_api,
    )
    async with plane:
        print(f"http:   {plane.router.http_url}", flush=True)
        if plane.https_port is not None:
            print(f"https:  {plane.router.https_url}", flush=True)
        print("The data plane is running; press Ctrl-C to stop.", file=sys.stderr, flush=True)
        await stop.wait()
    print("The data plane stopped.", file=sys.stderr)
    return 0
