"""Which proxy reaches a CA, read from the environment the way ``requests`` reads it.

Owns ``environment_proxies`` (the ``*_proxy`` variables, none when ``NO_PROXY`` covers
the URL's host: the host or host:port itself or a domain above it, an IPv4 address, or
a CIDR block holding it) and ``select_proxy`` (the most specific of ``scheme://host``,
``scheme``, ``all://host``, ``all``), answering as ``requests.utils``' ``get_environ_proxies`` and
``select_proxy`` do (the tests compare them). It must not do I/O beyond reading the
environment.
"""

from __future__ import annotations

import os
import socket
import struct
import urllib.parse
import urllib.request
from collections.abc import Mapping


def environment_proxies(url: str) -> dict[str, str]:
    """The proxies by scheme for ``url``; empty when ``NO_PROXY`` covers its host."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname
    if host is None:
        return {}
    no_proxy = os.environ.get("no_proxy") or os.environ.get("NO_PROXY")
    if no_proxy and _listed(host, parts.port, no_proxy):
        return {}
    try:
        if urllib.request.proxy_bypass(host):
            return {}
    except (TypeError, socket.gaierror):
        pass
    return urllib.request.getproxies()


def select_proxy(url: str, proxies: Mapping[str, str]) -> str | None:
    parts = urllib.parse.urlsplit(url)
    if parts.hostname is None:
        return proxies.get(parts.scheme, proxies.get("all"))
    for key in (
        f"{parts.scheme}://{parts.hostname}",
        parts.scheme,
        f"all://{parts.hostname}",
        "all",
    ):
        if key in proxies:
            return proxies[key]
    return None


def _listed(host: str, port: int | None, no_proxy: str) -> bool:
    entries = [entry for entry in no_proxy.replace(" ", "").split(",") if entry]
    address = _ipv4(host)
    if address is not None:
        for entry in entries:
            network = _ipv4_network(entry)
            if network is not None:
                base, mask = network
                if address & mask == base & mask:
                    return True
            elif entry == host:
                return True
        return False
    host_and_port = f"{host}:{port}" if port else host
    for entry in entries:
        domain = entry.lstrip(".")
        if domain in (host, host_and_port):
            return True
        if host.endswith(f".{domain}") or host_and_port.endswith(f".{domain}"):
            return True
    return False


def _ipv4(text: str) -> int | None:
    # inet_aton, not ipaddress: the shorthand forms it accepts ("10.1") count too.
    try:
        packed = socket.inet_aton(text)
    except OSError:
        return None
    value: int = struct.unpack("!L", packed)[0]
    return value


def _ipv4_network(entry: str) -> tuple[int, int] | None:
    """``a.b.c.d/n`` (1 <= n <= 32) as (address, mask); None for anything else."""
    if entry.count("/") != 1:
        return None
    address_text, _, bits_text = entry.partition("/")
    try:
        bits = int(bits_text)
    except ValueError:
        return None
    address = _ipv4(address_text)
    if address is None or not 1 <= bits <= 32:
        return None
    return address, (0xFFFFFFFF << (32 - bits)) & 0xFFFFFFFF
