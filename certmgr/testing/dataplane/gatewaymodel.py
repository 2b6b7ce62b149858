"""What a Gateway implementation concludes from the API objects: status and a route table.

Owns the controller-side rules of the Gateway API spec for the data plane's GatewayClass,
as a pure function (:func:`evaluate`) over JSON dicts:

- a **GatewayClass** is ours when ``spec.controllerName`` is ours (Accepted);
- a **Gateway** of such a class: its address (the one the caller assigned it, or
  ``127.0.0.1`` for all when none is assigned; a requested address must be that one); each
  **listener**'s port and protocol (only the ports the data plane serves, each with the
  protocol its socket speaks: ``PortUnavailable``, ``UnsupportedProtocol``), route kinds
  (``InvalidRouteKinds``) and TLS ``certificateRefs`` (:mod:`gatewayrefs`); Accepted,
  Programmed, ResolvedRefs, ``attachedRoutes``;
- an **HTTPRoute** attaches through each ``parentRefs`` entry naming one of our Gateways:
  ``sectionName`` and ``port`` narrow the listeners (``NoMatchingParent``),
  ``allowedRoutes`` namespaces and kinds filter them (``NotAllowedByListeners``),
  hostnames must intersect (``NoMatchingListenerHostname``); its ``backendRefs`` resolve
  or not (ResolvedRefs).

Reasons are the spec's. It must not do I/O; ``gatewaystatus`` writes what this decides.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from certmgr.testing.dataplane.gatewaymatching import (
    GatewayTable,
    ListenerEntry,
    RouteMatch,
    RuleEntry,
    ValueMatch,
    effective_hostnames,
)
from certmgr.testing.dataplane.gatewayrefs import (
    GROUP,
    Condition,
    Key,
    References,
    selector_matches,
)
from certmgr.testing.dataplane.routing import ServiceBackend

ROUTE_KIND: Final = {"group": GROUP, "kind": "HTTPRoute"}
LOOPBACK: Final = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class ListenerStatus:
    name: str
    attached_routes: int
    supported_kinds: tuple[Mapping[str, str], ...]
    conditions: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class GatewayStatus:
    conditions: tuple[Condition, ...]
    listeners: tuple[ListenerStatus, ...]
    addresses: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ParentStatus:
    parent_ref: Mapping[str, Any]
    conditions: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Desired statuses by object key, and the table requests are matched against."""

    classes: Mapping[str, tuple[Condition, ...]] = field(default_factory=dict)
    gateways: Mapping[Key, GatewayStatus] = field(default_factory=dict)
    routes: Mapping[Key, tuple[ParentStatus, ...]] = field(default_factory=dict)
    table: GatewayTable = field(default_factory=GatewayTable)


@dataclass(frozen=True, slots=True)
class World:
    """Everything :func:`evaluate` reads, each an iterable of JSON objects."""

    classes: Iterable[Mapping[str, Any]] = ()
    gateways: Iterable[Mapping[str, Any]] = ()
    routes: Iterable[Mapping[str, Any]] = ()
    grants: Iterable[Mapping[str, Any]] = ()
    namespaces: Iterable[Mapping[str, Any]] = ()
    services: Iterable[Mapping[str, Any]] = ()
    secrets: Iterable[Mapping[str, Any]] = ()


@dataclass(slots=True)
class _Listener:
    spec: Mapping[str, Any]
    index: int
    accepted: bool = False
    programmed: bool = False
    kinds: tuple[Mapping[str, str], ...] = ()
    certificate: Key | None = None
    conditions: list[Condition] = field(default_factory=list)
    rules: list[RuleEntry] = field(default_factory=list)
    attached: int = 0


