"""The local Route 53's name server: moto's public hosted zones answered over DNS (UDP).

Owns the authoritative answers built from the record sets moto holds, as Route 53's name
servers give them: every multivalue record set of a name and type in one answer (so both
``_acme-challenge`` values of ``example.test`` + ``*.example.test`` are seen), NXDOMAIN or
NODATA with the zone's SOA, REFUSED outside the zones. It runs in the peer's process
(:mod:`certmgr.testing.route53_peer`) and must not change moto's state.
"""

from __future__ import annotations

import socketserver
import threading
import traceback
from collections.abc import Iterable
from typing import Any

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

ACCOUNT_ID = "123456789012"


def _zones() -> list[Any]:
    from moto.route53.models import route53_backends

    backend = route53_backends[ACCOUNT_ID]["aws"]
    return [zone for zone in list(backend.zones.values()) if not zone.private_zone]


def _name(text: str) -> dns.name.Name:
    return dns.name.from_text(text if text.endswith(".") else text + ".")


def _rrset(name: dns.name.Name, kind: str, sets: Iterable[Any]) -> dns.rrset.RRset:
    rdtype = dns.rdatatype.from_text(kind)
    answer = dns.rrset.RRset(name, dns.rdataclass.IN, rdtype)
    for record_set in sets:
        ttl = int(record_set.ttl or 300)
        for value in record_set.records:
            # moto keeps the records of a change as strings, the zone's own SOA as dicts.
            text = value["Value"] if isinstance(value, dict) else value
            rdata = dns.rdata.from_text(
                dns.rdataclass.IN, rdtype, text, origin=dns.name.root, relativize=False
            )
            answer.add(rdata, ttl)
    return answer


def answer(query: dns.message.Message) -> dns.message.Message:
    """The authoritative answer to ``query`` from moto's public hosted zones."""
    response = dns.message.make_response(query)
    response.flags |= dns.flags.AA
    if not query.question:
        response.set_rcode(dns.rcode.FORMERR)
        return response
    question = query.question[0]
    qname = question.name
    zones = [(zone, _name(zone.name)) for zone in _zones()]
    inside = [(zone, origin) for zone, origin in zones if qname.is_subdomain(origin)]
    if not inside:
        response.flags &= ~dns.flags.AA
        response.set_rcode(dns.rcode.REFUSED)
        return response
    zone, origin = max(inside, key=lambda pair: len(pair[1]))
    record_sets = list(zone.rrsets)
    at_name = [rs for rs in record_sets if _name(rs.name) == qname]
    wanted = dns.rdatatype.to_text(question.rdtype)
    matching = [rs for rs in at_name if rs.type == wanted]
    if matching:
        response.answer.append(_rrset(qname, wanted, matching))
        return response
    cnames = [rs for rs in at_name if rs.type == "CNAME"]
    if cnames:
        response.answer.append(_rrset(qname, "CNAME", cnames))
        return response
    soa = [rs for rs in record_sets if rs.type == "SOA" and _name(rs.name) == origin]
    if soa:
        response.authority.append(_rrset(origin, "SOA", soa))
    below = any(_name(rs.name).is_subdomain(qname) for rs in record_sets)
    if not at_name and not below:
        response.set_rcode(dns.rcode.NXDOMAIN)
    return response


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        data, sock = self.request
        try:
            query = dns.message.from_wire(data)
        except Exception:
            return
        try:
            reply = answer(query)
        except Exception:
            traceback.print_exc()
            reply = dns.message.make_response(query)
            reply.set_rcode(dns.rcode.SERVFAIL)
        sock.sendto(reply.to_wire(max_size=65535), self.client_address)


def start_dns_server(host: str) -> socketserver.ThreadingUDPServer:
    """Answer on ``host`` at a free UDP port (``server_address[1]``), in a daemon thread."""
    server = socketserver.ThreadingUDPServer((host, 0), _Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="route53-dns", daemon=True).start()
    return server
