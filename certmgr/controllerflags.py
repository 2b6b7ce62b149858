"""``--controllers``, as cert-manager's: which of its controllers run.

Owns the cert-manager controller names certmgr has and the ones it does not, the value's
validation (``*``, ``name``, ``-name``; names must be cert-manager's) and the set it turns
off (cert-manager's EnabledControllers: ``gateway-shim`` is on only with
``--enable-gateway-api``, and ``-gateway-shim`` still turns it off). It must not start or
wire controllers (each ``setup`` asks ``Settings.runs``).
"""

from __future__ import annotations

import argparse
from typing import Final

# cert-manager's controllers (its names) that certmgr runs.
CERTMGR_CONTROLLERS: Final = frozenset(
    {
        "issuers",
        "clusterissuers",
        "certificates-metrics",
        "ingress-shim",
        "orders",
        "challenges",
        "certificaterequests-issuer-acme",
        "certificaterequests-approver",
        "certificaterequests-issuer-ca",
        "certificaterequests-issuer-selfsigned",
        "certificaterequests-issuer-vault",
        "certificaterequests-issuer-venafi",
        "certificates-trigger",
        "certificates-issuing",
        "certificates-key-manager",
        "certificates-request-manager",
        "certificates-readiness",
        "certificates-revision-manager",
    }
)
# On only with --enable-gateway-api (not part of "*"), as in cert-manager.
GATEWAY_SHIM: Final = "gateway-shim"
# cert-manager's controllers certmgr does not have: naming them only to disable them.
ABSENT_CONTROLLERS: Final = frozenset(
    {
        "certificatesigningrequests-issuer-acme",
        "certificatesigningrequests-issuer-ca",
        "certificatesigningrequests-issuer-selfsigned",
        "certificatesigningrequests-issuer-vault",
        "certificatesigningrequests-issuer-venafi",
    }
)


def controllers_value(text: str) -> str:
    """The argparse type: ``*`` (every controller), ``-name`` (not that one), ``name``
    (that one; only ``-name`` entries given means ``*`` too)."""
    entries = [entry.strip() for entry in text.split(",") if entry.strip()]
    if not entries:
        raise argparse.ArgumentTypeError("expected '*' or controller names")
    for entry in entries:
        if entry == "*":
            continue
        name = entry.removeprefix("-")
        if name in ABSENT_CONTROLLERS and not entry.startswith("-"):
            raise argparse.ArgumentTypeError(
                f"certmgr does not have the {name} controller: it can only be disabled"
            )
        if name not in CERTMGR_CONTROLLERS | ABSENT_CONTROLLERS | {GATEWAY_SHIM}:
            raise argparse.ArgumentTypeError(
                f"{name!r} is not in the list of known controllers: "
                + ", ".join(sorted(CERTMGR_CONTROLLERS))
            )
    return text


def gateway_shim_named(text: str) -> bool:
    """Whether the value turns ``gateway-shim`` on by name (it needs --enable-gateway-api)."""
    return GATEWAY_SHIM in (entry.strip() for entry in text.split(","))


def disabled_controllers(text: str, *, gateway_api: bool = False) -> frozenset[str]:
    """certmgr's controllers the value turns off: ``*`` enables them all, a name one,
    ``gateway_api`` (--enable-gateway-api) the gateway-shim, and every ``-name`` is
    removed last (cert-manager's EnabledControllers). Without ``gateway_api`` the
    gateway-shim is not among them: it is not set up at all."""
    enabled: set[str] = {GATEWAY_SHIM} if gateway_api else set()
    disabled: set[str] = set()
    for entry in (entry.strip() for entry in text.split(",")):
        if entry == "*":
            enabled |= CERTMGR_CONTROLLERS
        elif entry.startswith("-"):
            disabled.add(entry[1:])
        elif entry:
            enabled.add(entry)
    if disabled and not enabled - {GATEWAY_SHIM}:
        enabled |= CERTMGR_CONTROLLERS
    known = CERTMGR_CONTROLLERS | ({GATEWAY_SHIM} if gateway_api else set())
    return frozenset(known - (enabled - disabled))
