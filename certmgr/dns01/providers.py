"""The DNS-01 provider seam: what every DNS provider (RFC 2136, Route 53, a cert-manager
webhook, ...) implements, and what it is handed.

Owns :class:`ChallengeRequest` (cert-manager's webhook ``ChallengeRequest``, field for
field), :class:`DNS01Provider`, :class:`ProviderContext` and :class:`DNS01Error`.
Must not do I/O or know about Kubernetes objects beyond the client it passes along.

To plug a provider in: write ``build(config, context) -> DNS01Provider`` (``config`` is
the solver's block for it, e.g. ``dns01["route53"]``; raise :class:`DNS01Error` for a
configuration it cannot use) and add its module to ``registry.BUILDERS`` under cert-manager's
field name. The Challenge controller builds a provider per call (read Secrets in
``present``/``clean_up``, not in ``build``, or keep ``build`` cheap), resolves the FQDN
(``cnameStrategy: Follow``) and the zone by SOA before calling it, checks propagation
against the zone's authoritative nameservers after ``present``, and calls ``clean_up``
once the Challenge is final or deleted (a finalizer keeps it until then).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

from certmgr.kube.protocol import KubeAPI
from certmgr.runtime.clock import Clock


class DNS01Error(Exception):
    """A provider could not present or clean up; ``str(error)`` becomes the Challenge's
    reason and a Warning Event (so never put a secret in it). The controller retries
    with backoff: no provider needs a retry loop of its own."""


@dataclass(frozen=True, slots=True)
class ChallengeRequest:
    """One TXT value to present or clean up (cert-manager's webhook ``ChallengeRequest``).

    ``resolved_fqdn`` and ``resolved_zone`` end with a dot (``_acme-challenge.example.com.``,
    ``example.com.``). ``key`` is the TXT value. ``example.com`` and ``*.example.com``
    give two requests with the same FQDN and different keys: both values must coexist,
    and ``clean_up`` removes only its own value.
    """

    uid: str  # the Challenge's uid
    dns_name: str  # the identifier, without "*." (cert-manager's spec.dnsName)
    key: str
    resolved_fqdn: str
    resolved_zone: str
    resource_namespace: str  # where the provider's Secrets are read
    allow_ambient_credentials: bool = False
    # The solver's block for this provider, as in the Issuer (JSON), e.g. the
    # ``rfc2136`` or ``webhook`` mapping.
    config: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class ProviderContext:
    """What a provider may use: the Kubernetes client (Secrets, aggregated APIs) and the
    clock (every wait goes through it)."""

    client: KubeAPI
    clock: Clock


class DNS01Provider(Protocol):
    """Presents and cleans up TXT values at an FQDN in a zone (async, no sleeping).

    Both calls are idempotent: presenting a value that is there already, or cleaning up
    one that is gone, succeeds. ``present`` returns None once the change is made, or the
    seconds after which it wants to be called again (a change the provider accepted but
    has not applied yet, e.g. a Route 53 change still ``PENDING``); the controller then
    calls it again after that wait instead of blocking.
    """

    async def present(self, request: ChallengeRequest) -> float | None: ...

    async def clean_up(self, request: ChallengeRequest) -> None: ...
