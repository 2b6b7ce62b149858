"""The DNS lookups of DNS-01, as cert-manager makes them: the challenge FQDN (following
CNAMEs), the zone (by SOA, climbing from the FQDN), the zone's authoritative nameservers,
and whether every one of a set of nameservers serves a TXT value.

Owns :class:`Resolver` (queries over dnspython's async UDP, TCP when truncated, each
nameserver in turn). Must not cache beyond one call or sleep: the controller decides
when to look again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.resolver

from certmgr.dns01.nameservers import Nameserver
from certmgr.dns01.providers import DNS01Error

TIMEOUT_SECONDS: Final = 10.0  # cert-manager's DNSTimeout
_MAX_CNAMES: Final = 16


def system_nameservers() -> tuple[Nameserver, ...]:
    """The nameservers of /etc/resolv.conf (cert-manager's default recursive ones)."""
    try:
        config = dns.resolver.Resolver()
    except dns.resolver.NoResolverConfiguration:
        return ()
    return tuple(Nameserver(str(ns), config.port) for ns in config.nameservers)


def to_fqdn(name: str) -> str:
    return name if name.endswith(".") else name + "."


class Resolver:
    """DNS queries to a fixed list of (recursive) nameservers, tried in order."""

    def __init__(
        self, nameservers: Sequence[Nameserver], *, timeout: float = TIMEOUT_SECONDS
    ) -> None:
        self.nameservers = tuple(nameservers)
        self._timeout = timeout

    async def query(
        self,
        name: str,
        rdtype: dns.rdatatype.RdataType,
        *,
        nameservers: Sequence[Nameserver] | None = None,
    ) -> dns.message.Message:
        """The first answer from ``nameservers`` (default: this resolver's); the last
        error as :class:`DNS01Error` when none answers."""
        servers = tuple(nameservers) if nameservers is not None else self.nameservers
        if not servers:
            raise DNS01Error("no nameservers to ask (none in /etc/resolv.conf?)")
        query = dns.message.make_query(name, rdtype, use_edns=0, payload=4096)
        error = ""
        for server in servers:
            try:
                reply = await dns.asyncquery.udp(
                    query, server.host, port=server.port, timeout=self._timeout
                )
                if reply.flags & dns.flags.TC:
                    reply = await dns.asyncquery.tcp(
                        query, server.host, port=server.port, timeout=self._timeout
                    )
                return reply
            except dns.exception.Timeout:
                error = f"no answer from {server} for {name} {rdtype.name}"
            except (dns.exception.DNSException, OSError) as exc:
                error = f"{server}: {name} {rdtype.name}: {exc}"
        raise DNS01Error(f"DNS query failed: {error}")

    async def challenge_fqdn(self, dns_name: str, *, follow_cname: bool) -> str:
        """``_acme-challenge.<dns_name>.``, or where its CNAME chain ends (cnameStrategy:
        Follow); a CNAME loop is an error."""
        fqdn = to_fqdn(f"_acme-challenge.{dns_name}").lower()
        if not follow_cname:
            return fqdn
        seen = [fqdn]
        for _ in range(_MAX_CNAMES):
            reply = await self.query(fqdn, dns.rdatatype.CNAME)
            if reply.rcode() != dns.rcode.NOERROR:
                return fqdn
            target = next(
                (
                    str(rrset[0].target).lower()
                    for rrset in reply.answer
                    if rrset.rdtype == dns.rdatatype.CNAME and str(rrset.name).lower() == fqdn
                ),
                None,
            )
            if target is None:
                return fqdn
            if target in seen:
                raise DNS01Error(
                    f'Found recursive CNAME record to "{target}" when looking up "{fqdn}"'
                )
            seen.append(target)
            fqdn = target
        raise DNS01Error(f'too many CNAME records when looking up "{seen[0]}"')

    async def find_zone(self, fqdn: str) -> str:
        """The zone of ``fqdn``: the owner of the first SOA found climbing from it."""
        name = dns.name.from_text(fqdn)
        listed = ", ".join(str(s) for s in self.nameservers)
        while len(name) > 1:  # the root zone is never the answer
            reply = await self.query(name.to_text(), dns.rdatatype.SOA)
            rcode = reply.rcode()
            if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
                raise DNS01Error(
                    f"When querying the SOA record for the domain '{name}' using nameservers "
                    f"[{listed}], rcode was expected to be 'NOERROR' or 'NXDOMAIN', but got "
                    f"'{dns.rcode.to_text(rcode)}'"
                )
            for rrset in reply.answer:
                if rrset.rdtype == dns.rdatatype.SOA:
                    return str(rrset.name).lower()
            name = name.parent()
        raise DNS01Error(
            f"Could not find the SOA record in the DNS tree for the domain '{fqdn}' using "
            f"nameservers [{listed}]"
        )

    async def authoritative_nameservers(self, zone: str) -> tuple[Nameserver, ...]:
        """The zone's NS records, resolved to addresses through this resolver, port 53."""
        reply = await self.query(zone, dns.rdatatype.NS)
        names = sorted(
            {
                str(rdata.target)
                for rrset in reply.answer
                if rrset.rdtype == dns.rdatatype.NS
                for rdata in rrset
            }
        )
        found: list[Nameserver] = []
        for host in names:
            for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
                answer = await self.query(host, rdtype)
                found.extend(
                    Nameserver(rdata.address)
                    for rrset in answer.answer
                    if rrset.rdtype == rdtype
                    for rdata in rrset
                )
        if not found:
            raise DNS01Error(f'Could not determine authoritative nameservers for "{zone}"')
        return tuple(found)

    async def txt_served(
        self, fqdn: str, value: str, *, nameservers: Sequence[Nameserver]
    ) -> tuple[bool, str]:
        """Whether every one of ``nameservers`` answers ``value`` among the TXT values at
        ``fqdn`` (cert-manager's checkAuthoritativeNss), and if not, which did not."""
        for server in nameservers:
            reply = await self.query(fqdn, dns.rdatatype.TXT, nameservers=(server,))
            rcode = reply.rcode()
            if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
                raise DNS01Error(f"NS {server} returned {dns.rcode.to_text(rcode)} for {fqdn}")
            values = {
                b"".join(rdata.strings).decode(errors="replace")
                for rrset in reply.answer
                if rrset.rdtype == dns.rdatatype.TXT
                for rdata in rrset
            }
            if value not in values:
                return False, f"the TXT record at {fqdn} is not served by {server} yet"
        return True, ""