def evaluate(
    world: World,
    *,
    controller_name: str,
    ports: Mapping[int, str],
    addresses: Mapping[Key, str] | None = None,
) -> Evaluation:
    """``ports``: listener port -> the protocol the data plane serves on it (HTTP, HTTPS).

    ``addresses``: the address each Gateway was given (by ``namespace, name``); a Gateway
    missing from it has none yet and is not programmed. None: every Gateway is served on
    ``127.0.0.1``."""
    classes = {
        _meta(c)[1]: (Condition("Accepted", True, "Accepted", "Handled by the data plane"),)
        for c in world.classes
        if (c.get("spec") or {}).get("controllerName") == controller_name
    }
    objects = References(
        grants=world.grants,
        namespaces=world.namespaces,
        services=world.services,
        secrets=world.secrets,
    )
    gateways: dict[Key, tuple[Mapping[str, Any], list[_Listener], GatewayStatus]] = {}
    for gateway in world.gateways:
        if (gateway.get("spec") or {}).get("gatewayClassName") not in classes:
            continue
        if (gateway.get("metadata") or {}).get("deletionTimestamp"):
            continue
        listeners = [
            _listener(gateway, spec, index=i, ports=ports, objects=objects)
            for i, spec in _listeners(gateway)
        ]
        address = LOOPBACK if addresses is None else addresses.get(_meta(gateway))
        status = _gateway_status(gateway, listeners, address=address)
        gateways[_meta(gateway)] = (gateway, listeners, status)
    routes: dict[Key, tuple[ParentStatus, ...]] = {}
    for route in sorted(world.routes, key=_age_key):
        parents = _attach(route, gateways, objects=objects)
        if parents:
            routes[_meta(route)] = parents
    entries: list[ListenerEntry] = []
    statuses: dict[Key, GatewayStatus] = {}
    for key, (gateway, listeners, status) in gateways.items():
        statuses[key] = GatewayStatus(
            status.conditions,
            tuple(
                ListenerStatus(
                    str(listener.spec.get("name") or ""),
                    listener.attached,
                    listener.kinds,
                    tuple(listener.conditions),
                )
                for listener in listeners
            ),
            status.addresses,
        )
        if not _condition(status.conditions, "Programmed"):
            continue
        for listener in listeners:
            if listener.programmed:
                entries.append(
                    ListenerEntry(
                        gateway="/".join(key),
                        address=status.addresses[0],
                        name=str(listener.spec.get("name") or ""),
                        port=int(listener.spec.get("port") or 0),
                        hostname=listener.spec.get("hostname") or None,
                        age_key=_age_key(gateway),
                        index=listener.index,
                        rules=tuple(listener.rules),
                        certificate=listener.certificate,
                    )
                )
    return Evaluation(classes, statuses, routes, GatewayTable(tuple(entries)))


def _listeners(gateway: Mapping[str, Any]) -> list[tuple[int, Mapping[str, Any]]]:
    return list(enumerate((gateway.get("spec") or {}).get("listeners") or ()))


def _listener(
    gateway: Mapping[str, Any],
    spec: Mapping[str, Any],
    *,
    index: int,
    ports: Mapping[int, str],
    objects: References,
) -> _Listener:
    listener = _Listener(spec, index)
    port = int(spec.get("port") or 0)
    protocol = str(spec.get("protocol") or "")
    if protocol not in ("HTTP", "HTTPS"):
        accepted = Condition(
            "Accepted", False, "UnsupportedProtocol", f"protocol {protocol} is not supported"
        )
    elif ports.get(port) != protocol:
        served = ", ".join(f"{p} ({proto})" for p, proto in sorted(ports.items()))
        accepted = Condition(
            "Accepted",
            False,
            "PortUnavailable",
            f"port {port} does not serve {protocol} here; listener ports served: {served}",
        )
    else:
        accepted = Condition("Accepted", True, "Accepted", "Listener is accepted")
    listener.accepted = accepted.status
    resolved = _route_kinds(listener)
    if resolved is None and protocol == "HTTPS":
        resolved = _certificate(listener, gateway, objects=objects)
    listener.conditions = [
        accepted,
        resolved or Condition("ResolvedRefs", True, "ResolvedRefs", "All references resolved"),
    ]
    has_certificate = protocol != "HTTPS" or listener.certificate is not None
    listener.programmed = listener.accepted and has_certificate
    listener.conditions.append(
        Condition("Programmed", True, "Programmed", "Listener is programmed")
        if listener.programmed
        else Condition("Programmed", False, "Invalid", "Listener is not programmed")
    )
    return listener


def _route_kinds(listener: _Listener) -> Condition | None:
    kinds = (listener.spec.get("allowedRoutes") or {}).get("kinds")
    if not kinds:
        listener.kinds = (ROUTE_KIND,)
        return None
    valid = [
        k for k in kinds if (k.get("group") or GROUP) == GROUP and k.get("kind") == "HTTPRoute"
    ]
    listener.kinds = (ROUTE_KIND,) if valid else ()
    if len(valid) == len(kinds):
        return None
    invalid = ", ".join(
        f"{k.get('group') or GROUP}/{k.get('kind')}" for k in kinds if k not in valid
    )
    return Condition(
        "ResolvedRefs", False, "InvalidRouteKinds", f"unsupported route kinds: {invalid}"
    )


