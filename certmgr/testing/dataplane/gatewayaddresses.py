"""Which loopback address each of the data plane's Gateways is served on.

Owns :class:`GatewayAddresses`: every Gateway gets an address of its own, as a load
balancer per Gateway would, so two Gateways with catch-all listeners on one port do not
compete for requests: a client picks the Gateway by the address it dials (for Pebble,
the address its DNS answers). Addresses come from ``127.1.0.1`` up (``127.0.x.x`` is the
router's and the Pods'), are kept while the Gateway exists, and, after a restart of the
data plane, a Gateway gets back the address its status shows when that is still free. A
Gateway asking for an ``IPAddress`` in ``spec.addresses`` gets it when it is a free
loopback address outside ``127.0.0.0/16`` and the pool's own range. It must not bind
sockets (the router does) nor decide conditions (``gatewaymodel`` compares what was
asked with what was given).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final

from certmgr.testing.dataplane.gatewayrefs import Key

FIRST: Final = ipaddress.IPv4Address("127.1.0.1")
LAST: Final = ipaddress.IPv4Address("127.1.255.254")
_RESERVED: Final = ipaddress.IPv4Network("127.0.0.0/16")  # the router's and Pods' own
_LOOPBACK: Final = ipaddress.IPv4Network("127.0.0.0/8")


class GatewayAddresses:
    """Stable addresses by Gateway ``(namespace, name)``."""

    def __init__(self) -> None:
        self._given: dict[Key, str] = {}

    def assign(self, gateways: Iterable[Mapping[str, Any]]) -> dict[Key, str]:
        """The address of each Gateway in ``gateways`` (the ones the data plane serves),
        the oldest served first; Gateways no longer listed give theirs back."""
        ordered = sorted(gateways, key=_age_key)
        current = {_key(g) for g in ordered}
        self._given = {k: a for k, a in self._given.items() if k in current}
        taken = set(self._given.values())
        for gateway in ordered:
            key = _key(gateway)
            wanted = _requested(gateway)
            if key in self._given:
                if wanted in (None, self._given[key]):
                    continue
                taken.discard(self._given.pop(key))  # it asks for another one now
            if wanted is not None:
                if wanted not in taken and _requestable(wanted):
                    self._given[key] = wanted
                    taken.add(wanted)
                continue  # a taken or foreign address: none (AddressNotUsable)
            address = next((a for a in _shown(gateway) if a not in taken and _pooled(a)), None)
            address = address or next((a for a in _pool() if a not in taken), None)
            if address is not None:
                self._given[key] = address
                taken.add(address)
        return dict(self._given)


def _requested(gateway: Mapping[str, Any]) -> str | None:
    for entry in (gateway.get("spec") or {}).get("addresses") or ():
        if (entry.get("type") or "IPAddress") == "IPAddress" and entry.get("value"):
            return str(entry["value"])
    return None


def _shown(gateway: Mapping[str, Any]) -> list[str]:
    status = gateway.get("status") or {}
    return [str(a.get("value")) for a in status.get("addresses") or () if a.get("value")]


def _requestable(value: str) -> bool:
    try:
        address = ipaddress.IPv4Address(value)
    except ValueError:
        return False
    return address in _LOOPBACK and address not in _RESERVED and not _pooled(value)


def _pooled(value: str) -> bool:
    try:
        return FIRST <= ipaddress.IPv4Address(value) <= LAST
    except ValueError:
        return False


def _pool() -> Iterator[str]:
    for number in range(int(FIRST), int(LAST) + 1):
        address = ipaddress.IPv4Address(number)
        if address.packed[-1] not in (0, 255):
            yield str(address)


def _key(obj: Mapping[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    return (str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def _age_key(obj: Mapping[str, Any]) -> tuple[str, Key]:
    return (str((obj.get("metadata") or {}).get("creationTimestamp") or ""), _key(obj))
