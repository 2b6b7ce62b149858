"""``certmgr dev pebble``: run the test harness's Pebble + challtestsrv until interrupted.

Owns only argument parsing and printing; the processes are the same
:class:`~certmgr.testing.pebble.PebbleServer` the pytest fixture uses. It must not answer
challenges: run a solver on the printed HTTP-01 port.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from certmgr.testing.pebble import PebbleConfig, PebbleServer, generate_eab_key


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--http01-port", type=int, help="HTTP-01 validation port (default: free)")
    parser.add_argument(
        "--validity-seconds", type=int, help="certificateValidityPeriod of issued certificates"
    )
    parser.add_argument(
        "--nonce-reject-percent", type=int, help="PEBBLE_WFE_NONCEREJECT (Pebble default 5)"
    )
    parser.add_argument(
        "--authz-reuse-percent", type=int, help="PEBBLE_AUTHZREUSE (Pebble default 50)"
    )
    parser.add_argument(
        "--va-sleep", action="store_true", help="keep Pebble's random validation sleeps"
    )
    parser.add_argument(
        "--alternate-roots", type=int, default=0, help="PEBBLE_ALTERNATE_ROOTS (default 0)"
    )
    parser.add_argument(
        "--require-eab", action="store_true", help="require external account binding"
    )
    parser.add_argument(
        "--blocklist", action="append", default=[], metavar="DOMAIN", help="domainBlocklist entry"
    )


def run(args: argparse.Namespace) -> int:
    eab_keys = {"kid-1": generate_eab_key()} if args.require_eab else {}
    config = PebbleConfig(
        http01_port=args.http01_port,
        certificate_validity_period=args.validity_seconds,
        eab_keys=eab_keys,
        require_eab=args.require_eab,
        domain_blocklist=tuple(args.blocklist),
        nonce_reject_percent=args.nonce_reject_percent,
        authz_reuse_percent=args.authz_reuse_percent,
        va_nosleep=not args.va_sleep,
        alternate_roots=args.alternate_roots,
    )
    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    with PebbleServer(config) as server:
        lines = [
            f"directory:      {server.directory_url}",
            f"ca bundle:      {server.ca_bundle}",
            f"http-01 port:   {server.http01_port}",
            f"dns:            {server.dns_address}",
            f"management:     {server.management_url}",
            f"log:            {server.log_path}",
        ]
        lines += [f"eab:            {kid} {key}" for kid, key in eab_keys.items()]
        print("\n".join(lines), flush=True)
        print("Pebble is running; press Ctrl-C to stop.", file=sys.stderr, flush=True)
        stopping.wait()
    print("Pebble stopped.", file=sys.stderr)
    return 0
