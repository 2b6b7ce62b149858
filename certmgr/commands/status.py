"""``certmgr status certificate NAME``: a Certificate's state and its issuance chain.

Owns gathering, as cmctl does: the Certificate, its Issuer or ClusterIssuer, its Secret,
the CertificateRequest for the revision in flight (or the current one), that request's
Order and the Order's Challenges, and the Events about each of them. Everything but the
Certificate itself is best effort: a lookup that fails (RBAC, a missing object) becomes
a line in the report instead of an error, because a partial picture is what debugging
needs. It must not write anything; ``report.py`` does the layout, ``chain.py`` the
matching.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from certmgr.commands.chain import (
    JSON,
    Found,
    IssuanceChain,
    current_request,
    owned_all,
    owned_one,
)
from certmgr.commands.connecting import (
    add_connection_flags,
    connect,
    describe_error,
    run_command,
    target_namespace,
)
from certmgr.commands.report import render
from certmgr.kube.errors import APIError, NotFound
from certmgr.kube.objects import ObjectList
from certmgr.kube.resources import (
    CERTIFICATEREQUESTS,
    CERTIFICATES,
    CHALLENGES,
    CLUSTERISSUERS,
    EVENTS,
    ISSUERS,
    ORDERS,
    SECRETS,
    Resource,
)
from certmgr.runtime.events import CLUSTER_SCOPED_NAMESPACE

T = TypeVar("T")


class StatusAPI(Protocol):
    """The Kubernetes reads the report needs (``certmgr.kube.KubeClient`` has them)."""

    async def get(
        self, resource: Resource, name: str, *, namespace: str | None = None
    ) -> dict[str, Any]: ...

    async def list(self, resource: Resource, *, namespace: str | None = None) -> ObjectList: ...


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = "example: certmgr status certificate my-crt --namespace my-namespace"
    parser.add_argument("name", metavar="NAME", help="the Certificate")
    add_connection_flags(parser)


def run(args: argparse.Namespace) -> int:
    async def main() -> int:
        async with connect(args) as client:
            namespace = target_namespace(args, client)
            try:
                chain = await gather(client, args.name, namespace=namespace)
            except NotFound:
                print(
                    f'certmgr: error: Certificate "{args.name}" not found in namespace {namespace}',
                    file=sys.stderr,
                )
                return 1
        sys.stdout.write(render(chain, now=datetime.now(UTC)))
        return 0

    return run_command(main, log_level=args.log_level)


async def gather(client: StatusAPI, name: str, *, namespace: str) -> IssuanceChain:
    """Read the Certificate (``NotFound`` propagates) and whatever belongs to it."""
    certificate = await client.get(CERTIFICATES, name, namespace=namespace)
    spec = certificate.get("spec") or {}
    issuer, issuer_kind = await _issuer(client, spec.get("issuerRef") or {}, namespace=namespace)
    secret = await _get(client, SECRETS, str(spec.get("secretName") or ""), namespace=namespace)

    requests, error = await _attempt(client.list(CERTIFICATEREQUESTS, namespace=namespace))
    request = (
        current_request(certificate, requests.items)
        if requests is not None
        else Found(note=f"error when listing CertificateRequests: {error}")
    )

    order: Found | None = None
    challenges: tuple[JSON, ...] = ()
    challenges_note = ""
    acme = issuer.object is not None and bool((issuer.object.get("spec") or {}).get("acme"))
    if request.object is not None and (acme or issuer.object is None):
        # Orders exist for ACME issuers only; when the issuer cannot be read, look anyway.
        orders, error = await _attempt(client.list(ORDERS, namespace=namespace))
        if orders is None:
            order = Found(note=f"error when listing Orders: {error}")
        else:
            order = owned_one(orders.items, request.object, kind="Order")
            if order.object is None and not acme:
                order = None  # nothing to say: maybe not an ACME issuer at all
    if order is not None and order.object is not None:
        found, error = await _attempt(client.list(CHALLENGES, namespace=namespace))
        if found is None:
            challenges_note = f"error when listing Challenges: {error}"
        else:
            challenges = owned_all(found.items, order.object)
            challenges_note = "" if challenges else "No Challenges found for this Order"

    events: list[JSON] = []
    namespaces = [namespace]
    if issuer_kind == "ClusterIssuer" and namespace != CLUSTER_SCOPED_NAMESPACE:
        namespaces.append(CLUSTER_SCOPED_NAMESPACE)  # where a ClusterIssuer's Events go
    for events_namespace in namespaces:
        listed, _ = await _attempt(client.list(EVENTS, namespace=events_namespace))
        events += listed.items if listed is not None else []

    return IssuanceChain(
        certificate=certificate,
        issuer=issuer,
        issuer_kind=issuer_kind,
        secret=secret,
        request=request,
        order=order,
        challenges=challenges,
        challenges_note=challenges_note,
        events=tuple(events),
    )


async def _issuer(client: StatusAPI, ref: dict[str, Any], *, namespace: str) -> tuple[Found, str]:
    kind = str(ref.get("kind") or "Issuer")
    group = str(ref.get("group") or "cert-manager.io")
    name = str(ref.get("name") or "")
    if group != "cert-manager.io":
        return (
            Found(note=f"{kind} {name!r} is of group {group}; third party issuers are not shown"),
            kind,
        )
    if kind == "ClusterIssuer":
        return await _get(client, CLUSTERISSUERS, name, namespace=None), kind
    return await _get(client, ISSUERS, name, namespace=namespace), kind


async def _get(client: StatusAPI, resource: Resource, name: str, *, namespace: str | None) -> Found:
    if not name:
        return Found(note=f"no {resource.kind} name set")
    obj, error = await _attempt(client.get(resource, name, namespace=namespace))
    if obj is None:
        where = f" in namespace {namespace}" if namespace else ""
        return Found(note=f"error when getting {resource.kind} {name!r}{where}: {error}")
    return Found(obj)


async def _attempt(call: Awaitable[T]) -> tuple[T | None, str]:
    """The result, or None and one line saying why (a partial report beats none)."""
    try:
        return await call, ""
    except APIError as exc:
        return None, describe_error(exc)
