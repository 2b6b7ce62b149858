"""The DNS-01 side of a Challenge: present, check propagation, clean up.

Owns :class:`DNS01Solving`: from a DNS-01 Challenge it builds cert-manager's
``ChallengeRequest`` (the ``_acme-challenge`` FQDN, CNAMEs followed with ``cnameStrategy:
Follow``, the zone by SOA, the Secrets' namespace, ambient credentials), picks the
provider from the solver's ``dns01`` block (:mod:`certmgr.dns01.registry`) and calls it;
the propagation check asks the zone's authoritative nameservers (or, with
``--dns01-recursive-nameservers-only``, the recursive ones) for the TXT value. It must
not schedule, write status or wait: the Challenge controller does, with its backoff.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import structlog

from certmgr.api.meta import CLUSTER_ISSUER_KIND
from certmgr.controllers.acme.selfcheck import CheckResult
from certmgr.controllers.context import Context
from certmgr.dns01.nameservers import Nameserver, parse_nameserver
from certmgr.dns01.providers import ChallengeRequest, DNS01Error, ProviderContext
from certmgr.dns01.registry import Selected, Unsupported, provider_for
from certmgr.runtime.cache import Obj

if TYPE_CHECKING:
    from certmgr.dns01.lookups import Resolver

log = structlog.get_logger(__name__)


class DNS01Solving:
    def __init__(
        self, ctx: Context, *, nameservers: Sequence[Nameserver] = (), recursive_only: bool = False
    ) -> None:
        self._ctx = ctx
        self._nameservers = tuple(nameservers)
        self._resolver: Resolver | None = None  # made by the first DNS-01 Challenge
        self._recursive_only = recursive_only
        self._providers = ProviderContext(client=ctx.client, clock=ctx.clock)

    async def present(self, challenge: Obj) -> float | None:
        """Present the Challenge's TXT value; None when done, else seconds until the
        provider wants to be asked again. :class:`DNS01Error` says why it cannot."""
        selected = self._provider(challenge)
        request = await self._request(challenge, selected.config)
        log.info(
            "acme_dns01_present",
            challenge=_key(challenge),
            provider=selected.name,
            fqdn=request.resolved_fqdn,
            zone=request.resolved_zone,
        )
        again = await selected.provider.present(request)
        if again is None:
            log.info("acme_dns01_presented", challenge=_key(challenge), fqdn=request.resolved_fqdn)
        return again

    async def check(self, challenge: Obj) -> CheckResult:
        """Whether the TXT value is served where the CA will look (cert-manager's Check,
        without its fixed 60 s wait afterwards)."""
        spec = challenge.get("spec") or {}
        dns01 = _dns01(challenge)
        resolver, recursive_only = self._resolver_for(dns01)
        fqdn = await resolver.challenge_fqdn(
            str(spec.get("dnsName") or ""), follow_cname=_follows_cname(dns01)
        )
        if recursive_only:
            servers: Sequence[Nameserver] = resolver.nameservers
        else:
            zone = await resolver.find_zone(fqdn)
            servers = await resolver.authoritative_nameservers(zone)
        ok, detail = await resolver.txt_served(
            fqdn, str(spec.get("key") or ""), nameservers=servers
        )
        if ok:
            log.info("acme_dns01_propagated", challenge=_key(challenge), fqdn=fqdn)
        return CheckResult(ok, detail)

    async def clean_up(self, challenge: Obj) -> None:
        """Remove the Challenge's TXT value (others at the same name stay). Nothing to do
        for a provider certmgr does not support: nothing was presented."""
        try:
            selected = self._provider(challenge)
        except DNS01Error:
            return
        request = await self._request(challenge, selected.config)
        await selected.provider.clean_up(request)
        log.info("acme_dns01_cleaned_up", challenge=_key(challenge), fqdn=request.resolved_fqdn)

    def _resolver_for(self, dns01: Mapping[str, Any]) -> tuple[Resolver, bool]:
        """The solver's own ``nameservers`` (then only those are asked, as cert-manager),
        else the controller's."""
        # dnspython, resident once loaded, only for DNS-01 (certmgr.dns01.nameservers).
        from certmgr.dns01.lookups import Resolver, system_nameservers

        own = dns01.get("nameservers")
        if not own:
            if self._resolver is None:
                self._resolver = Resolver(self._nameservers or system_nameservers())
            return self._resolver, self._recursive_only
        try:
            return Resolver([parse_nameserver(str(n)) for n in own]), True
        except ValueError as exc:
            raise DNS01Error(f"dns01.nameservers: {exc}") from None

    def _provider(self, challenge: Obj) -> Selected:
        found = provider_for(_dns01(challenge), self._providers)
        if isinstance(found, Unsupported):
            raise DNS01Error(found.reason)
        return found

    async def _request(self, challenge: Obj, config: Mapping[str, Any]) -> ChallengeRequest:
        meta = challenge.get("metadata") or {}
        spec = challenge.get("spec") or {}
        dns_name = str(spec.get("dnsName") or "")
        dns01 = _dns01(challenge)
        resolver, _ = self._resolver_for(dns01)
        fqdn = await resolver.challenge_fqdn(dns_name, follow_cname=_follows_cname(dns01))
        zone = await resolver.find_zone(fqdn)
        settings = self._ctx.settings
        cluster = ((spec.get("issuerRef") or {}).get("kind") or "") == CLUSTER_ISSUER_KIND
        return ChallengeRequest(
            uid=str(meta.get("uid") or ""),
            dns_name=dns_name,
            key=str(spec.get("key") or ""),
            resolved_fqdn=fqdn,
            resolved_zone=zone,
            resource_namespace=(
                settings.cluster_resource_namespace if cluster else str(meta.get("namespace"))
            ),
            allow_ambient_credentials=(
                settings.cluster_issuer_ambient_credentials
                if cluster
                else settings.issuer_ambient_credentials
            ),
            config=config,
        )


def _dns01(challenge: Obj) -> Mapping[str, Any]:
    solver = (challenge.get("spec") or {}).get("solver") or {}
    dns01 = solver.get("dns01")
    if not isinstance(dns01, Mapping):
        raise DNS01Error("no dns01 challenge solver configuration found")
    return dns01


def _follows_cname(dns01: Mapping[str, Any]) -> bool:
    return dns01.get("cnameStrategy") == "Follow"


def _key(challenge: Obj) -> str:
    meta = challenge.get("metadata") or {}
    return f"{meta.get('namespace')}/{meta.get('name')}"