def _certificate(
    listener: _Listener, gateway: Mapping[str, Any], *, objects: References
) -> Condition | None:
    """Resolve certificateRefs; the first usable one is served. A Condition when any fails."""
    namespace = _meta(gateway)[0]
    refs = (listener.spec.get("tls") or {}).get("certificateRefs") or ()
    problem: Condition | None = None
    for ref in refs:
        key = (str(ref.get("namespace") or namespace), str(ref.get("name") or ""))
        found = objects.secret_problem(ref, key, namespace=namespace)
        if found is None:
            listener.certificate = listener.certificate or key
        elif problem is None:
            problem = found
    if not refs:
        problem = Condition("ResolvedRefs", False, "InvalidCertificateRef", "no certificateRefs")
    return problem


def _gateway_status(
    gateway: Mapping[str, Any], listeners: Sequence[_Listener], *, address: str | None
) -> GatewayStatus:
    spec = gateway.get("spec") or {}
    addresses = spec.get("addresses") or ()
    unsupported = [a for a in addresses if (a.get("type") or "IPAddress") != "IPAddress"]
    unusable = [a.get("value") for a in addresses if a.get("value") not in (None, address)]
    valid = sum(1 for listener in listeners if listener.accepted)
    if unsupported:
        kinds = ", ".join(sorted({str(a.get("type")) for a in unsupported}))
        accepted = Condition("Accepted", False, "UnsupportedAddress", f"address types {kinds}")
    elif valid == 0:
        accepted = Condition("Accepted", False, "ListenersNotValid", "no listener is valid")
    elif valid < len(listeners):
        accepted = Condition("Accepted", True, "ListenersNotValid", "some listeners are invalid")
    else:
        accepted = Condition("Accepted", True, "Accepted", "Gateway is accepted")
    if not accepted.status:
        programmed = Condition("Programmed", False, "Invalid", "Gateway is not accepted")
    elif unusable:
        message = f"{', '.join(map(str, unusable))} cannot be used (taken, or not loopback)"
        programmed = Condition("Programmed", False, "AddressNotUsable", message)
    elif address is None:
        message = "no address is free for this Gateway"
        programmed = Condition("Programmed", False, "AddressNotUsable", message)
    else:
        programmed = Condition("Programmed", True, "Programmed", f"Serving on {address}")
    served = (address,) if programmed.status and address is not None else ()
    return GatewayStatus((accepted, programmed), (), served)


def _attach(
    route: Mapping[str, Any],
    gateways: Mapping[Key, tuple[Mapping[str, Any], list[_Listener], GatewayStatus]],
    *,
    objects: References,
) -> tuple[ParentStatus, ...]:
    namespace = _meta(route)[0]
    spec = route.get("spec") or {}
    resolved, backends_by_rule = _backends(route, objects)
    parents: list[ParentStatus] = []
    for ref in spec.get("parentRefs") or ():
        if (ref.get("group") or GROUP) != GROUP or (ref.get("kind") or "Gateway") != "Gateway":
            continue
        key = (str(ref.get("namespace") or namespace), str(ref.get("name") or ""))
        if key not in gateways:
            continue  # not a Gateway of ours: another controller's business
        gateway, listeners, status = gateways[key]
        if _condition(status.conditions, "Accepted"):
            accepted, attached_to = _accepted(
                route, ref, gateway=gateway, listeners=listeners, namespaces=objects.namespaces
            )
        else:
            accepted = Condition(
                "Accepted", False, "NoMatchingParent", "the Gateway is not accepted"
            )
            attached_to = []
        if accepted.status:
            for listener, hostnames in attached_to:
                listener.attached += 1
                listener.rules.extend(_rules(route, hostnames, backends_by_rule=backends_by_rule))
        full_ref = {"group": GROUP, "kind": "Gateway", **ref}
        parents.append(ParentStatus(full_ref, (accepted, resolved)))
    return tuple(parents)


