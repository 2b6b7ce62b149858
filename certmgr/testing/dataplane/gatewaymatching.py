"""Which HTTPRoute rule a Gateway listener sends a request to: the Gateway API's matching.

Owns the request-side rules of the spec, as pure functions and frozen tables:

- **hostnames**: ``*.example.com`` is a suffix match over one or more labels (not one, as
  for Ingress); a route attaches to a listener through the hostnames both accept, the
  more specific of each intersecting pair;
- **listener**: among the programmed listeners on the request's address and port (each
  Gateway has an address of its own), the one whose hostname matches most specifically
  (exact, then the longest wildcard, then none);
- **rule precedence**, across every route attached to that listener: the matching
  hostname with the most non-wildcard characters, then the most characters; then an
  ``Exact`` path, the longest ``PathPrefix``, a method match, the most header matches,
  the most query parameter matches; then the oldest route, ``namespace/name``, and the
  first rule and match in list order.

``PathPrefix`` matches whole path elements (``/foo`` matches ``/foo/bar``, not
``/foobar``). It must not do I/O, nor decide which routes attach (``gatewaymodel``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from certmgr.testing.dataplane.routing import ServiceBackend, path_matches

Specificity = tuple[int, int]  # (non-wildcard characters, characters) of the matched host
NO_HOST: Final[Specificity] = (0, 0)


def hostname_matches(pattern: str, host: str) -> bool:
    """Gateway API host matching: exact, or ``*.`` standing for one or more labels."""
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and len(host) > len(pattern) - 1
    return pattern == host


def intersect(listener: str | None, route: str) -> str | None:
    """The hostname a listener and a route hostname both accept (the more specific), or
    None when they do not intersect."""
    if listener is None or hostname_matches(listener, route):
        return route
    if hostname_matches(route, listener):
        return listener
    return None


def effective_hostnames(
    listener: str | None, route_hostnames: Sequence[str]
) -> tuple[str | None, ...]:
    """What a route serves on a listener; ``(None,)`` is every host, ``()`` nothing."""
    if not route_hostnames:
        return (listener,)
    found = (intersect(listener, h) for h in route_hostnames)
    return tuple(dict.fromkeys(h for h in found if h is not None))


def host_specificity(hostname: str | None, host: str) -> Specificity | None:
    """How specifically ``hostname`` matches the request's ``host``; None: no match."""
    if hostname is None:
        return NO_HOST
    if hostname == host:
        return (len(hostname), len(hostname))
    if hostname.startswith("*.") and hostname_matches(hostname, host):
        return (0, len(hostname))
    return None


@dataclass(frozen=True, slots=True)
class ValueMatch:
    """A header or query parameter condition (``Exact`` or ``RegularExpression``)."""

    name: str
    value: str
    regex: bool = False

    def accepts(self, given: str | None) -> bool:
        if given is None:
            return False
        return re.fullmatch(self.value, given) is not None if self.regex else given == self.value


@dataclass(frozen=True, slots=True)
class Request:
    """What matching looks at: host (normalized), path, method, headers, query."""

    host: str
    path: str
    method: str = "GET"
    headers: Mapping[str, str] | None = None  # lower-case names
    query: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class RouteMatch:
    """One ``matches[]`` entry of a rule."""

    path_type: str = "PathPrefix"
    path: str = "/"
    method: str | None = None
    headers: tuple[ValueMatch, ...] = ()
    query: tuple[ValueMatch, ...] = ()

    def accepts(self, request: Request) -> bool:
        if self.path_type == "RegularExpression":
            if re.fullmatch(self.path, request.path) is None:
                return False
        elif not path_matches(
            "Exact" if self.path_type == "Exact" else "Prefix", self.path, request.path
        ):
            return False
        if self.method is not None and request.method.upper() != self.method:
            return False
        headers = request.headers or {}
        if not all(h.accepts(headers.get(h.name.lower())) for h in self.headers):
            return False
        query = request.query or {}
        return all(q.accepts(query.get(q.name)) for q in self.query)

    def precedence(self) -> tuple[int, int, int, int, int]:
        """Larger is preferred (Exact, prefix length, method, headers, query)."""
        exact = 1 if self.path_type == "Exact" else 0
        length = len(self.path) if self.path_type != "RegularExpression" else 0
        return (exact, length, int(self.method is not None), len(self.headers), len(self.query))


