"""Pod mode entry point: ``python -m solvers --domain D --token T --key K``.

Accepts exactly cert-manager's ``acmesolver`` flags (``--listen-port``, ``--domain``,
``--token``, ``--key``, also as ``--flag=value``), which is all a solver Pod passes, and
listens on all interfaces as acmesolver does; ``--listen-host`` (ours) narrows that for
processes run outside a Pod. It serves that one challenge,
prints one ``listening on HOST:PORT`` line to stdout once bound (so a parent using
``--listen-port 0`` learns the port), logs at info and up (never a line per request),
and exits 0 on SIGTERM or SIGINT. It must not serve
anything but the challenge it was given.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence

from certmgr.runtime.logging import configure_logging
from solvers.server import serve
from solvers.tokens import StaticTokenSource


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m solvers", description="Answer one ACME HTTP-01 challenge."
    )
    # 0.0.0.0 as in a container: the Pod's network namespace makes "all interfaces" mean
    # the Pod's own address. Outside a Pod, pass the address to bind explicitly.
    parser.add_argument("--listen-host", default="0.0.0.0")
    parser.add_argument("--listen-port", type=int, default=8089)
    parser.add_argument("--domain", required=True, help="the identifier being validated")
    parser.add_argument("--token", required=True)
    parser.add_argument("--key", required=True, help="the key authorization to answer")
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> int:
    source = StaticTokenSource.single(domain=args.domain, token=args.token, key=args.key)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    runner = await serve(source, host=args.listen_host, port=args.listen_port)
    try:
        for address in runner.addresses:
            host, port = address[0], address[1]
            shown = f"[{host}]" if ":" in host else host
            print(f"listening on {shown}:{port}", flush=True)
        await stop.wait()
    finally:
        await runner.cleanup()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # structlog's default prints every level: one line per request under a flood. Each
    # answer is logged at debug; a Pod logs what is worth keeping (info and up).
    configure_logging("info", stream=sys.stderr)
    try:
        return asyncio.run(run(args))
    except OSError as exc:
        print(
            f"solver: cannot listen on {args.listen_host}:{args.listen_port}: {exc}",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
