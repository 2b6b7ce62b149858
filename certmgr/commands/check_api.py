"""``certmgr check api [--wait DURATION]``: is cert-manager's API usable, as cmctl check api?

Owns the probe (a dry-run create of a Certificate, as cmctl's cmapichecker: it needs the
CRDs installed and every admission webhook on the way to answer), cmctl's plain-language
reasons for the failures it recognises, and the retry loop of ``--wait`` / ``--interval``.
It must not write anything (``dryRun=All`` stores nothing).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol

from certmgr.commands.connecting import (
    add_connection_flags,
    connect,
    describe_error,
    run_command,
    target_namespace,
)
from certmgr.flagvalues import duration_seconds, positive_duration
from certmgr.kube.errors import APIError, NotFound
from certmgr.kube.resources import CERTIFICATES, Resource

READY: Final = "The cert-manager API is ready"
CRDS_NOT_FOUND: Final = "the cert-manager CRDs are not yet installed on the Kubernetes API server"
# cmapichecker's translations of webhook failures, by the message the API server returns.
_WEBHOOK_FAILURES: Final = (
    (
        re.compile(r'Post "(.*)": service "(.*)-webhook" not found'),
        "the cert-manager webhook service is not created yet",
    ),
    (
        re.compile(r'Post "(.*)": (.*): connect: connection refused'),
        "the cert-manager webhook deployment is not ready yet",
    ),
    (
        re.compile(r'Post "(.*)": x509: certificate signed by unknown authority'),
        "the cert-manager webhook CA bundle is not injected yet",
    ),
)
PROBE: Final[dict[str, Any]] = {
    "apiVersion": "cert-manager.io/v1",
    "kind": "Certificate",
    "metadata": {"generateName": "cmapichecker-"},
    "spec": {
        "dnsNames": ["cmapichecker.example"],
        "secretName": "cmapichecker",
        "issuerRef": {"name": "cmapichecker"},
    },
}


class DryRunAPI(Protocol):
    async def create(
        self,
        resource: Resource,
        obj: dict[str, Any],
        *,
        namespace: str | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Outcome:
    ready: bool
    reason: str = ""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Check that cert-manager's API is usable: a dry-run create of a Certificate "
        "(CRDs installed, admission webhooks answering), as cmctl check api. "
        "Exits 0 when ready, 1 with the reason otherwise."
    )
    parser.epilog = "example: certmgr check api --wait 2m"
    parser.add_argument(
        "--wait",
        type=duration_seconds,
        default=0.0,
        metavar="DURATION",
        help="keep checking until the API is ready or this long has passed (default 0s: once)",
    )
    parser.add_argument(
        "--interval",
        type=positive_duration,
        default=5.0,
        metavar="DURATION",
        help="time between checks when waiting (default 5s)",
    )
    add_connection_flags(parser)


def run(args: argparse.Namespace) -> int:
    async def main() -> int:
        async with connect(args) as client:
            namespace = target_namespace(args, client)
            outcome = await wait_until_ready(
                lambda: probe(client, namespace=namespace),
                wait=args.wait,
                interval=args.interval,
            )
        if not outcome.ready:
            print(f"certmgr: error: {outcome.reason}", file=sys.stderr)
            return 1
        print(READY)
        return 0

    return run_command(main, log_level=args.log_level)


async def probe(client: DryRunAPI, *, namespace: str) -> Outcome:
    """One dry-run create of a Certificate in ``namespace``."""
    try:
        await client.create(CERTIFICATES, PROBE, namespace=namespace, dry_run=True)
    except APIError as exc:
        return Outcome(ready=False, reason=reason_for(exc))
    return Outcome(ready=True)


def reason_for(exc: APIError) -> str:
    """cmctl's simple error and the server's words in brackets, or the server's words."""
    underlying = describe_error(exc)
    if isinstance(exc, NotFound) and not exc.details.get("name"):
        return f"{CRDS_NOT_FOUND} ({underlying})"  # the resource, not an object, is missing
    for pattern, simple in _WEBHOOK_FAILURES:
        if pattern.search(exc.message):
            return f"{simple} ({underlying})"
    return underlying


async def wait_until_ready(
    check: Callable[[], Awaitable[Outcome]],
    *,
    wait: float,
    interval: float,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Outcome:
    """Check now, then every ``interval`` until ready or more than ``wait`` has passed
    (cmctl's loop: ``wait`` 0 checks once); the last outcome."""
    start = monotonic()
    while True:
        outcome = await check()
        if outcome.ready or monotonic() - start >= wait:
            return outcome
        await sleep(interval)