@dataclass(frozen=True, slots=True)
class RuleEntry:
    """One rule of an attached route on one listener.

    ``backends``: one entry per backendRef with a non-zero weight; None marks a
    reference that did not resolve (requests that pick it get a 500, as the spec says).
    """

    route: str  # namespace/name
    age_key: tuple[str, str]  # (creationTimestamp, namespace/name)
    rule_index: int
    hostnames: tuple[str | None, ...]
    matches: tuple[RouteMatch, ...]
    backends: tuple[ServiceBackend | None, ...]


@dataclass(frozen=True, slots=True)
class ListenerEntry:
    """A programmed listener and the rules of the routes attached to it."""

    gateway: str  # namespace/name
    address: str  # the Gateway's own (status.addresses)
    name: str
    port: int
    hostname: str | None
    age_key: tuple[str, str]
    index: int
    rules: tuple[RuleEntry, ...] = ()
    certificate: tuple[str, str] | None = None  # (namespace, Secret name), HTTPS only


@dataclass(frozen=True, slots=True)
class Decision:
    """The rule a request hit: where it goes (``backends``, see ``RuleEntry``)."""

    listener: ListenerEntry
    rule: RuleEntry


@dataclass(frozen=True, slots=True)
class GatewayTable:
    """Every programmed listener of the data plane's Gateways, ready to match requests."""

    listeners: tuple[ListenerEntry, ...] = ()

    def listener_for(
        self, port: int, host: str, *, address: str | None = None
    ) -> ListenerEntry | None:
        """The most specific listener on ``address``:``port`` for ``host``. ``address``
        None: every Gateway's listeners (the oldest Gateway's on ties)."""
        best: tuple[Specificity, tuple[str, str], int] | None = None
        chosen: ListenerEntry | None = None
        for listener in self.listeners:
            if listener.port != port or address not in (None, listener.address):
                continue
            specificity = host_specificity(listener.hostname, host)
            if specificity is None:
                continue
            # Higher specificity first; then the older Gateway, then list order.
            key = ((-specificity[0], -specificity[1]), listener.age_key, listener.index)
            if best is None or key < best:
                best, chosen = key, listener
        return chosen

    def match(self, port: int, request: Request, *, address: str | None = None) -> Decision | None:
        """The rule the spec's precedence picks for ``request`` on ``port``, if any."""
        listener = self.listener_for(port, request.host, address=address)
        if listener is None:
            return None
        best: tuple[object, ...] | None = None
        chosen: RuleEntry | None = None
        for rule in listener.rules:
            specificity = _best_host(rule.hostnames, request.host)
            if specificity is None:
                continue
            for index, candidate in enumerate(rule.matches):
                if not candidate.accepts(request):
                    continue
                preferred = tuple(-x for x in (*specificity, *candidate.precedence()))
                key = (preferred, rule.age_key, rule.rule_index, index)
                if best is None or key < best:
                    best, chosen = key, rule
        return Decision(listener, chosen) if chosen is not None else None

    def certificate_for(
        self, port: int, server_name: str, *, address: str | None = None
    ) -> tuple[str, str] | None:
        """The Secret of the listener an SNI name selects on a TLS port, if any."""
        listener = self.listener_for(port, server_name, address=address)
        return listener.certificate if listener is not None else None

    def addresses(self) -> frozenset[str]:
        """Every address a programmed listener is served on."""
        return frozenset(listener.address for listener in self.listeners)


def _best_host(hostnames: tuple[str | None, ...], host: str) -> Specificity | None:
    found = [s for h in hostnames if (s := host_specificity(h, host)) is not None]
    return max(found) if found else None
