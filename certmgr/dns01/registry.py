"""Which provider serves a solver's ``dns01`` block, or why none does.

Owns :data:`BUILDERS` (cert-manager's provider field name -> the module whose ``build``
makes it), :func:`provider_for` and the not-supported reasons. A provider's module (and
what it needs: dnspython's update and TSIG, the AWS SDK) is imported by the first solver
that names it, never at start. Must not do I/O: builders only validate configuration.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

from certmgr.dns01.providers import DNS01Error, DNS01Provider, ProviderContext

Builder: TypeAlias = Callable[[Mapping[str, Any], ProviderContext], DNS01Provider]

# The fields of cert-manager's ACMEChallengeSolverDNS01 that name a provider, in the
# order cert-manager looks at them.
PROVIDER_FIELDS: Final = (
    "akamai",
    "cloudDNS",
    "cloudflare",
    "route53",
    "azureDNS",
    "digitalocean",
    "acmeDNS",
    "rfc2136",
    "webhook",
)

BUILDERS: Final[dict[str, str]] = {
    "rfc2136": "certmgr.dns01.rfc2136",
    "route53": "certmgr.dns01.route53",
    "webhook": "certmgr.dns01.webhook",
}


@dataclass(frozen=True, slots=True)
class Unsupported:
    """No provider: ``reason`` goes on the Challenge and into a Warning Event."""

    reason: str


@dataclass(frozen=True, slots=True)
class Selected:
    """The provider for a solver, and its name and block (``ChallengeRequest.config``)."""

    name: str
    config: Mapping[str, Any]
    provider: DNS01Provider


def provider_name(dns01: Mapping[str, Any]) -> str | None:
    """The provider field set in a ``dns01`` block (the first, as cert-manager), if any."""
    return next((f for f in PROVIDER_FIELDS if dns01.get(f) is not None), None)


def unsupported_solvers(solvers: list[Any]) -> list[str]:
    """For an issuer's ``spec.acme.solvers``: one line per dns01 solver whose provider
    certmgr does not build (pure: configuration errors show when a Challenge uses it)."""
    notes = []
    for index, solver in enumerate(solvers):
        dns01 = solver.get("dns01") if isinstance(solver, Mapping) else None
        if not isinstance(dns01, Mapping):
            continue
        name = provider_name(dns01)
        if name is None:
            notes.append(f"solvers[{index}]: no dns provider config specified")
        elif name not in BUILDERS:
            notes.append(f"solvers[{index}]: the dns01 provider {name!r} is not supported")
    return notes


def provider_for(dns01: Mapping[str, Any], context: ProviderContext) -> Selected | Unsupported:
    """The provider configured by a solver's ``dns01`` block."""
    name = provider_name(dns01)
    if name is None:
        return Unsupported("no dns provider config specified for challenge")
    module = BUILDERS.get(name)
    if module is None:
        return Unsupported(
            f"the dns01 provider {name!r} is not supported by certmgr "
            f"(supported: {', '.join(sorted(BUILDERS))})"
        )
    config = dns01[name]
    if not isinstance(config, Mapping):
        return Unsupported(f"the dns01 {name} configuration is not an object")
    builder: Builder = importlib.import_module(module).build
    try:
        return Selected(name, config, builder(config, context))
    except DNS01Error as exc:
        return Unsupported(f"error instantiating {name} challenge solver: {exc}")
