"""One name's address from one DNS server, for the HTTP-01 self-check.

Owns :class:`AddressLookup`: an A query (then AAAA) to the configured server. The plain
answer (NOERROR, the name's own A records, nothing truncated) is read here, over a
connected UDP socket kept for the next query; every other reply (NXDOMAIN, no records,
a CNAME, SERVFAIL, a truncated or malformed one) and every name this module does not
spell itself is asked again through dnspython's resolver, so those outcomes, their
retries and their errors stay dnspython's. It must not cache answers: the self-check
decides how long an address is used.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import struct
from typing import Final

import dns.asyncresolver
import dns.exception
import dns.resolver

_HEADER: Final = struct.Struct("!HHHHHH")
_RECORD: Final = struct.Struct("!HHIH")
_RECURSION_DESIRED: Final = 0x0100
_RESPONSE: Final = 0x8000
_OPCODE_TRUNCATED_RCODE: Final = 0x7800 | 0x0200 | 0x000F
_TYPE_A_CLASS_IN: Final = b"\x00\x01\x00\x01"
_POINTER_TO_QUESTION: Final = b"\xc0\x0c"  # the question's name, at offset 12
_IDLE_SOCKETS: Final = 16

# What ``AddressLookup.resolve`` raises besides OSError.
LOOKUP_ERRORS: Final[tuple[type[Exception], ...]] = (dns.exception.DNSException,)


def lookup_reason(exc: BaseException) -> str:
    """cert-manager's wording of a failed lookup."""
    if isinstance(exc, dns.resolver.NXDOMAIN):
        return "no such host"
    if isinstance(exc, dns.exception.Timeout):
        return "DNS timeout"
    if isinstance(exc, dns.resolver.NoAnswer | dns.resolver.NoNameservers):
        return "no address records"
    return type(exc).__name__


class AddressLookup:
    def __init__(self, *, host: str, port: int, timeout: float) -> None:
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [host]
        resolver.port = port
        resolver.lifetime = timeout
        self._resolver = resolver
        self._server = (host, port)
        self._family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._timeout = timeout
        self._idle: list[socket.socket] = []
        self._closed = False

    def close(self) -> None:
        self._closed = True
        while self._idle:
            self._idle.pop().close()

    async def resolve(self, name: str) -> str:
        """The first address of ``name``; raises dnspython's errors (``NXDOMAIN``,
        ``NoAnswer``, ``Timeout``...) as its resolver does."""
        address = await self._plain_answer(name)
        if address is not None:
            return address
        try:
            answer = await self._resolver.resolve(name, "A")
        except dns.resolver.NoAnswer:
            answer = await self._resolver.resolve(name, "AAAA")
        return str(answer[0])

    async def _plain_answer(self, name: str) -> str | None:
        """The address from a plain reply to one A query, or None (ask the resolver)."""
        qname = wire_name(name)
        if qname is None:
            return None
        query = _HEADER.pack(secrets.randbits(16), _RECURSION_DESIRED, 1, 0, 0, 0)
        query += qname + _TYPE_A_CLASS_IN
        loop = asyncio.get_running_loop()
        sock = self._idle.pop() if self._idle else None
        try:
            if sock is None:
                sock = socket.socket(self._family, socket.SOCK_DGRAM)
                sock.setblocking(False)
                sock.connect(self._server)  # replies from anyone else are never read
            await loop.sock_sendall(sock, query)
            async with asyncio.timeout(self._timeout):
                reply = await loop.sock_recv(sock, 65535)
                while reply[:2] != query[:2]:  # not ours: read on
                    reply = await loop.sock_recv(sock, 65535)
        except TimeoutError:
            if sock is not None:
                sock.close()
            raise dns.exception.Timeout(timeout=self._timeout) from None  # type: ignore[no-untyped-call]
        except OSError:
            # A connected UDP socket hears ICMP errors the resolver's does not: let the
            # resolver have its say.
            if sock is not None:
                sock.close()
            return None
        except BaseException:
            if sock is not None:
                sock.close()
            raise
        if len(self._idle) < _IDLE_SOCKETS and not self._closed:
            self._idle.append(sock)
        else:
            sock.close()
        return plain_address(reply, qname)


def wire_name(name: str) -> bytes | None:
    """``name`` as an absolute DNS name on the wire, or None when it is not plain ASCII
    labels (IDNA, escapes, empty or over-long labels are the resolver's to judge)."""
    labels = name.removesuffix(".").split(".")
    if not name or not name.isascii() or "\\" in name:
        return None
    wire = b""
    for label in labels:
        if not 0 < len(label) <= 63:
            return None
        wire += bytes([len(label)]) + label.encode()
    wire += b"\x00"
    return wire if len(wire) <= 255 else None


def plain_address(reply: bytes, qname: bytes) -> str | None:
    """The first A record of ``qname`` itself in a NOERROR, untruncated reply to our one
    question; None for anything else."""
    if len(reply) < _HEADER.size:
        return None
    _, flags, questions, answers, _, _ = _HEADER.unpack_from(reply)
    if not flags & _RESPONSE or flags & _OPCODE_TRUNCATED_RCODE or questions != 1 or not answers:
        return None
    end = _HEADER.size + len(qname)
    if reply[_HEADER.size : end].lower() != qname.lower():
        return None
    if reply[end : end + 4] != _TYPE_A_CLASS_IN:
        return None
    offset = end + 4
    if reply[offset : offset + 2] == _POINTER_TO_QUESTION:
        offset += 2
    elif reply[offset : offset + len(qname)].lower() == qname.lower():
        offset += len(qname)
    else:
        return None  # another name first (a CNAME chain): the resolver follows it
    if offset + _RECORD.size + 4 > len(reply):
        return None
    kind, klass, _, length = _RECORD.unpack_from(reply, offset)
    if (kind, klass, length) != (1, 1, 4):
        return None
    offset += _RECORD.size
    return socket.inet_ntoa(reply[offset : offset + 4])
