"""``certmgr renew``: mark Certificates for manual renewal, as ``cmctl renew`` does.

Owns choosing the Certificates (names, ``--all``, ``-l``, in one namespace or ``-A``) and
setting ``Issuing=True`` reason ``ManuallyTriggered`` on each through the status
subresource; the trigger controller's policies then see an issuance in progress. Two
departures from cmctl, both for scripts: a Certificate already Issuing is skipped with a
message rather than rewritten, and a missing name is reported after the others are
handled (exit 1) instead of stopping at the first one. It must not issue anything itself.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Protocol, TextIO

from certmgr.api import reasons
from certmgr.api.conditions import ISSUING, Status, get_condition, set_condition
from certmgr.commands.connecting import (
    add_connection_flags,
    connect,
    describe_error,
    object_key,
    run_command,
    target_namespace,
)
from certmgr.errors import UsageError
from certmgr.kube.errors import APIError, Conflict, NotFound
from certmgr.kube.objects import ObjectList, name_of, namespace_of
from certmgr.kube.resources import CERTIFICATES, Resource

MESSAGE = "Certificate re-issuance manually triggered"
# A Certificate the controllers keep writing may conflict a few times in a row; more
# than this means something is fighting us and the user should hear about it.
MAX_ATTEMPTS = 5


class RenewAPI(Protocol):
    """The Kubernetes calls renewing needs (``certmgr.kube.KubeClient`` has them)."""

    async def get(
        self, resource: Resource, name: str, *, namespace: str | None = None
    ) -> dict[str, Any]: ...

    async def list(
        self,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
    ) -> ObjectList: ...

    async def update_status(self, resource: Resource, obj: dict[str, Any]) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Selection:
    """Which Certificates: ``names`` in ``namespace``, or all (``namespace=None``: every
    namespace) matching ``label_selector`` (``None`` with ``every``: no filter)."""

    names: tuple[str, ...] = ()
    namespace: str | None = "default"
    every: bool = False
    label_selector: str | None = None


class Outcome(Enum):
    TRIGGERED = "triggered"
    ALREADY_ISSUING = "already issuing"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "examples: certmgr renew my-app vault; certmgr renew -n kube-system --all; "
        "certmgr renew -A -l app=my-service"
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="Certificates to renew")
    parser.add_argument(
        "--all", action="store_true", help="renew every Certificate in the namespace (or with -A)"
    )
    parser.add_argument(
        "-A",
        "--all-namespaces",
        action="store_true",
        help="select Certificates across all namespaces (--namespace is ignored)",
    )
    parser.add_argument(
        "-l",
        "--selector",
        help="label selector to filter on, e.g. -l key1=value1,key2!=value2",
    )
    add_connection_flags(parser)


def validate(args: argparse.Namespace) -> None:
    """cmctl's rules (and kubectl's for a name with -A); raises ``UsageError``."""
    if args.selector and args.names:
        raise UsageError("cannot specify Certificate names in conjunction with label selectors")
    if args.selector and args.all:
        raise UsageError("cannot specify label selectors in conjunction with --all flag")
    if args.all and args.names:
        raise UsageError("cannot specify Certificate names in conjunction with --all flag")
    if args.all_namespaces and args.names:
        # cmctl would look the name up in every namespace and fail in the first one
        # lacking it; kubectl refuses the combination outright, which is clearer.
        raise UsageError("a Certificate cannot be retrieved by name across all namespaces")
    if not (args.all or args.names or args.selector):
        raise UsageError(
            "please either supply one or more Certificate resource names, label selectors, "
            "or use the --all flag to renew all Certificate resources"
        )


def run(args: argparse.Namespace) -> int:
    validate(args)

    async def main() -> int:
        async with connect(args) as client:
            # -A is one cluster-wide list (cmctl lists Namespaces, then each): same
            # Certificates, one request, and no need for RBAC on Namespaces.
            namespace = None if args.all_namespaces else target_namespace(args, client)
            selection = Selection(
                names=tuple(args.names),
                namespace=namespace,
                every=args.all,
                label_selector=args.selector or None,
            )
            return await renew(client, selection, now=lambda: datetime.now(UTC))

    return run_command(main, log_level=args.log_level)


async def renew(
    client: RenewAPI,
    selection: Selection,
    *,
    now: Callable[[], datetime],
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Trigger every selected Certificate; one line each. 0 when all went well, else 1."""
    out = out or sys.stdout
    err = err or sys.stderr
    failed = False
    targets: list[tuple[str | None, str, dict[str, Any] | None]]
    if selection.names:
        targets = [(selection.namespace, name, None) for name in selection.names]
    else:
        listed = await client.list(
            CERTIFICATES, namespace=selection.namespace, label_selector=selection.label_selector
        )
        targets = sorted(
            ((namespace_of(c), name_of(c), c) for c in listed.items),
            key=lambda target: (target[0] or "", target[1]),
        )
        if not targets:
            where = f" in {selection.namespace} namespace" if selection.namespace else ""
            print(f"No Certificates found{where}.", file=err)
            return 0
    for namespace, name, certificate in targets:
        key = object_key(namespace, name)
        try:
            if certificate is None:
                certificate = await client.get(CERTIFICATES, name, namespace=namespace)
            outcome = await trigger(client, certificate, now=now)
        except NotFound:
            print(
                f'certmgr: error: Certificate "{name}" not found in namespace {namespace}', file=err
            )
            failed = True
            continue
        except APIError as exc:
            print(
                f"certmgr: error: failed to trigger issuance of Certificate {key}: "
                f"{describe_error(exc)}",
                file=err,
            )
            failed = True
            continue
        if outcome is Outcome.TRIGGERED:
            print(f"Manually triggered issuance of Certificate {key}", file=out)
        else:
            print(f"Certificate {key} is already being issued; skipped", file=out)
    return 1 if failed else 0


async def trigger(
    client: RenewAPI,
    certificate: dict[str, Any],
    *,
    now: Callable[[], datetime],
    max_attempts: int = MAX_ATTEMPTS,
) -> Outcome:
    """Set Issuing=True/ManuallyTriggered unless already Issuing; a Conflict means the
    object moved on, so read it again and decide again (it may be Issuing by now)."""
    for attempt in range(1, max_attempts + 1):
        status = dict(certificate.get("status") or {})
        issuing = get_condition(status.get("conditions"), ISSUING)
        if issuing is not None and issuing.is_true:
            return Outcome.ALREADY_ISSUING
        generation = (certificate.get("metadata") or {}).get("generation")
        status["conditions"] = set_condition(
            status.get("conditions"),
            type_=ISSUING,
            status=Status.TRUE,
            reason=reasons.MANUALLY_TRIGGERED,
            message=MESSAGE,
            # cmctl writes the Certificate's generation; an unset (0) one is omitted.
            observed_generation=int(generation) if generation else None,
            now=now(),
        )
        try:
            await client.update_status(CERTIFICATES, {**certificate, "status": status})
            return Outcome.TRIGGERED
        except Conflict:
            if attempt == max_attempts:
                raise
            certificate = await client.get(
                CERTIFICATES, name_of(certificate), namespace=namespace_of(certificate)
            )
    raise AssertionError("unreachable")  # the loop returns or raises
