"""Which Service an ingress controller sends a request to: Ingress objects -> a route table.

Owns the ingress-nginx matching rules the data plane imitates, as pure functions over
Ingress JSON dicts:

- **class**: an Ingress is ours when ``spec.ingressClassName`` or the
  ``kubernetes.io/ingress.class`` annotation names our class, or when it names none and
  we also serve class-less Ingresses (``--watch-ingress-without-class``);
- **server, then location** (nginx): the host picks one server first (an exact host,
  else the only-one-label wildcard ``*.example.com``, else the rules without a host);
  the path is then matched only inside that server, so a host with no matching path
  is a 404 even when a host-less rule would have matched;
- **location**: ``Exact`` paths first, then the longest prefix. ``Prefix`` matches whole
  path elements (``/foo`` matches ``/foo/bar``, not ``/foobar``); ``ImplementationSpecific``
  is nginx's plain string prefix, as ingress-nginx renders it without ``use-regex``;
- **ties** (the same path in two Ingresses): the oldest Ingress wins, then namespace/name.

It also answers which TLS Secret serves a server name. It must not do I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from solvers import normalize_host

CLASS_ANNOTATION: Final = "kubernetes.io/ingress.class"
PathType = Literal["Exact", "Prefix", "ImplementationSpecific"]
_PATH_TYPES: Final[dict[str, PathType]] = {
    "Exact": "Exact",
    "Prefix": "Prefix",
    "ImplementationSpecific": "ImplementationSpecific",
}


@dataclass(frozen=True, slots=True)
class ServiceBackend:
    """``backend.service`` of an Ingress path: a Service port by number or by name."""

    namespace: str
    name: str
    port: int | str


@dataclass(frozen=True, slots=True)
class Route:
    """One Ingress path. ``backend`` is ``None`` for backends we cannot serve (resource)."""

    host: str
    path: str
    path_type: PathType
    backend: ServiceBackend | None
    ingress: str
    age_key: tuple[str, str]


@dataclass(frozen=True, slots=True)
class IngressClassFilter:
    """Which Ingresses an ingress controller of class ``name`` serves.

    ``name=None`` serves every Ingress whatever its class (handy against a cluster where
    the test does not control the class).
    """

    name: str | None = "nginx"
    accept_unclassed: bool = True

    def accepts(self, ingress: Mapping[str, Any]) -> bool:
        if self.name is None:
            return True
        spec = ingress.get("spec") or {}
        annotations = (ingress.get("metadata") or {}).get("annotations") or {}
        named = spec.get("ingressClassName") or annotations.get(CLASS_ANNOTATION)
        if not named:
            return self.accept_unclassed
        return bool(named == self.name)


def routes_of(ingress: Mapping[str, Any]) -> list[Route]:
    """Every (host, path) an Ingress declares; malformed entries are skipped, not fatal."""
    meta = ingress.get("metadata") or {}
    namespace = str(meta.get("namespace") or "default")
    ident = f"{namespace}/{meta.get('name', '')}"
    age_key = (str(meta.get("creationTimestamp") or ""), ident)
    routes: list[Route] = []
    for rule in (ingress.get("spec") or {}).get("rules") or []:
        host = str(rule.get("host") or "").lower()
        for entry in (rule.get("http") or {}).get("paths") or []:
            path_type = _PATH_TYPES.get(str(entry.get("pathType") or "ImplementationSpecific"))
            path = str(entry.get("path") or "/")
            if path_type is None or not path.startswith("/"):
                continue
            backend = _service_backend(namespace, entry.get("backend") or {})
            routes.append(Route(host, path, path_type, backend, ident, age_key))
    return routes


def _service_backend(namespace: str, backend: Mapping[str, Any]) -> ServiceBackend | None:
    service = backend.get("service")
    if not isinstance(service, dict) or not service.get("name"):
        return None
    port = service.get("port") or {}
    number = port.get("number")
    target: int | str = int(number) if number else str(port.get("name") or "")
    return ServiceBackend(namespace, str(service["name"]), target)


@dataclass(frozen=True, slots=True)
class RouteTable:
    """Routes grouped into servers by host, ready to match requests."""

    servers: Mapping[str, tuple[Route, ...]] = field(default_factory=dict)

    @classmethod
    def build(
        cls, ingresses: Iterable[Mapping[str, Any]], *, classes: IngressClassFilter
    ) -> RouteTable:
        grouped: dict[str, list[Route]] = {}
        for ingress in ingresses:
            if (ingress.get("metadata") or {}).get("deletionTimestamp"):
                continue
            if classes.accepts(ingress):
                for route in routes_of(ingress):
                    grouped.setdefault(route.host, []).append(route)
        return cls({host: tuple(sorted(rs, key=_precedence)) for host, rs in grouped.items()})

    def server_for(self, host_header: str) -> str | None:
        """The server (a rule host, ``""`` for host-less rules) that ``host_header`` hits."""
        host = normalize_host(host_header)
        if host in self.servers:
            return host
        _, dot, parent = host.partition(".")
        if dot and f"*.{parent}" in self.servers:
            return f"*.{parent}"
        return "" if "" in self.servers else None

    def match(self, host_header: str, path: str) -> Route | None:
        """The route nginx would pick for this Host header and (decoded) path, if any."""
        server = self.server_for(host_header)
        if server is None:
            return None
        # The tuple is sorted by precedence, so the first route that matches wins.
        for route in self.servers[server]:
            if path_matches(route.path_type, route.path, path):
                return route
        return None


def _precedence(route: Route) -> tuple[int, int, tuple[str, str]]:
    exact_first = 0 if route.path_type == "Exact" else 1
    return (exact_first, -len(route.path.rstrip("/") or "/"), route.age_key)


def path_matches(path_type: str, pattern: str, path: str) -> bool:
    """Whether ``path`` falls under ``pattern`` for a Kubernetes ``pathType``."""
    if path_type == "Exact":
        return path == pattern
    if path_type == "Prefix":
        wanted = [p for p in pattern.split("/") if p]
        given = [p for p in path.split("/") if p]
        return given[: len(wanted)] == wanted
    return path.startswith(pattern)


def host_matches(pattern: str, host: str) -> bool:
    """Kubernetes host matching: exact, or ``*.`` covering exactly one leading label."""
    pattern = pattern.lower()
    if not pattern.startswith("*."):
        return pattern == host
    label, dot, parent = host.partition(".")
    return bool(label and dot) and parent == pattern[2:]


def tls_secret_for(
    ingresses: Iterable[Mapping[str, Any]], server_name: str, *, classes: IngressClassFilter
) -> tuple[str, str] | None:
    """``(namespace, secretName)`` serving ``server_name``: exact hosts before wildcards,
    then the oldest Ingress, as ingress-nginx merges servers."""
    host = normalize_host(server_name)
    candidates: list[tuple[int, tuple[str, str], tuple[str, str]]] = []
    for ingress in ingresses:
        if not classes.accepts(ingress):
            continue
        meta = ingress.get("metadata") or {}
        namespace = str(meta.get("namespace") or "default")
        age_key = (str(meta.get("creationTimestamp") or ""), f"{namespace}/{meta.get('name')}")
        for entry in (ingress.get("spec") or {}).get("tls") or []:
            secret = entry.get("secretName")
            for pattern in entry.get("hosts") or []:
                if secret and host_matches(str(pattern), host):
                    wildcard = 1 if str(pattern).startswith("*.") else 0
                    candidates.append((wildcard, age_key, (namespace, str(secret))))
    return min(candidates)[2] if candidates else None