def _accepted(
    route: Mapping[str, Any],
    ref: Mapping[str, Any],
    *,
    gateway: Mapping[str, Any],
    listeners: Sequence[_Listener],
    namespaces: Mapping[str, Mapping[str, Any]],
) -> tuple[Condition, list[tuple[_Listener, tuple[str | None, ...]]]]:
    route_namespace = _meta(route)[0]
    candidates = [
        listener
        for listener in listeners
        if ref.get("sectionName") in (None, listener.spec.get("name"))
        and ref.get("port") in (None, listener.spec.get("port"))
    ]
    if not candidates:
        wanted = " ".join(f"{k}={ref[k]}" for k in ("sectionName", "port") if ref.get(k))
        return Condition("Accepted", False, "NoMatchingParent", f"no listener with {wanted}"), []
    allowed = [
        listener
        for listener in candidates
        if listener.accepted
        and listener.kinds
        and _namespace_allowed(
            listener,
            gateway_namespace=_meta(gateway)[0],
            route_namespace=route_namespace,
            namespaces=namespaces,
        )
    ]
    if not allowed:
        message = "no listener of the Gateway allows this route"
        return Condition("Accepted", False, "NotAllowedByListeners", message), []
    route_hostnames = [str(h) for h in (route.get("spec") or {}).get("hostnames") or ()]
    attached = [
        (listener, hostnames)
        for listener in allowed
        if (hostnames := effective_hostnames(listener.spec.get("hostname"), route_hostnames))
    ]
    if not attached:
        message = "no hostname of the route matches a listener's hostname"
        return Condition("Accepted", False, "NoMatchingListenerHostname", message), []
    return Condition("Accepted", True, "Accepted", "Route is accepted"), attached


def _namespace_allowed(
    listener: _Listener,
    *,
    gateway_namespace: str,
    route_namespace: str,
    namespaces: Mapping[str, Mapping[str, Any]],
) -> bool:
    allowed = (listener.spec.get("allowedRoutes") or {}).get("namespaces") or {}
    origin = allowed.get("from") or "Same"
    if origin == "All":
        return True
    if origin == "Same":
        return route_namespace == gateway_namespace
    namespace = namespaces.get(route_namespace)
    labels = ((namespace or {}).get("metadata") or {}).get("labels") or {}
    return namespace is not None and selector_matches(allowed.get("selector") or {}, labels)


def _backends(
    route: Mapping[str, Any], objects: References
) -> tuple[Condition, list[tuple[ServiceBackend | None, ...]]]:
    namespace = _meta(route)[0]
    problem: Condition | None = None
    by_rule: list[tuple[ServiceBackend | None, ...]] = []
    for rule in (route.get("spec") or {}).get("rules") or ():
        backends: list[ServiceBackend | None] = []
        for ref in rule.get("backendRefs") or ():
            found = objects.backend_problem(ref, namespace)
            if found is not None and problem is None:
                problem = found
            if ref.get("weight", 1) == 0:
                continue
            key = (str(ref.get("namespace") or namespace), str(ref.get("name") or ""))
            port = ref.get("port")
            ok = found is None and isinstance(port, int)
            backends.append(ServiceBackend(key[0], key[1], int(port)) if ok else None)
        by_rule.append(tuple(backends))
    resolved = problem or Condition("ResolvedRefs", True, "ResolvedRefs", "All references resolved")
    return resolved, by_rule


def _rules(
    route: Mapping[str, Any],
    hostnames: tuple[str | None, ...],
    *,
    backends_by_rule: Sequence[tuple[ServiceBackend | None, ...]],
) -> list[RuleEntry]:
    namespace, name = _meta(route)
    entries: list[RuleEntry] = []
    for index, rule in enumerate((route.get("spec") or {}).get("rules") or ()):
        matches = tuple(_match(m) for m in rule.get("matches") or ()) or (RouteMatch(),)
        entries.append(
            RuleEntry(
                route=f"{namespace}/{name}",
                age_key=_age_key(route),
                rule_index=index,
                hostnames=hostnames,
                matches=matches,
                backends=backends_by_rule[index] if index < len(backends_by_rule) else (),
            )
        )
    return entries


def _match(match: Mapping[str, Any]) -> RouteMatch:
    path = match.get("path") or {}
    return RouteMatch(
        path_type=str(path.get("type") or "PathPrefix"),
        path=str(path.get("value") or "/"),
        method=match.get("method") or None,
        headers=tuple(_value_match(h) for h in match.get("headers") or ()),
        query=tuple(_value_match(q) for q in match.get("queryParams") or ()),
    )


def _value_match(entry: Mapping[str, Any]) -> ValueMatch:
    regex = entry.get("type") == "RegularExpression"
    return ValueMatch(str(entry.get("name") or ""), str(entry.get("value") or ""), regex)


def _condition(conditions: Iterable[Condition], kind: str) -> bool:
    return any(c.type == kind and c.status for c in conditions)


def _meta(obj: Mapping[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    return (str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def _age_key(obj: Mapping[str, Any]) -> tuple[str, str]:
    namespace, name = _meta(obj)
    return (str((obj.get("metadata") or {}).get("creationTimestamp") or ""), f"{namespace}/{name}")
