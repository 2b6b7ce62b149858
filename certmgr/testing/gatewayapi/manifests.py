"""Builders for the Gateway API objects tests create: GatewayClass, Gateway (with HTTP and
HTTPS listeners), HTTPRoute, ReferenceGrant.

Owns their JSON shapes (v1, as at the client's edge), so data plane tests and end to end
tests describe them the same way. It must not do I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from certmgr.testing.gatewayapi import GROUP

V1: Final = f"{GROUP}/v1"
# The GatewayClass tests use; its controllerName is the data plane's.
DATAPLANE_CLASS: Final = "dataplane"
DATAPLANE_CONTROLLER: Final = "certmgr.test/dataplane"


def gateway_class(
    name: str = DATAPLANE_CLASS, *, controller_name: str = DATAPLANE_CONTROLLER
) -> dict[str, Any]:
    return {
        "apiVersion": V1,
        "kind": "GatewayClass",
        "metadata": {"name": name},
        "spec": {"controllerName": controller_name},
    }


def http_listener(
    name: str = "http", *, port: int = 80, hostname: str | None = None, **extra: Any
) -> dict[str, Any]:
    listener: dict[str, Any] = {"name": name, "port": port, "protocol": "HTTP", **extra}
    if hostname is not None:
        listener["hostname"] = hostname
    return listener


def https_listener(
    name: str = "https",
    *,
    secret: str,
    port: int = 443,
    hostname: str | None = None,
    secret_namespace: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """An HTTPS listener terminating TLS with Secret ``secret`` (kind Secret, core group)."""
    ref: dict[str, Any] = {"kind": "Secret", "group": "", "name": secret}
    if secret_namespace is not None:
        ref["namespace"] = secret_namespace
    listener: dict[str, Any] = {
        "name": name,
        "port": port,
        "protocol": "HTTPS",
        "tls": {"mode": "Terminate", "certificateRefs": [ref]},
        **extra,
    }
    if hostname is not None:
        listener["hostname"] = hostname
    return listener


def gateway(
    name: str,
    *,
    namespace: str,
    listeners: Sequence[dict[str, Any]],
    class_name: str = DATAPLANE_CLASS,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if annotations:
        meta["annotations"] = dict(annotations)
    return {
        "apiVersion": V1,
        "kind": "Gateway",
        "metadata": meta,
        "spec": {"gatewayClassName": class_name, "listeners": list(listeners)},
    }


def parent_ref(
    gateway_name: str,
    *,
    namespace: str | None = None,
    section: str | None = None,
    port: int | None = None,
) -> dict[str, Any]:
    ref: dict[str, Any] = {"name": gateway_name}
    for key, value in (("namespace", namespace), ("sectionName", section), ("port", port)):
        if value is not None:
            ref[key] = value
    return ref


def backend_ref(service: str, port: int, *, namespace: str | None = None) -> dict[str, Any]:
    ref: dict[str, Any] = {"name": service, "port": port}
    if namespace is not None:
        ref["namespace"] = namespace
    return ref


def path_rule(
    path: str, backends: Sequence[dict[str, Any]], *, path_type: str = "PathPrefix"
) -> dict[str, Any]:
    """A rule with one path match (``Exact`` or ``PathPrefix``) and these backendRefs."""
    return {
        "matches": [{"path": {"type": path_type, "value": path}}],
        "backendRefs": list(backends),
    }


def http_route(
    name: str,
    *,
    namespace: str,
    parents: Sequence[dict[str, Any]],
    rules: Sequence[dict[str, Any]],
    hostnames: Sequence[str] = (),
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if labels:
        meta["labels"] = dict(labels)
    spec: dict[str, Any] = {"parentRefs": list(parents), "rules": list(rules)}
    if hostnames:
        spec["hostnames"] = list(hostnames)
    return {"apiVersion": V1, "kind": "HTTPRoute", "metadata": meta, "spec": spec}


def reference_grant(
    name: str,
    *,
    namespace: str,
    from_kind: str,
    from_namespace: str,
    to_kind: str,
    to_name: str | None = None,
) -> dict[str, Any]:
    """Lets ``from_kind`` objects of ``from_namespace`` refer to core ``to_kind`` objects
    (all, or the one named) of ``namespace``."""
    to: dict[str, Any] = {"group": "", "kind": to_kind}
    if to_name is not None:
        to["name"] = to_name
    return {
        "apiVersion": f"{GROUP}/v1beta1",
        "kind": "ReferenceGrant",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "from": [{"group": GROUP, "kind": from_kind, "namespace": from_namespace}],
            "to": [to],
        },
    }
