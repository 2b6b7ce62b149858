"""The pure half of the Order controller: which step is next, and the JSON it writes.

Owns :func:`next_step` (the decision on an Order's status and its Challenges' states),
the conversions between ACME objects and Order/Challenge JSON (authorization status,
identifiers, the Challenge manifest, the CSR in ``spec.request``) and the solver view
handed to ``select_solver``. No I/O, no clock.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from enum import StrEnum
from typing import Any, Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certmgr.acme.resources import Authorization, Identifier
from certmgr.api import labels
from certmgr.api.acme import State
from certmgr.controllers.acme.solver_objects import needs_finalizer
from certmgr.controllers.acme.writes import owner_reference
from certmgr.kube.resources import CHALLENGES, ORDERS
from certmgr.policies.solvers import ChallengeType, SolverSelector, SolverSelectorView
from certmgr.runtime.cache import Obj

_FINAL: Final = {s.value for s in State if s.is_final}
# ACME authorization states that our Order status enum has no name for.
_AUTHZ_STATE: Final = {"deactivated": "invalid", "revoked": "invalid"}


class Step(StrEnum):
    """What an Order needs next (pure decision on its status and its Challenges)."""

    CREATE = "create"  # no ACME order yet
    CHALLENGES = "challenges"  # ensure a Challenge per pending authorization, then wait
    CHECK = "check"  # every Challenge final: ask the CA how the order stands
    FINALIZE = "finalize"  # ready: send the CSR
    POLL = "poll"  # processing (or valid without a chain): ask again / download
    DONE = "done"  # final


def next_step(
    status: dict[str, Any], challenge_states: Sequence[str | None], *, has_chain: bool = False
) -> Step:
    """The next step for an Order with ``status`` whose Challenges are in these states;
    ``has_chain``: its ``status.certificate`` holds something, though the cache dropped it."""
    state = status.get("state") or ""
    if state in _FINAL and (state != State.VALID.value or has_chain or status.get("certificate")):
        return Step.DONE
    if not status.get("url"):
        return Step.CREATE
    if state == State.READY.value:
        return Step.FINALIZE
    if state in (State.PROCESSING.value, State.VALID.value):
        return Step.POLL
    # One entry per authorization still pending when the order was created (None: no
    # Challenge yet); none at all means every authorization was valid already (reused).
    if all(s in _FINAL for s in challenge_states):
        return Step.CHECK
    return Step.CHALLENGES


def owned_by_order(challenge: Obj) -> list[str]:
    """The index function of Challenges: the name of their owning Order."""
    refs = (challenge.get("metadata") or {}).get("ownerReferences") or ()
    return [str(ref.get("name")) for ref in refs if ref.get("kind") == ORDERS.kind]


def challenge_manifest(
    order: Obj,
    *,
    name: str,
    authorization: dict[str, Any],
    offer: dict[str, Any],
    key: str,
    solver: dict[str, Any],
) -> dict[str, Any]:
    """The Challenge for one pending authorization of ``order`` (its spec is immutable).

    ``offer`` is the authorization's challenge of the solver's type; ``key`` is its key
    authorization (HTTP-01) or TXT value (DNS-01), as cert-manager's ``spec.key``."""
    meta = order["metadata"]
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": meta["namespace"],
        "labels": dict(meta.get("labels") or {}),
        "ownerReferences": [owner_reference(order)],
    }
    if needs_finalizer(solver) or solver_type(solver) == "dns-01":
        # Only a path edited into a user's Ingress and a DNS-01 TXT record outlive the
        # Challenge (everything else is owned by it). Set at creation, so they are
        # removed even if the Challenge is deleted before the challenge controller
        # first sees it.
        metadata["finalizers"] = [labels.ACME_FINALIZER]
    return {
        "apiVersion": CHALLENGES.api_version,
        "kind": CHALLENGES.kind,
        "metadata": metadata,
        "spec": {
            "url": offer["url"],
            "authorizationURL": authorization["url"],
            "dnsName": str(authorization.get("identifier") or ""),
            "wildcard": bool(authorization.get("wildcard")),
            "type": challenge_type_name(solver),
            "token": offer["token"],
            "key": key,
            "solver": solver,
            "issuerRef": (order.get("spec") or {}).get("issuerRef"),
        },
    }


def pending_authorizations(status: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        a
        for a in status.get("authorizations") or ()
        if a.get("initialState") not in (State.VALID.value,)
    ]


def authorization_status(authz: Authorization) -> dict[str, Any]:
    return {
        "url": authz.url,
        "identifier": authz.identifier.value,
        "wildcard": authz.wildcard,
        "initialState": _AUTHZ_STATE.get(authz.status, authz.status),
        "challenges": [{"url": c.url, "token": c.token, "type": c.type} for c in authz.challenges],
    }


def identifiers_of(spec: dict[str, Any]) -> list[Identifier]:
    dns = list(dict.fromkeys(spec.get("dnsNames") or ()))
    ips = list(dict.fromkeys(spec.get("ipAddresses") or ()))
    common_name = spec.get("commonName")
    if common_name and common_name not in dns and common_name not in ips:
        dns.append(common_name)
    return [Identifier.dns(d) for d in dns] + [Identifier.ip(i) for i in ips]


def solver_view(solver: dict[str, Any]) -> SolverSelectorView:
    selector = solver.get("selector")
    view = None
    if selector is not None:
        view = SolverSelector(
            dns_names=tuple(selector.get("dnsNames") or ()),
            dns_zones=tuple(selector.get("dnsZones") or ()),
            match_labels=dict(selector.get("matchLabels") or {}),
        )
    return SolverSelectorView(solver_type(solver), view)


def solver_type(solver: dict[str, Any]) -> ChallengeType:
    """The ACME challenge type a solver answers: ``dns-01`` for a ``dns01`` block (every
    provider: one certmgr does not support is selected anyway, and the Challenge says
    why, as in cert-manager), ``http-01`` for an Ingress or a gatewayHTTPRoute solver
    (the latter presented only with --enable-gateway-api: the Challenge's reason says so
    otherwise)."""
    if solver.get("dns01") is not None:
        return "dns-01"
    http01 = solver.get("http01") or {}
    if http01.get("ingress") is not None or http01.get("gatewayHTTPRoute") is not None:
        return "http-01"
    return "none"


def challenge_type_name(solver: dict[str, Any]) -> str:
    """The Challenge's ``spec.type`` (cert-manager's spelling: ``HTTP-01``, ``DNS-01``)."""
    return "DNS-01" if solver_type(solver) == "dns-01" else "HTTP-01"


def csr_pem(order: Obj) -> bytes:
    raw = base64.b64decode((order.get("spec") or {}).get("request") or "")
    if raw.lstrip().startswith(b"-----BEGIN"):
        return raw
    # cert-manager documents the field as DER; accept that form too.
    return x509.load_der_x509_csr(raw).public_bytes(serialization.Encoding.PEM)
