"""Nameserver addresses as cert-manager's flags and ``dns01.nameservers`` spell them.

Owns :class:`Nameserver` and :func:`parse_nameserver`. Must not import dnspython: the
controllers parse their nameserver settings at start, and dnspython (~6 MB resident) is
loaded only by the first lookup (``certmgr.dns01.lookups``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Nameserver:
    host: str
    port: int = 53

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_nameserver(text: str) -> Nameserver:
    """``host``, ``host:port``, ``[v6]:port`` or a bare IPv6 address (port 53 by default)."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":") if rest.startswith(":") else ""
        if rest and not rest.startswith(":"):
            raise ValueError(f"invalid nameserver {text!r}")
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = text, ""
    if not host:
        raise ValueError(f"invalid nameserver {text!r}")
    number = int(port) if port else 53
    if not 0 < number < 65536:
        raise ValueError(f"invalid port in nameserver {text!r}")
    return Nameserver(host, number)
