"""The self-check's DNS lookup: the plain answer read directly, everything else as
dnspython's resolver answers it, against a DNS server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import cast

import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.rrset
import pytest

from certmgr.controllers.acme.addresslookup import AddressLookup, plain_address, wire_name

Answer = Callable[[dns.message.Message], list[dns.message.Message]]


def records(*texts: str) -> Answer:
    """Answer every question with these records ("name TYPE value")."""

    def answer(query: dns.message.Message) -> list[dns.message.Message]:
        reply = dns.message.make_response(query)
        qtype = query.question[0].rdtype
        for text in texts:
            name, kind, value = text.split()
            if kind == "CNAME" or dns.rdatatype.from_text(kind) == qtype:
                reply.answer.append(dns.rrset.from_text(name, 60, "IN", kind, value))
        return [reply]

    return answer


def rcode(code: dns.rcode.Rcode) -> Answer:
    def answer(query: dns.message.Message) -> list[dns.message.Message]:
        reply = dns.message.make_response(query)
        reply.set_rcode(code)
        return [reply]

    return answer


def stranger_first(query: dns.message.Message) -> list[dns.message.Message]:
    """A reply to another query id, then the real one."""
    other = dns.message.make_response(query)
    other.id = (query.id + 1) % 65536
    other.answer.append(dns.rrset.from_text(query.question[0].name, 60, "IN", "A", "10.0.0.9"))
    return [other, *records("a.test. A 10.0.0.1")(query)]


def silent(query: dns.message.Message) -> list[dns.message.Message]:
    return []


@dataclass
class Server(asyncio.DatagramProtocol):
    answer: Answer
    queries: list[str] = field(default_factory=list)
    transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = dns.message.from_wire(data)
        question = query.question[0]
        self.queries.append(f"{question.name} {dns.rdatatype.to_text(question.rdtype)}")
        assert self.transport is not None
        for reply in self.answer(query):
            self.transport.sendto(reply.to_wire(), addr)


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Answer], asyncio.Future[tuple[Server, int]]]]:
    transports: list[asyncio.DatagramTransport] = []

    async def start(answer: Answer) -> tuple[Server, int]:
        loop = asyncio.get_running_loop()
        transport, server = await loop.create_datagram_endpoint(
            lambda: Server(answer), local_addr=("127.0.0.1", 0)
        )
        transports.append(transport)
        return server, int(transport.get_extra_info("sockname")[1])

    yield start  # type: ignore[misc]
    for transport in transports:
        transport.close()


@pytest.mark.parametrize(
    ("answer", "name", "address", "queries"),
    [
        pytest.param(records("a.test. A 10.0.0.1"), "a.test", "10.0.0.1", 1, id="plain"),
        pytest.param(
            records("a.test. A 10.0.0.1", "a.test. A 10.0.0.2"), "a.test", "10.0.0.1", 1, id="two"
        ),
        pytest.param(records("A.Test. A 10.0.0.1"), "a.test.", "10.0.0.1", 1, id="case-and-dot"),
        pytest.param(stranger_first, "a.test", "10.0.0.1", 1, id="stranger-reply-skipped"),
        pytest.param(
            records("a.test. CNAME b.test.", "b.test. A 10.0.0.3"),
            "a.test",
            "10.0.0.3",
            2,
            id="cname-through-resolver",
        ),
        pytest.param(
            records("a.test. AAAA ::1"), "a.test", "::1", 3, id="no-a-then-aaaa-through-resolver"
        ),
        pytest.param(
            records("xn--bcher-kva.test. A 10.0.0.4"),
            "bücher.test",
            "10.0.0.4",
            1,
            id="idna-through-resolver",
        ),
    ],
)
async def test_addresses(
    serve: Callable[[Answer], asyncio.Future[tuple[Server, int]]],
    answer: Answer,
    name: str,
    address: str,
    queries: int,
) -> None:
    server, port = await serve(answer)
    lookup = AddressLookup(host="127.0.0.1", port=port, timeout=2.0)
    try:
        assert await lookup.resolve(name) == address
        assert await lookup.resolve(name) == address  # a kept socket works as well
    finally:
        lookup.close()
    assert len(server.queries) == 2 * queries


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        pytest.param(rcode(dns.rcode.NXDOMAIN), dns.resolver.NXDOMAIN, id="nxdomain"),
        pytest.param(records(), dns.resolver.NoAnswer, id="no-records"),
        pytest.param(rcode(dns.rcode.SERVFAIL), dns.resolver.NoNameservers, id="servfail"),
        pytest.param(silent, dns.exception.Timeout, id="timeout"),
    ],
)
async def test_failures_are_dnspythons(
    serve: Callable[[Answer], asyncio.Future[tuple[Server, int]]],
    answer: Answer,
    error: type[Exception],
) -> None:
    _, port = await serve(answer)
    lookup = AddressLookup(host="127.0.0.1", port=port, timeout=0.3)
    try:
        with pytest.raises(error):
            await lookup.resolve("a.test")
    finally:
        lookup.close()


@pytest.mark.parametrize(
    ("name", "wire"),
    [
        pytest.param("a.test", b"\x01a\x04test\x00", id="relative"),
        pytest.param("a.test.", b"\x01a\x04test\x00", id="absolute"),
        pytest.param("bücher.test", None, id="not-ascii"),
        pytest.param("a\\.b.test", None, id="escape"),
        pytest.param("a..test", None, id="empty-label"),
        pytest.param("x" * 64 + ".test", None, id="long-label"),
        pytest.param("", None, id="empty"),
    ],
)
def test_wire_name(name: str, wire: bytes | None) -> None:
    assert wire_name(name) == wire


def test_only_a_plain_reply_is_read() -> None:
    query = dns.message.make_query("a.test.", "A")
    qname = wire_name("a.test")
    assert qname is not None
    plain = dns.message.make_response(query)
    plain.answer.append(dns.rrset.from_text("a.test.", 60, "IN", "A", "10.0.0.1"))
    assert plain_address(plain.to_wire(), qname) == "10.0.0.1"
    truncated = dns.message.make_response(query)
    truncated.answer.append(dns.rrset.from_text("a.test.", 60, "IN", "A", "10.0.0.1"))
    truncated.flags |= dns.flags.TC
    assert plain_address(truncated.to_wire(), qname) is None
    other = dns.message.make_response(dns.message.make_query("b.test.", "A"))
    other.answer.append(dns.rrset.from_text("b.test.", 60, "IN", "A", "10.0.0.1"))
    assert plain_address(other.to_wire(), qname) is None
    assert plain_address(query.to_wire(), qname) is None  # a query, not a response
    assert plain_address(b"\x00" * 5, qname) is None


async def test_a_lookup_finishing_after_close_keeps_no_socket(
    serve: Callable[[Answer], asyncio.Future[tuple[Server, int]]],
) -> None:
    _, port = await serve(records("a.test. A 10.0.0.1"))
    lookup = AddressLookup(host="127.0.0.1", port=port, timeout=2.0)
    pending = asyncio.ensure_future(lookup.resolve("a.test"))
    await asyncio.sleep(0)  # the query is on its way
    lookup.close()
    assert await pending == "10.0.0.1"
    assert lookup._idle == []
