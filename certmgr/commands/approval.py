"""``certmgr approve`` / ``certmgr deny``: decide a CertificateRequest by hand, as
``cmctl approve`` / ``cmctl deny`` do.

Owns the flags (one name, ``--reason``, ``--message``, cmctl's defaults), the refusal of a
request already approved or denied (cmctl's messages), and setting ``Approved=True`` or
``Denied=True`` through the status subresource (a Conflict is an error, as in cmctl: the
request moved on; run it again). It must not sign or issue anything.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final, Protocol, TextIO

from certmgr.api.conditions import APPROVED, DENIED, Status, get_condition, set_condition
from certmgr.commands.connecting import (
    add_connection_flags,
    connect,
    run_command,
    target_namespace,
)
from certmgr.errors import UsageError
from certmgr.kube.resources import CERTIFICATEREQUESTS, Resource

DEFAULT_REASON: Final = "KubectlCertManager"  # cmctl's
# (condition type, verb, past tense)
APPROVE: Final = (APPROVED, "approve", "approved")
DENY: Final = (DENIED, "deny", "denied")


class DecideAPI(Protocol):
    async def get(
        self, resource: Resource, name: str, *, namespace: str | None = None
    ) -> dict[str, Any]: ...

    async def update_status(self, resource: Resource, obj: dict[str, Any]) -> dict[str, Any]: ...


def configure_decision(parser: argparse.ArgumentParser, decision: tuple[str, str, str]) -> None:
    _, verb, past = decision
    parser.epilog = (
        f"examples: certmgr {verb} my-cr; certmgr {verb} my-cr --namespace default; "
        f'certmgr {verb} my-cr --reason "Manual{verb.title()}" --message "by the PKI team"'
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="the CertificateRequest")
    parser.add_argument(
        "--reason",
        default=DEFAULT_REASON,
        help=f"the reason to give as to what {past} this CertificateRequest "
        f"(default: {DEFAULT_REASON})",
    )
    parser.add_argument(
        "--message",
        default=f'manually {past} by "certmgr"',
        help=f"the message to give as to why this CertificateRequest was {past}",
    )
    add_connection_flags(parser)


def validate(args: argparse.Namespace, decision: tuple[str, str, str]) -> None:
    _, verb, past = decision
    if not args.names:
        raise UsageError(
            f"the name of the CertificateRequest to {verb} has to be provided as an argument"
        )
    if len(args.names) > 1:
        raise UsageError("only one argument can be passed: the name of the CertificateRequest")
    if not args.reason:
        raise UsageError(f"a reason must be given as to who {past} this CertificateRequest")
    if not args.message:
        raise UsageError(f"a message must be given as to why this CertificateRequest is {past}")


def run_decision(args: argparse.Namespace, decision: tuple[str, str, str]) -> int:
    validate(args, decision)

    async def main() -> int:
        async with connect(args) as client:
            return await decide(
                client,
                decision,
                name=args.names[0],
                namespace=target_namespace(args, client),
                reason=args.reason,
                message=args.message,
                now=lambda: datetime.now(UTC),
            )

    return run_command(main, log_level=args.log_level)


async def decide(
    client: DecideAPI,
    decision: tuple[str, str, str],
    *,
    name: str,
    namespace: str,
    reason: str,
    message: str,
    now: Callable[[], datetime],
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Set the decision's condition unless the request is decided already; 0 or 1."""
    out = out or sys.stdout
    err = err or sys.stderr
    type_, _, past = decision
    request = await client.get(CERTIFICATEREQUESTS, name, namespace=namespace)
    status = dict(request.get("status") or {})
    conditions = status.get("conditions")
    for decided, word in ((APPROVED, "approved"), (DENIED, "denied")):
        found = get_condition(conditions, decided)
        if found is not None and found.is_true:
            print(f"certmgr: error: CertificateRequest is already {word}", file=err)
            return 1
    status["conditions"] = set_condition(
        conditions,
        type_=type_,
        status=Status.TRUE,
        reason=reason,
        message=message,
        observed_generation=None,
        now=now(),
    )
    await client.update_status(CERTIFICATEREQUESTS, {**request, "status": status})
    print(f"{past.title()} CertificateRequest '{namespace}/{name}'", file=out)
    return 0
