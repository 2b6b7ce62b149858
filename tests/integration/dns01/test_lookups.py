"""The DNS-01 lookups against a real BIND: CNAMEs followed, zones found by SOA, TXT
propagation seen, and the errors when a name leads nowhere."""

from __future__ import annotations

import pytest

from certmgr.dns01.lookups import Resolver
from certmgr.dns01.nameservers import Nameserver, parse_nameserver
from certmgr.dns01.providers import DNS01Error
from certmgr.testing.bind import BindServer


def resolver(bind: BindServer) -> Resolver:
    return Resolver([parse_nameserver(bind.address)])


@pytest.mark.parametrize(
    ("dns_name", "follow", "fqdn"),
    [
        pytest.param("www.example.test", True, "_acme-challenge.www.example.test.", id="no-cname"),
        pytest.param(
            "alias.example.test", True, "_acme-challenge.delegated.example.test.", id="followed"
        ),
        pytest.param("alias.example.test", False, "_acme-challenge.alias.example.test.", id="none"),
    ],
)
async def test_challenge_fqdn(bind: BindServer, dns_name: str, follow: bool, fqdn: str) -> None:
    assert await resolver(bind).challenge_fqdn(dns_name, follow_cname=follow) == fqdn


async def test_a_cname_loop_is_an_error(bind: BindServer) -> None:
    with pytest.raises(DNS01Error, match="Found recursive CNAME record"):
        await resolver(bind).challenge_fqdn("loop1.example.test", follow_cname=True)


@pytest.mark.parametrize(
    ("fqdn", "zone"),
    [
        pytest.param("_acme-challenge.a.b.example.test.", "example.test.", id="climbs"),
        pytest.param("example.test.", "example.test.", id="apex"),
        pytest.param("_acme-challenge.refused.test.", "refused.test.", id="other-zone"),
    ],
)
async def test_find_zone(bind: BindServer, fqdn: str, zone: str) -> None:
    assert await resolver(bind).find_zone(fqdn) == zone


async def test_a_name_in_no_zone_is_an_error(bind: BindServer) -> None:
    # NXDOMAIN from every level up to the root: no SOA on the way.
    with pytest.raises(DNS01Error, match="Could not find the SOA record in the DNS tree"):
        await resolver(bind).find_zone("_acme-challenge.www.nowhere.invalid.")


async def test_authoritative_nameservers_are_the_zones_ns_records(bind: BindServer) -> None:
    assert await resolver(bind).authoritative_nameservers("example.test.") == (
        Nameserver("127.0.0.1", 53),
    )


async def test_txt_served_until_the_value_is_there(bind: BindServer) -> None:
    servers = [parse_nameserver(bind.address)]
    ok, detail = await resolver(bind).txt_served(
        "_acme-challenge.absent.example.test.", "v", nameservers=servers
    )
    assert not ok and "not served by 127.0.0.1" in detail


async def test_no_nameserver_answering_is_an_error() -> None:
    # A port nothing listens on: the query times out or is refused, never hangs.
    from certmgr.testing.pebble import free_port

    dead = Resolver([Nameserver("127.0.0.1", free_port())], timeout=0.2)
    with pytest.raises(DNS01Error, match="DNS query failed"):
        await dead.find_zone("_acme-challenge.example.test.")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("10.0.0.1", Nameserver("10.0.0.1", 53), id="bare"),
        pytest.param("10.0.0.1:5353", Nameserver("10.0.0.1", 5353), id="port"),
        pytest.param("[::1]:53", Nameserver("::1", 53), id="v6-port"),
        pytest.param("::1", Nameserver("::1", 53), id="v6-bare"),
    ],
)
def test_parse_nameserver(text: str, expected: Nameserver) -> None:
    assert parse_nameserver(text) == expected
